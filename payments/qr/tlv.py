"""EMVCo merchant-presented TLV: two-digit ID, two-digit length in characters, value.

Offsets are character offsets into the whole payload, so an error can point at the place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from payments.qr.model import QRBuildError, QRPayloadError

_HEADER = re.compile(r"[0-9]{4}")
_TWO_DIGITS = re.compile(r"[0-9]{2}")


@dataclass(frozen=True, slots=True)
class DataObject:
    """One ID-length-value object; ``children`` is set when it is a template."""

    id: str
    value: str
    offset: int
    path: str
    children: tuple[DataObject, ...] | None = None

    @property
    def value_offset(self) -> int:
        """Offset of the first character of the value."""
        return self.offset + 4


def is_root_template(tag_id: str) -> bool:
    """Root IDs whose value is itself TLV: 26-51 (accounts), 62, 64, 80-99."""
    n = int(tag_id)
    return 26 <= n <= 51 or n in (62, 64) or n >= 80


def _is_child_template(parent: str, tag_id: str) -> bool:
    # Only the additional data template (62) nests further: 62.50-99 are payment-system templates.
    return parent == "62" and int(tag_id) >= 50


def parse_objects(text: str, start: int, end: int, parent: str | None = None) -> list[DataObject]:
    """Parse ``text[start:end]`` as a sequence of objects; raise the first TLV fault found."""
    out: list[DataObject] = []
    i = start
    header = _HEADER
    while i < end:
        if end - i < 4 or not header.fullmatch(text, i, i + 4):
            raise _header_error(text, i, end, parent)
        tag_id = text[i:i + 2]
        length = int(text[i + 2:i + 4])
        vstart = i + 4
        vend = vstart + length
        path = tag_id if parent is None else f"{parent}.{tag_id}"
        if vend > end:
            where = "the payload" if parent is None else f"template {parent}"
            raise QRPayloadError(
                "tlv", "value_truncated",
                f"length {length:02d} runs past the end of {where} "
                f"({end - vstart} characters left)",
                tag=path, offset=i)
        children = None
        if (parent is None and is_root_template(tag_id)) or (
            parent is not None and _is_child_template(parent, tag_id)
        ):
            children = tuple(parse_objects(text, vstart, vend, path))
        out.append(DataObject(tag_id, text[vstart:vend], i, path, children))
        i = vend
    return out


def _header_error(text: str, i: int, end: int, parent: str | None) -> QRPayloadError:
    where = "" if parent is None else f" inside template {parent}"
    if end - i < 2:
        return QRPayloadError(
            "tlv", "header_truncated",
            f"{end - i} stray character(s) where a data object should start{where}",
            tag=parent, offset=i)
    tag_id = text[i:i + 2]
    if not _TWO_DIGITS.fullmatch(tag_id):
        return QRPayloadError("tlv", "bad_id", f"ID {tag_id!r} is not two digits{where}",
                              tag=parent, offset=i)
    path = tag_id if parent is None else f"{parent}.{tag_id}"
    if end - i < 4:
        return QRPayloadError("tlv", "header_truncated",
                              f"the length of ID {tag_id} is cut off{where}", tag=path, offset=i)
    return QRPayloadError("tlv", "bad_length",
                          f"length {text[i + 2:i + 4]!r} is not two digits{where}",
                          tag=path, offset=i + 2)


def serialize(objects: list[tuple[str, str]]) -> str:
    """Join ``(id, value)`` pairs into TLV text; lengths count characters."""
    parts = []
    for tag_id, value in objects:
        if not _TWO_DIGITS.fullmatch(tag_id):
            raise QRBuildError(f"ID {tag_id!r} is not two digits")
        if not 0 < len(value) <= 99:
            raise QRBuildError(f"value of ID {tag_id} must be 1..99 characters, got {len(value)}")
        parts.append(f"{tag_id}{len(value):02d}{value}")
    return "".join(parts)
