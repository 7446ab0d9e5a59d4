"""One exception type for the chart commands, and the translation of Helm's errors to it."""

from __future__ import annotations

import helm_python as helm


class ChartError(Exception):
    """A one-line error for the user; the CLI prints it and exits non-zero."""


def one_line(text: str) -> str:
    """Helm errors can span lines (schema errors list each key); keep them on one."""
    parts = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(parts) or "unknown error"


def from_helm(err: helm.HelmError, action: str) -> ChartError:
    detail = one_line(err.detail if getattr(err, "detail", None) else str(err))
    if isinstance(err, helm.HelmKubeError):
        return ChartError(f"{action}: Kubernetes cluster unreachable: {detail}")
    return ChartError(f"{action}: {detail}")
