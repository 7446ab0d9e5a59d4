"""Kubernetes' naming rules (apimachinery's `IsDNS1123Label`, `IsDNS1123Subdomain`,
`IsConfigMapKey`, ...) with the API server's own messages: object names, label values, config
keys. Shared by object validation and the volume rules that turn names into file names."""

from __future__ import annotations

import re

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(" + QUALIFIED_NAME + r")?"
CONFIG_KEY = r"[-._a-zA-Z0-9]+"

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{DNS1123_LABEL}')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{DNS1123_SUBDOMAIN}')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    f"'abc-123', regex used for validation is '{DNS1035_LABEL}')"
)
QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{QUALIFIED_NAME}')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    f"'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '{CONFIG_KEY}')"
)


def full_match(pattern: str, value: str) -> bool:
    # fullmatch, not `^...$`: `$` would also accept a value ending in a newline.
    return re.fullmatch(pattern, value) is not None


def name_messages(name: str, rule: str) -> list[str]:
    """What is wrong with `name` under `rule`; empty when it is fine."""
    if rule == "path-segment":
        if name in (".", ".."):
            return [f"may not be '{name}'"]
        return [f"may not contain '{c}'" for c in ("/", "%") if c in name]
    if rule == "dns1123-label":
        limit, pattern, message = 63, DNS1123_LABEL, DNS1123_LABEL_MSG
    elif rule == "dns1035-label":
        limit, pattern, message = 63, DNS1035_LABEL, DNS1035_LABEL_MSG
    else:
        limit, pattern, message = 253, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MSG
    out = [f"must be no more than {limit} characters"] if len(name) > limit else []
    if not full_match(pattern, name):
        out.append(message)
    return out


def config_key_messages(key: str) -> list[str]:
    """`IsConfigMapKey`: what is wrong with a ConfigMap or Secret key, which becomes a file
    name in the volumes that project it."""
    out = ["must be no more than 253 characters"] if len(key) > 253 else []
    if not full_match(CONFIG_KEY, key):
        out.append(CONFIG_KEY_MSG)
    if key in (".", ".."):
        out.append(f"must not be '{key}'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


__all__ = [
    "CONFIG_KEY",
    "CONFIG_KEY_MSG",
    "DNS1035_LABEL",
    "DNS1035_LABEL_MSG",
    "DNS1123_LABEL",
    "DNS1123_LABEL_MSG",
    "DNS1123_SUBDOMAIN",
    "DNS1123_SUBDOMAIN_MSG",
    "LABEL_VALUE",
    "LABEL_VALUE_MSG",
    "QUALIFIED_NAME",
    "QUALIFIED_NAME_MSG",
    "config_key_messages",
    "full_match",
    "name_messages",
]
