"""Resource quantities: parsing, rounding and canonical form, as apimachinery does them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.quantity import (
    FORMAT_WRONG,
    SUFFIX_WRONG,
    QuantityError,
    canonical_quantity,
    format_quantity,
    parse_quantity,
    to_int,
    to_milli,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("2G", Decimal(2 * 10**9)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("1.5Gi", Decimal(1610612736)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("12e-3", Decimal("0.012")),
        ("-2", Decimal(-2)),
        ("+5", Decimal(5)),
        ("1n", Decimal("1e-9")),
        ("0.1n", Decimal("1e-9")),  # rounded up to the smallest unit, never down to zero
        ("-0.1n", Decimal("-1e-9")),
        ("1u", Decimal("1e-6")),
        (" 3 ", Decimal(3)),
        (2, Decimal(2)),
        (0.5, Decimal("0.5")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [("abc", FORMAT_WRONG), ("", FORMAT_WRONG), ("1.2.3", FORMAT_WRONG), ("1K", SUFFIX_WRONG),
     ("1e", SUFFIX_WRONG), ("1Mi5", SUFFIX_WRONG), ("1 Gi", FORMAT_WRONG)],
)
def test_invalid_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse_quantity(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_format_wrong_message_is_kubes() -> None:
    assert FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_bool_and_absurd_inputs_are_rejected() -> None:
    for bad in (True, None, [1], "1e99999999", "9" * 5000):
        with pytest.raises(QuantityError):
            parse_quantity(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [("100m", 100, 1), ("1", 1000, 1), ("1.5", 1500, 2), ("1n", 1, 1), ("2Gi", 2147483648000, 2147483648),
     ("-1.5", -1500, -2), ("0", 0, 0)],
)
def test_milli_and_int_round_away_from_zero(text: str, milli: int, whole: int) -> None:
    assert to_milli(text) == milli
    assert to_int(text) == whole
    assert to_milli(parse_quantity(text)) == milli


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1000m", "1"), ("1500m", "1500m"), ("0.5", "500m"), ("1500000", "1500k"), ("1024Mi", "1Gi"),
     ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("1e3", "1e3"), ("1.5e3", "1500"), ("0", "0"), ("-0", "0"),
     ("1025", "1025"), ("2048", "2048"), ("2Ki", "2Ki"), ("1000k", "1M"), ("0.1n", "1n")],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


def test_format_quantity() -> None:
    assert format_quantity(Decimal("0.25")) == "250m"
    assert format_quantity(Decimal(2048), binary=True) == "2Ki"
    assert format_quantity(Decimal(1000), binary=True) == "1k"  # below 1024 stays decimal
    assert format_quantity(Decimal("1e21")) == "1000E"
    assert format_quantity(Decimal(0)) == "0"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["", "m", "k", "Mi", "Gi", "n"]))
def test_canonical_form_round_trips(number: int, suffix: str) -> None:
    value = parse_quantity(f"{number}{suffix}")
    assert parse_quantity(canonical_quantity(f"{number}{suffix}")) == value
    assert parse_quantity(format_quantity(value)) == value


@given(st.text(max_size=20))
def test_parse_only_raises_quantity_error(text: str) -> None:
    try:
        parse_quantity(text)
    except QuantityError:
        pass
