"""Payment codes as an account holder's wallet app would show them (to prove an account)."""

from __future__ import annotations

from typing import Any

from payments.clients.face import FaceClient
from payments.clients.http import ServiceSettings
from payments.paycode import issue_code


def wallet_code(backend: Any, subject_id: str, ttl_s: int = 60) -> str:
    """A fresh code for ``subject_id`` signed with the reference back end's key, at its time."""
    return issue_code(subject_id, signing_key=backend.signing_key, now=backend.now(),
                      ttl_s=ttl_s)


class WalletFaceClient(FaceClient):
    """The face client, plus the codes the account holders' wallets would show."""

    def __init__(self, settings: ServiceSettings, backend: Any) -> None:
        super().__init__(settings)
        self._backend = backend

    def code(self, subject_id: str = "rider-good", ttl_s: int = 60) -> str:
        """A fresh wallet code of ``subject_id``."""
        return wallet_code(self._backend, subject_id, ttl_s)

    def enroll_as(self, subject_id: str, **kwargs: Any) -> Any:
        """Enroll with a fresh wallet code of ``subject_id`` as the proof of the account."""
        return self.enroll(payment_code=self.code(subject_id), **kwargs)
