"""URI payment codes, payer barcodes, ScanPay app codes, and the dispatch between formats."""

from __future__ import annotations

import pytest

from payments.paycode import PaymentCodeError, ReplayGuard, issue_code, parse_code
from payments.paycode import signing_key_from_seed as key_from_seed
from payments.qr import QRPayloadError, parse_payload


def test_upi_intent_parameters_are_decoded() -> None:
    parsed = parse_payload("upi://pay?pa=shop@okbank&pn=Noodle+Bar&am=120.50&cu=INR&tr=ORD9")
    assert parsed.scheme == "upi" and parsed.conformant
    assert parsed.tags["pn"] == "Noodle Bar"
    assert parsed.fields["amount"] == "120.50" and parsed.fields["reference"] == "ORD9"


@pytest.mark.parametrize(("uri", "code"), [
    ("upi://pay?pa=shop@okbank&am=1.005", "bad_amount"),
    ("upi://pay?pa=shop@okbank&am=1&cu=USD", "currency_not_allowed"),
    ("upi://pay?pa=not-an-address", "upi_bad_payee"),
    ("upi://pay?pa=shop@okbank&pa=other@okbank", "duplicate_parameter"),
    ("upi://mandate?pa=shop@okbank", "upi_action"),
])
def test_upi_rule_breaks_are_violations(uri: str, code: str) -> None:
    assert code in [v.code for v in parse_payload(uri).violations]


def test_upi_without_payee_is_not_payable() -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload("upi://pay?pn=Someone")
    assert (info.value.code, info.value.tag) == ("upi_no_payee", "pa")


def test_wallet_links_are_recognised() -> None:
    assert parse_payload("https://qr.alipay.com/abc123XYZ").tags == {
        "host": "qr.alipay.com", "code": "abc123XYZ"}
    assert parse_payload("wxp://f2f0abcdEFG").scheme == "wechat-url"


def test_an_unknown_web_address_is_a_format_error() -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload("https://example.com/pay/123")
    assert info.value.layer == "format"


@pytest.mark.parametrize(("code", "scheme"), [
    ("134567890123456789", "wechat-barcode"),
    ("281234567890123456", "alipay-barcode"),
])
def test_payer_barcodes_are_recognised(code: str, scheme: str) -> None:
    assert parse_payload(code).scheme == scheme


def test_other_digit_strings_are_treated_as_mpm_and_fail_the_crc() -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload("991234567890123456")
    assert info.value.layer == "crc"


@pytest.mark.parametrize("payload", [b"\xff\xfe", "", "x\ud800y", 7, "0" * 5000])
def test_non_text_empty_or_huge_input_is_a_format_error(payload: object) -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload(payload)  # type: ignore[arg-type]
    assert info.value.layer == "format"


def test_utf8_bytes_are_accepted() -> None:
    assert parse_payload(b"wxp://f2f0abcdEFG").scheme == "wechat-url"


KEY = key_from_seed(bytes(range(32)))


def test_app_payment_codes_are_reported_as_scanpay_app() -> None:
    text = issue_code("sub_42", signing_key=KEY, now=1_800_000_000)
    parsed = parse_payload(text)
    assert parsed.scheme == "scanpay-app"
    assert parsed.fields["subject_id"] == "sub_42"
    assert parsed.fields["expires_at"] == "2027-01-15T08:01:00Z"


def test_a_tampered_app_code_is_malformed() -> None:
    text = issue_code("sub_42", signing_key=KEY, now=1_800_000_000)
    with pytest.raises(QRPayloadError) as info:
        parse_payload(text[:-3] + "!!!")
    assert (info.value.scheme, info.value.code) == ("scanpay-app", "code_malformed")


def test_a_captured_app_code_replayed_at_the_terminal_is_refused_locally() -> None:
    now = [1_800_000_000.0]
    guard = ReplayGuard(100, clock=lambda: now[0])
    text = issue_code("sub_42", signing_key=KEY, now=now[0])
    assert parse_payload(text).scheme == "scanpay-app"
    guard.check_and_remember(parse_code(text))
    now[0] += 10
    with pytest.raises(PaymentCodeError) as info:
        guard.check_and_remember(parse_code(text))
    assert info.value.code == "code_already_used"
