"""The loopback fault proxy the tests put in front of the reference back end."""

from terminal.bench.fault_proxy import FAULT_KINDS, FaultProxy

__all__ = ["FAULT_KINDS", "FaultProxy"]
