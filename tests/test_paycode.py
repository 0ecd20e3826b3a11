"""App payment codes: issue, parse, expiry, signature, replay."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.errors import PaymentsError
from payments.paycode import (
    PaymentCode,
    PaymentCodeError,
    PaymentCodeIssueError,
    PaymentKeyError,
    ReplayGuard,
    check_locally,
    issue_code,
    parse_code,
    public_key_bytes,
    public_key_from_bytes,
    public_key_id,
    signing_key_from_seed,
    verify_signature,
)

NOW = 1_764_153_000
KEY = signing_key_from_seed(bytes(range(32)))
OTHER_KEY = signing_key_from_seed(bytes(range(1, 33)))
KEYS = {public_key_id(KEY.public_key()): KEY.public_key()}


def _code(subject: str = "rider-good", *, now: float = NOW, ttl_s: int = 60, **kw: object) -> str:
    return issue_code(subject, signing_key=KEY, now=now, ttl_s=ttl_s, **kw)  # type: ignore[arg-type]


def _full_check(text: str | bytes, now: float = NOW) -> PaymentCode:
    code = parse_code(text)
    check_locally(code, now=now)
    verify_signature(code, KEYS)
    return code


def _reason(text: str | bytes, now: float = NOW) -> str:
    with pytest.raises(PaymentCodeError) as info:
        _full_check(text, now)
    return info.value.code


def test_issued_code_round_trips_with_its_fields() -> None:
    text = _code(code_id=b"\x01" * 16)
    code = _full_check(text)
    assert text.startswith("SP1.") and text.isascii()
    assert code.subject_id == "rider-good"
    assert code.issued_at == NOW and code.expires_at == NOW + 60
    assert code.issuer == public_key_id(KEY.public_key())
    assert base64.urlsafe_b64decode(code.code_id + "==") == b"\x01" * 16
    assert code.text == text


def test_code_is_small_enough_for_a_low_version_qr() -> None:
    qrcode = pytest.importorskip("qrcode")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(_code("sub_0123456789abcdef0123456789abcdef"))
    qr.make(fit=True)
    assert qr.version <= 12


def test_each_issued_code_has_a_fresh_id() -> None:
    ids = {parse_code(_code()).code_id for _ in range(50)}
    assert len(ids) == 50


def test_scanner_bytes_and_trailing_newline_are_accepted() -> None:
    text = _code()
    assert _full_check((text + "\r\n").encode("ascii")).text == text


def test_every_single_character_change_is_rejected() -> None:
    text = _code()
    for i, ch in enumerate(text):
        for repl in {chr(ord(ch) ^ 1), "A" if ch != "A" else "B", "."} - {ch}:
            tampered = text[:i] + repl + text[i + 1:]
            assert _reason(tampered) in {"code_malformed", "code_signature_invalid"}, (i, repl)


def test_every_bit_flip_of_the_bytes_is_rejected() -> None:
    raw = _code().encode("ascii")
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            if bytes(flipped).strip(b" \t\r\n") == raw:
                continue  # flipping into surrounding whitespace leaves the same code
            with pytest.raises(PaymentCodeError):
                _full_check(bytes(flipped))


def test_dropping_the_last_character_is_rejected() -> None:
    text = _code()
    assert _reason(text[:-1]) in {"code_malformed", "code_signature_invalid"}


def test_code_signed_by_another_key_with_a_known_issuer_id_is_rejected() -> None:
    forged = issue_code("rider-good", signing_key=OTHER_KEY, now=NOW,
                        issuer=public_key_id(KEY.public_key()))
    assert _reason(forged) == "code_signature_invalid"


def test_code_from_an_unknown_issuer_is_rejected() -> None:
    forged = issue_code("rider-good", signing_key=OTHER_KEY, now=NOW)
    assert _reason(forged) == "code_signature_invalid"


def test_resigned_payload_with_extra_field_is_malformed() -> None:
    payload = {"v": 1, "cid": "A" * 21 + "w", "sub": "x", "iat": NOW, "exp": NOW + 60,
               "iss": "k", "amt": 5}
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signed = f"SP1.{body}"
    sig = base64.urlsafe_b64encode(KEY.sign(signed.encode())).rstrip(b"=").decode()
    assert _reason(f"{signed}.{sig}") == "code_malformed"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-5.001, "code_not_yet_valid"),
        (-5.0, None),
        (0.0, None),
        (64.999, None),
        (65.0, "code_expired"),
        (10_000.0, "code_expired"),
    ],
)
def test_expiry_and_clock_skew_edges(offset: float, reason: str | None) -> None:
    code = parse_code(_code())
    at = NOW + offset
    if reason is None:
        check_locally(code, now=at, max_skew_s=5)
    else:
        with pytest.raises(PaymentCodeError) as info:
            check_locally(code, now=at, max_skew_s=5)
        assert info.value.code == reason


def test_zero_skew_expires_exactly_at_exp() -> None:
    code = parse_code(_code(ttl_s=30))
    check_locally(code, now=NOW + 29.999, max_skew_s=0)
    with pytest.raises(PaymentCodeError, match="expired"):
        check_locally(code, now=NOW + 30, max_skew_s=0)


def test_replayed_code_is_rejected_locally() -> None:
    now = [float(NOW)]
    guard = ReplayGuard(capacity=100, clock=lambda: now[0])
    code = parse_code(_code())
    guard.check_and_remember(code)
    now[0] += 10
    with pytest.raises(PaymentCodeError) as info:
        guard.check_and_remember(parse_code(code.text))
    assert info.value.code == "code_already_used"
    guard.check_and_remember(parse_code(_code()))  # a fresh code is fine


def test_replay_guard_forgets_codes_after_they_expire() -> None:
    now = [float(NOW)]
    guard = ReplayGuard(capacity=10, clock=lambda: now[0], max_skew_s=5)
    for _ in range(10):
        guard.check_and_remember(parse_code(_code()))
    assert len(guard) == 10
    now[0] = NOW + 64.9
    assert len(guard) == 10
    now[0] = NOW + 65
    assert len(guard) == 0


def test_replay_guard_memory_is_bounded() -> None:
    guard = ReplayGuard(capacity=8, clock=lambda: float(NOW))
    codes = [parse_code(_code(ttl_s=60 + i)) for i in range(20)]
    for code in codes:
        guard.check_and_remember(code)
    assert len(guard) == 8
    with pytest.raises(PaymentCodeError):  # the most recent (longest-lived) are still known
        guard.check_and_remember(codes[-1])


def test_key_helpers_round_trip_and_reject_bad_lengths() -> None:
    pub = KEY.public_key()
    assert public_key_id(public_key_from_bytes(public_key_bytes(pub))) == public_key_id(pub)
    assert public_key_id(pub) != public_key_id(OTHER_KEY.public_key())
    with pytest.raises(PaymentKeyError):
        signing_key_from_seed(b"short")
    with pytest.raises(PaymentKeyError):
        public_key_from_bytes(b"\x00" * 31)


@pytest.mark.parametrize("kwargs", [{"ttl_s": 0}, {"ttl_s": 999_999}, {"issuer": "bad issuer"}])
def test_issue_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(PaymentCodeIssueError):
        _code(**kwargs)  # type: ignore[arg-type]


def test_issue_rejects_bad_subject() -> None:
    with pytest.raises(PaymentCodeIssueError):
        _code("+86 138 0000 0000")


@pytest.mark.parametrize(
    "text",
    ["", "SP1", "SP1..", "SP2.e30.AAAA", "https://example.com/pay?x=1", "SP1.!!!.???",
     "SP1.e30." + "A" * 86, "\u00e9" * 10, "SP1." + "A" * 600, b"\xff\xfe", 12345],
)
def test_garbage_is_malformed(text: object) -> None:
    with pytest.raises(PaymentCodeError) as info:
        parse_code(text)  # type: ignore[arg-type]
    assert info.value.code == "code_malformed"
    assert "code_malformed" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_raise_only_payment_code_errors(data: bytes) -> None:
    with contextlib.suppress(PaymentCodeError):
        _full_check(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_raises_only_payment_code_errors(text: str) -> None:
    with contextlib.suppress(PaymentCodeError):
        _full_check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
               max_size=300))
def test_any_code_shaped_text_raises_only_payment_code_errors(tail: str) -> None:
    with contextlib.suppress(PaymentCodeError):
        _full_check("SP1." + tail)


def test_payment_code_error_is_a_payments_error() -> None:
    assert issubclass(PaymentCodeError, PaymentsError)
