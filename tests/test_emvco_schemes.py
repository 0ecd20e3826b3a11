"""Scheme detection from the merchant account before the country, and Pix code types.

Codes are built with the project's own generator (``payments.qr.generate.build_mpm``).
"""

from __future__ import annotations

import pytest

from payments.qr import parse_payload
from payments.qr.generate import build_mpm

_BR = [("52", "0000"), ("53", "986"), ("58", "BR"), ("59", "FULANO DE TAL"),
       ("60", "BRASILIA")]


def _pix(account: list[tuple[str, str]], *extra: tuple[str, object]) -> str:
    return build_mpm([("01", "12"), ("26", [("00", "br.gov.bcb.pix"), *account]), *_BR,
                      *extra])


def test_a_unionpay_code_issued_in_cambodia_is_unionpay_and_conformant() -> None:
    payload = build_mpm([("01", "12"), ("15", "37210116372101160123456789ABCDE"),
                         ("52", "4131"), ("53", "840"), ("54", "10.00"), ("58", "KH"),
                         ("59", "Merchant Shop"), ("60", "Phnom Penh"),
                         ("62", [("01", "12345678"), ("02", "012444444")])])
    parsed = parse_payload(payload)
    assert parsed.scheme == "unionpay-mpm"
    assert parsed.conformant, [str(v) for v in parsed.violations]


def test_a_bakong_account_wins_over_a_card_account_in_the_same_code() -> None:
    payload = build_mpm([("15", "37210116372101160123456789ABCDE"),
                         ("29", [("00", "shop@abaa")]), ("52", "5999"), ("53", "116"),
                         ("58", "KH"), ("59", "SHOP"), ("60", "Phnom Penh")])
    parsed = parse_payload(payload)
    assert parsed.scheme == "khqr" and parsed.conformant


@pytest.mark.parametrize(("country", "scheme"), [("KH", "khqr"), ("ID", "qris"),
                                                 ("SG", "sgqr"), ("CN", "emvco-mpm")])
def test_the_country_decides_only_when_no_account_names_a_scheme(country: str,
                                                                 scheme: str) -> None:
    payload = build_mpm([("26", [("00", "com.example"), ("01", "M1")]), ("52", "5814"),
                         ("53", "156"), ("58", country), ("59", "SHOP"), ("60", "CITY")])
    assert parse_payload(payload).scheme == scheme


def test_a_visa_account_in_singapore_is_visa_not_a_malformed_sgqr() -> None:
    payload = build_mpm([("02", "4000123456789010"), ("52", "5814"), ("53", "702"),
                         ("58", "SG"), ("59", "SHOP"), ("60", "SINGAPORE")])
    parsed = parse_payload(payload)
    assert parsed.scheme == "visa-mpm" and parsed.conformant


def test_a_static_pix_code_is_reported_static() -> None:
    parsed = parse_payload(_pix([("01", "123e4567-e12b-12d1-a456-426655440000")]))
    assert parsed.conformant
    assert parsed.fields["pix_type"] == "static"
    assert "pix_recurrence" not in parsed.fields


def test_a_pix_location_code_is_dynamic_immediate() -> None:
    parsed = parse_payload(_pix([("25", "pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25")],
                                ("62", [("05", "***")])))
    assert parsed.conformant
    assert parsed.fields["pix_type"] == "dynamic-immediate"
    assert parsed.fields["account"] == "pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25"


def test_a_pix_location_of_a_charge_with_due_date_is_dynamic_due_date() -> None:
    url = "pix.example.com/qr/v2/cobv/2353c790eefb11eaadc10242ac120002"
    parsed = parse_payload(_pix([("25", url)]))
    assert parsed.conformant
    assert parsed.fields["pix_type"] == "dynamic-due-date"


def test_a_pix_automatico_code_with_its_only_location_in_template_80_is_valid() -> None:
    rec = "pix.example.com/rec/5e7c3a1b9f2d4c6a8b0e1d3f5a7c9e1b"
    parsed = parse_payload(_pix([], ("80", [("00", "br.gov.bcb.pix"), ("25", rec)])))
    assert parsed.scheme == "pix"
    assert parsed.conformant, [str(v) for v in parsed.violations]
    assert parsed.fields["pix_type"] == "recurring"
    assert parsed.fields["pix_recurrence"] == rec


def test_a_pix_code_with_an_immediate_charge_and_a_recurrence_reports_both() -> None:
    now = "pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25"
    rec = "pix.example.com/rec/5e7c3a1b9f2d4c6a8b0e1d3f5a7c9e1b"
    parsed = parse_payload(_pix([("25", now)], ("80", [("00", "BR.GOV.BCB.PIX"), ("25", rec)])))
    assert parsed.conformant
    assert parsed.fields["pix_type"] == "dynamic-immediate"
    assert parsed.fields["pix_recurrence"] == rec


def test_a_pix_code_without_any_key_or_location_is_still_refused() -> None:
    parsed = parse_payload(_pix([], ("80", [("00", "br.gov.bcb.pix")])))
    assert "pix_no_key" in {v.code for v in parsed.violations}
    assert "pix_type" not in parsed.fields


def test_a_pix_automatico_code_with_only_template_80_counts_it_as_the_account() -> None:
    rec = "pix.example.com/rec/5e7c3a1b9f2d4c6a8b0e1d3f5a7c9e1b"
    payload = build_mpm([("01", "12"), *_BR, ("80", [("00", "br.gov.bcb.pix"), ("25", rec)])])
    parsed = parse_payload(payload)
    assert parsed.scheme == "pix"
    assert parsed.conformant, [str(v) for v in parsed.violations]
    assert parsed.fields["pix_type"] == "recurring"


def test_an_unreserved_template_is_no_account_for_other_schemes() -> None:
    payload = build_mpm([("52", "5814"), ("53", "156"), ("58", "CN"), ("59", "SHOP"),
                         ("60", "CITY"), ("80", [("00", "com.example"), ("01", "X")])])
    assert "no_merchant_account" in {v.code for v in parse_payload(payload).violations}
