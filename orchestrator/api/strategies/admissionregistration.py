"""Strategies of admissionregistration.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

_GROUP = "admissionregistration.k8s.io"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_GROUP, "ValidatingWebhookConfiguration", "validatingwebhookconfigurations"),
    Strategy(_GROUP, "MutatingWebhookConfiguration", "mutatingwebhookconfigurations"),
    Strategy(_GROUP, "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
             initial_status={}),
    Strategy(_GROUP, "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"),
)
