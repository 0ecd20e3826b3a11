"""Benchmarks run by `scanpay bench`."""
