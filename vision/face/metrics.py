"""Verification error rates from genuine and impostor distances (pure numpy, no images)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RatesAt:
    """Error counts and rates of ``distance <= threshold`` decisions at one threshold."""

    threshold: float
    false_accepts: int
    impostors: int
    genuine_accepts: int
    genuines: int

    @property
    def far(self) -> float:
        """False-accept rate (share of impostor pairs accepted)."""
        return self.false_accepts / self.impostors if self.impostors else 0.0

    @property
    def gar(self) -> float:
        """Genuine-accept rate (share of genuine pairs accepted)."""
        return self.genuine_accepts / self.genuines if self.genuines else 0.0


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> RatesAt:
    """Counts at ``threshold``; NaN distances (no usable face) are never accepted."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return RatesAt(float(threshold), int(np.sum(i <= threshold)), int(i.size),
                       int(np.sum(g <= threshold)), int(g.size))


def zero_fa_threshold(impostor: np.ndarray, margin: float = 1e-4) -> float:
    """The largest threshold (minus ``margin``) that accepts none of the impostor pairs."""
    i = np.asarray(impostor, dtype=np.float64)
    i = i[np.isfinite(i)]
    return float(i.min() - margin) if i.size else 2.0


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold at which FAR and FRR are closest)."""
    curve = error_curve(genuine, impostor)
    k = int(np.argmin(np.abs(curve["far"] - curve["frr"])))
    return float((curve["far"][k] + curve["frr"][k]) / 2), float(curve["threshold"][k])


def error_curve(genuine: np.ndarray, impostor: np.ndarray, points: int = 801
                ) -> dict[str, np.ndarray]:
    """FAR and FRR over thresholds 0..max finite distance (arrays of equal length)."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    finite = np.concatenate([g[np.isfinite(g)], i[np.isfinite(i)]])
    top = float(finite.max()) if finite.size else 2.0
    thresholds = np.linspace(0.0, top, points)
    with np.errstate(invalid="ignore"):
        far = np.array([np.sum(i <= t) for t in thresholds]) / max(i.size, 1)
        frr = 1.0 - np.array([np.sum(g <= t) for t in thresholds]) / max(g.size, 1)
    return {"threshold": thresholds, "far": far, "frr": frr}
