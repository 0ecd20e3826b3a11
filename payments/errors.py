"""The error tree of the payments package."""


class PaymentsError(Exception):
    """Root of every error raised by the payments package."""
