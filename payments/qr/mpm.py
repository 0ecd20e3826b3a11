"""EMVCo Merchant-Presented Mode: CRC first, then TLV, then the EMVCo and scheme rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from payments.qr import pix, profiles, rules
from payments.qr.crc import crc16_ccitt_false
from payments.qr.model import ParsedPayload, QRPayloadError
from payments.qr.tlv import DataObject, parse_objects

_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
# Longest text looked at: the TLV layout caps a payload well below this (about 30 root objects).
MAX_MPM_CHARS = 4096

# ISO 4217 numeric -> alphabetic, for the currencies the schemes here use.
CURRENCY_ALPHA: dict[str, str] = {
    "986": "BRL", "764": "THB", "702": "SGD", "458": "MYR", "360": "IDR", "704": "VND",
    "116": "KHR", "840": "USD", "156": "CNY", "418": "LAK", "344": "HKD", "356": "INR",
    "978": "EUR", "826": "GBP", "392": "JPY", "410": "KRW", "608": "PHP", "036": "AUD",
    "124": "CAD", "756": "CHF", "901": "TWD", "446": "MOP",
}
CURRENCY_NUMERIC: dict[str, str] = {v: k for k, v in CURRENCY_ALPHA.items()}

# The GUI of this project's own additional-data template (62.50): order expiry lives there.
SCANPAY_GUI = "io.scanpay.order"

_MPM = "emvco-mpm"


def check_crc(text: str) -> None:
    """Raise unless ``text`` ends with ``6304`` + 4 hex digits matching its CRC-16."""
    n = len(text)
    if n < 8 or text[n - 8:n - 4] != "6304":
        raise QRPayloadError("crc", "missing_crc", "the payload must end with the CRC object "
                             "'6304' and four hex digits", tag="63", offset=max(0, n - 8),
                             scheme=_MPM)
    stated = text[n - 4:]
    if not _HEX4.fullmatch(stated):
        raise QRPayloadError("crc", "crc_not_hex", f"CRC value {stated!r} is not four hex digits",
                             tag="63", offset=n - 8, scheme=_MPM)
    try:
        data = text[:n - 4].encode("utf-8")
    except UnicodeEncodeError:
        raise QRPayloadError("format", "not_text", "the payload holds characters that are not "
                             "valid Unicode text", scheme=_MPM) from None
    computed = crc16_ccitt_false(data)
    if computed != int(stated, 16):
        raise QRPayloadError("crc", "crc_mismatch",
                             f"CRC stated {stated.upper()}, computed {computed:04X}",
                             tag="63", offset=n - 8, scheme=_MPM)


def _flatten(objects: list[DataObject], tags: dict[str, str], offsets: dict[str, int]) -> None:
    for obj in objects:
        if obj.path not in tags:  # the first of duplicates wins; rules report the duplicate
            tags[obj.path] = obj.value
            offsets[obj.path] = obj.offset
        if obj.children:
            _flatten(list(obj.children), tags, offsets)


def parse_mpm(text: str) -> ParsedPayload:
    """Parse a merchant-presented payload (lenient: every broken rule is listed, not raised)."""
    if len(text) > MAX_MPM_CHARS:
        raise QRPayloadError("format", "too_long", f"{len(text)} characters is longer than any "
                             "merchant-presented code", scheme=_MPM)
    check_crc(text)
    try:
        objects = parse_objects(text, 0, len(text))
    except QRPayloadError as exc:
        exc.scheme = _MPM
        raise
    last = objects[-1]
    if last.id != "63" or last.offset != len(text) - 8:
        raise QRPayloadError("crc", "crc_not_last", "the CRC object (63) must be the last "
                             f"data object, but the last one is {last.id}", tag=last.path,
                             offset=last.offset, scheme=_MPM)
    tags: dict[str, str] = {}
    offsets: dict[str, int] = {}
    _flatten(objects, tags, offsets)
    profile = profiles.detect(tags)
    violations = rules.check_root(objects, profile, text)
    if profile.extra is not None:
        violations.extend(profile.extra(tags, offsets, text))
    return ParsedPayload(scheme=profile.scheme, encoding="emv-mpm-tlv", tags=tags,
                         fields=mpm_fields(tags, profile.scheme), violations=tuple(violations))


_SIMPLE_FIELDS = (
    ("59", "merchant"), ("60", "city"), ("58", "country"), ("52", "mcc"), ("54", "amount"),
    ("53", "currency_numeric"), ("61", "postal_code"), ("62.01", "bill_number"),
    ("62.03", "store"), ("62.05", "reference_label"), ("62.06", "customer_label"),
    ("62.07", "terminal"), ("62.08", "purpose"), ("64.00", "language"),
    ("64.01", "merchant_local"), ("64.02", "city_local"), ("56", "convenience_fee"),
    ("57", "convenience_fee_percent"),
)
_ACCOUNT_KEYS = {"pix": ("01", "25"), "khqr": ("00",), "promptpay": ("01", "02", "03"),
                 "vietqr": ("01",)}
_TIPS = {"01": "prompt", "02": "fixed", "03": "percentage"}


def mpm_fields(tags: dict[str, str], scheme: str) -> dict[str, str]:
    """Friendly names for the fields of a merchant-presented payload."""
    fields = {name: tags[path] for path, name in _SIMPLE_FIELDS if path in tags}
    if "53" in tags and tags["53"] in CURRENCY_ALPHA:
        fields["currency"] = CURRENCY_ALPHA[tags["53"]]
    initiation = {"11": "static", "12": "dynamic"}.get(tags.get("01", ""))
    if initiation:
        fields["initiation"] = initiation
    if tags.get("55") in _TIPS:
        fields["tip"] = _TIPS[tags["55"]]
    reference = tags.get("62.05") or tags.get("62.01")
    if reference and reference != "***":
        fields["reference"] = reference
    for root in range(26, 52):
        gui = tags.get(f"{root}.00")
        if gui is not None:
            fields.setdefault("gui", gui)
            for key in _ACCOUNT_KEYS.get(scheme, ()):
                if f"{root}.{key}" in tags:
                    fields.setdefault("account", tags[f"{root}.{key}"])
    for root in range(50, 100):
        if tags.get(f"62.{root}.00") == SCANPAY_GUI:
            expiry = tags.get(f"62.{root}.01", "")
            if expiry.isascii() and expiry.isdigit() and len(expiry) <= 11:
                fields["expires_at"] = datetime.fromtimestamp(int(expiry), UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
            if f"62.{root}.02" in tags:
                fields["order_id"] = tags[f"62.{root}.02"]
    if scheme == "pix":
        fields.update(pix.pix_fields(tags))
    return fields
