"""One parser per section of a sweep file; each failure is one line naming the key path."""

from __future__ import annotations

import math
import re
from typing import Any

from econ_obs.config.model import (
    DEFAULT_TIMEFRAME,
    MAX_BARS,
    SAMPLE_FORMAT,
    DataSpec,
    SweepConfig,
)
from econ_obs.config.yaml_reader import Section
from econ_obs.core.baselines import RandomBaselineParams
from econ_obs.core.data_sanity import DEFAULT_MAX_ABS_LOG_RETURN, utc_timestamp
from econ_obs.core.folds import DEFAULT_MAX_GAP_BARS, FOLD_ANCHORS, FoldConfig
from econ_obs.core.gaps import parse_timeframe
from econ_obs.core.market_data import DATA_FORMATS, MarketDataError, find_crypto_file
from econ_obs.core.matched_null import MatchedNullParams
from econ_obs.core.models import ModelVariant, load_model_class, new_model, parse_variants
from econ_obs.core.sample_data import SAMPLE_CRYPTOS

TOP_KEYS = (
    "run_id",
    "strategy",
    "data",
    "cryptos",
    "folds",
    "costs_bps",
    "slippage_bps",
    "factor",
    "factor_params",
    "model",
    "baselines",
    "schedule",
)
_DATA_KEYS = ("format", "path", "timeframe", "max_gap_bars", "max_abs_log_return", "as_of")
_FOLD_KEYS = ("n_folds", "train_bars", "test_bars", "purge_bars")
_MODEL_KEYS = ("class", "variants")
_BASELINE_KEYS = ("random", "matched")
_RANDOM_KEYS = ("n_seeds", "hold_bars", "entry_prob")
_MATCHED_KEYS = ("n_perms",)
RUN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_CRYPTO = re.compile(r"[A-Z0-9]+")
_TIMEFRAME = re.compile(r"[A-Za-z0-9]+")  # it ends up in file names
_MODEL_CLASS = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_VARIANT_EXAMPLE = "{name: ridge_a1_t5, alpha: 1.0, threshold_bps: 5}"
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")


def parse_data(top: Section) -> DataSpec:
    data = top.section("data", _DATA_KEYS)
    data_format = data.text("format", SAMPLE_FORMAT)
    if data_format not in DATA_FORMATS:
        data.fail("format", f"unknown data format {data_format!r}; use one of {DATA_FORMATS}")
    timeframe = data.matching("timeframe", _TIMEFRAME, DEFAULT_TIMEFRAME, DEFAULT_TIMEFRAME)
    try:
        parse_timeframe(timeframe)
    except ValueError as error:
        data.fail("timeframe", str(error))
    policy = parse_data_policy(data)
    if data_format == SAMPLE_FORMAT:
        if "path" in data.raw:
            data.fail(
                "path",
                f"{data.raw['path']!r} is ignored by format 'sample'; remove"
                " the path or set format to one of the file formats",
            )
        return DataSpec(data_format, None, timeframe, **policy)
    folder = data.expanded_path("path", "${ECON_OBS_DATA_DIR}")
    if not folder.is_absolute():  # relative to the YAML file, not to wherever we were run from
        folder = data.source_path.resolve().parent / folder
    folder = folder.resolve()
    if not folder.is_dir():
        data.fail(
            "path",
            f"{data.raw['path']!r} resolves to {folder}, which is not a folder;"
            " point it at the folder holding the data files",
        )
    return DataSpec(data_format, folder, timeframe, **policy)


