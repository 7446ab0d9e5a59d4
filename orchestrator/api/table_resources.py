"""Table printers for networking, configuration, cluster and policy kinds, after kube's
internalversion printers, reading raw v1 objects."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api.durations import since
from orchestrator.api.quantity import QuantityError, canonical_quantity
from orchestrator.api.selectors import format_label_selector, format_labels
from orchestrator.api.table_cells import (
    Cells,
    Printer,
    age_column,
    column,
    created,
    get,
    integer,
    is_deleting,
    items,
    list_with_more,
    mapping,
    name_column,
    name_of,
    strings,
    text,
)

# --- Service and friends -----------------------------------------------------------------------


def _load_balancer_addresses(obj: Mapping[str, Any]) -> str:
    found = {text(entry, "ip") or text(entry, "hostname") for entry in items(obj, "status", "loadBalancer", "ingress")}
    return ",".join(sorted(found - {""}))


def _service_external_ip(obj: Mapping[str, Any], service_type: str) -> str:
    external = strings(obj, "spec", "externalIPs")
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if service_type == "LoadBalancer":
        balancer = _load_balancer_addresses(obj)
        if external:
            return ",".join(([balancer] if balancer else []) + external)
        return balancer or "<pending>"
    if service_type == "ExternalName":
        return text(obj, "spec", "externalName")
    return "<unknown>"


def _service_ports(obj: Mapping[str, Any]) -> str:
    pieces = []
    for port in items(obj, "spec", "ports"):
        protocol = text(port, "protocol") or "TCP"
        node_port = integer(port, "nodePort")
        if node_port > 0:
            pieces.append(f"{integer(port, 'port')}:{node_port}/{protocol}")
        else:
            pieces.append(f"{integer(port, 'port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    service_type = text(obj, "spec", "type") or "ClusterIP"
    cluster_ip = text(obj, "spec", "clusterIPs", 0) or text(obj, "spec", "clusterIP") or "<none>"
    return [
        name_of(obj), service_type, cluster_ip, _service_external_ip(obj, service_type),
        _service_ports(obj), since(created(obj), now), format_labels(mapping(obj, "spec", "selector")),
    ]


SERVICE = Printer(
    [name_column(), column("Type", description="type determines how the Service is exposed."),
     column("Cluster-IP", description="clusterIP is the IP address of the service."),
     column("External-IP", description="externalIPs is a list of IP addresses for which nodes in the "
            "cluster will also accept traffic for this service."),
     column("Port(s)", description="The list of ports that are exposed by this service."),
     age_column(),
     column("Selector", priority=1, description="Route service traffic to pods with label keys and "
            "values matching this selector.")],
    _service_cells,
)


def _host_port(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = ":" in host
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def _endpoints_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    subsets = items(obj, "subsets")
    if not subsets:
        return [name_of(obj), "<none>", since(created(obj), now)]
    shown: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [text(a, "ip") for a in items(subset, "addresses")]
        ports = items(subset, "ports")
        if not ports:  # headless services may have no ports
            total += len(addresses)
            shown += addresses
            continue
        for port in ports:
            total += len(addresses)
            shown += [_host_port(address, integer(port, "port")) for address in addresses]
    return [name_of(obj), list_with_more(shown, total, 3, empty=""), since(created(obj), now)]


ENDPOINTS = Printer(
    [name_column(), column("Endpoints", description="The set of all endpoints is the union of all subsets."),
     age_column()],
    _endpoints_cells,
)


def _endpoint_slice_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    ports = []
    for port in items(obj, "ports"):
        number = get(port, "port")
        if isinstance(number, int) and not isinstance(number, bool):
            ports.append(str(number))
        elif get(port, "name") is not None:
            ports.append(text(port, "name"))
        else:
            ports.append("*")
    addresses = [a for endpoint in items(obj, "endpoints") for a in strings(endpoint, "addresses")]
    return [
        name_of(obj), text(obj, "addressType"), list_with_more(ports, len(ports), 3),
        list_with_more(addresses, len(addresses), 3), since(created(obj), now),
    ]


ENDPOINT_SLICE = Printer(
    [name_column(), column("AddressType", description="addressType specifies the type of address carried by this EndpointSlice."),
     column("Ports", description="ports specifies the list of network ports exposed by each endpoint in this slice."),
     column("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
     age_column()],
    _endpoint_slice_cells,
)


def _ingress_hosts(obj: Mapping[str, Any]) -> str:
    rules = items(obj, "spec", "rules")
    hosts = [text(rule, "host") for rule in rules[:3] if text(rule, "host")]
    if not hosts:
        return "*"
    shown = ",".join(hosts)
    return f"{shown} + {len(rules) - 3} more..." if len(rules) > 3 else shown


def _ingress_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [
        name_of(obj), text(obj, "spec", "ingressClassName") or "<none>", _ingress_hosts(obj),
        _load_balancer_addresses(obj), "80, 443" if items(obj, "spec", "tls") else "80",
        since(created(obj), now),
    ]


INGRESS = Printer(
    [name_column(),
     column("Class", description="The name of the IngressClass resource that should be used for additional configuration"),
     column("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
     column("Address", description="Address is a list containing ingress points for the load-balancer"),
     column("Ports", description="Ports of TLS configurations that open"), age_column()],
    _ingress_cells,
)


def _ingress_class_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    parameters = "<none>"
    reference = get(obj, "spec", "parameters")
    if isinstance(reference, Mapping):
        parameters = text(reference, "kind")
        if get(reference, "apiGroup") is not None:
            parameters += "." + text(reference, "apiGroup")
        parameters += "/" + text(reference, "name")
    return [name_of(obj), text(obj, "spec", "controller"), parameters, since(created(obj), now)]


INGRESS_CLASS = Printer(
    [name_column(), column("Controller", description="Controller that is responsible for handling this class"),
     column("Parameters", description="A reference to a resource with additional parameters"), age_column()],
    _ingress_class_cells,
)

NETWORK_POLICY = Printer(
    [name_column(), column("Pod-Selector", description="Selects the pods to which this NetworkPolicy object applies."),
     age_column()],
    lambda obj, now: [name_of(obj), format_label_selector(mapping(obj, "spec", "podSelector")),
                      since(created(obj), now)],
)

# --- configuration and identity -----------------------------------------------------------------

CONFIG_MAP = Printer(
    [name_column(), column("Data", description="Data contains the configuration data."), age_column()],
    lambda obj, now: [name_of(obj), len(mapping(obj, "data")) + len(mapping(obj, "binaryData")),
                      since(created(obj), now)],
)

SECRET = Printer(
    [name_column(), column("Type", description="Used to facilitate programmatic handling of secret data."),
     column("Data", description="Data contains the secret data."), age_column()],
    lambda obj, now: [name_of(obj), text(obj, "type") or "Opaque", len(mapping(obj, "data")),
                      since(created(obj), now)],
)

SERVICE_ACCOUNT = Printer(
    [name_column(), column("Secrets", description="Secrets is a list of the secrets in the same "
                           "namespace that pods running using this ServiceAccount are allowed to use."),
     age_column()],
    lambda obj, now: [name_of(obj), len(items(obj, "secrets")), since(created(obj), now)],
)

NAMESPACE = Printer(
    [name_column(), column("Status", description="The status of the namespace"), age_column()],
    lambda obj, now: [name_of(obj), text(obj, "status", "phase"), since(created(obj), now)],
)


def _node_status(obj: Mapping[str, Any]) -> str:
    status = []
    for condition in items(obj, "status", "conditions"):
        if text(condition, "type") == "Ready":
            status = ["Ready" if text(condition, "status") == "True" else "NotReady"]
    status = status or ["Unknown"]
    if get(obj, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_roles(obj: Mapping[str, Any]) -> str:
    roles = set()
    for key, value in mapping(obj, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node_address(obj: Mapping[str, Any], address_type: str) -> str:
    for address in items(obj, "status", "addresses"):
        if text(address, "type") == address_type:
            return text(address, "address")
    return "<none>"


def _node_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    info = mapping(obj, "status", "nodeInfo")
    return [
        name_of(obj), _node_status(obj), _node_roles(obj), since(created(obj), now),
        text(info, "kubeletVersion"), _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
        text(info, "osImage") or "<unknown>", text(info, "kernelVersion") or "<unknown>",
        text(info, "containerRuntimeVersion") or "<unknown>",
    ]


NODE = Printer(
    [name_column(), column("Status", description="The status of the node"),
     column("Roles", description="The roles of the node"), age_column(),
     column("Version", description="Kubelet Version reported by the node."),
     column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
     column("External-IP", priority=1, description="List of addresses reachable to the node."),
     column("OS-Image", priority=1, description="OS Image reported by the node from /etc/os-release."),
     column("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
     column("Container-Runtime", priority=1, description="ContainerRuntime Version reported by the node.")],
    _node_cells,
)

# --- events --------------------------------------------------------------------------------------

# events.k8s.io/v1 spellings of core/v1 Event fields; both are printed by one printer, as kube
# converts both to the same internal type first.
_EVENTS_V1_NAMES = {
    "regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count", "reportingController": "reportingComponent",
}


def as_core_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event with core/v1 field names (core Events pass through)."""
    return {_EVENTS_V1_NAMES.get(key, key): value for key, value in event.items()}


