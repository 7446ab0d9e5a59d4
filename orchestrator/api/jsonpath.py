"""The JSONPath subset Kubernetes uses for printer columns and selectable fields.

Supported (as client-go's jsonpath reads them): `{...}` wrapping and a leading `$`, `.field`
(with `\\.` escaping dots inside a name), `['field']`, `[n]`, `[-n]`, `[start:end:step]`,
`[*]`, `.*`, `..field` (recursive descent), `['a','b']` unions, and filters such as
`[?(@.type=="Ready")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` or a bare existence test.
Missing keys and out-of-range indices yield no result rather than an error, as with
`AllowMissingKeys(true)`, which is how kube evaluates printer columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

from orchestrator.api.errors import BadRequest


class JSONPathError(BadRequest):
    """An expression this module cannot parse. A BadRequest so that it is safe if it escapes;
    CRD validation catches it to report a 422 cause instead."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    name: str  # "*" for every descendant


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Slice:
    start: int | None
    end: int | None
    step: int | None


@dataclass(frozen=True)
class _Union:
    names: tuple[str | int, ...]


@dataclass(frozen=True)
class _Filter:
    left: tuple[Any, ...] | None  # a relative path (from `@`) or None when a literal
    left_literal: Any
    operator: str  # "" for an existence test
    right: tuple[Any, ...] | None
    right_literal: Any


_Step = Union[_Field, _Wildcard, _Recursive, _Index, _Slice, _Union, _Filter]
_FILTER_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


