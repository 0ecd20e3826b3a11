"""Property tests: whatever comes in, the parser returns a result or raises QRPayloadError."""

from __future__ import annotations

import base64

from hypothesis import example, given, settings
from hypothesis import strategies as st

from payments.qr import ParsedPayload, QRPayloadError, parse_payload
from payments.qr.crc import crc_hex

SETTINGS = settings(max_examples=300, deadline=None)


def _outcome(payload: object) -> ParsedPayload | QRPayloadError:
    try:
        return parse_payload(payload)  # type: ignore[arg-type]
    except QRPayloadError as exc:
        return exc


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_the_documented_error(data: bytes) -> None:
    assert isinstance(_outcome(data), ParsedPayload | QRPayloadError)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_the_documented_error(text: str) -> None:
    assert isinstance(_outcome(text), ParsedPayload | QRPayloadError)


_ids = st.integers(0, 99).map(lambda n: f"{n:02d}")
_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                  min_size=1, max_size=30)


@st.composite
def _tlv(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        tag = draw(_ids)
        nested = depth < 2 and draw(st.booleans())
        value = draw(_tlv(depth + 1))[:99] if nested else draw(_values)
        parts.append(f"{tag}{len(value):02d}{value}")
    return "".join(parts)


@SETTINGS
@given(_tlv())
@example("2509000525010")  # sealed, it is all digits: an Alipay-style numeric payment code
def test_sealed_random_tlv_never_fails_at_the_crc_layer(body: str) -> None:
    payload = body + "6304" + crc_hex(body + "6304")
    result = _outcome(payload)
    if isinstance(result, QRPayloadError):
        assert result.layer in ("tlv", "crc", "format")
        assert result.code != "crc_mismatch"
    elif result.encoding == "barcode":
        # All digits can also be a wallet's numeric payment code (e.g. 25... for Alipay):
        # the parser may read it as one; that is not a CRC-layer failure.
        assert payload.isdigit() and result.tags == {"code": payload}
    else:
        assert "63" in result.tags and all(v.layer in ("emvco", "scheme") for v in
                                            result.violations)


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_any_base64_body_parses_as_cpm_or_raises(data: bytes) -> None:
    result = _outcome(base64.b64encode(b"\x85\x05CPV01" + data).decode())
    assert isinstance(result, ParsedPayload | QRPayloadError)
    if isinstance(result, QRPayloadError):
        assert result.layer == "tlv"


VALID = ("00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469")


@SETTINGS
@given(st.integers(0, len(VALID) - 1), st.characters(min_codepoint=0x20, max_codepoint=0x7E))
def test_a_single_changed_ascii_character_is_always_caught(pos: int, char: str) -> None:
    mutated = VALID[:pos] + char + VALID[pos + 1:]
    if mutated.upper() == VALID.upper():  # the CRC digits compare case-insensitively
        return
    # CRC-16 detects every error burst of up to 16 bits, so one changed byte never slips by.
    assert isinstance(_outcome(mutated), QRPayloadError)
