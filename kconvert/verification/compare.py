"""Element-wise comparison of outputs, the numbers a verification report is made of."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """One output (or activation) against its reference: passes when ``|a - b| <= atol + rtol * |b|``
    everywhere (unsorted, element by element)."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    mismatched: int  # elements outside the tolerance
    atol: float
    rtol: float
    passed: bool
    reason: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["shape"] = list(self.shape)
        return out


def compare(name: str, actual: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> Comparison:
    actual = np.asarray(actual)
    reference = np.asarray(reference)
    if actual.shape != reference.shape:
        if actual.size == reference.size and actual.squeeze().shape == reference.squeeze().shape:
            reference = reference.reshape(actual.shape)
        else:
            return Comparison(name, actual.shape, float("inf"), float("inf"), int(max(actual.size, 1)), atol, rtol,
                              False, f"shape {actual.shape} differs from the reference's {reference.shape}")
    a = actual.astype(np.float64)
    b = reference.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    same_special = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(finite, np.abs(a - b), np.where(same_special, 0.0, np.inf))
    rel = diff / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    bad = diff > atol + rtol * np.abs(np.where(finite, b, 0.0))
    mismatched = int(np.count_nonzero(bad))
    return Comparison(
        name=name, shape=tuple(actual.shape),
        max_abs_error=float(diff.max()) if diff.size else 0.0,
        max_rel_error=float(np.where(diff == 0, 0.0, rel).max()) if diff.size else 0.0,
        mismatched=mismatched, atol=atol, rtol=rtol, passed=mismatched == 0)
