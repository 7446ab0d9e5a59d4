"""kr8s warns, each time it connects, when the server's Kubernetes minor version is outside
the range that kr8s release was tested with (the embedded control plane reports
v1.37.0+daskhub-lite, newer than kr8s knows). The API we use of it is stable across those
versions, so daskhub-lite filters that one warning, from kr8s only; every other warning,
kr8s's included, still shows."""

from __future__ import annotations

import warnings

UNSUPPORTED_VERSION = r"Kubernetes version \S+ is not supported\."


def ignore_unsupported_version() -> None:
    """Install the filter (again: test runners and `catch_warnings` reset filters, so each
    place that opens a kr8s API calls this; a repeated call replaces the same entry)."""
    warnings.filterwarnings("ignore", message=UNSUPPORTED_VERSION, category=UserWarning,
                            module=r"kr8s(\.|$)")
