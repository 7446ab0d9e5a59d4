"""Strategies of apiextensions.k8s.io/v1: CustomResourceDefinitions, accepted and served
as they are written (apiextensions-apiserver's naming and establishing controllers, at
once)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.strategy import EXTENSIONS, Context, Obj, Strategy


def accepted_crd_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    """The status a CRD gets once its names are accepted and it is served (Established)."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return {
        "acceptedNames": names,
        "storedVersions": [v.get("name") for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    }


def _accept(crd: Obj, ctx: Context) -> None:
    crd["status"] = accepted_crd_status(crd, ctx.now())


def _serve(crd: Obj, ctx: Context) -> None:
    ctx.serve_custom(crd)


def _drop(crd: Obj, ctx: Context) -> None:
    ctx.drop_custom(crd)


CUSTOM_RESOURCE_DEFINITION = Strategy(
    "apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions",
    namespaced=False, short_names=("crd", "crds"), categories=EXTENSIONS, subresources=("status",),
    prepare_for_create=_accept,
    on_update=_accept,
    after_write=_serve,
    after_delete=_drop,
)

STRATEGIES: tuple[Strategy, ...] = (CUSTOM_RESOURCE_DEFINITION,)
