"""Reading phone numbers out of event attributes, however they are written or split.

Used by :mod:`payments.events` (the terminal refuses to write such an event) and, through it,
by the back end's event check (which refuses it with the same reason code). Three readers:

- :func:`looks_like_phone_number`: free text holding a stand-alone run of 7+ digits behind any
  separators, letter O for zero, Unicode digits or hex;
- :func:`id_looks_like_phone_number`: an opaque id that *is* a phone number;
- :func:`split_mobile_number`: a mainland-China mobile number (11 digits, ``1[3-9]``...) whose
  digit groups are spread over several attribute values in document order: text runs and
  integers, nested lists and objects included. Values that measure something (keys with a unit
  suffix, coordinates, timestamps), ids and booleans are not read as digit groups.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# Digits from which a text is taken for a phone number (the shortest local numbers have 7).
PHONE_MIN_DIGITS = 7
# E.164: a phone number has at most 15 digits.
PHONE_MAX_DIGITS = 15
# A mainland-China mobile number: 11 digits, 1 then 3-9.
CN_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
CN_MOBILE_DIGITS = 11
# Keys ending like this measure something (money in minor units, seconds, bytes, a count, a
# percentage, days): their integers are quantities, not digit groups.
UNIT_SUFFIXES = ("_minor", "_s", "_ms", "_bytes", "_count", "_pct", "_days")
# Words of a key that name a coordinate; with _e5/_e6/_e7 an integer in scaled degrees.
_LATITUDE_WORDS = frozenset({"lat", "latitude"})
_LONGITUDE_WORDS = frozenset({"lon", "lng", "longitude"})
_PAIR_WORDS = frozenset({"coords", "coordinates", "position", "location", "gps", "latlon",
                         "latlng"})
# A coordinate in degrees: at most 7 decimals (1 cm), so never 11 digits.
_DEGREES_RE = re.compile(r"[+-]?([0-9]{1,3})(?:\.([0-9]{1,7}))?")
_PAIR_RE = re.compile(r"\s*([^,\s]+)\s*,\s*([^,\s]+)\s*")
# Keys naming a point in time; their integers are Unix seconds (milliseconds with _ms).
_TIME_SUFFIXES = ("_at", "_at_s", "_ts", "_time", "_time_s")
_TIME_MS_SUFFIXES = ("_at_ms", "_ts_ms", "_time_ms")
# Unix times taken for timestamps: 2020-01-01 .. 2040-01-01 (none is an 11-digit mobile).
_EPOCH_MIN = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
_EPOCH_MAX = int(datetime(2040, 1, 1, tzinfo=UTC).timestamp())

# Text is scanned in a classified form: each character becomes one of
#   0-9  a digit of any script (full-width, Arabic-Indic, ...), after NFKC
#   O    the letter O or o, which may stand for a zero
#   a    any other letter or mark
#   -    a separator: spaces of any kind, dashes, dots, slashes, underscores, brackets, +
#   #    anything else (ends a number)
_SEPARATOR_CHARS = frozenset(".,/\\_()[]{}+'·•・‧∙")
# A digit run: digits (or O) joined by at most three separators, not glued to letters.
_CLASSED_RUN_RE = re.compile(r"(?<![a0-9O])[0-9O](?:-{0,3}[0-9O])*(?![a0-9O])")
_LONE_O_RE = re.compile(r"(?<![0-9O])O+(?![0-9O])")
# ISO dates and times are not phone numbers.
_ISO_DATETIME_RE = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
# A stand-alone hex number, with or without 0x.
_HEX_RE = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?([0-9A-Fa-f]{5,13})(?![0-9A-Za-z])")
_OPAQUE_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
# Words that, inside an id, say the digits next to them reach a person.
_CONTACT_WORDS = frozenset(
    {"tel", "phone", "mobile", "mob", "cell", "msisdn", "sms", "call", "whatsapp", "contact"}
)


def _ascii_class(ch: str) -> str:
    """The scanning class of one ASCII character (see ``_SEPARATOR_CHARS``)."""
    if ch in "0123456789":
        return ch
    if ch in "Oo":
        return "O"
    if ch.isalpha():
        return "a"
    if ch in _SEPARATOR_CHARS or ch.isspace() or ch == "-":  # "-" is ASCII's only dash
        return "-"
    return "#"


# Every ASCII character's class, for str.translate: most text scanned is ASCII.
_ASCII_CLASSES = {code: _ascii_class(chr(code)) for code in range(128)}


def _ascii_digits(text: str) -> str:
    """``text`` after NFKC with every decimal digit of any script as an ASCII digit."""
    if text.isascii():  # NFKC leaves ASCII as it is, and its digits are already ASCII
        return text
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        digit = unicodedata.decimal(ch, None)
        out.append(str(digit) if digit is not None else ch)
    return "".join(out)


def _classify(text: str, *, touching_o_only: bool = False) -> str:
    """``_ascii_digits(text)`` in the scanning alphabet described at ``_SEPARATOR_CHARS``."""
    if text.isascii():
        classed = text.translate(_ASCII_CLASSES)
        if touching_o_only:
            classed = _LONE_O_RE.sub(lambda m: "a" * len(m.group(0)), classed)
        return classed
    out = []
    for ch in text:
        if ch in "0123456789":
            out.append(ch)
        elif ch in "Oo":
            out.append("O")
        elif ch.isalpha() or unicodedata.category(ch).startswith("M"):
            out.append("a")
        elif (ch in _SEPARATOR_CHARS or ch.isspace()
              or unicodedata.category(ch) in ("Pd", "Zs", "Cf")):
            out.append("-")
        else:
            out.append("#")
    classed = "".join(out)
    if touching_o_only:  # O stands for a zero only in a run of Os touching a digit
        classed = _LONE_O_RE.sub(lambda m: "a" * len(m.group(0)), classed)
    return classed


def digit_runs(text: str) -> list[str]:
    """Stand-alone runs of digits in ``text``, separators removed, letter O read as ``0``."""
    plain = _ISO_DATETIME_RE.sub(lambda m: "#" * len(m.group(0)), _ascii_digits(text))
    runs = []
    for match in _CLASSED_RUN_RE.finditer(_classify(plain)):
        run = match.group(0).replace("-", "")
        if "O" not in run or sum(ch.isdigit() for ch in run) >= 3:  # "OOO" is a word
            runs.append(run.replace("O", "0"))
    return runs


def _hex_phone(text: str) -> bool:
    """True when ``text`` holds a hex number whose decimal value has 7-15 digits."""
    for match in _HEX_RE.finditer(unicodedata.normalize("NFKC", text)):
        token = match.group(0)
        digits = match.group(1)
        if not token.lower().startswith("0x") and (
            digits.isdigit() or sum(ch.isdigit() for ch in digits) < 2
        ):
            continue  # decimal digits are a digit run; mostly letters are a word ("face1d")
        value = int(digits, 16)
        if 10 ** (PHONE_MIN_DIGITS - 1) <= value < 10**PHONE_MAX_DIGITS:
            return True
    return False


def phone_digits(text: str) -> int:
    """How many digits ``text`` holds in stand-alone numbers (however written)."""
    return sum(len(run) for run in digit_runs(text))


def looks_like_phone_number(text: str) -> bool:
    """True when free ``text`` holds a stand-alone run of 7+ digits, however it is written.

    Separators of any kind, letter O for zero, Unicode digits and hex numbers are all seen
    through; ISO dates and times are not numbers.
    """
    if any(len(run) >= PHONE_MIN_DIGITS for run in digit_runs(text)):
        return True
    return _hex_phone(text)


def id_looks_like_phone_number(text: str) -> bool:
    """True when an opaque id *is* a phone number, or names a contact channel next to one.

    ``rider-5551234`` and UUIDs are ids; ``13800138000``, ``+86-138-0013-8000``,
    ``138OO138OOO`` and ``tel:13800138000`` are phone numbers.
    """
    classed = _classify(_ascii_digits(text), touching_o_only=True)
    if "a" not in classed and "#" not in classed:
        digits = classed.replace("-", "")
        real = sum(ch.isdigit() for ch in digits)
        if real >= 3 and PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
            return True
    words = set(re.findall(r"[a-z]+", unicodedata.normalize("NFKC", text).lower()))
    if words & _CONTACT_WORDS:
        return any(len(re.sub(r"\D", "", part)) >= PHONE_MIN_DIGITS
                   for part in re.split(r"[A-Za-z]+", text))
    return False


def is_id_key(key: str) -> bool:
    """Whether an attribute named ``key`` holds an id (``id`` or ``*_id``)."""
    return key == "id" or key.endswith("_id")


def is_id_value(key: str, value: object) -> bool:
    """An opaque id: text of ``A-Z a-z 0-9 _ . : -`` under an id key."""
    return isinstance(value, str) and is_id_key(key) and bool(_OPAQUE_RE.fullmatch(value))


@functools.lru_cache(maxsize=4096)
def _coordinate_limit(key: str) -> float | None:
    """The largest absolute value in degrees a coordinate named ``key`` has (None: no coord)."""
    words = set(key.split("_"))
    if words & _LATITUDE_WORDS:
        return 90.0
    if words & _LONGITUDE_WORDS:
        return 180.0
    return None


def _degrees(text: str, limit: float) -> bool:
    match = _DEGREES_RE.fullmatch(text.strip())
    return match is not None and abs(float(match.group(0))) <= limit


def is_coordinate(key: str, value: object) -> bool:
    """A latitude/longitude under a key that names one (``lat``, ``dock_lon``, ``lat_e6``,
    ``position`` as ``"31.2304,121.4737"``): at most 7 decimals, within range.
    """
    if isinstance(value, bool):
        return False
    limit = _coordinate_limit(key)
    if isinstance(value, int):
        scale = {"e5": 10**5, "e6": 10**6, "e7": 10**7}.get(key.rsplit("_", 1)[-1])
        return limit is not None and scale is not None and abs(value) <= limit * scale
    if not isinstance(value, str):
        return False
    if limit is not None:
        return _degrees(value, limit)
    if set(key.split("_")) & _PAIR_WORDS:
        pair = _PAIR_RE.fullmatch(value)
        return pair is not None and _degrees(pair.group(1), 90.0) and _degrees(
            pair.group(2), 180.0)
    return False


def is_timestamp(key: str, value: object) -> bool:
    """Unix seconds (``*_at``, ``*_ts``, ``*_time``) or milliseconds (``*_at_ms``) between
    2020 and 2040: never the digits of an 11-digit mobile number."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    if key.endswith(_TIME_MS_SUFFIXES):
        return _EPOCH_MIN * 1000 <= value < _EPOCH_MAX * 1000
    return key.endswith(_TIME_SUFFIXES) and _EPOCH_MIN <= value < _EPOCH_MAX


