"""EMVCo merchant-presented parsing: CRC, TLV, generic rules and scheme profiles."""

from __future__ import annotations

import pytest

from payments.qr import QRPayloadError, check_payload, parse_payload
from payments.qr.crc import crc16_ccitt_false, crc_hex
from payments.qr.tlv import serialize


def _seal(body: str) -> str:
    return body + "6304" + crc_hex(body + "6304")


def _tlv(*pairs: tuple[str, str]) -> str:
    return serialize(list(pairs))


PIX_ACCOUNT = _tlv(("00", "br.gov.bcb.pix"), ("01", "pay@example.com"))
GENERIC = [("00", "01"), ("26", _tlv(("00", "com.example"), ("01", "M1"))), ("52", "5814"),
           ("53", "156"), ("58", "CN"), ("59", "NOODLE BAR"), ("60", "SHANGHAI")]


def _generic(**changes: str | None) -> str:
    pairs = [(k, changes.get(f"t{k}", v)) for k, v in GENERIC]
    extra = [(k[1:], v) for k, v in changes.items() if k[1:] not in dict(GENERIC) and v]
    return _seal(_tlv(*[(k, v) for k, v in pairs if v is not None], *extra))


def test_crc_check_value_is_29b1() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_a_conformant_generic_code_has_no_violations() -> None:
    parsed = parse_payload(_generic())
    assert parsed.conformant
    assert parsed.scheme == "emvco-mpm"
    assert parsed.fields["merchant"] == "NOODLE BAR"
    assert parsed.fields["currency"] == "CNY"


def test_lengths_count_characters_and_crc_covers_utf8_bytes() -> None:
    lang = _tlv(("00", "ZH"), ("01", "最佳运输"), ("02", "北京"))
    payload = _seal(_tlv(*GENERIC, ("64", lang)))
    parsed = parse_payload(payload)
    assert parsed.tags["64.01"] == "最佳运输"
    assert parsed.fields["merchant_local"] == "最佳运输"
    assert parsed.conformant


def test_lowercase_crc_digits_are_accepted() -> None:
    payload = _generic()
    parsed = parse_payload(payload[:-4] + payload[-4:].lower())
    assert parsed.conformant


@pytest.mark.parametrize(("mutate", "code", "tag"), [
    (lambda p: p[:-1], "missing_crc", "63"),
    (lambda p: p[:-4] + "ZZZZ", "crc_not_hex", "63"),
    (lambda p: p[:-4] + ("0000" if p[-4:] != "0000" else "0001"), "crc_mismatch", "63"),
    (lambda p: p[:-8], "missing_crc", "63"),
])
def test_crc_faults_are_rejected_before_anything_else(mutate, code: str, tag: str) -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload(mutate(_generic()))
    assert (info.value.layer, info.value.code, info.value.tag) == ("crc", code, tag)
    assert info.value.offset is not None


def test_a_length_that_overruns_names_the_tag_and_offset() -> None:
    body = _tlv(("00", "01"), ("26", _tlv(("00", "com.example"), ("01", "M1"))))
    broken = body[:12] + "99" + body[14:]  # 26.00 claims 99 characters
    with pytest.raises(QRPayloadError) as info:
        parse_payload(_seal(broken))
    err = info.value
    assert (err.layer, err.code, err.tag, err.offset) == ("tlv", "value_truncated", "26.00", 10)
    assert "26.00" in str(err) and "offset 10" in str(err)


def test_a_non_numeric_id_is_a_tlv_error_at_its_offset() -> None:
    payload = _seal("000201AB02xx" + _tlv(("52", "5814")))
    with pytest.raises(QRPayloadError) as info:
        parse_payload(payload)
    assert (info.value.code, info.value.offset) == ("bad_id", 6)


def test_crc_object_must_be_last() -> None:
    # A 62 template whose value swallows the trailing 6304xxxx.
    body = _tlv(*GENERIC) + "6212" + "0504ABCD6304"
    payload = body + crc_hex(body)
    with pytest.raises(QRPayloadError) as info:
        parse_payload(payload)
    assert info.value.code in ("crc_not_last", "value_truncated")


@pytest.mark.parametrize(("changes", "code", "tag"), [
    ({"t59": None}, "missing_mandatory", "59"),
    ({"t52": "58a4"}, "bad_format", "52"),
    ({"t60": "A CITY LONGER THAN"}, "bad_length", "60"),
    ({"t59": "Café Noodle"}, "bad_charset", "59"),
    ({"t54": "10,00"}, "bad_amount", "54"),
    ({"t54": "-5"}, "bad_amount", "54"),
    ({"t66": "X"}, "rfu_id", "66"),
    ({"t56": "1.00"}, "fee_without_indicator", "56"),
    ({"t55": "02"}, "missing_fee", "55"),
    ({"t01": "13"}, "bad_value", "01"),
    ({"t00": "02"}, "pfi_value", "00"),
    ({"t58": "cn"}, "bad_value", "58"),
])
def test_generic_rule_breaks_are_listed_not_raised(changes: dict, code: str, tag: str) -> None:
    parsed = parse_payload(_generic(**changes))
    assert (code, tag) in [(v.code, v.tag) for v in parsed.violations]
    with pytest.raises(QRPayloadError) as info:
        check_payload(_generic(**changes), strict=True)
    assert info.value.layer in ("emvco", "scheme")


