"""Install and upgrade with Helm's `--render-subchart-notes`.

helm-python-sdk 0.2.2's `Config.install`/`upgrade` have no argument for it, although the
library under them (libhelm_c) takes `sub_notes` in the same options object and then renders
subcharts' NOTES.txt into the release notes, as `helm install --render-subchart-notes` does.
Without the flag the SDK's own methods run; with it, the same call with that one option
more. The option names are the library's (as the SDK methods send them).
"""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
from helm_python import _native

# The SDK's keyword -> the library's option name, where they differ.
_RENAMED = {"timeout": "timeout_seconds"}


def _options(kwargs: dict[str, Any]) -> str:
    opts = {_RENAMED.get(k, k): v for k, v in kwargs.items()
            if v is not None and v is not False}
    opts["sub_notes"] = True
    return json.dumps(opts)


def _run(action: str, cfg: helm.Config, chart: helm.Chart, name: str,
         values: dict[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    payload = _native.call_string(action, cfg._raw(), _native.HANDLE(0), chart._raw(), None,
                                  name, None if values is None else json.dumps(values),
                                  _options(kwargs))
    release: dict[str, Any] = json.loads(payload)
    return release


def install(cfg: helm.Config, chart: helm.Chart, name: str, values: dict[str, Any] | None,
            *, sub_notes: bool = False, **kwargs: Any) -> dict[str, Any]:
    if not sub_notes:
        return cfg.install(chart, name, values, **kwargs)
    return _run("helm_install", cfg, chart, name, values, kwargs)


def upgrade(cfg: helm.Config, chart: helm.Chart, name: str, values: dict[str, Any] | None,
            *, sub_notes: bool = False, **kwargs: Any) -> dict[str, Any]:
    if not sub_notes:
        return cfg.upgrade(chart, name, values, **kwargs)
    return _run("helm_upgrade", cfg, chart, name, values, kwargs)
