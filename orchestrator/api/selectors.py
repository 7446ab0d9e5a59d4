"""Label and field selectors, with kube-apiserver's syntax, semantics and error messages.

Clients match on the wording of selector errors (kubectl prints them verbatim), so the
messages follow `k8s.io/apimachinery/pkg/labels` and `pkg/fields` closely. Label selectors
come in two shapes: the query-string syntax (`parse_label_selector`) and the API's
`LabelSelector` object (`label_selector_from_dict`); both produce a `LabelSelector`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api import errors
from orchestrator.api.errors import BadRequest, Cause

# Field selectors live in their own module; re-exported so both kinds import from one place.
from orchestrator.api.field_selectors import (
    FieldRequirement,
    FieldSelector,
    field_selector_labels,
    go_quote,
    parse_field_selector,
)

# Operators, spelled as apimachinery's `selection.Operator` values (they appear in messages).
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = [IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN]

# ---------------------------------------------------------------------------------------------
# Label key and value syntax (apimachinery's validation/content package)

_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME_FMT}$")
_VALUE_FMT = f"({_NAME_FMT})?"
_VALUE_RE = re.compile(f"^{_VALUE_FMT}$")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    # Reproduces apimachinery's RegexError text, odd double spaces included.
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def _byte_len(text: str) -> int:
    # Kubernetes limits are in bytes; lone surrogates (possible in decoded JSON) count as three.
    return len(text.encode("utf-8", "surrogatepass"))


def _fullmatch(pattern: re.Pattern[str], text: str) -> bool:
    # `$` in Python also matches before a trailing newline; Go's does not.
    return "\n" not in text and pattern.match(text) is not None


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (a "qualified name"); empty when it is."""
    problems: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if _byte_len(prefix) > 253:
                problems.append("prefix part " + _max_len_error(253))
            if not _fullmatch(_DNS1123_SUBDOMAIN_RE, prefix):
                problems.append(
                    "prefix part "
                    + _regex_error(_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    else:
        return [
            "a valid label key "
            + _regex_error(_NAME_MSG, _NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        problems.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        problems.append("name part " + _max_len_error(63))
    if not _fullmatch(_NAME_RE, name):
        problems.append(
            "name part " + _regex_error(_NAME_MSG, _NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return problems


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value; empty when it is."""
    problems: list[str] = []
    if _byte_len(value) > 63:
        problems.append(_max_len_error(63))
    if not _fullmatch(_VALUE_RE, value):
        problems.append(_regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return problems


def _field_invalid(path: str, value: Any, detail: str) -> str:
    # field.Error.Error(): "<path>: Invalid value: <value>: <detail>"
    # Go renders strings with %q and other values (here: lists of strings) as JSON.
    shown = go_quote(value) if isinstance(value, str) else json.dumps(list(value), separators=(",", ":"))
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(messages: list[str]) -> str:
    # utilerrors.Aggregate: one message bare, several de-duplicated inside brackets.
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# ---------------------------------------------------------------------------------------------
# Label selectors


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term; a selector is the AND of its requirements."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (GREATER_THAN, LESS_THAN) and present and len(self.values) == 1:
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if self.operator == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(sorted(self.values)) if len(self.values) > 1 else "".join(self.values)
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{joined}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector. `matches_nothing` is the API's nil selector (labels.Nothing)."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.matches_nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(matches_nothing=True)


def _parse_int64(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _new_requirement(key: str, operator: str, values: list[str], path: str | None) -> Requirement:
    """labels.NewRequirement: validate, then build; raises BadRequest with the aggregate."""
    problems: list[str] = []
    base = "" if path is None else path + "."
    key_problems = label_key_errors(key)
    if key_problems:
        problems.append(_field_invalid(base + "key", key, "; ".join(key_problems)))
    values_path = base + "values"
    if operator in (IN, NOT_IN) and not values:
        problems.append(
            _field_invalid(values_path, values, "for 'in', 'notin' operators, values set can't be empty")
        )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        problems.append(
            _field_invalid(values_path, values, "exact-match compatibility requires one single value")
        )
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        problems.append(
            _field_invalid(values_path, values, "values set must be empty for exists and does not exist")
        )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            problems.append(
                _field_invalid(values_path, values, "for 'Gt', 'Lt' operators, exactly one value is required")
            )
        for index, value in enumerate(values):
            if _parse_int64(value) is None:
                problems.append(
                    _field_invalid(
                        f"{values_path}[{index}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                )
    for index, value in enumerate(values):
        value_problems = label_value_errors(value)
        if value_problems:
            problems.append(
                _field_invalid(f"{values_path}[{index}][{key}]", value, "; ".join(value_problems))
            )
    if problems:
        raise _SelectorSyntaxError(_aggregate(problems))
    return Requirement(key, operator, tuple(values))


class _SelectorSyntaxError(Exception):
    """Internal: a Go-style error string, wrapped into BadRequest at the public boundary."""


def new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """labels.NewRequirement for other selector shapes (node affinity); BadRequest if invalid."""
    try:
        return _new_requirement(key, operator, values, None)
    except _SelectorSyntaxError as failure:
        raise BadRequest(str(failure)) from None


# --- the string syntax: a port of apimachinery's lexer and recursive-descent parser ----------

_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")
_KEYWORDS = {")": "close", ",": "comma", "!": "not", "==": "==", "=": "=", ">": ">", "in": "in",
             "<": "<", "!=": "!=", "notin": "notin", "(": "open"}
_IDENT, _END, _ERROR = "ident", "end", "error"


def _lex(text: str) -> list[tuple[str, str]]:
    # Go reads bytes and treats NUL as end of input; truncating there gives the same tokens.
    text = text.split("\x00", 1)[0]
    tokens: list[tuple[str, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            tokens.append((_END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            # Longest run of special symbols that still spells an operator.
            buffer, best, best_end = "", "", pos
            end = pos
            while end < len(text) and text[end] in _SPECIAL:
                buffer += text[end]
                end += 1
                if buffer in _KEYWORDS:
                    best, best_end = buffer, end
                elif best:
                    break
            if not best:
                tokens.append((_ERROR, f"error expected: keyword found '{buffer}'"))
                pos = end
            else:
                tokens.append((_KEYWORDS[best], best))
                pos = best_end
            continue
        start = pos
        while pos < len(text) and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((_KEYWORDS.get(word, _IDENT), word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.position = 0

    def _peek(self, values_context: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.position]
        # In a values context the keywords `in`/`notin` are ordinary identifiers.
        if values_context and kind in ("in", "notin"):
            kind = _IDENT
        return kind, literal

    def _take(self, values_context: bool = True) -> tuple[str, str]:
        token = self._peek(values_context)
        self.position += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self._peek()
            if kind in (_IDENT, "not"):
                try:
                    requirements.append(self._requirement())
                except _SelectorSyntaxError as failure:
                    raise _SelectorSyntaxError(f"unable to parse requirement: {failure}") from None
                kind, literal = self._take()
                if kind == _END:
                    return requirements
                if kind == "comma":
                    next_kind, next_literal = self._peek()
                    if next_kind not in (_IDENT, "not"):
                        raise _SelectorSyntaxError(
                            f"found '{next_literal}', expected: identifier after ','"
                        )
                    continue
                raise _SelectorSyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
            if kind == _END:
                return requirements
            raise _SelectorSyntaxError(
                f"found '{literal}', expected: !, identifier, or 'end of string'"
            )

    def _requirement(self) -> Requirement:
        operator = ""
        kind, literal = self._take()
        if kind == "not":
            operator = DOES_NOT_EXIST
            kind, literal = self._take()
        if kind != _IDENT:
            raise _SelectorSyntaxError(f"found '{literal}', expected: identifier")
        key_problems = label_key_errors(literal)
        if key_problems:
            raise _SelectorSyntaxError(_field_invalid("<nil>", literal, "; ".join(key_problems)))
        if self._peek()[0] in (_END, "comma"):
            operator = operator or EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(literal, operator, [], None)
        operator = self._operator()
        if operator in (IN, NOT_IN):
            values = self._value_set()
        else:
            values = self._exact_value()
        return _new_requirement(literal, operator, sorted(set(values)), None)

    def _operator(self) -> str:
        kind, literal = self._take(values_context=False)
        operators = {"in": IN, "=": EQUALS, "==": DOUBLE_EQUALS, ">": GREATER_THAN,
                     "<": LESS_THAN, "notin": NOT_IN, "!=": NOT_EQUALS}
        if kind not in operators:
            raise _SelectorSyntaxError(
                f"found '{literal}', expected: {', '.join(_BINARY_OPERATORS)}"
            )
        return operators[kind]

    def _value_set(self) -> list[str]:
        kind, literal = self._take()
        if kind != "open":
            raise _SelectorSyntaxError(f"found '{literal}' expected: '('")
        kind, literal = self._peek()
        if kind in (_IDENT, "comma"):
            values = self._identifier_list()
            if self._take()[0] != "close":
                raise _SelectorSyntaxError(f"found '{literal}', expected: ')'")
            return values
        if kind == "close":
            self._take()
            return [""]
        raise _SelectorSyntaxError(f"found '{literal}', expected: ',', ')' or identifier")

    def _identifier_list(self) -> list[str]:
        values: list[str] = []
        while True:
            kind, literal = self._take()
            if kind == _IDENT:
                values.append(literal)
                next_kind, next_literal = self._peek()
                if next_kind == "comma":
                    continue
                if next_kind == "close":
                    return values
                raise _SelectorSyntaxError(f"found '{next_literal}', expected: ',' or ')'")
            if kind == "comma":
                # Empty entries, as in "(,a)" or "(a,,b)" or "(a,)", are the empty value.
                if not values:
                    values.append("")
                next_kind = self._peek()[0]
                if next_kind == "close":
                    values.append("")
                    return values
                if next_kind == "comma":
                    self._take()
                    values.append("")
                continue
            raise _SelectorSyntaxError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        if self._peek()[0] in (_END, "comma"):
            return [""]
        kind, literal = self._take()
        if kind == _IDENT:
            return [literal]
        raise _SelectorSyntaxError(f"found '{literal}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query syntax (`a=b,c in (d,e),!f`); BadRequest if invalid."""
    try:
        requirements = _Parser(text).parse()
    except _SelectorSyntaxError as failure:
        raise BadRequest(str(failure)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# --- the API object: metav1.LabelSelector ------------------------------------------------------

_DICT_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None matches nothing, `{}` matches everything.

    Raises BadRequest for a malformed selector; validate first with
    `validate_label_selector_dict` to report 422 causes instead.
    """
    if selector is None:
        return NOTHING
    if not isinstance(selector, Mapping):
        raise BadRequest("label selector must be an object")
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise BadRequest("label selector has malformed matchLabels or matchExpressions")
    requirements: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise _SelectorSyntaxError("matchLabels keys and values must be strings")
            requirements.append(_new_requirement(key, EQUALS, [value], None))
        for expression in expressions:
            requirements.append(_requirement_from_expression(expression))
    except _SelectorSyntaxError as failure:
        raise BadRequest(str(failure)) from None
    if not requirements:
        return EVERYTHING
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def _requirement_from_expression(expression: Any) -> Requirement:
    if not isinstance(expression, Mapping):
        raise _SelectorSyntaxError("matchExpressions entries must be objects")
    key, operator, values = expression.get("key", ""), expression.get("operator", ""), expression.get("values") or []
    if not isinstance(key, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _SelectorSyntaxError("matchExpressions key must be a string and values a list of strings")
    if operator not in _DICT_OPERATORS:
        raise _SelectorSyntaxError(f"{go_quote(str(operator))} is not a valid label selector operator")
    return _new_requirement(key, _DICT_OPERATORS[operator], list(values), None)


def validate_label_selector_dict(selector: Any, path: str) -> list[Cause]:
    """ValidateLabelSelector: 422 causes with field paths such as
    `spec.selector.matchExpressions[0].operator`. None is valid (it is optional)."""
    if selector is None:
        return []
    if not isinstance(selector, Mapping):
        return [errors.invalid(path, str(selector), "must be an object")]
    causes: list[Cause] = []
    match_labels = selector.get("matchLabels")
    labels_path = f"{path}.matchLabels"
    if isinstance(match_labels, Mapping):
        for key, value in match_labels.items():
            key_text = str(key)
            causes += [errors.invalid(labels_path, key_text, m) for m in label_key_errors(key_text)]
            if not isinstance(value, str):
                causes.append(errors.invalid(f"{labels_path}[{key_text}]", value, "must be a string"))
                continue
            causes += [errors.invalid(labels_path, value, m) for m in label_value_errors(value)]
    elif match_labels is not None:
        causes.append(errors.invalid(labels_path, str(match_labels), "must be an object"))
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        for index, expression in enumerate(expressions):
            causes += _validate_expression(expression, f"{path}.matchExpressions[{index}]")
    elif expressions is not None:
        causes.append(errors.invalid(f"{path}.matchExpressions", str(expressions), "must be a list"))
    return causes


def _validate_expression(expression: Any, path: str) -> list[Cause]:
    if not isinstance(expression, Mapping):
        return [errors.invalid(path, str(expression), "must be an object")]
    causes: list[Cause] = []
    operator = expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(values, list):
        return [errors.invalid(f"{path}.values", str(values), "must be a list of strings")]
    if operator in ("In", "NotIn"):
        if not values:
            causes.append(
                errors.required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            causes.append(
                errors.forbidden(
                    f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    else:
        causes.append(errors.invalid(f"{path}.operator", "" if operator is None else operator,
                                     "not a valid selector operator"))
    key = expression.get("key")
    key_text = key if isinstance(key, str) else ""
    causes += [errors.invalid(f"{path}.key", key_text, m) for m in label_key_errors(key_text)]
    for index, value in enumerate(values):
        if not isinstance(value, str):
            causes.append(errors.invalid(f"{path}.values[{index}]", value, "must be a string"))
            continue
        causes += [errors.invalid(f"{path}.values[{index}]", value, m) for m in label_value_errors(value)]
    return causes


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector, as printed in `kubectl get -o wide` SELECTOR columns."""
    try:
        text = str(label_selector_from_dict(selector))
    except BadRequest:
        return "<error>"
    return text or "<none>"


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """labels.FormatLabels: `a=b,c=d` sorted by key, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "field_selector_labels",
    "format_label_selector",
    "format_labels",
    "go_quote",
    "label_key_errors",
    "label_selector_from_dict",
    "label_value_errors",
    "new_requirement",
    "parse_field_selector",
    "parse_label_selector",
    "validate_label_selector_dict",
]