def _event_cells(raw: Mapping[str, Any], now: datetime) -> Cells:
    event = as_core_event(raw)
    first_seen = get(event, "firstTimestamp")
    first = since(first_seen if first_seen is not None else get(event, "eventTime"), now)
    last = since(get(event, "lastTimestamp"), now) if get(event, "lastTimestamp") is not None else first
    count = integer(event, "count")
    if isinstance(get(event, "series"), Mapping):
        last = since(get(event, "series", "lastObservedTime"), now)
        count = integer(event, "series", "count")
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    kind = text(event, "involvedObject", "kind").lower()
    involved_name = text(event, "involvedObject", "name")
    target = f"{kind}/{involved_name}" if involved_name else kind
    component = text(event, "source", "component") or text(event, "reportingComponent")
    instance = text(event, "source", "host") or text(event, "reportingInstance")
    source = f"{component}, {instance}" if instance else component
    return [
        last, text(event, "type"), text(event, "reason"), target, text(event, "involvedObject", "fieldPath"),
        source, text(event, "message").strip(), first, count, name_of(event),
    ]


EVENT = Printer(
    [column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
     column("Type", description="Type of this event (Normal, Warning), new types could be added in the future"),
     column("Reason", description="This should be a short, machine understandable string that gives the "
            "reason for the transition into the object's current status."),
     column("Object", description="The object that this event is about."),
     column("Subobject", priority=1, description="If referring to a piece of an object instead of an "
            "entire object, this string should contain a valid JSON/Go field access statement."),
     column("Source", priority=1, description="The component reporting this event."),
     column("Message", description="A human-readable description of the status of this operation."),
     column("First Seen", priority=1, description="The time at which the event was first recorded."),
     column("Count", priority=1, description="The number of times this event has occurred."),
     column("Name", priority=1, format_="name", description="Name of the event.")],
    _event_cells,
)