class JSONPath:
    """A compiled expression; `find` returns every matching value, in document order."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._steps = _Parser(_unwrap(expression)).path()

    def find(self, document: Any) -> list[Any]:
        return _evaluate(self._steps, [document])

    def first(self, document: Any, default: Any = None) -> Any:
        found = self.find(document)
        return found[0] if found else default


def compile_jsonpath(expression: str) -> JSONPath:
    """Parse once, evaluate many times; raises JSONPathError on a malformed expression."""
    return JSONPath(expression)


def find_all(expression: str, document: Any) -> list[Any]:
    return JSONPath(expression).find(document)


def _unwrap(expression: str) -> str:
    text = expression.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise JSONPathError(f"unclosed action in JSONPath {expression!r}")
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    return text


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def _fail(self, detail: str) -> JSONPathError:
        return JSONPathError(f"invalid JSONPath {self.text!r}: {detail}")

    def _at(self, token: str) -> bool:
        return self.text.startswith(token, self.position)

    def path(self) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        while self.position < len(self.text):
            if self._at(".."):
                self.position += 2
                steps.append(_Recursive(self._name() or "*"))
            elif self._at("."):
                self.position += 1
                if self.position == len(self.text) and not steps:
                    break  # "." or "{.}" is the whole document
                if self._at("*"):
                    self.position += 1
                    steps.append(_Wildcard())
                elif not self._at("["):
                    steps.append(_Field(self._required_name()))
            elif self._at("["):
                steps.append(self._bracket())
            elif not steps and self.position == 0:
                steps.append(_Field(self._required_name()))  # a bare `name` means `.name`
            else:
                raise self._fail(f"unexpected {self.text[self.position]!r}")
        return tuple(steps)

    def _required_name(self) -> str:
        name = self._name()
        if not name:
            raise self._fail(f"expected a field name at offset {self.position}")
        return name

    def _name(self) -> str:
        out: list[str] = []
        while self.position < len(self.text):
            char = self.text[self.position]
            if char == "\\" and self.position + 1 < len(self.text):
                out.append(self.text[self.position + 1])
                self.position += 2
                continue
            if char in ".[]() !=<>&|,'\"":
                break
            out.append(char)
            self.position += 1
        return "".join(out)

    def _bracket(self) -> _Step:
        close = self._matching_bracket()
        inner = self.text[self.position + 1 : close].strip()
        self.position = close + 1
        if inner == "*":
            return _Wildcard()
        if inner.startswith("?"):
            return self._filter(inner[1:].strip())
        if ":" in inner and not inner.startswith(("'", '"')):
            parts = [p.strip() for p in inner.split(":")]
            if len(parts) > 3:
                raise self._fail(f"bad slice [{inner}]")
            numbers = [self._int(p) if p else None for p in parts] + [None] * (3 - len(parts))
            return _Slice(numbers[0], numbers[1], numbers[2])
        members = [m.strip() for m in _split_outside_quotes(inner, ",")]
        if not members or any(not m for m in members):
            raise self._fail(f"empty subscript [{inner}]")
        names: list[str | int] = []
        for member in members:
            if member[0] in "'\"":
                if len(member) < 2 or member[-1] != member[0]:
                    raise self._fail(f"unterminated string in [{inner}]")
                names.append(member[1:-1])
            else:
                names.append(self._int(member))
        if len(names) == 1:
            only = names[0]
            return _Field(only) if isinstance(only, str) else _Index(only)
        return _Union(tuple(names))

    def _matching_bracket(self) -> int:
        depth, quote = 0, ""
        for index in range(self.position, len(self.text)):
            char = self.text[index]
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    return index
        raise self._fail("unclosed '['")

    def _int(self, text: str) -> int:
        if not re.fullmatch(r"-?[0-9]+", text):
            raise self._fail(f"{text!r} is not an index")
        return int(text)

    def _filter(self, text: str) -> _Filter:
        if not (text.startswith("(") and text.endswith(")")):
            raise self._fail("a filter must look like ?(...)")
        body = text[1:-1].strip()
        for operator in _FILTER_OPERATORS:
            parts = _split_outside_quotes(body, operator, limit=1)
            if len(parts) == 2:
                left, left_literal = self._operand(parts[0].strip())
                right, right_literal = self._operand(parts[1].strip())
                return _Filter(left, left_literal, operator, right, right_literal)
        operand, _ = self._operand(body)
        if operand is None:
            raise self._fail("a filter without an operator must test a path")
        return _Filter(operand, None, "", None, None)

    def _operand(self, text: str) -> tuple[tuple[Any, ...] | None, Any]:
        if text.startswith("@"):
            return _Parser(text[1:]).path(), None
        if text.startswith("$"):
            raise self._fail("filters may only refer to '@'")
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return None, text[1:-1]
        if text in ("true", "false"):
            return None, text == "true"
        if text == "null":
            return None, None
        if _NUMBER.match(text):
            return None, json.loads(text)
        raise self._fail(f"cannot read {text!r} in a filter")


def _split_outside_quotes(text: str, separator: str, limit: int = -1) -> list[str]:
    parts, start, quote, index = [], 0, "", 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif text.startswith(separator, index) and limit != 0:
            # "<" must not split "<=", and "=" operators must not split "==" / "!=".
            if separator in ("<", ">") and text.startswith("=", index + 1):
                index += 1
                continue
            parts.append(text[start:index])
            index += len(separator)
            start = index
            limit -= 1
            continue
        index += 1
    parts.append(text[start:])
    return parts


# --- evaluation -------------------------------------------------------------------------------


def _evaluate(steps: tuple[Any, ...], nodes: list[Any]) -> list[Any]:
    for step in steps:
        nodes = [result for node in nodes for result in _apply(step, node)]
    return nodes


def _apply(step: _Step, node: Any) -> list[Any]:
    if isinstance(step, _Field):
        return [node[step.name]] if isinstance(node, Mapping) and step.name in node else []
    if isinstance(step, _Wildcard):
        return _children(node)
    if isinstance(step, _Index):
        if isinstance(node, list) and -len(node) <= step.index < len(node):
            return [node[step.index]]
        return []
    if isinstance(step, _Slice):
        return node[step.start : step.end : step.step] if isinstance(node, list) and step.step != 0 else []
    if isinstance(step, _Union):
        found: list[Any] = []
        for name in step.names:
            found += _apply(_Field(name) if isinstance(name, str) else _Index(name), node)
        return found
    if isinstance(step, _Recursive):
        return _descend(node, step.name)
    return [item for item in _children(node) if _keep(step, item)]


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [node[key] for key in sorted(node)]
    if isinstance(node, list):
        return list(node)
    return []


def _descend(node: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, Mapping):
        if name == "*":
            found += _children(node)
        elif name in node:
            found.append(node[name])
    for child in _children(node):
        found += _descend(child, name)
    return found


def _keep(step: _Filter, item: Any) -> bool:
    lefts = _evaluate(step.left, [item]) if step.left is not None else [step.left_literal]
    if not step.operator:
        return bool(lefts)
    rights = _evaluate(step.right, [item]) if step.right is not None else [step.right_literal]
    if not lefts or not rights:
        return False
    return _compare(lefts[0], step.operator, rights[0])


def _compare(left: Any, operator: str, right: Any) -> bool:
    numeric = all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in (left, right))
    if operator in ("==", "!="):
        equal = Decimal(str(left)) == Decimal(str(right)) if numeric else left == right
        return equal if operator == "==" else not equal
    if not numeric and not (isinstance(left, str) and isinstance(right, str)):
        return False
    a, b = (Decimal(str(left)), Decimal(str(right))) if numeric else (left, right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


# --- printing values as Go's text/template does (kubectl's jsonpath output) -------------------


def go_text(value: Any) -> str:
    """A value as client-go's jsonpath prints it: strings raw, floats as Go's %v, maps as
    `map[k:v]`, lists as `[a b]`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    return str(value)


def _go_float(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    if number == int(number) and abs(number) < 1e6:
        return str(int(number)) if number or str(number)[0] != "-" else "-0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    scientific = len(text) - 1 + exponent
    prefix = "-" if sign else ""
    # Go's %v switches to exponent form outside 1e-4 <= |x| < 1e6 (shortest digits).
    if scientific < -4 or scientific >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if scientific < 0 else '+'}{abs(scientific):02d}"
    point = len(text) + exponent
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"
