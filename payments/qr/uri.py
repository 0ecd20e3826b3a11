"""Payment codes that are URIs or bare digits: UPI intents, Alipay/WeChat links, payer barcodes.

Alipay and WeChat collection links are paid inside the wallet app, so the terminal can only
recognise them; it cannot settle them by itself.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from payments.qr.model import ParsedPayload, QRPayloadError, Violation

_VPA = re.compile(r"[A-Za-z0-9._\-]{1,64}@[A-Za-z0-9.\-]{1,64}")
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
_MCC = re.compile(r"[0-9]{4}")
_CODE = re.compile(r"[A-Za-z0-9_\-]{4,128}")
_UPI_FIELDS = (("pa", "payee"), ("pn", "merchant"), ("am", "amount"), ("cu", "currency"),
               ("tn", "note"), ("tr", "reference"), ("mc", "mcc"))
# Hosts of collection links that a wallet app opens (scheme name, host).
_LINK_HOSTS = {"qr.alipay.com": "alipay-url", "qr.shouqianba.com": "aggregator-url"}


def parse_uri(text: str) -> ParsedPayload:
    """Parse a UPI intent or a known wallet link; anything else is a ``format`` error."""
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise QRPayloadError("format", "bad_uri", f"not a well-formed URI: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "upi":
        return _parse_upi(parts.netloc, parts.path, parts.query)
    if scheme == "wxp":
        code = parts.netloc + parts.path
        if not _CODE.fullmatch(code):
            raise QRPayloadError("format", "bad_code", "a WeChat Pay link is wxp://<code>",
                                 scheme="wechat-url", offset=6)
        return ParsedPayload("wechat-url", "uri", {"scheme": "wxp", "code": code},
                             {"wallet": "wechat", "code": code})
    host = (parts.hostname or "").lower()
    if scheme in ("http", "https") and host in _LINK_HOSTS:
        name = _LINK_HOSTS[host]
        code = parts.path.strip("/")
        if not _CODE.fullmatch(code):
            raise QRPayloadError("format", "bad_code", f"{host} links are https://{host}/<code>",
                                 scheme=name, offset=len(f"{parts.scheme}://{parts.netloc}"))
        violations = []
        if scheme != "https":
            violations.append(Violation("format", "not_https", "payment links must use https"))
        wallet = "alipay" if name == "alipay-url" else "aggregator"
        return ParsedPayload(name, "uri", {"host": host, "code": code},
                             {"wallet": wallet, "host": host, "code": code}, tuple(violations))
    raise QRPayloadError("format", "unknown_uri", f"a {scheme or 'schemeless'} link that is not a "
                         "known payment code", offset=0)


def _parse_upi(netloc: str, path: str, query: str) -> ParsedPayload:
    violations: list[Violation] = []
    if (netloc + path).lower() != "pay":
        violations.append(Violation("format", "upi_action", "only upi://pay intents are payments",
                                    offset=6))
    tags: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in tags:
            violations.append(Violation("format", "duplicate_parameter",
                                        f"parameter {key!r} appears twice", tag=key))
            continue
        tags[key] = value
    if not tags.get("pa"):
        raise QRPayloadError("format", "upi_no_payee", "a UPI intent must name the payee "
                             "address (pa)", tag="pa", scheme="upi")
    if not _VPA.fullmatch(tags["pa"]):
        violations.append(Violation("format", "upi_bad_payee", "the payee address (pa) must be "
                                    "name@handle", tag="pa"))
    if "am" in tags and not _AMOUNT.fullmatch(tags["am"]):
        violations.append(Violation("format", "bad_amount", "the amount (am) must be digits with "
                                    "at most two decimals", tag="am"))
    if "cu" in tags and tags["cu"] != "INR":
        violations.append(Violation("format", "currency_not_allowed", "UPI payments are in INR",
                                    tag="cu"))
    if "mc" in tags and not _MCC.fullmatch(tags["mc"]):
        violations.append(Violation("format", "bad_value", "the merchant code (mc) is 4 digits",
                                    tag="mc"))
    fields = {name: tags[key] for key, name in _UPI_FIELDS if key in tags}
    if "am" in tags:
        fields.setdefault("currency", "INR")
    return ParsedPayload("upi", "uri", tags, fields, tuple(violations))


_ALIPAY_AUTH = re.compile(r"(2[5-9]|30)[0-9]{14,22}")
_WECHAT_AUTH = re.compile(r"1[0-5][0-9]{16}")


def parse_barcode(text: str) -> ParsedPayload | None:
    """A payer-presented wallet barcode (Alipay auth_code, WeChat Pay code), or None."""
    if _WECHAT_AUTH.fullmatch(text):
        return ParsedPayload("wechat-barcode", "barcode", {"code": text},
                             {"wallet": "wechat", "code": text})
    if _ALIPAY_AUTH.fullmatch(text):
        return ParsedPayload("alipay-barcode", "barcode", {"code": text},
                             {"wallet": "alipay", "code": text})
    return None

