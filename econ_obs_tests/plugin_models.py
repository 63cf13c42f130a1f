"""Tiny plug-in model classes that tests name by import path."""

from __future__ import annotations

import numpy as np


class ConstantSignal:
    """Predicts the same next-bar log return (level_bps / 1e4) for every row."""

    def __init__(self, level_bps: float = 0.0) -> None:
        self.level_bps = level_bps
        self.fitted_rows = 0

    def fit(self, features: np.ndarray, target: np.ndarray) -> ConstantSignal:
        self.fitted_rows = len(target)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.full(len(features), self.level_bps / 1e4)


class MemorisingOracle:
    """Would cheat if it could: remembers each training row's label and replays it.

    Given a feature row it saw in fit, predict returns that row's label (the future return);
    for a row it never saw it predicts -1. It profits only if labels of test rows leak into fit.
    """

    seen_targets: list[np.ndarray] = []  # noqa: RUF012 - tests read what the last fit saw

    def __init__(self) -> None:
        self.memory: dict[bytes, float] = {}

    def fit(self, features: np.ndarray, target: np.ndarray) -> MemorisingOracle:
        MemorisingOracle.seen_targets.append(np.asarray(target).copy())
        self.memory = {row.tobytes(): float(y) for row, y in zip(features, target, strict=True)}
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.array([self.memory.get(row.tobytes(), -1.0) for row in features])


class NoPredict:
    """Lacks predict: loading it must fail with a clear message."""

    def fit(self, features: np.ndarray, target: np.ndarray) -> NoPredict:
        return self
