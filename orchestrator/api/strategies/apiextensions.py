"""Strategies of apiextensions.k8s.io/v1: CustomResourceDefinitions, accepted and served
as they are written (apiextensions-apiserver's naming and establishing controllers, at
once)."""

from __future__ import annotations

from orchestrator.api.kinds import accepted_crd_status
from orchestrator.api.strategy import Context, Obj, Strategy


def _accept(crd: Obj, ctx: Context) -> None:
    crd["status"] = accepted_crd_status(crd, ctx.now())


def _serve(crd: Obj, ctx: Context) -> None:
    ctx.serve_custom(crd)


def _drop(crd: Obj, ctx: Context) -> None:
    ctx.drop_custom(crd)


CUSTOM_RESOURCE_DEFINITION = Strategy(
    "apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions",
    prepare_for_create=_accept,
    on_update=_accept,
    after_write=_serve,
    after_delete=_drop,
)

STRATEGIES: tuple[Strategy, ...] = (CUSTOM_RESOURCE_DEFINITION,)
