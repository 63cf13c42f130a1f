"""Models: the default ridge signal, variant parsing, plug-in loading, and test-window positions.

Strategies are long-only: a bar's position is 1 (long) when the predicted next-bar log return
clears ``threshold_bps / 1e4``, else 0 (flat). The position decided at bar t earns from close t
to close t+1, and uses only the features at bar t.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_MODEL_CLASS = "econ_obs.core.models:RidgeSignal"
# Variant keys the pipeline reads itself; every other key is a model constructor kwarg.
PIPELINE_KEYS = ("class", "name", "threshold_bps", "features")
# Comma-separated module names a model.class may come from (a name allows its submodules too).
# Unset: any module, since a sweep file is trusted input and a plug-in is code by design.
PLUGIN_MODULES_ENV_VAR = "ECON_OBS_PLUGIN_MODULES"


@dataclass(frozen=True)
class ModelVariant:
    """A named model configuration; params (incl. "class") go to model_hyperparams as they are."""

    name: str
    params: dict


class RidgeSignal:
    """Ridge regression (numpy, closed form, with intercept) of the next bar's log return."""

    def __init__(self, alpha: float = 1.0) -> None:
        if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"RidgeSignal alpha={alpha!r} must be a finite number >= 0")
        self.alpha = float(alpha)
        self.coef_: np.ndarray | None = None
        self.intercept_ = 0.0

    def fit(self, features: np.ndarray, target: np.ndarray) -> RidgeSignal:
        """Fit coefficients on standardised features; target in log-return units."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        x_mean, y_mean = x.mean(axis=0), float(y.mean())
        centred = x - x_mean
        gram = centred.T @ centred + self.alpha * np.eye(x.shape[1])
        self.coef_ = np.linalg.lstsq(gram, centred.T @ (y - y_mean), rcond=None)[0]
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return the predicted next-bar log return for each row."""
        if self.coef_ is None:
            raise RuntimeError("RidgeSignal.predict called before fit")
        return np.asarray(features, dtype=np.float64) @ self.coef_ + self.intercept_


def _derived_name(params: dict) -> str:
    """A readable, deterministic name from the params (hash suffix for list values)."""
    parts = []
    if params["class"] != DEFAULT_MODEL_CLASS:
        parts.append(params["class"].rsplit(":", 1)[-1])
    for key in sorted(params):
        value = params[key]
        if key == "class":
            continue
        if isinstance(value, list | dict):
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
            value = hashlib.sha256(text.encode()).hexdigest()[:8]
        parts.append(f"{key}={value}")
    return ",".join(parts)


def parse_variants(raw_variants: list[dict], model_class: str | None) -> list[ModelVariant]:
    """Return ModelVariants with full params (class, threshold_bps in bps, constructor kwargs)."""
    default_class = model_class or DEFAULT_MODEL_CLASS
    variants: list[ModelVariant] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(raw_variants):
        if not isinstance(raw, dict):
            raise ValueError(f"variant #{position} is {raw!r}; each variant must be a mapping")
        params = dict(raw)
        name = params.pop("name", None)
        params.setdefault("class", default_class)
        params.setdefault("threshold_bps", 0.0)
        if params["class"] == DEFAULT_MODEL_CLASS:
            params.setdefault("alpha", 1.0)
        threshold = params["threshold_bps"]
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not (math.isfinite(threshold))
        ):
            raise ValueError(f"variant #{position} threshold_bps={threshold!r} must be a number")
        columns = params.get("features")
        if columns is not None and (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(column, str) for column in columns)
        ):
            raise ValueError(f"variant #{position} features={columns!r} must be a list of names")
        name = str(name) if name is not None else _derived_name(params)
        if name in seen:
            raise ValueError(
                f"variants #{seen[name]} and #{position} are both named {name!r}; "
                "give each a unique name"
            )
        seen[name] = position
        variants.append(ModelVariant(name=name, params=params))
    return variants


def allowed_plugin_modules() -> tuple[str, ...] | None:
    """Return the module names $ECON_OBS_PLUGIN_MODULES allows, or None when it is unset."""
    configured = os.environ.get(PLUGIN_MODULES_ENV_VAR, "")
    names = tuple(name.strip() for name in configured.split(",") if name.strip())
    return names or None


