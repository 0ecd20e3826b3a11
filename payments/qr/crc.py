"""CRC-16/CCITT-FALSE, the checksum of EMVCo merchant-presented QR codes."""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def crc_hex(text_with_6304: str) -> str:
    """The four upper-case hex digits that follow ``text_with_6304`` (which ends in ``6304``)."""
    return f"{crc16_ccitt_false(text_with_6304.encode('utf-8')):04X}"
