"""Build merchant-presented codes: the kiosk's dynamic per-order code and a static one.

A dynamic code (``01=12``) carries the amount (54), the order reference (62.05) and the order's
expiry as Unix seconds in this project's additional-data template (62.50: ``00`` =
``io.scanpay.order``, ``01`` = expiry). Every code built here is parsed back before it is
returned and must come out conformant, so a code the kiosk shows always round-trips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from payments.money import Money, MoneyError, currency_exponent
from payments.qr.crc import crc_hex
from payments.qr.model import QRBuildError, QRPayloadError
from payments.qr.mpm import CURRENCY_NUMERIC, SCANPAY_GUI, parse_mpm
from payments.qr.tlv import serialize

_REFERENCE = re.compile(r"[A-Za-z0-9]{1,25}")
_AMOUNT_TEXT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{0,3}))?")

# A root object is (id, text) or (id, [(sub id, text), ...]) for a template.
Objects = Sequence[tuple[str, "str | Sequence[tuple[str, str]]"]]


@dataclass(frozen=True)
class MerchantAccount:
    """Who gets paid, as the acquirer registered the kiosk's merchant.

    ``gui`` and ``account_id`` go into merchant account template ``account_template``
    (sub-IDs 00 and 01); the rest are the root objects 52, 58, 59, 60 and 61.
    """

    name: str
    city: str
    country: str
    gui: str
    account_id: str
    mcc: str = "5814"
    account_template: str = "26"
    postal_code: str | None = None


def build_mpm(objects: Objects) -> str:
    """TLV-encode ``objects`` after ``00=01`` and append ``6304`` with its CRC."""
    parts = [("00", "01")]
    for tag_id, value in objects:
        if tag_id in ("00", "63"):
            raise QRBuildError(f"ID {tag_id} is added by the builder")
        parts.append((tag_id, value if isinstance(value, str) else serialize(list(value))))
    body = serialize(parts) + "6304"
    return body + crc_hex(body)


def format_amount(amount: Money) -> str:
    """The value of tag 54: digits and one '.' at the currency's minor-unit exponent."""
    if amount.amount_minor <= 0:
        raise QRBuildError(f"an amount to pay must be positive, got {amount}")
    exp = currency_exponent(amount.currency)
    units, minor = divmod(amount.amount_minor, 10**exp)
    text = f"{units}.{minor:0{exp}d}" if exp else str(units)
    if len(text) > 13:
        raise QRBuildError(f"{amount} does not fit the 13 characters of tag 54")
    return text


def parse_amount(text: str, currency: str) -> Money:
    """Money from an amount text such as tag 54 (``'12.5'`` CNY -> 1250 fen)."""
    m = _AMOUNT_TEXT.fullmatch(text)
    if m is None:
        raise QRBuildError(f"amount {text!r} must be digits with at most one '.'")
    exp = currency_exponent(currency)
    units, frac = m.group(1), (m.group(2) or "")
    if len(frac.rstrip("0")) > exp:
        raise QRBuildError(f"{currency} has {exp} decimal places; {text!r} has more")
    try:
        return Money(int(units) * 10**exp + int((frac + "0" * exp)[:exp] or "0"), currency)
    except MoneyError as exc:
        raise QRBuildError(str(exc)) from None


def _merchant_objects(merchant: MerchantAccount, currency: str) -> list[tuple[str, object]]:
    numeric = CURRENCY_NUMERIC.get(currency)
    if numeric is None:
        raise QRBuildError(f"no ISO 4217 numeric code known for {currency}")
    objects: list[tuple[str, object]] = [
        (merchant.account_template, [("00", merchant.gui), ("01", merchant.account_id)]),
        ("52", merchant.mcc), ("53", numeric), ("58", merchant.country),
        ("59", merchant.name), ("60", merchant.city),
    ]
    if merchant.postal_code:
        objects.append(("61", merchant.postal_code))
    return objects


def _checked(objects: list[tuple[str, object]]) -> str:
    payload = build_mpm(sorted(objects, key=lambda o: o[0]))  # type: ignore[arg-type]
    try:
        parsed = parse_mpm(payload)
    except QRPayloadError as exc:
        raise QRBuildError(f"the built code does not parse: {exc}") from None
    if parsed.violations:
        raise QRBuildError("the built code breaks a rule: "
                           + "; ".join(str(v) for v in parsed.violations))
    return payload


def make_static_mpm(merchant: MerchantAccount, currency: str) -> str:
    """A reusable code (``01=11``) without amount: the payer types it in."""
    return _checked([("01", "11"), *_merchant_objects(merchant, currency)])


def make_dynamic_mpm(merchant: MerchantAccount, amount: Money, reference: str,
                     expires_at: int) -> str:
    """A one-order code (``01=12``) with amount, reference (62.05) and expiry (62.50.01)."""
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise QRBuildError("an order reference is 1-25 letters and digits")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or not (
            0 < expires_at < 10**10):
        raise QRBuildError("expires_at must be a Unix time in seconds")
    extra = serialize([("00", SCANPAY_GUI), ("01", str(expires_at))])
    objects = [("01", "12"), *_merchant_objects(merchant, amount.currency),
               ("54", format_amount(amount)), ("62", [("05", reference), ("50", extra)])]
    return _checked(objects)


def write_png(payload: str, path: str | Path, *, box_size: int = 8, border: int = 4) -> Path:
    """Render ``payload`` as a QR code PNG (error correction M) at ``path``."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(payload.encode("utf-8"))
    qr.make(fit=True)
    out = Path(path)
    try:
        qr.make_image().save(str(out))
    except OSError as exc:
        raise QRBuildError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
