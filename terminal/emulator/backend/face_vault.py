"""Secrets of the face routes: templates encrypted at rest, phone numbers kept only as keyed hashes.

Both keys are derived from one back-end secret with HKDF, under different labels, so a leaked
database without the secret yields neither templates nor phone numbers. A template is the mean
of the enrollment embeddings, stored as AES-GCM ciphertext whose associated data is the
enrollment id: a ciphertext copied into another row fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

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
    """Encrypts templates and hashes phone numbers with keys derived from one secret."""

    template_key: bytes
    pepper: bytes

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return "FaceVault(<keys hidden>)"

    @classmethod
    def from_secret(cls, secret: bytes) -> FaceVault:
        """Derive both keys from the back end's secret (at least 16 bytes)."""
        if len(secret) < 16:
            raise ValueError("the face vault secret must be at least 16 bytes")
        return cls(_derive(secret, b"template-key"), _derive(secret, b"phone-pepper"))

    def seal(self, template: np.ndarray, enrollment_id: str) -> bytes:
        """Encrypt a 128-d template bound to ``enrollment_id``."""
        vector = np.asarray(template, dtype="<f4").reshape(EMBEDDING_SIZE)
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.template_key).encrypt(nonce, vector.tobytes(), enrollment_id.encode())
        return nonce + sealed

    def open(self, blob: bytes, enrollment_id: str) -> np.ndarray:
        """Decrypt a template sealed for ``enrollment_id``."""
        try:
            plain = AESGCM(self.template_key).decrypt(
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
