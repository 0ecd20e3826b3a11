"""Soft-decision Reed-Solomon decoding of sampled QR symbols: erasures double what can be
corrected, a block beyond repair fails instead of turning into another payload."""

from __future__ import annotations

import numpy as np
import pytest
import qrcode

from vision.qr import erasures, grid

PAYLOAD = "SCANPAY:TEST:" + "X7Q" * 25


def _truth() -> np.ndarray:
    q = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(PAYLOAD)
    q.make(fit=True)
    return np.array(q.get_matrix(), dtype=bool)


def _payloads(values: np.ndarray) -> list[bytes]:
    n = values.shape[0]
    return [c.payload for c in grid.read(values, grid.Grid(n, np.eye(3)), soft=True)]


def test_reed_solomon_corrects_errors_and_erasures() -> None:
    rng = np.random.default_rng(0)
    data = [int(x) for x in rng.integers(0, 256, 43)]
    block = data + erasures.rs_check_symbols(data, 24)
    assert erasures.rs_correct(block, 24) == block
    bad = list(block)
    for p in range(12):  # 12 errors: the limit without erasures
        bad[p * 5] ^= 0x5A
    assert erasures.rs_correct(bad, 24) == block
    for p in (1, 2, 3, 4, 6, 7):  # 18 wrong codewords: beyond the limit...
        bad[p] ^= 0x11
    with pytest.raises(erasures.RsError):
        erasures.rs_correct(bad, 24)
    # ...but not once 12 of them are known (erased): 2 * 6 errors + 12 erasures = 24.
    erased = [1, 2, 3, 4, 6, 7, 0, 5, 10, 15, 20, 25]
    assert erasures.rs_correct(bad, 24, erased) == block


def test_correct_block_erases_the_least_reliable_codewords() -> None:
    rng = np.random.default_rng(1)
    data = [int(x) for x in rng.integers(0, 256, 43)]
    block = data + erasures.rs_check_symbols(data, 24)
    bad = list(block)
    wrong = [int(p) for p in rng.choice(67, 15, replace=False)]  # beyond 12 errors
    for p in wrong:
        bad[p] ^= int(rng.integers(1, 256))
    sure = [0.1 if i in wrong else 1.0 for i in range(67)]
    assert erasures.correct_block(bad, sure, 24) == block
    blind = [1.0] * 67  # no idea which are wrong: beyond repair
    assert erasures.correct_block(bad, blind, 24) is None


def test_soft_decoding_reads_a_symbol_the_hard_bits_do_not() -> None:
    truth = _truth()
    rng = np.random.default_rng(2)
    read_soft = read_hard = 0
    for _ in range(6):
        values = np.where(truth, 1.0, -1.0) * rng.uniform(0.3, 1.0, truth.shape)
        flip = rng.random(truth.shape) < 0.03
        values[flip] *= -rng.uniform(0.05, 0.4, int(flip.sum()))  # wrong modules: unsure
        n = values.shape[0]
        read_hard += bool(grid.read(values, grid.Grid(n, np.eye(3))))
        got = _payloads(values)
        assert got in ([], [PAYLOAD.encode()])  # never another payload
        read_soft += bool(got)
    assert read_hard == 0
    assert read_soft >= 3


def test_noise_is_never_decoded() -> None:
    rng = np.random.default_rng(3)
    for n in (25, 33, 41):
        assert erasures.decode_soft(rng.normal(0, 1, (n, n))) is None
    assert erasures.decode_soft(np.zeros((20, 20))) is None  # not a QR size


def test_the_vectorised_evaluation_agrees_with_horner_evaluation() -> None:
    """Syndromes and the Chien search evaluate polynomials at many powers of alpha at once;
    every value must be what the one-point Horner evaluation gives."""
    from vision.qr.erasures import _poly_eval, _poly_eval_powers, _pow

    rng = np.random.default_rng(8)
    for _ in range(50):
        poly = [int(v) for v in rng.integers(0, 256, int(rng.integers(1, 60)))]
        poly[int(rng.integers(0, len(poly)))] = 0  # zero coefficients too
        powers = np.arange(0, 300, dtype=np.int64)
        fast = _poly_eval_powers(poly, powers)
        assert [int(v) for v in fast] == [_poly_eval(poly, _pow(2, int(k))) for k in powers]
    assert list(_poly_eval_powers([0, 0], np.arange(3, dtype=np.int64))) == [0, 0, 0]