# --- storage, coordination, scheduling, access -----------------------------------------------------

_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def _quantity_text(value: Any) -> str:
    if value is None:
        return "0"
    try:
        return canonical_quantity(value)
    except QuantityError:
        return str(value)


def _claim_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    capacity = modes = ""
    if text(obj, "spec", "volumeName"):
        present = set(strings(obj, "status", "accessModes"))
        modes = ",".join(short for mode, short in _ACCESS_MODES if mode in present)
        capacity = _quantity_text(get(obj, "status", "capacity", "storage"))
    storage_class = text(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class") or text(
        obj, "spec", "storageClassName"
    )
    return [
        name_of(obj), "Terminating" if is_deleting(obj) else text(obj, "status", "phase"),
        text(obj, "spec", "volumeName"), capacity, modes, storage_class,
        text(obj, "spec", "volumeAttributesClassName") or "<unset>", since(created(obj), now),
        text(obj, "spec", "volumeMode") or "<unset>",
    ]


PERSISTENT_VOLUME_CLAIM = Printer(
    [name_column(), column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
     column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this claim."),
     column("Capacity", description="capacity represents the actual resources of the underlying volume."),
     column("Access Modes", description="accessModes contains the actual access modes the volume backing the PVC has."),
     column("StorageClass", description="StorageClass of the pvc"),
     column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"), age_column(),
     column("VolumeMode", priority=1, description="volumeMode defines what type of volume is required by the claim.")],
    _claim_cells,
)

