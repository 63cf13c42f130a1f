"""The factor section: its name, its params within bounds, and each variant's feature columns.

Checked at load against the factor registry (econ_obs.core.features), so a bad param or a
column the factor does not build stops the sweep before any row is written.
"""

from __future__ import annotations

from econ_obs.config.model import DEFAULT_FACTOR, MAX_BARS, MAX_FEATURE_COLUMNS
from econ_obs.config.yaml_reader import Section, cut, excerpt
from econ_obs.core.features import factor_columns, factor_names, resolve_factor_params
from econ_obs.core.models import ModelVariant

_BAR_LISTS = ("volatility_windows", "momentum_horizons")  # each entry is a window, in bars


def parse_factor(top: Section) -> tuple[str, dict]:
    """Return (factor name, factor_params as written); the params are checked, not resolved,
    so the stored sweep and its feature_hash keep what the user wrote."""
    factor = top.text("factor", DEFAULT_FACTOR, DEFAULT_FACTOR)
    if factor not in factor_names():
        top.fail("factor", f"unknown factor {factor!r}; use one of {factor_names()}")
    raw = top.get("factor_params", "{lags: 5}", {})
    if not isinstance(raw, dict):
        top.fail("factor_params", f"{excerpt(raw)} is not a mapping; write e.g. {{lags: 5}}")
    known = tuple(resolve_factor_params(factor, None))
    params = Section(top.source_path, top.path("factor_params"), raw, known)
    try:
        resolved = resolve_factor_params(factor, raw)
    except ValueError as error:
        params.fail_from(error, known)
    if resolved["lags"] > MAX_FEATURE_COLUMNS:  # one column per lag
        params.fail("lags", f"{resolved['lags']} lags is over {MAX_FEATURE_COLUMNS}; write e.g. 5")
    for key in _BAR_LISTS:
        for index, bars in enumerate(resolved[key]):
            if bars > MAX_BARS:
                params.fail(f"{key}[{index}]", f"{bars} bars is over {MAX_BARS}; write e.g. 24")
    n_columns = len(factor_columns(factor, raw))
    if n_columns > MAX_FEATURE_COLUMNS:
        top.fail(
            "factor_params",
            f"factor {factor!r} would build {n_columns} feature columns, over"
            f" {MAX_FEATURE_COLUMNS}; use fewer lags, windows or horizons",
        )
    return factor, dict(raw)


def check_variant_features(
    top: Section, variants: tuple[ModelVariant, ...], factor: str, params: dict
) -> None:
    """Fail at model.variants[i].features[j] on a column the factor does not build."""
    columns = factor_columns(factor, params)
    for index, variant in enumerate(variants):
        for position, column in enumerate(variant.params.get("features") or ()):
            if column not in columns:
                top.fail(
                    f"model.variants[{index}].features[{position}]",
                    f"variant {variant.name!r} names column {excerpt(column)}, which factor"
                    f" {factor!r} does not build; use one of {cut(', '.join(columns))}",
                )
