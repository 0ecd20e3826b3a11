"""Money as integer minor units with an ISO 4217 currency — never floats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payments.errors import PaymentsError


class MoneyError(PaymentsError):
    """An amount or currency is malformed, or two currencies were mixed."""


# Minor-unit exponents of the currencies this project has seen; others default to 2.
_EXPONENTS: dict[str, int] = {
    "CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "SGD": 2, "THB": 2, "MYR": 2, "PHP": 2,
    "INR": 2, "BRL": 2, "AUD": 2, "CAD": 2, "CHF": 2, "KHR": 2, "IDR": 2, "TWD": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of ``currency`` (2 when not listed)."""
    return _EXPONENTS.get(currency, 2)


@dataclass(frozen=True, order=False)
class Money:
    """An amount of one currency in integer minor units (fen, cents)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise MoneyError(f"amount must be integer minor units, got {self.amount_minor!r}")
        if (
            not isinstance(self.currency, str)
            or len(self.currency) != 3
            or not self.currency.isascii()
            or not self.currency.isupper()
            or not self.currency.isalpha()
        ):
            raise MoneyError(f"currency must be an ISO 4217 code like 'CNY', got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        """No money of ``currency``."""
        return cls(0, currency)

    @classmethod
    def from_json(cls, data: Any) -> Money:
        """Parse ``{"amount_minor": int, "currency": str}``."""
        if not isinstance(data, dict) or set(data) != {"amount_minor", "currency"}:
            raise MoneyError(f"money must be {{amount_minor, currency}}, got {data!r}")
        return cls(data["amount_minor"], data["currency"])

    def to_json(self) -> dict[str, Any]:
        """The wire form ``{"amount_minor": int, "currency": str}``."""
        return {"amount_minor": self.amount_minor, "currency": self.currency}

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot combine money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise MoneyError("money can only be multiplied by an integer")
        return Money(self.amount_minor * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def format(self) -> str:
        """Human form, e.g. ``'1.50 CNY'``."""
        exp = currency_exponent(self.currency)
        sign = "-" if self.amount_minor < 0 else ""
        if exp == 0:
            return f"{sign}{abs(self.amount_minor)} {self.currency}"
        units, minor = divmod(abs(self.amount_minor), 10**exp)
        return f"{sign}{units}.{minor:0{exp}d} {self.currency}"

    def __str__(self) -> str:
        return self.format()
