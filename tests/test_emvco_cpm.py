"""EMVCo consumer-presented codes: base64 BER-TLV with CPV01 and application templates."""

from __future__ import annotations

import base64

import pytest

from payments.qr import QRPayloadError, parse_payload


def ber(tag: str, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return bytes.fromhex(tag) + length + value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


PFI = ber("85", b"CPV01")
APP = ber("61", ber("4F", bytes.fromhex("A0000000031010")) + ber("50", b"VISA")
          + ber("5A", bytes.fromhex("4761739001010010")))
CRYPTO = ber("64", ber("9F26", bytes.fromhex("1122334455667788")) + ber("9F36", b"\x00\x07"))


def test_a_minimal_code_parses_with_tag_paths_and_fields() -> None:
    parsed = parse_payload(b64(PFI + APP + ber("62", CRYPTO)))
    assert parsed.scheme == "emvco-cpm" and parsed.conformant
    assert parsed.tags["85"] == "CPV01"
    assert parsed.tags["61[0].4F"] == "A0000000031010"
    assert parsed.tags["61[0].50"] == "VISA"
    assert parsed.tags["62.64.9F26"] == "1122334455667788"
    assert parsed.fields["pan_last4"] == "0010"
    assert "4761739001010010" not in parsed.fields.values()


def test_long_form_lengths_are_read() -> None:
    url = b"https://issuer.example/" + b"x" * 200
    app = ber("61", ber("4F", bytes.fromhex("A0000000031010")) + ber("5F50", url))
    parsed = parse_payload(b64(PFI + app))
    assert parsed.tags["61[0].5F50"] == url.decode()


def test_a_one_byte_length_over_127_is_rejected_with_its_offset() -> None:
    inner = ber("4F", bytes.fromhex("A0000000031010")) + ber("5F20", b"N" * 140)
    bad = PFI + b"\x61\x93" + inner[:0x13] + b"\x00" * 0
    with pytest.raises(QRPayloadError) as info:
        parse_payload(b64(bad))
    assert (info.value.layer, info.value.code, info.value.tag) == ("tlv", "bad_length", "61[0]")
    assert info.value.offset == len(PFI) + 1


def test_several_applications_are_indexed() -> None:
    app2 = ber("61", ber("4F", bytes.fromhex("A0000000041010")))
    parsed = parse_payload(b64(PFI + APP + app2))
    assert parsed.tags["61[1].4F"] == "A0000000041010"
    assert parsed.fields["applications"] == "2"


@pytest.mark.parametrize(("data", "code"), [
    (ber("85", b"CPV02") + APP, "pfi_value"),
    (APP + PFI, "pfi_not_first"),
    (PFI + PFI + APP, "duplicate_tag"),
    (PFI, "no_application"),
    (PFI + ber("61", ber("50", b"VISA")), "missing_aid"),
    (PFI + APP + ber("62", ber("5A", b"\x47\x61")), "defined_twice"),
    (PFI + APP + ber("9F02", b"\x00\x01"), "unexpected_tag"),
])
def test_emvco_rule_breaks_are_violations(data: bytes, code: str) -> None:
    parsed = parse_payload(b64(data))
    assert code in [v.code for v in parsed.violations]


@pytest.mark.parametrize(("text", "code"), [
    ("hQVDUFYwMWE*", "bad_base64"),
    ("hQVDUFYwMW", "bad_base64"),
    (b64(PFI + APP)[:-8], "value_truncated"),
    (b64(PFI + b"\x9f"), "tag_truncated"),
    (b64(PFI + b"\x61"), "length_truncated"),
])
def test_structural_faults_raise(text: str, code: str) -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload(text)
    assert info.value.code == code


def test_deep_nesting_is_refused_not_recursed() -> None:
    value = ber("4F", b"\xa0")
    for _ in range(50):
        value = ber("61", value)
    with pytest.raises(QRPayloadError) as info:
        parse_payload(b64(PFI + value))
    assert info.value.code in ("too_deep", "bad_length")
