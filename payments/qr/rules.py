"""The generic EMVCo merchant-presented rules, softened or sharpened by a scheme profile.

Each broken rule becomes a :class:`Violation`; nothing here raises. Layers: ``emvco`` for the
specification's own rules, ``scheme`` for the profile's additions.
"""

from __future__ import annotations

import re

from payments.qr.model import Violation
from payments.qr.profiles import Profile
from payments.qr.tlv import DataObject

_ANS = re.compile(r"[\x20-\x7e]*")
_N = re.compile(r"[0-9]*")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]*)?")
_PERCENT = re.compile(r"[0-9]{1,2}(\.[0-9]{1,2})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[A-Za-z]{2}")

# ID -> (format, min length, max length) for the root primitives.
_ROOT_FORMATS: dict[str, tuple[str, int, int]] = {
    "00": ("N", 2, 2), "01": ("N", 2, 2), "52": ("N", 4, 4), "53": ("N", 3, 3),
    "54": ("ans", 1, 13), "55": ("N", 2, 2), "56": ("ans", 1, 13), "57": ("ans", 1, 5),
    "58": ("ans", 2, 2), "59": ("ans", 1, 25), "60": ("ans", 1, 15), "61": ("ans", 1, 10),
    "63": ("ans", 4, 4),
}
_NAMES = {"00": "payload format indicator", "01": "point of initiation", "52": "merchant category",
          "53": "currency", "54": "amount", "55": "tip indicator", "56": "fixed fee",
          "57": "fee percentage", "58": "country", "59": "merchant name", "60": "merchant city",
          "61": "postal code", "62": "additional data", "63": "CRC", "64": "language template"}
_MANDATORY = ("52", "53", "58", "59", "60")


def _viol(code: str, message: str, obj: DataObject | None = None, *, layer: str = "emvco",
          tag: str | None = None) -> Violation:
    if obj is not None:
        return Violation(layer, code, message, tag=obj.path, offset=obj.offset)  # type: ignore[arg-type]
    return Violation(layer, code, message, tag=tag)  # type: ignore[arg-type]


def _format(obj: DataObject, fmt: str, lo: int, hi: int, name: str) -> list[Violation]:
    value = obj.value
    if not lo <= len(value) <= hi:
        size = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return [_viol("bad_length", f"{name} must be {size} characters, got {len(value)}", obj)]
    if fmt == "N" and not _N.fullmatch(value):
        return [_viol("bad_format", f"{name} must be digits, got {value!r}", obj)]
    if fmt == "ans" and not _ANS.fullmatch(value):
        return [_viol("bad_charset", f"{name} must use the common character set (printable "
                      "ASCII); non-Latin text belongs in template 64", obj)]
    return []


def check_root(objects: list[DataObject], profile: Profile, text: str) -> list[Violation]:
    """Every generic EMVCo rule the root objects break, as the profile softens them."""
    out: list[Violation] = []
    if len(text) > (profile.max_chars or 10**9):
        out.append(_viol("too_long", f"{profile.scheme} payloads are at most "
                         f"{profile.max_chars} characters, this one has {len(text)}",
                         layer="scheme"))
    seen: dict[str, DataObject] = {}
    for obj in objects:
        if obj.id in seen:
            out.append(_viol("duplicate_id", f"ID {obj.id} appears more than once", obj))
            continue
        seen[obj.id] = obj
    first = objects[0]
    if first.id != "00":
        out.append(_viol("pfi_not_first", "the payload format indicator (00) must come first",
                         first))
    pfi = seen.get("00")
    if pfi is not None and pfi.value not in profile.format_indicators:
        allowed = "/".join(sorted(profile.format_indicators))
        out.append(_viol("pfi_value", f"payload format indicator must be {allowed}, "
                         f"got {pfi.value!r}", pfi))
    if not any(2 <= int(i) <= 51 for i in seen) and not _unreserved_account(seen, profile):
        out.append(_viol("no_merchant_account",
                         "no merchant account information (IDs 02-51)", tag=None))
    for tag_id in _MANDATORY:
        if tag_id not in seen and tag_id not in profile.relaxed_mandatory:
            out.append(_viol("missing_mandatory", f"the {_NAMES[tag_id]} ({tag_id}) is mandatory",
                             tag=tag_id))
    for obj in seen.values():
        out.extend(_check_object(obj, profile))
    out.extend(_check_dependencies(seen))
    out.extend(_check_profile_values(seen, profile))
    return out


def _unreserved_account(seen: dict[str, DataObject], profile: Profile) -> bool:
    """True when the profile takes a template 80-99 with its GUI as the merchant account."""
    gui = profile.unreserved_account_gui
    if gui is None:
        return False
    return any(int(i) >= 80 and any(c.id == "00" and c.value.lower() == gui.lower()
                                    for c in obj.children or ())
               for i, obj in seen.items())


def _check_object(obj: DataObject, profile: Profile) -> list[Violation]:
    n = int(obj.id)
    if obj.id in _ROOT_FORMATS:
        fmt, lo, hi = _ROOT_FORMATS[obj.id]
        found = _format(obj, fmt, lo, hi, _NAMES[obj.id])
        return found or _check_value(obj)
    if 2 <= n <= 25:
        return _format(obj, "ans", 1, 99, f"merchant account {obj.id}")
    if 65 <= n <= 79:
        if profile.allow_rfu_ids:
            return []
        return [_viol("rfu_id", f"ID {obj.id} is reserved for EMVCo and must not be present", obj)]
    if 26 <= n <= 51:
        return _check_account_template(obj)
    if n == 62:
        return _check_additional_data(obj)
    if n == 64:
        return _check_language_template(obj)
    if n >= 80:
        if profile.unreserved_needs_gui and not _has_child(obj, "00"):
            return [_viol("missing_gui", f"template {obj.id} must start with a GUI (00)", obj)]
        return _duplicate_children(obj)
    return []


