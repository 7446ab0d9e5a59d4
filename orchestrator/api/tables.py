"""Server-side printing: objects as a `meta.k8s.io/v1` Table, which `kubectl get` asks for with
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Three sources of columns, as in a real cluster:
- built-in kinds with a kube printer (`table_workloads`, `table_resources`, `table_cluster`),
  which their strategy names (`orchestrator.api.strategies`);
- custom resources: NAME plus the CRD version's `additionalPrinterColumns`, or NAME and AGE
  when it declares none (apiextensions-apiserver's default);
- any other built-in kind (Role, ClusterRole, LimitRange, CustomResourceDefinition, ...): the
  generic NAME and CREATED AT table.
kube-apiserver always prints wide; kubectl hides columns with priority > 0 unless `-o wide`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from orchestrator.api import strategies
from orchestrator.api.durations import parse_timestamp, since
from orchestrator.api.errors import BadRequest
from orchestrator.api.jsonpath import JSONPath, JSONPathError, go_text
from orchestrator.api.table_cells import (
    CREATED_DESCRIPTION,
    Cells,
    Printer,
    column,
    get,
    name_column,
    name_of,
)

INCLUDE_OBJECT = ("Metadata", "Object", "None")
_DEFAULT_CR_COLUMNS = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": CREATED_DESCRIPTION}
]


def to_table(
    kind: str,
    group: str,
    objects: list[dict[str, Any]],
    *,
    now: datetime,
    include_object: str = "Metadata",
    printer_columns: list[dict[str, Any]] | None = None,
    list_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Table of `objects` (all of one kind; `group` is "" for the core group).

    `printer_columns` marks a custom resource: pass the served CRD version's
    `additionalPrinterColumns`, or `[]` when it has none. `include_object` is the request's
    `includeObject` parameter ("" means Metadata); an unknown value is a BadRequest.
    """
    if include_object == "":
        include_object = "Metadata"
    if include_object not in INCLUDE_OBJECT:
        raise BadRequest(f'unrecognized includeObject value: "{include_object}"')
    if printer_columns is not None:
        printer = custom_resource_printer(printer_columns)
    else:
        printer = _builtin_printer(kind, group) or _DEFAULT_PRINTER
    rows = [_row(printer, obj, now, include_object) for obj in objects]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_metadata or {}),
        "columnDefinitions": [dict(c) for c in printer.columns],
        "rows": rows,
    }


def has_builtin_printer(kind: str, group: str) -> bool:
    """Whether `kind` has its own columns (otherwise it gets NAME and CREATED AT)."""
    return _builtin_printer(kind, group) is not None


def _builtin_printer(kind: str, group: str) -> Printer | None:
    strategy = strategies.for_kind(group, kind)
    return strategy.printer if strategy is not None else None


def _row(printer: Printer, obj: dict[str, Any], now: datetime, include_object: str) -> dict[str, Any]:
    row: dict[str, Any] = {"cells": printer.cells(obj, now)}
    conditions = printer.conditions(obj)
    if conditions:
        row["conditions"] = conditions
    if include_object == "Object":
        row["object"] = obj
    elif include_object == "Metadata":
        metadata = obj.get("metadata")
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(metadata) if isinstance(metadata, Mapping) else {},
        }
    return row


# --- kinds without a printer: rest.defaultTableConvertor -----------------------------------------


def _created_at(obj: Mapping[str, Any], now: datetime) -> Cells:
    moment = parse_timestamp(get(obj, "metadata", "creationTimestamp"))
    # Go formats the zero time when there is none.
    shown = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "0001-01-01T00:00:00Z"
    return [name_of(obj), shown]


_DEFAULT_PRINTER = Printer(
    [name_column(), column("Created At", "date", description=CREATED_DESCRIPTION)], _created_at
)

# --- custom resources: apiextensions-apiserver's table convertor ---------------------------------


def custom_resource_printer(printer_columns: list[dict[str, Any]]) -> Printer:
    """NAME, then each additionalPrinterColumn (AGE alone when there are none)."""
    declared = printer_columns or _DEFAULT_CR_COLUMNS
    columns = [name_column()]
    paths: list[tuple[str, JSONPath | None]] = []
    for declaration in declared:
        column_type = str(declaration.get("type") or "string")
        columns.append(
            column(str(declaration.get("name") or ""), column_type,
                   priority=_int(declaration.get("priority")),
                   format_=str(declaration.get("format") or ""),
                   description=str(declaration.get("description") or ""))
        )
        paths.append((column_type, _compile(declaration.get("jsonPath"))))

    def cells(obj: Mapping[str, Any], now: datetime) -> Cells:
        row: Cells = [name_of(obj)]
        for column_type, path in paths:
            found = path.find(obj) if path is not None else []
            row.append(_cell(column_type, found[0], now) if found else None)
        return row

    return Printer(columns, cells)


def _compile(expression: Any) -> JSONPath | None:
    # CRD validation rejects bad paths; one that slips through prints as an empty cell.
    if not isinstance(expression, str):
        return None
    try:
        return JSONPath(expression)
    except JSONPathError:
        return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _cell(column_type: str, value: Any, now: datetime) -> Any:
    """cellForJSONValue: the typed cell for one printer column, None where the type is wrong."""
    if value is None:
        return None
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if column_type == "string":
        return go_text(value)
    if column_type == "integer":
        return int(value) if numeric else None
    if column_type == "number":
        return float(value) if numeric else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        if not isinstance(value, str):
            return None
        if parse_timestamp(value) is None:
            return "<invalid>"
        return since(value, now)
    return None
