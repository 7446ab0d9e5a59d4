"""Strategies of certificates.k8s.io/v1: kube's pkg/registry/certificates/certificates."""

from __future__ import annotations

from orchestrator.api import certificates as csr
from orchestrator.api import field_selectors as fields
from orchestrator.api import table_cluster as cluster
from orchestrator.api.strategy import Context, Obj, Strategy


def _prepare_create(request: Obj, ctx: Context) -> None:
    csr.prepare_create(request, ctx.user)


def _prepare_update(current: Obj, new: Obj, merged: Obj, subresource: str,
                    ctx: Context) -> Obj:
    """The spec is fixed; approval and status have rules of their own."""
    return csr.prepare_update(current, new, merged, subresource, ctx.now())


CERTIFICATE_SIGNING_REQUEST = Strategy(
    csr.GROUP, csr.KIND, "certificatesigningrequests", namespaced=False, short_names=("csr",),
    subresources=("status", "approval"),
    name_rule="path-segment",  # free-form
    validate=csr.causes,
    required_checked_here=csr.REQUIRED_CHECKED_HERE,
    printer=cluster.CERTIFICATE_SIGNING_REQUEST,
    fields=fields.CSR_FIELDS,
    initial_status={},
    prepare_for_create=_prepare_create,
    prepare_for_update=_prepare_update,
)

STRATEGIES: tuple[Strategy, ...] = (CERTIFICATE_SIGNING_REQUEST,)