def parse_data_policy(data: Section) -> dict[str, Any]:
    """The data section's gap limit, move bound and as-of cut, checked; defaults if absent."""
    max_gap_bars = data.integer("max_gap_bars", "24", DEFAULT_MAX_GAP_BARS)
    if max_gap_bars < 0:
        data.fail("max_gap_bars", f"{max_gap_bars!r} is negative; write 0 or more, e.g. 24")
    if max_gap_bars > MAX_BARS:
        data.fail("max_gap_bars", f"{max_gap_bars} bars is over {MAX_BARS}; write e.g. 24")
    bound = data.raw.get("max_abs_log_return", DEFAULT_MAX_ABS_LOG_RETURN)
    if bound is not None and (
        isinstance(bound, bool)
        or not isinstance(bound, int | float)
        or not math.isfinite(bound)
        or bound <= 0
    ):
        data.fail(
            "max_abs_log_return",
            f"{bound!r} is not a positive number; write e.g. 1.0, or null for no bound",
        )
    as_of = data.raw.get("as_of")
    if as_of is not None:
        try:
            as_of = utc_timestamp(as_of)
        except ValueError as error:
            data.fail("as_of", f"{error}; write e.g. '2024-04-18T04:00:00Z'")
    return {
        "max_gap_bars": max_gap_bars,
        "max_abs_log_return": None if bound is None else float(bound),
        "as_of": as_of,
    }


def parse_cryptos(top: Section) -> tuple[str, ...]:
    def check_symbol(key_path: str, crypto: Any) -> None:
        if not isinstance(crypto, str) or not _CRYPTO.fullmatch(crypto):
            top.fail(key_path, f"{crypto!r} is not an upper-case symbol like BTCUSDT")

    return top.unique_list("cryptos", "[BTCUSDT, ETHUSDT]", check_symbol)


def check_cryptos_available(top: Section, config: SweepConfig) -> None:
    data = config.data
    for crypto in config.data_cryptos:
        if crypto in config.cryptos:
            key_path, why = f"cryptos[{config.cryptos.index(crypto)}]", ""
        else:
            key_path, why = "factor", f"factor {config.factor!r} needs {crypto}, but "
        if data.path is None:
            if crypto not in SAMPLE_CRYPTOS:
                top.fail(
                    key_path,
                    f"{why}{crypto!r} is not in the sample data; use one of"
                    f" {SAMPLE_CRYPTOS} or switch data.format to a file format",
                )
            continue
        try:
            find_crypto_file(data.path, crypto, data.timeframe, data.data_format)
        except MarketDataError as error:
            top.fail(
                key_path,
                f"{why}{crypto!r} has no {data.timeframe} {data.data_format}"
                f" file in {data.path} ({error}); add the file or remove the crypto",
            )


def parse_costs(top: Section) -> tuple[int, ...]:
    def check_cost(key_path: str, cost: Any) -> None:
        if isinstance(cost, bool) or not isinstance(cost, int):
            top.fail(key_path, f"{cost!r} is not whole basis points (stored as INT); write e.g. 10")
        if cost < 0:
            top.fail(key_path, f"{cost!r} is negative; a per-side fee is 0 bps or more")
        # 10000 bps is 100% per side; far below the INT column's 2147483647.
        if cost > 10_000:
            top.fail(key_path, f"{cost!r} bps is over 10000 (100% per side); write e.g. 10")

    return top.unique_list("costs_bps", "[10, 15, 30]  # per-side fee, bps", check_cost)


