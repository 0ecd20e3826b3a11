"""Dynamic and static merchant-presented codes round-trip through the parser and a QR image."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.money import Money
from payments.qr import QRBuildError, parse_payload
from payments.qr.generate import (
    MerchantAccount,
    format_amount,
    make_dynamic_mpm,
    make_static_mpm,
    parse_amount,
    write_png,
)

SHOP = MerchantAccount(name="Noodle Bar 7", city="Shanghai", country="CN", gui="io.scanpay",
                       account_id="MERCHANT0001", postal_code="200000")


def test_a_dynamic_code_carries_amount_reference_and_expiry() -> None:
    payload = make_dynamic_mpm(SHOP, Money(1250, "CNY"), "ORD20261126A1", 1_795_000_000)
    parsed = parse_payload(payload)
    assert parsed.conformant
    assert parsed.tags["01"] == "12"
    assert parsed.fields["amount"] == "12.50" and parsed.fields["currency"] == "CNY"
    assert parsed.fields["reference"] == "ORD20261126A1"
    assert parsed.fields["expires_at"] == "2026-11-18T11:06:40Z"
    assert parse_amount(parsed.fields["amount"], "CNY") == Money(1250, "CNY")


def test_a_static_code_has_no_amount() -> None:
    parsed = parse_payload(make_static_mpm(SHOP, "CNY"))
    assert parsed.conformant and parsed.fields["initiation"] == "static"
    assert "amount" not in parsed.fields


@pytest.mark.parametrize(("merchant", "amount", "reference"), [
    (SHOP, Money(0, "CNY"), "ORD1"),
    (SHOP, Money(100, "XTS"), "ORD1"),
    (SHOP, Money(100, "CNY"), "ORD-1"),
    (SHOP, Money(100, "CNY"), "R" * 26),
    (MerchantAccount("Café", "Shanghai", "CN", "io.scanpay", "M1"), Money(100, "CNY"), "O1"),
    (MerchantAccount("N" * 26, "Shanghai", "CN", "io.scanpay", "M1"), Money(100, "CNY"), "O1"),
])
def test_codes_that_would_break_a_rule_are_not_built(merchant, amount, reference) -> None:
    with pytest.raises(QRBuildError):
        make_dynamic_mpm(merchant, amount, reference, 1_795_000_000)


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(1, 10**10), currency=st.sampled_from(["CNY", "JPY", "THB", "USD"]),
       reference=st.from_regex(r"[A-Za-z0-9]{1,25}", fullmatch=True),
       expires=st.integers(1, 10**10 - 1))
def test_every_dynamic_code_round_trips(amount: int, currency: str, reference: str,
                                        expires: int) -> None:
    payload = make_dynamic_mpm(SHOP, Money(amount, currency), reference, expires)
    parsed = parse_payload(payload)
    assert parsed.conformant
    assert parse_amount(parsed.fields["amount"], currency) == Money(amount, currency)
    assert parsed.fields["reference"] == reference


def test_amount_text_follows_the_currency_exponent() -> None:
    assert format_amount(Money(5, "USD")) == "0.05"
    assert format_amount(Money(5, "JPY")) == "5"
    assert parse_amount("10.", "BRL") == Money(1000, "BRL")
    with pytest.raises(QRBuildError):
        parse_amount("1.005", "USD")


def test_the_png_decodes_back_to_the_payload(tmp_path: Path) -> None:
    import cv2

    payload = make_dynamic_mpm(SHOP, Money(1250, "CNY"), "ORD7", 1_795_000_000)
    out = write_png(payload, tmp_path / "code.png")
    image = cv2.imread(str(out))
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text == payload