def _check_value(obj: DataObject) -> list[Violation]:
    v = obj.value
    if obj.id == "01" and v not in ("11", "12"):
        return [_viol("bad_value", f"point of initiation must be 11 (static) or 12 (dynamic), "
                      f"got {v!r}", obj)]
    if obj.id in ("54", "56") and not _AMOUNT.fullmatch(v):
        return [_viol("bad_amount", f"{_NAMES[obj.id]} must be digits with at most one '.' "
                      f"(no sign, separator or symbol), got {v!r}", obj)]
    if obj.id == "55" and v not in ("01", "02", "03"):
        return [_viol("bad_value", f"tip indicator must be 01, 02 or 03, got {v!r}", obj)]
    if obj.id == "57" and (not _PERCENT.fullmatch(v) or not 0 < float(v) < 100):
        return [_viol("bad_value", f"fee percentage must be 00.01-99.99, got {v!r}", obj)]
    if obj.id == "58" and not _COUNTRY.fullmatch(v):
        return [_viol("bad_value", f"country must be ISO 3166 alpha-2, got {v!r}", obj)]
    return []


def _has_child(obj: DataObject, child_id: str) -> bool:
    return any(c.id == child_id for c in obj.children or ())


def _duplicate_children(obj: DataObject) -> list[Violation]:
    ids: set[str] = set()
    out = []
    for child in obj.children or ():
        if child.id in ids:
            out.append(_viol("duplicate_id", f"ID {child.id} appears twice in template {obj.id}",
                             child))
        ids.add(child.id)
    return out


def _check_account_template(obj: DataObject) -> list[Violation]:
    out = _duplicate_children(obj)
    if not _has_child(obj, "00"):
        out.append(_viol("missing_gui", f"account template {obj.id} must start with a GUI (00)",
                         obj))
    for child in obj.children or ():
        out.extend(_format(child, "ans", 1, 99, f"account field {child.path}"))
    return out


def _check_additional_data(obj: DataObject) -> list[Violation]:
    out = _duplicate_children(obj)
    for child in obj.children or ():
        n = int(child.id)
        if 1 <= n <= 8 or n == 10:
            out.extend(_format(child, "ans", 1, 25, f"additional data {child.path}"))
        elif n == 9:
            letters = child.value
            if not (0 < len(letters) <= 3 and set(letters) <= set("AME")
                    and len(set(letters)) == len(letters)):
                out.append(_viol("bad_value", "consumer data request (62.09) is up to three of "
                                 f"the letters A, M, E, got {letters!r}", child))
        elif n == 11:
            out.extend(_format(child, "ans", 3, 3, "merchant channel (62.11)"))
        elif 12 <= n <= 49 or n == 0:
            out.append(_viol("rfu_id", f"ID {child.path} is reserved for future use", child))
        elif not _has_child(child, "00"):
            out.append(_viol("missing_gui", f"template {child.path} must start with a GUI (00)",
                             child))
    return out


def _check_language_template(obj: DataObject) -> list[Violation]:
    out = _duplicate_children(obj)
    children = {c.id: c for c in obj.children or ()}
    if "00" not in children or "01" not in children:
        out.append(_viol("missing_mandatory", "template 64 needs a language (00) and a name (01)",
                         obj))
    for child in children.values():
        if child.id == "00" and not _LANGUAGE.fullmatch(child.value):
            out.append(_viol("bad_value", "language (64.00) must be ISO 639 alpha-2", child))
        elif child.id == "01" and len(child.value) > 25:
            out.append(_viol("bad_length", "local merchant name (64.01) is at most 25 "
                             "characters", child))
        elif child.id == "02" and len(child.value) > 15:
            out.append(_viol("bad_length", "local merchant city (64.02) is at most 15 "
                             "characters", child))
        elif int(child.id) >= 3:
            out.append(_viol("rfu_id", f"ID {child.path} is reserved for future use", child))
    return out


def _check_dependencies(seen: dict[str, DataObject]) -> list[Violation]:
    out = []
    tip = seen.get("55")
    tip_value = tip.value if tip is not None else None
    if "56" in seen and tip_value != "02":
        out.append(_viol("fee_without_indicator", "a fixed fee (56) needs tip indicator 55=02",
                         seen["56"]))
    if "57" in seen and tip_value != "03":
        out.append(_viol("fee_without_indicator", "a fee percentage (57) needs tip indicator "
                         "55=03", seen["57"]))
    if tip_value == "02" and "56" not in seen:
        out.append(_viol("missing_fee", "tip indicator 02 needs the fixed fee (56)", tip))
    if tip_value == "03" and "57" not in seen:
        out.append(_viol("missing_fee", "tip indicator 03 needs the fee percentage (57)", tip))
    return out


def _check_profile_values(seen: dict[str, DataObject], profile: Profile) -> list[Violation]:
    out = []
    currency = seen.get("53")
    if profile.currencies is not None and currency is not None and (
            currency.value not in profile.currencies):
        allowed = ", ".join(sorted(profile.currencies))
        out.append(_viol("currency_not_allowed", f"{profile.scheme} codes use currency "
                         f"{allowed}, got {currency.value!r}", currency, layer="scheme"))
    country = seen.get("58")
    if profile.country is not None and country is not None and country.value != profile.country:
        out.append(_viol("country_not_allowed", f"{profile.scheme} codes use country "
                         f"{profile.country}, got {country.value!r}", country, layer="scheme"))
    return out
