"""Face templates encrypted at rest and phone numbers kept only as keyed hashes."""

from __future__ import annotations

import numpy as np
import pytest

from backend.face_vault import (
    FaceVault,
    VaultError,
    combine,
    distance,
    normalise_phone,
    parse_embedding,
)

SECRET = b"0123456789abcdef-test-secret"


def test_template_round_trips_through_encryption():
    vault = FaceVault.from_secret(SECRET)
    template = np.linspace(-0.2, 0.2, 128)
    blob = vault.seal(template, "enr_1")
    assert template.astype("<f4").tobytes() not in blob
    assert np.allclose(vault.open(blob, "enr_1"), template, atol=1e-6)


def test_ciphertext_moved_to_another_enrollment_does_not_decrypt():
    vault = FaceVault.from_secret(SECRET)
    blob = vault.seal(np.ones(128), "enr_1")
    with pytest.raises(VaultError):
        vault.open(blob, "enr_2")


def test_another_secret_cannot_decrypt_or_match_phone_hashes():
    a, b = FaceVault.from_secret(SECRET), FaceVault.from_secret(b"another secret of 16+ bytes")
    blob = a.seal(np.ones(128), "enr_1")
    with pytest.raises(VaultError):
        b.open(blob, "enr_1")
    assert a.phone_hash("13800138000") != b.phone_hash("13800138000")


def test_tampered_ciphertext_is_refused():
    vault = FaceVault.from_secret(SECRET)
    blob = bytearray(vault.seal(np.ones(128), "enr_1"))
    blob[20] ^= 1
    with pytest.raises(VaultError):
        vault.open(bytes(blob), "enr_1")


def test_phone_hashes_hide_the_number_and_share_suffixes():
    vault = FaceVault.from_secret(SECRET)
    full = vault.phone_hash("13800138000")
    assert "13800138000" not in full and len(full) == 64
    assert vault.last4_hash("13800138000") == vault.last4_hash("8000")
    assert vault.last4_hash("13800138000") != vault.last4_hash("8001")


def test_keys_never_show_in_repr():
    vault = FaceVault.from_secret(SECRET)
    assert vault.template_key.hex() not in repr(vault)
    assert "hidden" in repr(vault)


def test_short_secret_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        FaceVault.from_secret(b"short")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("138 0013 8000", "13800138000"), ("+86-138-0013-8000", "8613800138000")],
)
def test_phone_numbers_are_normalised_to_digits(text, expected):
    assert normalise_phone(text) == expected


@pytest.mark.parametrize("text", ["", "12345", "1" * 16, "138OO138000", "١٣٨٠٠١٣٨٠٠٠"])
def test_malformed_phone_numbers_are_refused(text):
    with pytest.raises(ValueError):
        normalise_phone(text)


@pytest.mark.parametrize(
    "value",
    [None, [0.1] * 127, [0.1] * 129, ["a"] * 128, [True] * 128, [float("nan")] + [0.1] * 127,
     [0.0] * 128, [1e308] * 128],
)
def test_malformed_embeddings_are_refused(value):
    with pytest.raises(ValueError):
        parse_embedding(value)


def test_template_is_the_mean_and_spread_the_worst_frame():
    frames = [np.zeros(128), np.zeros(128), np.full(128, 0.1)]
    template, spread = combine(frames)
    assert np.allclose(template, np.full(128, 0.1 / 3))
    assert spread == pytest.approx(distance(frames[2], template))
