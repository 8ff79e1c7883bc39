"""resource.Quantity as kube-apiserver parses, adds and prints it (upstream: staging/src/k8s.io/apimachinery/pkg/api/
resource/quantity.go, amount.go, suffix.go), for the quota and limit-range rules that quote quantities in their
messages (`exceeded quota: q, requested: requests.memory=2Gi, ...`) and in the objects they write.

- A quantity has a value and a format, the format of its suffix: BinarySI (Ki … Ei), DecimalSI (none, n u m k M G T P
  E) or DecimalExponent (e3, E-3). Values are kept to nanos, rounded up (ParseQuantity's rounding).
- `str(q)` is Quantity.String(), its canonical form: DecimalSI and DecimalExponent as an integer mantissa and an
  exponent that is a multiple of 3 (1500m, 2k, 1500, 2e3); BinarySI as the largest binary suffix that keeps an integer
  (1536Mi) — unless the value is below 1024 or not a whole number, printed as DecimalSI then.
- `a + b` is Quantity.Add: the sum keeps a's format, b's when a is zero; `a - b` likewise (Quantity.Sub).
- `go_repr(text)` is how field.Invalid prints a Quantity value it is given (`%#v`: the struct, its int64Amount and its
  cached string), as ValidateLimitRange's and ValidateResourceQuantityValue's messages show it.

Pure: no simulator imports."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation

BINARY_SI, DECIMAL_SI, DECIMAL_EXPONENT = "BinarySI", "DecimalSI", "DecimalExponent"
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_SUFFIX = {exp: suffix for suffix, exp in _BINARY.items()}
_TEXT = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][+-]?[0-9]+))?$")
NANO = Decimal("1e-9")
MAX_INT64 = 2**63 - 1
MAX_MILLI = MAX_INT64 // 1000  # resource.MaxMilliValue: beyond it, comparisons use whole values


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: str = DECIMAL_SI

    def __str__(self) -> str:
        return canonical(self.value, self.format)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, other.format if self.value == 0 else self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, other.format if self.value == 0 else self.format)

    def milli(self) -> int:
        """MilliValue: the value in thousandths, rounded up."""
        return int((self.value * 1000).to_integral_value(ROUND_CEILING))

    def whole(self) -> int:
        """Value: the value rounded up to an integer."""
        return int(self.value.to_integral_value(ROUND_CEILING))


ZERO = Quantity(Decimal(0))


def _split(text: str) -> tuple[str, str, str, str]:
    """sign, integer digits, fraction digits, suffix; ValueError when the text is not a quantity."""
    m = _TEXT.match(text.strip())
    if m is None or not (m.group(2) or m.group(3)):
        raise ValueError(f"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    return m.group(1), m.group(2) or "", m.group(3) or "", m.group(4) or ""


def _base(suffix: str) -> tuple[str, int]:
    """(format, exponent): base 2 for BinarySI, base 10 otherwise."""
    if suffix in _BINARY:
        return BINARY_SI, _BINARY[suffix]
    if suffix in _DECIMAL:
        return DECIMAL_SI, _DECIMAL[suffix]
    return DECIMAL_EXPONENT, int(suffix[1:])


def parse(value: object) -> Quantity:
    """ParseQuantity of a JSON value (a string, or a number as a JSON decoder reads it); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not a quantity: {value!r}")
    text = value if isinstance(value, str) else json.dumps(value)
    sign, num, frac, suffix = _split(text)
    fmt, exponent = _base(suffix)
    try:
        number = Decimal(f"{sign}{num or '0'}.{frac or '0'}")
    except InvalidOperation as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc
    amount = number * (Decimal(2) ** exponent if fmt == BINARY_SI else Decimal(10) ** exponent)
    if int(amount.as_tuple().exponent) < -9:  # kept to nanos, rounded away from zero as upstream
        magnitude = abs(amount).quantize(NANO, rounding=ROUND_CEILING)
        amount = magnitude if amount > 0 else -magnitude
    return Quantity(amount.normalize() if amount else Decimal(0), fmt)


def is_quantity(value: object) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _mantissa(value: Decimal) -> tuple[int, int]:
    """value = mantissa * 10**exponent with no factor of 10 left in the mantissa (0 for zero)."""
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    return (-mantissa if sign else mantissa), int(exponent)


