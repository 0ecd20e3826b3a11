"""Secrets of the face routes: templates encrypted at rest, phone numbers kept only as keyed hashes.

The template key and the phone pepper are derived with HKDF from back-end secrets, under
different labels, so a leaked database without the secrets yields neither templates nor phone
numbers. Template keys have ids and rotate: the vault seals under the newest key and still opens
templates sealed under the older ones it holds (the back end re-encrypts those at start-up).
A template is the mean of the enrollment embeddings, stored as AES-GCM ciphertext whose
associated data is the enrollment id: a ciphertext copied into another row fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

EMBEDDING_SIZE = 128
_NONCE = 12
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15


class VaultError(Exception):
    """A template could not be decrypted (wrong key or tampered row)."""


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"scanpay-face-v1", info=label).derive(
        secret
    )


@dataclass(frozen=True)
class FaceVault:
    """Encrypts templates and hashes phone numbers with keys derived from back-end secrets."""

    template_key: bytes
    pepper: bytes
    # Id of ``template_key``, stored next to every template sealed with it.
    key_id: str = "dev"
    # Older template keys (id -> key) that still open templates sealed before a rotation.
    older_keys: Mapping[str, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return f"FaceVault(key_id={self.key_id!r}, <keys hidden>)"

    @classmethod
    def from_secret(cls, secret: bytes, key_id: str = "dev") -> FaceVault:
        """Derive both keys from one secret (at least 16 bytes)."""
        if len(secret) < 16:
            raise ValueError("the face vault secret must be at least 16 bytes")
        return cls(_derive(secret, b"template-key"), _derive(secret, b"phone-pepper"), key_id)

    @classmethod
    def from_keys(cls, keys: Sequence[tuple[str, bytes]], pepper_secret: bytes) -> FaceVault:
        """A vault sealing under the last of ``keys`` (id, secret) and opening with all."""
        if not keys or any(len(secret) < 16 for _, secret in keys) or len(pepper_secret) < 16:
            raise ValueError("face vault secrets must be at least 16 bytes")
        derived = {kid: _derive(secret, b"template-key") for kid, secret in keys}
        active = keys[-1][0]
        return cls(derived[active], _derive(pepper_secret, b"phone-pepper"), active,
                   {kid: key for kid, key in derived.items() if kid != active})

    def opens(self, key_id: str) -> bool:
        """Whether this vault holds the template key ``key_id``."""
        return key_id == self.key_id or key_id in self.older_keys

    def seal(self, template: np.ndarray, enrollment_id: str) -> bytes:
        """Encrypt a 128-d template bound to ``enrollment_id``."""
        vector = np.asarray(template, dtype="<f4").reshape(EMBEDDING_SIZE)
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.template_key).encrypt(nonce, vector.tobytes(), enrollment_id.encode())
        return nonce + sealed

    def open(self, blob: bytes, enrollment_id: str, key_id: str | None = None) -> np.ndarray:
        """Decrypt a template sealed for ``enrollment_id`` (under key ``key_id``; the active
        key when None)."""
        key = self.template_key if key_id in (None, self.key_id) else \
            self.older_keys.get(key_id or "")
        if key is None:
            raise VaultError(f"face template key {key_id!r} is not in the keyring")
        try:
            plain = AESGCM(key).decrypt(
                blob[:_NONCE], blob[_NONCE:], enrollment_id.encode()
            )
        except (InvalidTag, ValueError):
            raise VaultError("face template cannot be decrypted (wrong key or altered)") from None
        return np.frombuffer(plain, dtype="<f4").astype(np.float64)

    def phone_hash(self, phone: str) -> str:
        """Keyed hash of a full phone number (digits only), for exact lookup."""
        return hmac.new(self.pepper, b"full:" + phone.encode(), hashlib.sha256).hexdigest()

    def last4_hash(self, phone_or_last4: str) -> str:
        """Keyed hash of the last four digits, for the shared-suffix lookup."""
        tail = phone_or_last4[-4:]
        return hmac.new(self.pepper, b"last4:" + tail.encode(), hashlib.sha256).hexdigest()


def normalise_phone(text: str) -> str:
    """Digits of a full phone number; spaces, dashes, dots and a leading '+' are allowed."""
    cleaned = text.strip()
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
    for sep in " -.()":
        cleaned = cleaned.replace(sep, "")
    if not cleaned.isascii() or not cleaned.isdigit():
        raise ValueError("a phone number may hold only digits, spaces, dashes and a leading +")
    if not MIN_PHONE_DIGITS <= len(cleaned) <= MAX_PHONE_DIGITS:
        raise ValueError(
            f"a phone number has {MIN_PHONE_DIGITS}-{MAX_PHONE_DIGITS} digits, got {len(cleaned)}"
        )
    return cleaned


def parse_embedding(value: object) -> np.ndarray:
    """A list of 128 finite numbers as a float64 vector; ValueError otherwise."""
    if not isinstance(value, list | tuple) or len(value) != EMBEDDING_SIZE:
        raise ValueError(f"an embedding is a list of {EMBEDDING_SIZE} numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        raise ValueError("an embedding holds numbers only")
    vector = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(vector)) or not math.isfinite(float(np.linalg.norm(vector))):
        raise ValueError("an embedding holds finite numbers only")
    if float(np.linalg.norm(vector)) == 0.0:
        raise ValueError("an embedding must not be all zeros")
    return vector


def combine(embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """The template (mean embedding) and the largest distance of any frame from it."""
    stack = np.vstack(embeddings)
    template = stack.mean(axis=0)
    spread = float(np.max(np.linalg.norm(stack - template, axis=1)))
    return template, spread


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (face_recognition's measure)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
