"""One entry point for every payment code a camera reads: it finds the format, then parses it.

``parse_payload`` is lenient: it returns the parsed tags, friendly fields and every rule the
payload breaks (``ParsedPayload.violations``); ``ParsedPayload.conformant`` is the strict
verdict. A payload that cannot be parsed at all raises :class:`QRPayloadError`, and nothing
else, whatever the input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from payments.qr.cpm import parse_cpm
from payments.qr.model import ParsedPayload, QRPayloadError
from payments.qr.mpm import parse_mpm
from payments.qr.uri import parse_barcode, parse_uri

# Longest payload looked at; QR version 40 holds at most 4,296 alphanumeric characters.
MAX_PAYLOAD_CHARS = 4296
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,15}://")
_MPM_START = re.compile(r"[0-9]{2}")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DIGITS = re.compile(r"[0-9]{16,24}")


def _as_text(payload: str | bytes) -> str:
    if isinstance(payload, bytes | bytearray | memoryview):
        if len(payload) > 4 * MAX_PAYLOAD_CHARS:
            raise QRPayloadError("format", "too_long", "the payload is too long for a QR code")
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise QRPayloadError("format", "not_utf8", "the payload is not UTF-8 text",
                                 offset=exc.start) from None
    if not isinstance(payload, str):
        raise QRPayloadError("format", "not_text", f"expected text, got {type(payload).__name__}")
    return payload


def parse_payload(payload: str | bytes) -> ParsedPayload:
    """Parse any supported payment code; raise :class:`QRPayloadError` if it cannot be parsed."""
    text = _as_text(payload)
    if not text:
        raise QRPayloadError("format", "empty", "the payload is empty")
    if len(text) > MAX_PAYLOAD_CHARS:
        raise QRPayloadError("format", "too_long", f"{len(text)} characters is more than a QR "
                             "code holds")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QRPayloadError("format", "not_text", "the payload holds unpaired surrogates",
                             offset=exc.start) from None
    if text.startswith("SP1."):
        return _parse_app_code(text)
    if _URI.match(text):
        return parse_uri(text)
    if _DIGITS.fullmatch(text):
        barcode = parse_barcode(text)
        if barcode is not None:
            return barcode
    if _MPM_START.match(text):
        return parse_mpm(text)
    if text.startswith("hQ") or _B64.fullmatch(text):  # "hQ" is base64 of 0x85, CPM's first tag
        return parse_cpm(text)
    raise QRPayloadError("format", "unrecognised", "not an EMVCo code, a UPI or wallet link, "
                         "a wallet barcode or a ScanPay app code", offset=0)


def _parse_app_code(text: str) -> ParsedPayload:
    from payments.paycode import PaymentCodeError, parse_code

    try:
        code = parse_code(text)
    except PaymentCodeError as exc:
        raise QRPayloadError("format", exc.code, exc.message, scheme="scanpay-app") from None

    def iso(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    tags = {"cid": code.code_id, "sub": code.subject_id, "iat": str(code.issued_at),
            "exp": str(code.expires_at), "iss": code.issuer}
    fields = {"code_id": code.code_id, "subject_id": code.subject_id, "issuer": code.issuer,
              "issued_at": iso(code.issued_at), "expires_at": iso(code.expires_at)}
    return ParsedPayload("scanpay-app", "scanpay-app", tags, fields)


def check_payload(payload: str | bytes, *, strict: bool = False) -> ParsedPayload:
    """Parse, and with ``strict`` also raise on the first violation of the scheme's profile."""
    parsed = parse_payload(payload)
    if strict and parsed.violations:
        v = parsed.violations[0]
        raise QRPayloadError(v.layer, v.code, v.message, tag=v.tag, offset=v.offset,
                             scheme=parsed.scheme)
    return parsed