LEASE = Printer(
    [name_column(), column("Holder", description="holderIdentity contains the identity of the holder "
                           "of a current lease."), age_column()],
    lambda obj, now: [name_of(obj), text(obj, "spec", "holderIdentity"), since(created(obj), now)],
)

PRIORITY_CLASS = Printer(
    [name_column(), column("Value", "integer", description="value represents the integer value of this priority class."),
     column("Global-Default", "boolean", description="globalDefault specifies whether this PriorityClass "
            "should be considered as the default priority for pods that do not have any priority class."),
     age_column(),
     column("PreemptionPolicy", priority=1, description="preemptionPolicy is the Policy for preempting "
            "pods with lower priority.")],
    lambda obj, now: [name_of(obj), integer(obj, "value"), get(obj, "globalDefault") is True,
                      since(created(obj), now), text(obj, "preemptionPolicy") or "PreemptLowerPriority"],
)


def _binding_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    users, groups, accounts = [], [], []
    for subject in items(obj, "subjects"):
        kind, name = text(subject, "kind"), text(subject, "name")
        if kind == "ServiceAccount":
            accounts.append(f"{text(subject, 'namespace')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return [
        name_of(obj), f"{text(obj, 'roleRef', 'kind')}/{text(obj, 'roleRef', 'name')}",
        since(created(obj), now), ", ".join(users), ", ".join(groups), ", ".join(accounts),
    ]


def _binding_printer(scope: str) -> Printer:
    return Printer(
        [name_column(), column("Role", description="RoleRef can reference a Role in the current "
                               "namespace or a ClusterRole in the global namespace."),
         age_column(),
         column("Users", priority=1, description=f"Users in the {scope}"),
         column("Groups", priority=1, description=f"Groups in the {scope}"),
         column("ServiceAccounts", priority=1, description=f"ServiceAccounts in the {scope}")],
        _binding_cells,
    )


def _quota_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    hard, used = mapping(obj, "status", "hard"), mapping(obj, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        entry = f"{resource}: {_quantity_text(used.get(resource))}/{_quantity_text(hard[resource])}"
        pieces = resource.split(".")
        (limits if len(pieces) > 1 and pieces[0] == "limits" else requests).append(entry)
    return [name_of(obj), ", ".join(requests), ", ".join(limits), since(created(obj), now)]


RESOURCE_QUOTA = Printer(
    [name_column(),
     column("Request", description="Request represents a minimum amount of cpu/memory that a container may consume."),
     column("Limit", description="Limits control the maximum amount of cpu/memory that a container "
            "may use independent of contention on the node."),
     age_column()],
    _quota_cells,
)


ROLE_BINDING = _binding_printer("roleBinding")
CLUSTER_ROLE_BINDING = _binding_printer("clusterRoleBinding")
