"""What the payment-QR parser returns: a parsed payload, its violations, or one error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from payments.errors import PaymentsError

# The rule layer a problem belongs to, from cheapest to most expensive check.
Layer = Literal["format", "crc", "tlv", "emvco", "scheme"]

Encoding = Literal["emv-mpm-tlv", "emv-cpm-base64", "uri", "scanpay-app", "barcode"]


class QRPayloadError(PaymentsError):
    """A scanned payload cannot be parsed; says which layer, tag path and offset are at fault."""

    def __init__(
        self,
        layer: Layer,
        code: str,
        message: str,
        *,
        tag: str | None = None,
        offset: int | None = None,
        scheme: str | None = None,
    ) -> None:
        self.layer = layer
        self.code = code
        self.message = message
        self.tag = tag
        self.offset = offset
        self.scheme = scheme
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.tag is not None:
            where.append(f"tag {self.tag}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        prefix = f"{' at '.join(where)}: " if where else ""
        return f"{self.layer} ({self.code}): {prefix}{self.message}"

    def to_json(self) -> dict[str, Any]:
        """``{"layer", "code", "tag", "offset", "message"}``."""
        return {"layer": self.layer, "code": self.code, "tag": self.tag,
                "offset": self.offset, "message": self.message}


class QRBuildError(PaymentsError):
    """A payment QR cannot be built from the given merchant, amount or reference."""


@dataclass(frozen=True)
class Violation:
    """One broken rule in a payload that still parsed (lenient mode keeps going)."""

    layer: Layer
    code: str
    message: str
    tag: str | None = None
    offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"layer", "code", "tag", "offset", "message"}``."""
        return {"layer": self.layer, "code": self.code, "tag": self.tag,
                "offset": self.offset, "message": self.message}

    def __str__(self) -> str:
        where = f"tag {self.tag}" if self.tag is not None else "payload"
        if self.offset is not None:
            where += f" at offset {self.offset}"
        return f"{self.layer}/{self.code}: {where}: {self.message}"


@dataclass(frozen=True)
class ParsedPayload:
    """A payload that parsed: raw tags by path, friendly fields, and every rule it breaks.

    ``tags`` maps tag paths to raw values (``"59"``, ``"62.05"``, ``"61[0].4F"``; URI forms use
    their parameter names). ``fields`` gives friendly names (merchant, city, amount, currency,
    reference...). ``conformant`` is the strict verdict: no violation of the scheme's profile.
    """

    scheme: str
    encoding: Encoding
    tags: dict[str, str]
    fields: dict[str, str]
    violations: tuple[Violation, ...] = field(default=())

    @property
    def conformant(self) -> bool:
        """True when the payload breaks no rule of its scheme's profile."""
        return not self.violations

    def to_json(self, *, strict: bool = False) -> dict[str, Any]:
        """The ``scanpay qr parse --json`` object; ``strict`` makes ``valid`` mean conformant."""
        return {
            "valid": self.conformant if strict else True,
            "scheme": self.scheme,
            "tags": dict(self.tags),
            "fields": dict(self.fields),
            "violations": [v.to_json() for v in self.violations],
            "error": None,
        }


def error_json(error: QRPayloadError) -> dict[str, Any]:
    """The ``--json`` object of a payload that failed to parse."""
    return {"valid": False, "scheme": error.scheme, "tags": {}, "fields": {},
            "violations": [], "error": error.to_json()}
