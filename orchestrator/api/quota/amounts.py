"""Resource lists as quota arithmetic sees them: `{"requests.cpu": Amount, ...}`.

An `Amount` is an exact quantity that remembers its format, as apimachinery's
resource.Quantity does: a sum keeps the format of its first non-zero term (so memory added
in `Gi` prints in binary units), and `str()` is kube's canonical `String()` (`1000m` is `1`,
`1000` is `1k`, `1536Mi`). The list helpers are quota/v1's (Add, Subtract, Mask,
LessThanOrEqual, ...), over plain dicts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

from orchestrator.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    QuantityError,
    canonical_quantity,
    format_quantity,
    parse_quantity_with_format,
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    fmt: str = DECIMAL_SI

    @classmethod
    def parse(cls, text: Any) -> "Amount":
        """Raises QuantityError (kube's message) for what is not a quantity."""
        if isinstance(text, (str, int, float)) and not isinstance(text, bool):
            return _parse_cached(text)
        value, fmt = parse_quantity_with_format(text)
        return cls(value, fmt)

    @classmethod
    def of(cls, number: int) -> "Amount":
        return cls(Decimal(number))

    def __add__(self, other: "Amount") -> "Amount":
        return Amount(self.value + other.value, other.fmt if self.value == 0 else self.fmt)

    def __sub__(self, other: "Amount") -> "Amount":
        return Amount(self.value - other.value, other.fmt if self.value == 0 else self.fmt)

    def __str__(self) -> str:
        if self.fmt == DECIMAL_EXPONENT and self.value:
            return canonical_quantity(f"{self.value:f}e0")
        return format_quantity(self.value, binary=self.fmt == BINARY_SI)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str | int | float) -> Amount:
    # Pods repeat the same few quantities ("500m", "1Gi"): parse each once.
    value, fmt = parse_quantity_with_format(text)
    return Amount(value, fmt)


ZERO = Amount(Decimal(0))
ResourceList = dict[str, Amount]


def parse_list(raw: Any) -> ResourceList:
    """A stored resource list (name -> quantity text); values that are not quantities are
    left out (validation refuses them on write, so only old data could hold one)."""
    out: ResourceList = {}
    if not isinstance(raw, dict):  # JSON objects are dicts: no ABC check on the hot path
        return out
    for name, text in raw.items():
        try:
            out[str(name)] = Amount.parse(text)
        except QuantityError:
            continue
    return out


def render(items: Mapping[str, Amount]) -> dict[str, str]:
    """The list as it is stored: canonical quantity strings."""
    return {name: str(amount) for name, amount in items.items()}


def add(a: Mapping[str, Amount], b: Mapping[str, Amount]) -> ResourceList:
    out = dict(a)
    for name, amount in b.items():
        out[name] = out[name] + amount if name in out else amount
    return out


def subtract_non_negative(a: Mapping[str, Amount], b: Mapping[str, Amount]) -> ResourceList:
    """a - b per resource of `a`, never below zero (quota's SubtractWithNonNegativeResult)."""
    out: ResourceList = {}
    for name, amount in a.items():
        diff = amount - b[name] if name in b else amount
        out[name] = diff if diff.value > 0 else ZERO
    for name in b:
        out.setdefault(name, ZERO)
    return out


def mask(items: Mapping[str, Amount], names: Iterable[str]) -> ResourceList:
    wanted = set(names)
    return {name: amount for name, amount in items.items() if name in wanted}


def remove_zeros(items: Mapping[str, Amount]) -> ResourceList:
    return {name: amount for name, amount in items.items() if amount.value != 0}


def negative(items: Mapping[str, Amount]) -> list[str]:
    return sorted(name for name, amount in items.items() if amount.value < 0)


def exceeded(used: Mapping[str, Amount], hard: Mapping[str, Amount]) -> list[str]:
    """The resources where `used` is over `hard` (LessThanOrEqual's second result)."""
    return sorted(name for name, limit in hard.items()
                  if name in used and used[name].value > limit.value)


def equal(a: Mapping[str, Amount], b: Mapping[str, Amount]) -> bool:
    return a.keys() == b.keys() and all(a[k].value == b[k].value for k in a)


def pretty(items: Mapping[str, Amount]) -> str:
    """`limits.cpu=2,requests.cpu=1`: names in order, as kube's quota messages print them."""
    return ",".join(f"{name}={items[name]}" for name in sorted(items))
