"""Table printers for the cluster-administration kinds: certificate requests, API services,
admission configuration, pod templates and the CSI storage kinds. Columns and cells follow
kube's internalversion printers (and kube-aggregator's APIService table); CSIStorageCapacity
has none, as its registry uses the default table (NAME, CREATED AT)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from orchestrator.api.durations import human_duration, since
from orchestrator.api.schemas import definitions
from orchestrator.api.selectors import format_labels
from orchestrator.api.table_cells import (
    CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
    Cells,
    Printer,
    age_column,
    column,
    containers_and_images,
    created,
    get,
    items,
    mapping,
    name_column,
    name_of,
    strings,
    text,
)

_API = "io.k8s.api."


@lru_cache(maxsize=None)
def _doc(definition: str, field: str) -> str:
    """A field's description, as the printers take it from the Go types' SwaggerDoc."""
    body = definitions().get(definition) or {}
    prop = (body.get("properties") or {}).get(field) or {}
    return str(prop.get("description") or "")


# --- certificates.k8s.io ------------------------------------------------------------------
def csr_condition(obj: Mapping[str, Any]) -> str:
    """extractCSRStatus: Denied before Approved before Pending, then Failed and Issued."""
    kinds = {text(c, "type") for c in items(obj, "status", "conditions")}
    status = "Denied" if "Denied" in kinds else "Approved" if "Approved" in kinds else "Pending"
    if "Failed" in kinds:
        status += ",Failed"
    if text(obj, "status", "certificate"):
        status += ",Issued"
    return status


def _csr_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    seconds = get(obj, "spec", "expirationSeconds")
    requested = "<none>"
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        requested = human_duration(float(seconds))
    return [name_of(obj), since(created(obj), now), text(obj, "spec", "signerName") or "<none>",
            text(obj, "spec", "username"), requested, csr_condition(obj)]


_CSR_SPEC = _API + "certificates.v1.CertificateSigningRequestSpec"
CERTIFICATE_SIGNING_REQUEST = Printer(
    [name_column(), age_column(),
     column("SignerName", description=_doc(_CSR_SPEC, "signerName")),
     column("Requestor", description=_doc(_CSR_SPEC, "request")),
     column("RequestedDuration", description=_doc(_CSR_SPEC, "expirationSeconds")),
     column("Condition", description=_doc(_API + "certificates.v1.CertificateSigningRequestStatus",
                                          "conditions"))],
    _csr_cells,
)


# --- apiregistration.k8s.io ---------------------------------------------------------------
def _api_service_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    service = mapping(obj, "spec", "service")
    shown = f"{text(service, 'namespace')}/{text(service, 'name')}" if service else "Local"
    available = "Unknown"
    for condition in items(obj, "status", "conditions"):
        if text(condition, "type") == "Available":
            status, reason = text(condition, "status"), text(condition, "reason")
            available = status if status == "True" or not reason else f"{status} ({reason})"
            break
    return [name_of(obj), shown, available, since(created(obj), now)]


API_SERVICE = Printer(
    [name_column(),
     column("Service", description="The reference to the service that hosts this API "
                                   "endpoint."),
     column("Available", description="Whether this service is available."),
     age_column()],
    _api_service_cells,
)


# --- admissionregistration.k8s.io ---------------------------------------------------------
def _webhook_printer() -> Printer:
    return Printer(
        [name_column(),
         column("Webhooks", "integer", description="Webhooks indicates the number of webhooks "
                                                   "registered in this configuration"),
         age_column()],
        lambda obj, now: [name_of(obj), len(items(obj, "webhooks")), since(created(obj), now)],
    )


WEBHOOK_CONFIGURATION = _webhook_printer()


def _param_kind(obj: Mapping[str, Any]) -> str:
    kind = mapping(obj, "spec", "paramKind")
    if not kind:
        return "<unset>"
    return f"{text(kind, 'apiVersion')}/{text(kind, 'kind')}"


VALIDATING_ADMISSION_POLICY = Printer(
    [name_column(),
     column("Validations", "integer", description="Validations indicates the number of "
                                                  "validation rules defined in this "
                                                  "configuration"),
     column("ParamKind", description="ParamKind specifies the kind of resources used to "
                                     "parameterize this policy"),
     age_column()],
    lambda obj, now: [name_of(obj), len(items(obj, "spec", "validations")), _param_kind(obj),
                      since(created(obj), now)],
)


def _param_ref(obj: Mapping[str, Any]) -> str:
    ref = mapping(obj, "spec", "paramRef")
    if not ref:
        return "<unset>"
    if text(ref, "name"):
        # Without a namespace the param may be cluster-scoped or in any namespace.
        return f"{text(ref, 'namespace') or '*'}/{text(ref, 'name')}"
    selector = mapping(ref, "selector")
    if selector:
        from orchestrator.api.selectors import format_label_selector

        return format_label_selector(selector)
    return "<unset>"


VALIDATING_ADMISSION_POLICY_BINDING = Printer(
    [name_column(),
     column("PolicyName", description="PolicyName indicates the policy definition which the "
                                      "policy binding binded to"),
     column("ParamRef", description="ParamRef indicates the param resource which sets the "
                                    "configration param"),
     age_column()],
    lambda obj, now: [name_of(obj), text(obj, "spec", "policyName"), _param_ref(obj),
                      since(created(obj), now)],
)


# --- core/v1 PodTemplate ------------------------------------------------------------------
def _pod_template_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    names, images = containers_and_images(items(obj, "template", "spec", "containers"))
    return [name_of(obj), names, images, format_labels(mapping(obj, "template", "metadata",
                                                               "labels"))]


POD_TEMPLATE = Printer(
    [name_column(), column("Containers", description=CONTAINERS_DESCRIPTION),
     column("Images", description=IMAGES_DESCRIPTION),
     column("Pod Labels", description="The labels for the pod template.")],
    _pod_template_cells,
)


# --- storage.k8s.io CSI kinds -------------------------------------------------------------
def _flag_or(obj: Mapping[str, Any], default: bool, *path: str) -> bool:
    value = get(obj, *path)
    return value if isinstance(value, bool) else default


def _csi_driver_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    audiences = get(obj, "spec", "tokenRequests")
    tokens = "<unset>"
    if isinstance(audiences, list):
        tokens = ",".join(text(t, "audience") for t in audiences if isinstance(t, Mapping))
    modes = ",".join(strings(obj, "spec", "volumeLifecycleModes")) or "<none>"
    return [name_of(obj), _flag_or(obj, True, "spec", "attachRequired"),
            _flag_or(obj, False, "spec", "podInfoOnMount"),
            _flag_or(obj, False, "spec", "storageCapacity"), tokens,
            _flag_or(obj, False, "spec", "requiresRepublish"), modes, since(created(obj), now)]


_DRIVER_SPEC = _API + "storage.v1.CSIDriverSpec"
CSI_DRIVER = Printer(
    [name_column(),
     column("AttachRequired", "boolean", description=_doc(_DRIVER_SPEC, "attachRequired")),
     column("PodInfoOnMount", "boolean", description=_doc(_DRIVER_SPEC, "podInfoOnMount")),
     column("StorageCapacity", "boolean", description=_doc(_DRIVER_SPEC, "storageCapacity")),
     column("TokenRequests", description=_doc(_DRIVER_SPEC, "tokenRequests")),
     column("RequiresRepublish", "boolean", description=_doc(_DRIVER_SPEC,
                                                             "requiresRepublish")),
     column("Modes", description=_doc(_DRIVER_SPEC, "volumeLifecycleModes")),
     age_column()],
    _csi_driver_cells,
)

CSI_NODE = Printer(
    [name_column(),
     column("Drivers", "integer", description="Drivers indicates the number of CSI drivers "
                                              "registered on the node"),
     age_column()],
    lambda obj, now: [name_of(obj), len(items(obj, "spec", "drivers")),
                      since(created(obj), now)],
)

_ATTACHMENT = _API + "storage.v1.VolumeAttachment"
VOLUME_ATTACHMENT = Printer(
    [name_column(),
     column("Attacher", format_="name", description=_doc(_ATTACHMENT + "Spec", "attacher")),
     column("PV", description=_doc(_ATTACHMENT + "Source", "persistentVolumeName")),
     column("Node", description=_doc(_ATTACHMENT + "Spec", "nodeName")),
     column("Attached", "boolean", description=_doc(_ATTACHMENT + "Status", "attached")),
     age_column()],
    lambda obj, now: [name_of(obj), text(obj, "spec", "attacher"),
                      text(obj, "spec", "source", "persistentVolumeName"),
                      text(obj, "spec", "nodeName"), get(obj, "status", "attached") is True,
                      since(created(obj), now)],
)