def test_a_duplicate_root_id_is_a_violation_and_the_first_value_wins() -> None:
    payload = _seal(_tlv(*GENERIC, ("59", "SECOND NAME")))
    parsed = parse_payload(payload)
    assert parsed.tags["59"] == "NOODLE BAR"
    assert "duplicate_id" in [v.code for v in parsed.violations]


def test_no_merchant_account_is_a_violation() -> None:
    parsed = parse_payload(_seal(_tlv(*[p for p in GENERIC if p[0] != "26"])))
    assert "no_merchant_account" in [v.code for v in parsed.violations]


def test_additional_data_rules() -> None:
    add = _tlv(("01", "X" * 26), ("09", "AMX"), ("20", "rfu"), ("50", _tlv(("01", "no gui"))))
    parsed = parse_payload(_seal(_tlv(*GENERIC, ("62", add))))
    found = {(v.code, v.tag) for v in parsed.violations}
    assert found == {("bad_length", "62.01"), ("bad_value", "62.09"), ("rfu_id", "62.20"),
                     ("missing_gui", "62.50")}


def _promptpay(target: tuple[str, str], **extra: str) -> str:
    account = _tlv(("00", "A000000677010111"), target)
    pairs = [("00", "01"), ("01", "11"), ("29", account), ("53", "764"), ("58", "TH")]
    return _seal(_tlv(*pairs, *extra.items()))


def test_promptpay_may_leave_out_52_59_60() -> None:
    parsed = parse_payload(_promptpay(("01", "0066812345678")))
    assert parsed.scheme == "promptpay" and parsed.conformant
    assert parsed.fields["account"] == "0066812345678"


def test_promptpay_checks_its_target_format() -> None:
    parsed = parse_payload(_promptpay(("01", "0812345678")))
    assert [v.code for v in parsed.violations] == ["promptpay_target_format"]


def test_the_generic_profile_does_not_relax_52_59_60() -> None:
    parsed = parse_payload(_generic(t52=None, t59=None, t60=None))
    assert sorted(v.tag for v in parsed.violations) == ["52", "59", "60"]


def _pix(account: str = PIX_ACCOUNT, **extra: str) -> str:
    pairs = [("00", "01"), ("26", account), ("52", "0000"), ("53", "986"), ("58", "BR"),
             ("59", "FULANO"), ("60", "BRASILIA")]
    return _seal(_tlv(*pairs, *extra.items()))


def test_pix_accepts_key_and_reference() -> None:
    parsed = parse_payload(_pix(**{"62": _tlv(("05", "abc123"))}))
    assert parsed.scheme == "pix" and parsed.conformant
    assert parsed.fields["reference"] == "abc123"
    assert parsed.fields["account"] == "pay@example.com"


def test_pix_rejects_url_with_scheme_and_bad_txid_and_wrong_currency() -> None:
    account = _tlv(("00", "BR.GOV.BCB.PIX"), ("25", "https://pix.example.com/qr/1"))
    payload = _pix(account, **{"62": _tlv(("05", "no-dashes"))}).replace("5303986", "5303840")
    parsed = parse_payload(_seal(payload[:-8]))
    codes = {v.code for v in parsed.violations}
    assert codes == {"pix_url_scheme", "pix_txid", "currency_not_allowed"}


def test_pix_caps_the_payload_at_512_characters_but_others_do_not() -> None:
    filler = [(f"{80 + i}", _tlv(("00", "com.example"), ("01", "x" * 80))) for i in range(5)]
    pix = parse_payload(_seal(_pix()[:-8] + _tlv(*filler)))
    assert "too_long" in [v.code for v in pix.violations]
    generic = parse_payload(_seal(_generic()[:-8] + _tlv(*filler)))
    assert len(generic.tags) > 10 and generic.conformant


def test_khqr_needs_a_bakong_id_and_allows_only_khr_or_usd() -> None:
    account = _tlv(("00", "someone_at_bank"))
    payload = _seal(_tlv(("00", "01"), ("29", account), ("52", "5999"), ("53", "978"),
                         ("58", "KH"), ("59", "SOMEONE"), ("60", "Phnom Penh"),
                         ("99", _tlv(("00", "1613438575794")))))
    parsed = parse_payload(payload)
    assert parsed.scheme == "khqr"
    assert {v.code for v in parsed.violations} == {"khqr_bakong_id", "currency_not_allowed"}


def test_vietqr_checks_the_nested_beneficiary_and_service_code() -> None:
    bene = _tlv(("00", "97042"), ("01", "0011012345678"))
    account = _tlv(("00", "A000000727"), ("01", bene), ("02", "QRPUSH"))
    payload = _seal(_tlv(("00", "01"), ("01", "12"), ("38", account), ("53", "704"),
                         ("54", "180000"), ("58", "VN")))
    parsed = parse_payload(payload)
    assert parsed.scheme == "vietqr"
    assert {v.code for v in parsed.violations} == {"vietqr_bin", "vietqr_service"}


def test_fields_give_friendly_names() -> None:
    add = _tlv(("01", "INV7"), ("07", "K19"), ("08", "lunch"))
    parsed = parse_payload(_generic(t01="12", t54="23.72", t62=add))
    expected = {"amount": "23.72", "bill_number": "INV7", "reference": "INV7", "terminal": "K19",
                "purpose": "lunch", "initiation": "dynamic", "city": "SHANGHAI"}
    assert expected.items() <= parsed.fields.items()
