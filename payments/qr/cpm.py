"""EMVCo Consumer-Presented Mode: base64 of BER-TLV with ``85 = CPV01`` and application templates.

The cryptogram data (templates 63/64: 9F26, 9F27, 9F10, 9F36, 9F37) are passed on as hex,
never interpreted: the issuer checks them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from payments.qr.model import ParsedPayload, QRPayloadError, Violation

_CPM = "emvco-cpm"
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
MAX_DEPTH = 4
# Data elements whose value is text; everything else is shown as upper-case hex.
TEXT_TAGS = frozenset({"85", "50", "5F20", "5F2D", "5F50", "9F12", "9F24"})
_ROOT_TAGS = frozenset({"85", "61", "62"})


@dataclass(frozen=True, slots=True)
class BerObject:
    """One BER-TLV object; offsets are byte offsets into the decoded payload."""

    tag: str
    value: bytes
    offset: int
    path: str
    children: tuple[BerObject, ...] | None = None


def _err(code: str, message: str, tag: str | None, offset: int | None) -> QRPayloadError:
    return QRPayloadError("tlv", code, message, tag=tag, offset=offset, scheme=_CPM)


def parse_ber(data: bytes, start: int, end: int, parent: str | None = None,
              depth: int = 0) -> list[BerObject]:
    """Parse ``data[start:end]`` as BER-TLV (short form, 0x81 or 0x82 lengths only)."""
    out: list[BerObject] = []
    counts: dict[str, int] = {}
    i = start
    while i < end:
        at = i
        first = data[i]
        i += 1
        if first in (0x00, 0xFF):
            raise _err("bad_tag", f"byte 0x{first:02X} where a tag should start", parent, at)
        if first & 0x1F == 0x1F:
            while True:
                if i >= end:
                    raise _err("tag_truncated", "a multi-byte tag is cut off", parent, at)
                nxt = data[i]
                i += 1
                if not nxt & 0x80:
                    break
                if i - at > 3:
                    raise _err("bad_tag", "tags longer than three bytes are not EMV", parent, at)
        tag = data[at:i].hex().upper()
        if parent is None and tag == "61":
            index = counts.get(tag, 0)
            counts[tag] = index + 1
            path = f"61[{index}]"
        else:
            path = tag if parent is None else f"{parent}.{tag}"
        if i >= end:
            raise _err("length_truncated", "the length is cut off", path, at)
        length = data[i]
        i += 1
        if length > 0x7F:
            extra = length & 0x7F
            if extra not in (1, 2):
                raise _err("bad_length", f"length byte 0x{length:02X} is not BER: values over 127 "
                           "are written 0x81 nn or 0x82 nn nn", path, i - 1)
            if i + extra > end:
                raise _err("length_truncated", "the long-form length is cut off", path, i - 1)
            length = int.from_bytes(data[i:i + extra], "big")
            i += extra
        if i + length > end:
            raise _err("value_truncated", f"length {length} runs past the end "
                       f"({end - i} bytes left)", path, at)
        children = None
        if first & 0x20:
            if depth >= MAX_DEPTH:
                raise _err("too_deep", "templates nest too deeply", path, at)
            children = tuple(parse_ber(data, i, i + length, path, depth + 1))
        out.append(BerObject(tag, data[i:i + length], at, path, children))
        i += length
    return out


def _show(obj: BerObject) -> str:
    if obj.tag in TEXT_TAGS:
        try:
            text = obj.value.decode("ascii")
        except UnicodeDecodeError:
            return obj.value.hex().upper()
        if text.isprintable():
            return text
    return obj.value.hex().upper()


def _flatten(objects: tuple[BerObject, ...] | list[BerObject], tags: dict[str, str],
             violations: list[Violation]) -> None:
    for obj in objects:
        if obj.path in tags:
            violations.append(Violation("emvco", "duplicate_tag", f"tag {obj.tag} appears twice",
                                        tag=obj.path, offset=obj.offset))
            continue
        if obj.children is None:
            tags[obj.path] = _show(obj)
        else:
            tags[obj.path] = obj.value.hex().upper()
            _flatten(obj.children, tags, violations)


def _primitives(obj: BerObject) -> set[str]:
    # Data elements of one template, not counting the nested transparent templates.
    return {c.tag for c in obj.children or () if c.children is None}


def decode_base64(text: str) -> bytes:
    """Strict base64 (standard alphabet, correct padding) or :class:`QRPayloadError`."""
    if not _B64.fullmatch(text) or len(text) % 4:
        bad = next((i for i, c in enumerate(text) if c not in
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), None)
        where = f" (character {text[bad]!r})" if bad is not None else " (length or padding)"
        raise QRPayloadError("tlv", "bad_base64", f"not valid base64{where}", offset=bad,
                             scheme=_CPM)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise QRPayloadError("tlv", "bad_base64", "not valid base64", scheme=_CPM) from None


def parse_cpm(text: str) -> ParsedPayload:
    """Parse a consumer-presented payload (lenient: broken EMVCo rules become violations)."""
    data = decode_base64(text)
    if not data:
        raise QRPayloadError("tlv", "empty", "the payload decodes to nothing", scheme=_CPM)
    objects = parse_ber(data, 0, len(data))
    tags: dict[str, str] = {}
    violations: list[Violation] = []
    _flatten(objects, tags, violations)
    first = objects[0]
    if first.tag != "85":
        violations.append(Violation("emvco", "pfi_not_first", "the payload format indicator "
                                    "(85) must come first", tag=first.path, offset=first.offset))
    pfis = [o for o in objects if o.tag == "85"]
    if pfis and pfis[0].value != b"CPV01":
        violations.append(Violation("emvco", "pfi_value", "payload format indicator must be "
                                    f"'CPV01', got {_show(pfis[0])!r}", tag="85",
                                    offset=pfis[0].offset))
    apps = [o for o in objects if o.tag == "61"]
    if not apps:
        violations.append(Violation("emvco", "no_application",
                                    "at least one application template (61) is required"))
    common = next((o for o in objects if o.tag == "62"), None)
    common_tags = _primitives(common) if common is not None else set()
    for app in apps:
        if app.children is not None and not any(c.tag == "4F" for c in app.children):
            violations.append(Violation("emvco", "missing_aid", "an application template needs "
                                        "its ADF name (4F)", tag=app.path, offset=app.offset))
        for tag in sorted(_primitives(app) & common_tags):
            violations.append(Violation("emvco", "defined_twice", f"{tag} is in both {app.path} "
                                        "and the common data template 62", tag=f"{app.path}.{tag}",
                                        offset=app.offset))
    for obj in objects:
        if obj.tag not in _ROOT_TAGS:
            violations.append(Violation("emvco", "unexpected_tag", f"tag {obj.tag} does not belong "
                                        "at the top of a CPM payload", tag=obj.path,
                                        offset=obj.offset))
        elif obj.tag in ("61", "62") and obj.children is None:
            violations.append(Violation("emvco", "not_template", f"{obj.tag} must be a template",
                                        tag=obj.path, offset=obj.offset))
    return ParsedPayload(scheme=_CPM, encoding="emv-cpm-base64", tags=tags,
                         fields=_fields(tags, len(apps)), violations=tuple(violations))


def _fields(tags: dict[str, str], apps: int) -> dict[str, str]:
    fields = {"applications": str(apps)}
    for name, keys in (("format", ("85",)), ("aid", ("61[0].4F",)), ("label", ("61[0].50",)),
                       ("language", ("61[0].5F2D", "62.5F2D")),
                       ("issuer_url", ("61[0].5F50", "62.5F50"))):
        for key in keys:
            if key in tags:
                fields[name] = tags[key]
                break
    for key in ("61[0].5A", "62.5A", "61[0].57", "62.57", "61[0].9F25", "62.9F25"):
        digits = tags.get(key, "").split("D")[0].rstrip("F")
        if len(digits) >= 4 and digits.isdigit():
            fields["pan_last4"] = digits[-4:]
            break
    return fields
