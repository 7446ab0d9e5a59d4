"""Strategies of admissionregistration.k8s.io/v1."""

from __future__ import annotations

from typing import Any

from orchestrator.api import admissionregistration as ar
from orchestrator.api import table_cluster as cluster
from orchestrator.api.strategy import EXTENSIONS, Strategy

_GROUP = ar.GROUP


def _strategy(kind: str, plural: str, **more: Any) -> Strategy:
    """The kind's defaults and rules, from orchestrator.api.admissionregistration."""
    key = (_GROUP, kind)
    if key in ar.DEFAULTERS:
        more["defaults"] = ar.DEFAULTERS[key]
    return Strategy(_GROUP, kind, plural, validate=ar.CAUSES[key],
                    required_checked_here=ar.REQUIRED_CHECKED_HERE, **more)


STRATEGIES: tuple[Strategy, ...] = (
    _strategy("ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
              namespaced=False, categories=EXTENSIONS,
              printer=cluster.WEBHOOK_CONFIGURATION),
    _strategy("MutatingWebhookConfiguration", "mutatingwebhookconfigurations", namespaced=False,
              categories=EXTENSIONS,
              printer=cluster.WEBHOOK_CONFIGURATION),
    _strategy("ValidatingAdmissionPolicy", "validatingadmissionpolicies", namespaced=False,
              categories=EXTENSIONS, subresources=("status",), initial_status={},
              printer=cluster.VALIDATING_ADMISSION_POLICY),
    _strategy("ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings",
              namespaced=False, categories=EXTENSIONS,
              printer=cluster.VALIDATING_ADMISSION_POLICY_BINDING),
)