def _check_plugin_allowed(import_path: str, module_name: str) -> None:
    allowed = allowed_plugin_modules()
    if allowed is None or module_name == DEFAULT_MODEL_CLASS.partition(":")[0]:
        return
    if any(module_name == name or module_name.startswith(f"{name}.") for name in allowed):
        return
    raise ValueError(
        f"model class {import_path!r}: module {module_name!r} is not in"
        f" {PLUGIN_MODULES_ENV_VAR}={','.join(allowed)}; add it there if you trust its code"
    )


def load_model_class(import_path: str) -> type:
    """Return the class named by "package.module:Class"; it must have fit and predict.

    Importing runs the module's code as the current user (like a Dagster code location), so
    a module outside $ECON_OBS_PLUGIN_MODULES, when that is set, is refused before import.
    """
    module_name, _, class_name = str(import_path).partition(":")
    if not module_name or not class_name:
        raise ValueError(f"model class {import_path!r} must look like 'package.module:Class'")
    _check_plugin_allowed(import_path, module_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"model class {import_path!r}: cannot import {module_name!r} ({exc})"
        ) from exc
    model_class = getattr(module, class_name, None)
    if not isinstance(model_class, type):
        raise ValueError(
            f"model class {import_path!r}: module {module_name!r} has no class {class_name!r}"
        )
    missing = [m for m in ("fit", "predict") if not callable(getattr(model_class, m, None))]
    if missing:
        raise ValueError(
            f"model class {import_path!r} lacks {' and '.join(missing)}; "
            "give it fit(X, y) and predict(X)"
        )
    return model_class


def new_model(params: dict) -> object:
    """Return an unfitted model built from a variant's params (its non-pipeline keys)."""
    kwargs = {key: value for key, value in params.items() if key not in PIPELINE_KEYS}
    return load_model_class(params.get("class", DEFAULT_MODEL_CLASS))(**kwargs)


def model_positions(
    variant: ModelVariant,
    features: pd.DataFrame,
    close: pd.Series,
    train_slice: slice,
    test_slice: slice,
) -> np.ndarray:
    """Return int8 positions (0 flat, 1 long) for each bar of the test window.

    Training rows are train-window bars with all features present whose label
    log(close[t+1] / close[t]) stays inside the train window (the last train bar is dropped), so
    training never sees the test window even with purge_bars=0. Features are standardised with
    train mean/std only. A test bar with a missing feature is flat.
    """
    columns = variant.params.get("features") or list(features.columns)
    absent = [column for column in columns if column not in features.columns]
    if absent:
        raise ValueError(f"variant {variant.name!r}: feature column(s) {absent} not in the frame")
    values = features.loc[:, columns].to_numpy(dtype=np.float64)
    log_close = np.log(np.asarray(close, dtype=np.float64))
    train_start, train_stop, _ = train_slice.indices(len(values))
    label_rows = np.arange(train_start, train_stop - 1)
    label = log_close[label_rows + 1] - log_close[label_rows]
    x_train = values[label_rows]
    usable = np.isfinite(x_train).all(axis=1) & np.isfinite(label)
    if usable.sum() < 2:
        raise ValueError(
            f"variant {variant.name!r}: train window {train_start}:{train_stop} has "
            f"{int(usable.sum())} rows with all features; increase train_bars "
            "(features need history)"
        )
    x_train, label = x_train[usable], label[usable]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    model = new_model(variant.params)
    model.fit((x_train - mean) / std, label)
    x_test = values[test_slice]
    ready = np.isfinite(x_test).all(axis=1)
    positions = np.zeros(len(x_test), dtype=np.int8)
    if ready.any():
        predicted = np.asarray(model.predict((x_test[ready] - mean) / std), dtype=np.float64)
        threshold = float(variant.params.get("threshold_bps", 0.0)) / 1e4
        positions[ready] = (predicted.reshape(-1) > threshold).astype(np.int8)
    return positions