def canonical(value: Decimal, fmt: str = DECIMAL_SI) -> str:
    """Quantity.String() (CanonicalizeBytes)."""
    if value == 0:
        return "0"
    if fmt == BINARY_SI and (abs(value) < 1024 or value != value.to_integral_value()):
        fmt = DECIMAL_SI  # no rounding, and no confusion below 1 Ki
    if fmt == BINARY_SI:
        amount, exponent = int(value), 0
        while amount % 1024 == 0 and exponent < 60:
            amount //= 1024
            exponent += 10
        return f"{amount}{_BINARY_SUFFIX.get(exponent, '')}"
    mantissa, exponent = _mantissa(value)
    shift = exponent % 3  # down to a multiple of 3: 1.5 -> 1500m, 15000 -> 15k
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent > 18:
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def normalized(text: object) -> object:
    """A quantity as the API server writes it back (its canonical form); anything that is not one, unchanged."""
    try:
        return str(parse(text))
    except ValueError:
        return text


def round_up(q: Quantity) -> Quantity:
    """RoundUp(0): a whole number (storage requests are charged in whole bytes)."""
    return Quantity(q.value.to_integral_value(ROUND_CEILING), q.format) if q.value != q.value.to_integral_value() else q


def go_repr(value: object, stringified: bool = True) -> str:
    """`%#v` of the Quantity ParseQuantity makes of `value`: what field.Invalid shows for a Quantity bad value
    (validation.go passes the struct, which is no fmt.Stringer). Its cached text `s` is the canonical one once
    String() ran on it (`stringified`: the messages that also print the quantity, which Go evaluates first), else
    what ParseQuantity kept: the text itself when already canonical, none otherwise."""
    text = (value if isinstance(value, str) else json.dumps(value)).strip()
    sign, num, frac, suffix = _split(text)
    fmt, exponent = _base(suffix)
    q = parse(value)
    shifted = num + frac
    if fmt == BINARY_SI:
        amount, scale = (int(q.value), 0) if not frac else _mantissa(q.value)
        kept = not frac and exponent % 10 == 0 and int(num or "0") & 0x07 != 0
    else:
        amount, scale = int(sign + (shifted.lstrip("0") or "0")), exponent - len(frac)
        if scale < -9 or abs(amount) > MAX_INT64:
            amount, scale = _mantissa(q.value)
        kept = scale % 3 == 0 and not shifted.endswith("000") and shifted[:1] != "0"
    cached = json.dumps(str(q) if stringified else text if kept else "")
    return f"resource.Quantity{{i:resource.int64Amount{{value:{amount}, scale:{scale}}}, d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{cached}, Format:{json.dumps(fmt)}}}"


# -- resource lists (map[ResourceName]Quantity), as quota/v1's helpers work on them ----------------------------------
ResourceList = dict[str, Quantity]


def parse_list(raw: object) -> ResourceList:
    """A JSON resource map as quantities; entries that are not quantities are left out (validation names them)."""
    out: ResourceList = {}
    for name, value in (raw or {}).items() if isinstance(raw, dict) else ():
        try:
            out[name] = parse(value)
        except ValueError:
            continue
    return out


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    """quota.Add: every resource of either, summed where both have it."""
    out = dict(a)
    for name, q in b.items():
        out[name] = out[name] + q if name in out else q
    return out


def subtract(a: ResourceList, b: ResourceList) -> ResourceList:
    """quota.Subtract: a's resources less b's (b's others as negatives)."""
    out = dict(a)
    for name, q in b.items():
        out[name] = out[name] - q if name in out else ZERO - q
    return out


def mask(a: ResourceList, names: object) -> ResourceList:
    """quota.Mask: only the named resources."""
    return {name: q for name, q in a.items() if name in names}  # type: ignore[operator]


def remove_zeros(a: ResourceList) -> ResourceList:
    return {name: q for name, q in a.items() if q.value != 0}


def pretty(a: ResourceList) -> str:
    """prettyPrint of the quota admission: `name=value` sorted by name, comma-separated."""
    return ",".join(f"{name}={a[name]}" for name in sorted(a))


def to_json(a: ResourceList) -> dict[str, str]:
    return {name: str(q) for name, q in a.items()}
