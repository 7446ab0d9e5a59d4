"""Kubernetes resource quantities (`500m`, `1.5Gi`, `1e3`), as apimachinery's resource.Quantity.

Values are exact `Decimal`s. Parsing follows `ParseQuantity`: the number is rounded away from
zero to nano precision, so asking for a tiny amount still asks for something. Bad input raises
`QuantityError` (a ValueError) carrying kube's message; the caller decides whether that is a
400 (a body that cannot be decoded, which is what kube-apiserver answers) or a 422 cause.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal, localcontext

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_WRONG = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
SUFFIX_WRONG = "unable to parse quantity's suffix"
NUMERIC_WRONG = "unable to parse numeric part of quantity"

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_LETTERS = set("eEinumkKMGTP")
_DIGITS = set("0123456789")
_NANO = Decimal("1e-9")
_INT64_MAX = Decimal(2**63 - 1)
# Beyond this many decimal digits a quantity is nonsense, and exact arithmetic on it would be
# slow; kube's int32 exponent has a similar (if less graceful) ceiling.
_MAX_EXPONENT = 1000
_PRECISION = 2 * _MAX_EXPONENT + 50


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; `str()` is kube's message."""


def parse_quantity(text: str | int | float) -> Decimal:
    """The exact value of a quantity, rounded away from zero to nano precision."""
    return parse_quantity_with_format(text)[0]


def parse_quantity_with_format(text: str | int | float) -> tuple[Decimal, str]:
    """Value and format (DecimalSI, BinarySI or DecimalExponent), as ParseQuantity keeps them."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise QuantityError(FORMAT_WRONG)
    # JSON numbers reach kube's decoder as their literal text; repr gives that for floats.
    source = text.strip() if isinstance(text, str) else repr(text)
    if not source:
        raise QuantityError(FORMAT_WRONG)
    if source == "0":
        return Decimal(0), DECIMAL_SI
    negative, whole, fraction, suffix = _split(source)
    base, exponent, fmt = _interpret_suffix(suffix)
    whole = whole.lstrip("0") or "0"
    if len(whole) + len(fraction) > _MAX_EXPONENT:
        raise QuantityError("quantity has too many digits")
    with localcontext() as context:
        context.prec = _PRECISION
        magnitude = Decimal(f"{whole}.{fraction or '0'}")
        if base == 10:
            magnitude = magnitude.scaleb(exponent)
        else:
            magnitude *= Decimal(2) ** exponent
        if magnitude != 0:
            magnitude = magnitude.quantize(_NANO, rounding=ROUND_UP)
        if fmt == BINARY_SI:
            magnitude = min(magnitude, _INT64_MAX)
            if 0 < magnitude < 1:
                fmt = DECIMAL_SI
        value = -magnitude if negative else magnitude
    return value.normalize() if value else Decimal(0), fmt


def _split(text: str) -> tuple[bool, str, str, str]:
    """parseQuantityString: sign, integer digits, fraction digits, suffix."""
    position, end = 0, len(text)
    negative = text[0] == "-"
    if text[0] in "+-":
        position = 1
    start = position
    while position < end and text[position] in _DIGITS:
        position += 1
    whole = text[start:position] or "0"
    fraction = ""
    if position < end and text[position] == ".":
        position += 1
        start = position
        while position < end and text[position] in _DIGITS:
            position += 1
        fraction = text[start:position]
    suffix_start = position
    while position < end and text[position] in _SUFFIX_LETTERS:
        position += 1
    if position < end and text[position] in "+-":
        position += 1
    while position < end and text[position] in _DIGITS:
        position += 1
    if position != end:
        raise QuantityError(FORMAT_WRONG)
    return negative, whole, fraction, text[suffix_start:]


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        unsigned = digits[1:] if digits[0] in "+-" else digits
        if unsigned and set(unsigned) <= _DIGITS:
            exponent = int(digits)
            if abs(exponent) > _MAX_EXPONENT:
                raise QuantityError(f"quantity exponent {exponent} is out of range")
            return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(SUFFIX_WRONG)


def _scaled(value: Decimal, scale: int) -> int:
    # resource.Quantity.ScaledValue rounds away from zero, so 1n is 1m is 1 (never 0).
    with localcontext() as context:
        context.prec = _PRECISION
        return int(value.scaleb(-scale).to_integral_value(rounding=ROUND_UP))


def to_milli(quantity: str | int | float | Decimal) -> int:
    """MilliValue: the quantity in thousandths, rounded away from zero (`100m` -> 100)."""
    return _scaled(_as_decimal(quantity), -3)


def to_int(quantity: str | int | float | Decimal) -> int:
    """Value: the quantity as a whole number, rounded away from zero (`1500m` -> 2)."""
    return _scaled(_as_decimal(quantity), 0)


def _as_decimal(quantity: str | int | float | Decimal) -> Decimal:
    return quantity if isinstance(quantity, Decimal) else parse_quantity(quantity)


def format_quantity(value: Decimal, binary: bool = False) -> str:
    """The canonical string kube writes back (`1000m` -> `1`, `1536Mi`, `1500k`)."""
    if value == 0:
        return "0"
    with localcontext() as context:
        context.prec = _PRECISION
        if binary and abs(value) >= 1024 and value == value.to_integral_value():
            return _format_binary(int(value))
        return _format_decimal(value, exponent_form=False)


def canonical_quantity(text: str | int | float) -> str:
    """Parse and re-render in the quantity's own format, as kube-apiserver stores it."""
    value, fmt = parse_quantity_with_format(text)
    if fmt == DECIMAL_EXPONENT:
        return _format_decimal(value, exponent_form=True) if value else "0"
    return format_quantity(value, binary=fmt == BINARY_SI)


def _format_binary(number: int) -> str:
    sign, number = ("-" if number < 0 else ""), abs(number)
    power = 0
    while power < 6 and number % 1024 == 0:
        number //= 1024
        power += 1
    suffix = {0: "", 1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}[power]
    return f"{sign}{number}{suffix}"


def _format_decimal(value: Decimal, *, exponent_form: bool) -> str:
    sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite by construction
    mantissa = int("".join(map(str, digits)))
    # Exponents are shown in steps of three; pad the mantissa with zeros to get there.
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if not exponent_form:
        # SI suffixes stop at E (10^18); larger values keep E and grow the mantissa.
        while exponent > 18:
            mantissa *= 1000
            exponent -= 3
    text = ("-" if sign else "") + str(mantissa)
    if exponent_form:
        return text if exponent == 0 else f"{text}e{exponent}"
    suffix = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
    return text + suffix[exponent]