def is_measure(key: str, value: object) -> bool:
    """Whether ``value`` under ``key`` measures something (a quantity with a unit, a
    coordinate, a timestamp) rather than being plain digits."""
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(UNIT_SUFFIXES):
        return True
    return is_coordinate(key, value) or is_timestamp(key, value)


@dataclass(frozen=True)
class DigitGroup:
    """The digits of one number found in an attribute value (``where``: its path)."""

    where: str
    digits: str


def _walk(key: str, where: str, value: object) -> Iterator[DigitGroup]:
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            name = str(sub_key)
            yield from _walk(name, f"{where}.{name}" if where else name, sub_value)
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _walk(key, f"{where}[{n}]", item)
    elif isinstance(value, bool) or is_measure(key, value) or is_id_value(key, value):
        return
    elif isinstance(value, int):
        yield DigitGroup(where, str(abs(value)))
    elif isinstance(value, str):
        for run in digit_runs(value):
            yield DigitGroup(where, run)


def digit_groups(attributes: Mapping[str, object]) -> list[DigitGroup]:
    """The plain digit groups of ``attributes`` in document order: every stand-alone number
    of free text and every integer, through nested lists and objects; not ids, booleans or
    measures (:func:`is_measure`)."""
    return list(_walk("", "", attributes))


def split_mobile_number(attributes: Mapping[str, object]) -> tuple[str, ...] | None:
    """Where a mainland-China mobile number is split over several values, or None.

    The number starts at the first digit of one digit group and takes its 11 digits from that
    group and the ones after it in document order (``{"a": 138, "b": 13800, "c": 1380}``,
    ``{"p": ["138", "0013"], "q": 8000}``). Returns the paths of the groups it uses.
    """
    groups = digit_groups(attributes)
    for start, first in enumerate(groups):
        if not first.digits.startswith("1"):
            continue
        stream, used = "", []
        for group in groups[start:]:
            stream += group.digits
            used.append(group.where)
            if len(stream) >= CN_MOBILE_DIGITS:
                break
        if len(used) >= 2 and CN_MOBILE_RE.match(stream):
            return tuple(dict.fromkeys(used))
    return None
