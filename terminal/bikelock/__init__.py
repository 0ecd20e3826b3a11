"""The shared-bike lock unit: scan a payment code, decide the deposit, unlock, time, charge."""