def parse_slippage(top: Section) -> tuple[float, ...]:
    """slippage_bps: one number or a list of unique numbers, each finite, >= 0 and <= 10000."""
    example = "2  # per-side bps; 0 is allowed, or a list: [0, 2.5]"
    if not isinstance(top.get("slippage_bps", example), list):
        values = (top.non_negative_number("slippage_bps", example),)
    else:

        def check_slippage(key_path: str, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                top.fail(key_path, f"{value!r} is not a number; write e.g. 2 or 2.5")
            if not math.isfinite(value) or value < 0:
                top.fail(key_path, f"{value!r} must be a finite number >= 0; write e.g. 2")

        values = tuple(float(v) for v in top.unique_list("slippage_bps", "[0, 2]", check_slippage))
    for index, value in enumerate(values):
        if value > 10_000:  # 100% per side, like costs_bps
            key_path = "slippage_bps" if len(values) == 1 else f"slippage_bps[{index}]"
            top.fail(key_path, f"{value!r} bps is over 10000 (100% per side); write e.g. 2")
    return values


def parse_folds(top: Section) -> FoldConfig:
    folds = top.section("folds", (*_FOLD_KEYS, "anchor"))
    values: dict = {name: folds.integer(name, "24") for name in _FOLD_KEYS}
    anchor = folds.text("anchor", "start", "end")
    if anchor not in FOLD_ANCHORS:
        folds.fail("anchor", f"{anchor!r} is not one of {list(FOLD_ANCHORS)}; write e.g. start")
    values["anchor"] = anchor
    max_folds = 1000  # one partition per fold x crypto x cost; more would hang the UI and runs
    if values["n_folds"] > max_folds:
        folds.fail("n_folds", f"{values['n_folds']} is over {max_folds} folds; write e.g. 5")
    for name in ("train_bars", "test_bars", "purge_bars"):
        if values[name] > MAX_BARS:
            folds.fail(name, f"{values[name]} bars is over {MAX_BARS}; write e.g. 24")
    try:
        return FoldConfig(**values)
    except ValueError as error:
        folds.fail_from(error, _FOLD_KEYS)


def parse_model(top: Section) -> tuple[ModelVariant, ...]:
    model = top.section("model", _MODEL_KEYS)
    model_class = None
    if "class" in model.raw:
        model_class = model.matching("class", _MODEL_CLASS, "my_pkg.models:MyModel")
        try:
            load_model_class(model_class)
        except ValueError as error:
            model.fail("class", str(error))

    def check_variant(key_path: str, variant: Any) -> None:
        if not isinstance(variant, dict):
            model.fail(key_path, f"{variant!r} is not a mapping; write e.g. {_VARIANT_EXAMPLE}")

    variants = model.unique_list("variants", f"[{_VARIANT_EXAMPLE}]", check_variant)
    max_variants = 1000  # each is a model fit per partition
    if len(variants) > max_variants:
        model.fail("variants", f"{len(variants)} variants is over {max_variants}; split the sweep")
    try:
        parsed = tuple(parse_variants(list(variants), model_class))
    except ValueError as error:
        model.fail("variants", f"{error}; fix the variants list")
    # Build each model now, so a bad class or parameter stops the sweep before any row is written.
    for index, variant in enumerate(parsed):
        try:
            new_model(variant.params)
        except Exception as error:  # a plug-in constructor may raise anything
            model.fail(f"variants[{index}]", f"{type(error).__name__}: {error}; fix the variant")
    return parsed


def parse_random_baseline(top: Section) -> RandomBaselineParams:
    random = top.section("baselines", _BASELINE_KEYS, required=False).section(
        "random", _RANDOM_KEYS, required=False
    )
    values: dict[str, Any] = {
        name: random.integer(name, "100") for name in ("n_seeds", "hold_bars") if name in random.raw
    }
    if values.get("hold_bars", 0) > MAX_BARS:
        random.fail("hold_bars", f"{values['hold_bars']} bars is over {MAX_BARS}; write e.g. 24")
    entry_prob = random.raw.get("entry_prob")
    if isinstance(entry_prob, bool) or not isinstance(entry_prob, int | float | None):
        random.fail("entry_prob", f"{entry_prob!r} is not a probability; write e.g. 0.05 or null")
    if entry_prob is not None:
        values["entry_prob"] = float(entry_prob)
    max_seeds = 100_000  # each seed is a full path through every test window
    if values.get("n_seeds", 0) > max_seeds:
        random.fail("n_seeds", f"{values['n_seeds']} is over {max_seeds} seeds; write e.g. 100")
    try:
        return RandomBaselineParams(**values)
    except ValueError as error:
        random.fail_from(error, _RANDOM_KEYS)


def parse_matched_null(top: Section) -> MatchedNullParams:
    matched = top.section("baselines", _BASELINE_KEYS, required=False).section(
        "matched", _MATCHED_KEYS, required=False
    )
    if "n_perms" not in matched.raw:
        return MatchedNullParams()
    n_perms = matched.integer("n_perms", "1000")  # its own error names the key; not re-wrapped
    try:
        return MatchedNullParams(n_perms=n_perms)
    except ValueError as error:
        matched.fail_from(error, _MATCHED_KEYS)
