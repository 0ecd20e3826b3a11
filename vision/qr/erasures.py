"""Soft-decision decoding of a sampled QR symbol: Reed-Solomon with errors and erasures.

A generic decoder binarises every module and hands the hard bits to Reed-Solomon, which
corrects up to ``(n - k) / 2`` wrong codewords per block. The grid sampler
(:mod:`vision.qr.grid`) knows more than the bits: how sure it is of each module (the size of
its equalised value). A codeword whose modules are all unsure is likely wrong, and a codeword
that is *known* to be unreliable (an erasure) costs Reed-Solomon half of what an unknown error
costs: ``2 e + f <= n - k``. So:

1. the format information (error-correction level and mask) is read softly: the one of the 32
   valid format words that agrees best with the sampled values around the finders;
2. the data modules are unmasked and read into codewords in the standard placement order, each
   codeword with the reliability of its least sure module;
3. every block is corrected with its least reliable codewords declared erased, trying more
   erasures until the block decodes, but always keeping at least ``_SPARE`` check symbols
   unused, so that a block too damaged to correct fails instead of being "corrected" into
   another valid block;
4. the corrected codewords are written back into a clean symbol (masked, with its format
   information), which zxing-cpp then reads, parsing the data and checking the error
   correction once more.

The Galois field and Reed-Solomon routines follow the textbook error-and-erasure decoder
(syndromes, Forney syndromes, Berlekamp-Massey, Chien search, Forney's algorithm) with the QR
code's field (GF(256), polynomial 0x11D) and generator (first root alpha^0).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_SPARE = 4  # check symbols per block never spent on erasures (keeps miscorrection unlikely)
_ERASURE_STEP = 4  # erasures added per attempt


class RsError(ValueError):
    """A block could not be corrected."""


# --- GF(256) -------------------------------------------------------------------------------

def _tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _tables()
_EXP_NP = np.array(_EXP, dtype=np.int64)
_LOG_NP = np.array(_LOG, dtype=np.int64)


def _mul(x: int, y: int) -> int:
    if x == 0 or y == 0:
        return 0
    return _EXP[_LOG[x] + _LOG[y]]


def _div(x: int, y: int) -> int:
    if y == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if x == 0:
        return 0
    return _EXP[(_LOG[x] + 255 - _LOG[y]) % 255]


def _pow(x: int, power: int) -> int:
    return _EXP[(_LOG[x] * power) % 255]


def _inverse(x: int) -> int:
    return _EXP[255 - _LOG[x]]


def _poly_eval_powers(p: list[int], powers: np.ndarray) -> np.ndarray:
    """``p`` (highest degree first) evaluated at alpha^k for every k in ``powers``, at once:
    sum over terms c_d * alpha^(k d), as logarithms added and XOR-reduced."""
    coef = np.asarray(p, dtype=np.int64)
    degrees = np.arange(len(coef) - 1, -1, -1, dtype=np.int64)
    nonzero = coef != 0
    if not nonzero.any():
        return np.zeros(len(powers), dtype=np.int64)
    logs = _LOG_NP[coef[nonzero]]
    expo = (logs[None, :] + np.outer(powers, degrees[nonzero])) % 255
    return np.bitwise_xor.reduce(_EXP_NP[expo], axis=1)


def _poly_scale(p: list[int], x: int) -> list[int]:
    return [_mul(c, x) for c in p]


def _poly_add(p: list[int], q: list[int]) -> list[int]:
    r = [0] * max(len(p), len(q))
    for i, c in enumerate(p):
        r[i + len(r) - len(p)] = c
    for i, c in enumerate(q):
        r[i + len(r) - len(q)] ^= c
    return r


def _poly_mul(p: list[int], q: list[int]) -> list[int]:
    r = [0] * (len(p) + len(q) - 1)
    for j, b in enumerate(q):
        for i, a in enumerate(p):
            r[i + j] ^= _mul(a, b)
    return r


def _poly_eval(p: list[int], x: int) -> int:
    y = p[0]
    for c in p[1:]:
        y = _mul(y, x) ^ c
    return y


def _poly_div(dividend: list[int], divisor: list[int]) -> tuple[list[int], list[int]]:
    out = list(dividend)
    for i in range(len(dividend) - (len(divisor) - 1)):
        coef = out[i]
        if coef != 0:
            for j in range(1, len(divisor)):
                if divisor[j] != 0:
                    out[i + j] ^= _mul(divisor[j], coef)
    sep = -(len(divisor) - 1)
    return out[:sep], out[sep:]


# --- Reed-Solomon, errors and erasures -----------------------------------------------------

def _syndromes(msg: list[int], nsym: int) -> list[int]:
    return [0, *(int(v) for v in _poly_eval_powers(msg, np.arange(nsym, dtype=np.int64)))]


def _errata_locator(positions: list[int]) -> list[int]:
    loc = [1]
    for p in positions:
        loc = _poly_mul(loc, _poly_add([1], [_pow(2, p), 0]))
    return loc


def _error_evaluator(synd: list[int], loc: list[int], nsym: int) -> list[int]:
    _, rem = _poly_div(_poly_mul(synd, loc), [1] + [0] * (nsym + 1))
    return rem


def _correct_errata(msg: list[int], synd: list[int], positions: list[int]) -> list[int]:
    coef_pos = [len(msg) - 1 - p for p in positions]
    loc = _errata_locator(coef_pos)
    evaluator = _error_evaluator(synd[::-1], loc, len(loc) - 1)[::-1]
    xs = [_pow(2, -(255 - p)) for p in coef_pos]
    magnitudes = [0] * len(msg)
    for i, xi in enumerate(xs):
        xi_inv = _inverse(xi)
        prime = 1
        for j, xj in enumerate(xs):
            if j != i:
                prime = _mul(prime, 1 ^ _mul(xi_inv, xj))
        if prime == 0:
            raise RsError("errata locator derivative is zero")
        y = _mul(xi, _poly_eval(evaluator[::-1], xi_inv))
        magnitudes[positions[i]] = _div(y, prime)
    return _poly_add(msg, magnitudes)


def _error_locator(synd: list[int], nsym: int, erase_count: int) -> list[int]:
    loc, old = [1], [1]
    shift = len(synd) - nsym
    for i in range(nsym - erase_count):
        k = i + shift
        delta = synd[k]
        for j in range(1, len(loc)):
            delta ^= _mul(loc[-(j + 1)], synd[k - j])
        old = [*old, 0]
        if delta != 0:
            if len(old) > len(loc):
                new = _poly_scale(old, delta)
                old = _poly_scale(loc, _inverse(delta))
                loc = new
            loc = _poly_add(loc, _poly_scale(old, delta))
    while loc and loc[0] == 0:
        loc.pop(0)
    if (len(loc) - 1) * 2 + erase_count > nsym:
        raise RsError("too many errors")
    return loc


def _find_errors(loc: list[int], n: int) -> list[int]:
    errs = len(loc) - 1
    values = _poly_eval_powers(loc, np.arange(n, dtype=np.int64))
    pos = [n - 1 - int(i) for i in np.flatnonzero(values == 0)]
    if len(pos) != errs:
        raise RsError("error locator roots do not match")
    return pos


def _forney_syndromes(synd: list[int], positions: list[int], n: int) -> list[int]:
    fsynd = list(synd[1:])
    for p in positions:
        x = _pow(2, n - 1 - p)
        for j in range(len(fsynd) - 1):
            fsynd[j] = _mul(fsynd[j], x) ^ fsynd[j + 1]
    return fsynd


def rs_correct(block: list[int], nsym: int, erasures: list[int] | None = None) -> list[int]:
    """The corrected ``block`` (data then ``nsym`` check codewords), with the codewords at
    ``erasures`` (indices) known to be unreliable; raises :class:`RsError` when it cannot be
    corrected."""
    erase = list(erasures or [])
    if len(erase) > nsym:
        raise RsError("more erasures than check symbols")
    msg = list(block)
    for p in erase:
        msg[p] = 0
    synd = _syndromes(msg, nsym)
    if max(synd) == 0:
        return msg
    fsynd = _forney_syndromes(synd, erase, len(msg))
    loc = _error_locator(fsynd, nsym, len(erase))
    errors = _find_errors(loc[::-1], len(msg))
    out = _correct_errata(msg, synd, erase + errors)
    if max(_syndromes(out, nsym)) != 0:
        raise RsError("correction left non-zero syndromes")
    return out


def rs_check_symbols(data: list[int], nsym: int) -> list[int]:
    """The ``nsym`` QR check codewords of ``data`` (for tests and re-encoding)."""
    gen = [1]
    for i in range(nsym):
        gen = _poly_mul(gen, [1, _pow(2, i)])
    _, rem = _poly_div(list(data) + [0] * nsym, gen)
    return rem


def correct_block(block: list[int], reliability: list[float], nsym: int) -> list[int] | None:
    """``block`` corrected with its least reliable codewords erased, more of them each try,
    never spending the last _SPARE check symbols; None when no try corrects it."""
    order = sorted(range(len(block)), key=lambda i: reliability[i])
    limit = max(nsym - _SPARE, 0)
    for count in range(0, limit + 1, _ERASURE_STEP):
        try:
            if count == 0:
                # Errors only: at most (nsym - _SPARE) / 2 of them, the rest kept for checking.
                out = rs_correct(block, nsym)
                if _changed(block, out) * 2 > limit:
                    continue
                return out
            out = rs_correct(block, nsym, order[:count])
            errors = _changed(block, out, set(order[:count]))
            if 2 * errors + count <= limit:
                return out
        except (RsError, ZeroDivisionError):
            continue
    return None


def _changed(before: list[int], after: list[int], skip: set[int] | None = None) -> int:
    skip = skip or set()
    return sum(1 for i, (a, b) in enumerate(zip(before, after, strict=True))
               if a != b and i not in skip)


# --- the symbol's layout -------------------------------------------------------------------

@lru_cache(maxsize=48)
def _layout(version: int) -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, int], ...]]:
    """Function-pattern mask (True = not data), the function modules' states (True = dark;
    format information as for level M, mask 0: it is overwritten) and the data modules in
    placement order."""
    import qrcode

    q = qrcode.QRCode(version=version, border=0)
    n = 17 + 4 * version
    q.modules_count = n
    q.modules = [[None] * n for _ in range(n)]
    q.setup_position_probe_pattern(0, 0)
    q.setup_position_probe_pattern(n - 7, 0)
    q.setup_position_probe_pattern(0, n - 7)
    q.setup_position_adjust_pattern()
    q.setup_timing_pattern()
    q.setup_type_info(False, 0)
    if version >= 7:
        q.setup_type_number(False)
    function = np.array([[m is not None for m in row] for row in q.modules])
    states = np.array([[bool(m) for m in row] for row in q.modules])
    order: list[tuple[int, int]] = []
    row, inc = n - 1, -1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if not function[row, c]:
                    order.append((row, c))
            row += inc
            if row < 0 or row >= n:
                row -= inc
                inc = -inc
                break
    return function, states, tuple(order)


@lru_cache(maxsize=48)
def _formats(version: int) -> tuple[tuple[int, int, np.ndarray, np.ndarray], ...]:
    """Every (error-correction level, mask) with the format modules' positions (flat indices)
    and their states (+1 dark, -1 light)."""
    import qrcode

    n = 17 + 4 * version
    out = []
    for level in (qrcode.constants.ERROR_CORRECT_L, qrcode.constants.ERROR_CORRECT_M,
                  qrcode.constants.ERROR_CORRECT_Q, qrcode.constants.ERROR_CORRECT_H):
        for mask in range(8):
            q = qrcode.QRCode(version=version, border=0, error_correction=level)
            q.modules_count = n
            q.modules = [[None] * n for _ in range(n)]
            q.setup_type_info(False, mask)
            cells = [(r, c, q.modules[r][c]) for r in range(n) for c in range(n)
                     if q.modules[r][c] is not None]
            idx = np.array([r * n + c for r, c, _ in cells])
            state = np.array([1.0 if v else -1.0 for _, _, v in cells])
            out.append((level, mask, idx, state))
    return tuple(out)


def decode_soft(values: np.ndarray) -> np.ndarray | None:
    """The symbol's modules (True = dark) after soft-decision error-and-erasure correction of
    the sampled ``values`` (positive = dark, larger = surer), or None when a block cannot be
    corrected."""
    from qrcode import base, util

    n = values.shape[0]
    if n < 21 or (n - 17) % 4 or values.shape != (n, n):
        return None
    version = (n - 17) // 4
    flat = values.ravel()
    level, mask, f_idx, f_state = max(_formats(version),
                                      key=lambda f: float((flat[f[2]] * f[3]).sum()))
    function, states, order = _layout(version)
    mask_fn = util.mask_func(mask)
    rows = np.array([r for r, _ in order])
    cols = np.array([c for _, c in order])
    flip = np.array([mask_fn(r, c) for r, c in order])
    soft = values[rows, cols] * np.where(flip, -1.0, 1.0)  # unmasked: positive = bit 1
    blocks = base.rs_blocks(version, level)
    total = sum(b.total_count for b in blocks)
    if len(soft) < total * 8:
        return None
    bits = (soft[:total * 8] > 0).reshape(total, 8)
    words = (bits * (1 << np.arange(7, -1, -1))).sum(1).astype(int).tolist()
    sure = np.abs(soft[:total * 8]).reshape(total, 8).min(1).tolist()
    # De-interleave: data codewords block by block in turn, then the check codewords.
    index: list[list[int]] = [[] for _ in blocks]
    k = 0
    for i in range(max(b.data_count for b in blocks)):
        for j, b in enumerate(blocks):
            if i < b.data_count:
                index[j].append(k)
                k += 1
    for i in range(max(b.total_count - b.data_count for b in blocks)):
        for j, b in enumerate(blocks):
            if i < b.total_count - b.data_count:
                index[j].append(k)
                k += 1
    fixed = list(words)
    for b, idx in zip(blocks, index, strict=True):
        got = correct_block([words[i] for i in idx], [sure[i] for i in idx],
                            b.total_count - b.data_count)
        if got is None:
            return None
        for i, w in zip(idx, got, strict=True):
            fixed[i] = w
    # Write the corrected codewords back, masked, with the format information read.
    out = values > 0
    out[function] = states[function]  # finders, timing, alignment, version: as they must be
    new_bits = np.array([(w >> s) & 1 for w in fixed for s in range(7, -1, -1)], bool)
    data = new_bits ^ flip[:total * 8]
    out[rows[:total * 8], cols[:total * 8]] = data
    out.flat[f_idx] = f_state > 0
    return out
