"""Pod Security Standards, as Kubernetes' pod-security-admission evaluates them (pure).

- `levels`: privileged / baseline / restricted, policy versions, the namespace labels
  `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` and how they resolve;
- `baseline`, `restricted`: the checks, pure functions over a pod's metadata and spec;
- `registry`: which checks a level and version run, and their combined messages;
- `decisions`: the verdict for a pod, a workload template, or a newly labelled namespace;
- `templates`: where the pod spec sits in each kind; `config`: PodSecurityConfiguration.

The admission plugin that applies them is `orchestrator.server.admission.podsecurity`.
"""

from orchestrator.api.podsecurity.config import Exemptions, PodSecurityConfig, parse
from orchestrator.api.podsecurity.levels import (
    BASELINE,
    LATEST,
    PRIVILEGED,
    RESTRICTED,
    LevelVersion,
    Policy,
    Version,
    policy_to_evaluate,
)
from orchestrator.api.podsecurity.registry import DEFAULT_EVALUATOR, Aggregate, Evaluator

__all__ = [
    "BASELINE", "DEFAULT_EVALUATOR", "LATEST", "PRIVILEGED", "RESTRICTED", "Aggregate",
    "Evaluator", "Exemptions", "LevelVersion", "PodSecurityConfig", "Policy", "Version",
    "parse", "policy_to_evaluate",
]
