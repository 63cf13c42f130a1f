"""The sweep config: load the YAML that defines a sweep, validate every key, explain errors.

A sweep is cryptos x walk-forward folds x trading costs x model variants. Every problem is one
line: the config file, the key path (``folds.test_bars``), the bad value and what would fix it.
Market data is never loaded here; we only check that each crypto's file can be found.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from econ_obs.core.baselines import RandomBaselineParams
from econ_obs.core.data_sanity import DEFAULT_MAX_ABS_LOG_RETURN, utc_timestamp
from econ_obs.core.features import factor_names, factor_needs_btc
from econ_obs.core.folds import DEFAULT_MAX_GAP_BARS, FoldConfig
from econ_obs.core.gaps import parse_timeframe
from econ_obs.core.market_data import DATA_FORMATS, MarketDataError, find_crypto_file
from econ_obs.core.matched_null import MatchedNullParams
from econ_obs.core.models import ModelVariant, load_model_class, new_model, parse_variants
from econ_obs.core.sample_data import SAMPLE_CRYPTOS
from econ_obs.sweeps.yaml_reader import (
    ConfigError,
    Section,
    fail,
    read_yaml_mapping,
)

__all__ = [
    "DEFAULT_SWEEP_PATH",
    "SWEEP_ENV_VAR",
    "ConfigError",
    "DataSpec",
    "SweepConfig",
    "load_sweep_config",
    "parse_sweep_config",
    "resolve_sweep_path",
]

DEFAULT_SWEEP_PATH = Path(__file__).resolve().parent / "sweeps" / "default.yaml"
SWEEP_ENV_VAR = "ECON_OBS_SWEEP"
DEFAULT_TIMEFRAME = "1h"
DEFAULT_FACTOR = "returns"
DEFAULT_SCHEDULE_CRON = "0 2 * * *"  # nightly, 02:00 UTC
OVERLAY_CRYPTO = "BTCUSDT"  # second asset of every factor where factor_needs_btc() is true
SAMPLE_FORMAT = "sample"

_TOP_KEYS = (
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
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_CRYPTO = re.compile(r"[A-Z0-9]+")
_TIMEFRAME = re.compile(r"[A-Za-z0-9]+")  # it ends up in file names
_MODEL_CLASS = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_VARIANT_EXAMPLE = "{name: ridge_a1_t5, alpha: 1.0, threshold_bps: 5}"
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")


@dataclass(frozen=True)
class DataSpec:
    data_format: str  # one of DATA_FORMATS
    path: Path | None  # absolute folder of the data files; None for the sample data
    timeframe: str  # bar length, e.g. "1h"; the files' modal bar interval must equal it
    max_gap_bars: int = DEFAULT_MAX_GAP_BARS  # largest gap allowed in a test window, in bars
    max_abs_log_return: float | None = DEFAULT_MAX_ABS_LOG_RETURN  # per bar; None: no bound
    as_of: pd.Timestamp | None = None  # UTC; bars not closed by then are dropped at load


@dataclass(frozen=True)
class SweepConfig:
    run_id: str
    strategy: str
    data: DataSpec
    cryptos: tuple[str, ...]
    folds: FoldConfig
    costs_bps: tuple[int, ...]  # per-side fee in whole basis points (the DB column is INT)
    # per-side slippage in basis points, one or more; required, never defaulted. A cost basis
    # is (cost_bps, slippage_bps): the sweep runs every pair of costs_bps x slippage_bps.
    slippage_bps: tuple[float, ...]
    factor: str
    factor_params: dict
    variants: tuple[ModelVariant, ...]
    random_baseline: RandomBaselineParams
    matched_null: MatchedNullParams
    schedule_cron: str
    source_path: Path  # the YAML file this came from

    @property
    def needs_btc(self) -> bool:
        return factor_needs_btc(self.factor)

    @property
    def data_cryptos(self) -> tuple[str, ...]:
        """Cryptos whose data must be loaded: the swept ones plus the BTC overlay if needed."""
        if self.needs_btc and OVERLAY_CRYPTO not in self.cryptos:
            return (*self.cryptos, OVERLAY_CRYPTO)
        return self.cryptos


def _parse_data(top: Section) -> DataSpec:
    data = top.section("data", _DATA_KEYS)
    data_format = data.text("format", SAMPLE_FORMAT)
    if data_format not in DATA_FORMATS:
        data.fail("format", f"unknown data format {data_format!r}; use one of {DATA_FORMATS}")
    timeframe = data.matching("timeframe", _TIMEFRAME, DEFAULT_TIMEFRAME, DEFAULT_TIMEFRAME)
    try:
        parse_timeframe(timeframe)
    except ValueError as error:
        data.fail("timeframe", str(error))
    policy = _parse_data_policy(data)
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


def _parse_data_policy(data: Section) -> dict[str, Any]:
    """The data section's gap limit, move bound and as-of cut, checked; defaults if absent."""
    max_gap_bars = data.integer("max_gap_bars", "24", DEFAULT_MAX_GAP_BARS)
    if max_gap_bars < 0:
        data.fail("max_gap_bars", f"{max_gap_bars!r} is negative; write 0 or more, e.g. 24")
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


def _parse_cryptos(top: Section) -> tuple[str, ...]:
    def check_symbol(key_path: str, crypto: Any) -> None:
        if not isinstance(crypto, str) or not _CRYPTO.fullmatch(crypto):
            top.fail(key_path, f"{crypto!r} is not an upper-case symbol like BTCUSDT")

    return top.unique_list("cryptos", "[BTCUSDT, ETHUSDT]", check_symbol)


def _check_cryptos_available(top: Section, config: SweepConfig) -> None:
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


def _parse_costs(top: Section) -> tuple[int, ...]:
    def check_cost(key_path: str, cost: Any) -> None:
        if isinstance(cost, bool) or not isinstance(cost, int):
            top.fail(key_path, f"{cost!r} is not whole basis points (stored as INT); write e.g. 10")
        if cost < 0:
            top.fail(key_path, f"{cost!r} is negative; a per-side fee is 0 bps or more")
        # 10000 bps is 100% per side; far below the INT column's 2147483647.
        if cost > 10_000:
            top.fail(key_path, f"{cost!r} bps is over 10000 (100% per side); write e.g. 10")

    return top.unique_list("costs_bps", "[10, 15, 30]  # per-side fee, bps", check_cost)


def _parse_slippage(top: Section) -> tuple[float, ...]:
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


def _parse_folds(top: Section) -> FoldConfig:
    folds = top.section("folds", _FOLD_KEYS)
    values = {name: folds.integer(name, "24") for name in _FOLD_KEYS}
    max_folds = 1000  # one partition per fold x crypto x cost; more would hang the UI and runs
    if values["n_folds"] > max_folds:
        folds.fail("n_folds", f"{values['n_folds']} is over {max_folds} folds; write e.g. 5")
    try:
        return FoldConfig(**values)
    except ValueError as error:
        folds.fail_from(error, _FOLD_KEYS)


def _parse_variants(top: Section) -> tuple[ModelVariant, ...]:
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


def _parse_random_baseline(top: Section) -> RandomBaselineParams:
    random = top.section("baselines", _BASELINE_KEYS, required=False).section(
        "random", _RANDOM_KEYS, required=False
    )
    values: dict[str, Any] = {
        name: random.integer(name, "100") for name in ("n_seeds", "hold_bars") if name in random.raw
    }
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


def _parse_matched_null(top: Section) -> MatchedNullParams:
    matched = top.section("baselines", _BASELINE_KEYS, required=False).section(
        "matched", _MATCHED_KEYS, required=False
    )
    if "n_perms" not in matched.raw:
        return MatchedNullParams()
    try:
        return MatchedNullParams(n_perms=matched.integer("n_perms", "1000"))
    except ValueError as error:
        matched.fail_from(error, _MATCHED_KEYS)


def _parse_cron(top: Section) -> str:
    schedule = top.section("schedule", ("cron",), required=False)
    cron = schedule.text("cron", repr(DEFAULT_SCHEDULE_CRON), DEFAULT_SCHEDULE_CRON)
    fields = cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        schedule.fail(
            "cron",
            f"{cron!r} is not a 5-field cron (minute hour day month weekday);"
            f" write e.g. {DEFAULT_SCHEDULE_CRON!r}",
        )
    # (field, lowest, highest, names for low, low+1, ...); weekday 7 is Sunday again.
    field_ranges = (
        ("minute", 0, 59, ""),
        ("hour", 0, 23, ""),
        ("day", 1, 31, ""),
        ("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
        ("weekday", 0, 7, "sun mon tue wed thu fri sat"),
    )

    def part_ok(part: str, low: int, high: int, names: list[str]) -> bool:
        """Whether one comma-separated part is *, ?, a value, a-b, or either with /step."""
        span, has_step, step = part.partition("/")
        if has_step and not (step.isdigit() and 1 <= int(step) <= high):
            return False
        if span in ("*", "?"):
            return True
        ends = [str(low + names.index(end)) if end in names else end for end in span.split("-")]
        if len(ends) > 2 or not all(end.isdigit() and low <= int(end) <= high for end in ends):
            return False
        return int(ends[0]) <= int(ends[-1])

    for (field_name, low, high, names), field in zip(field_ranges, fields, strict=True):
        if not all(part_ok(part, low, high, names.split()) for part in field.lower().split(",")):
            schedule.fail(
                "cron",
                f"{cron!r}: the {field_name} field {field!r} is not *, a number {low}-{high},"
                f" a range a-b, a step */n or a list of those; write e.g."
                f" {DEFAULT_SCHEDULE_CRON!r}",
            )
    return cron


def parse_sweep_config(raw: dict, source_path: Path) -> SweepConfig:
    """Validate a parsed YAML mapping; relative data paths resolve against source_path's folder."""
    top = Section(source_path, "", raw, _TOP_KEYS)
    factor = top.text("factor", DEFAULT_FACTOR, DEFAULT_FACTOR)
    if factor not in factor_names():
        top.fail("factor", f"unknown factor {factor!r}; use one of {factor_names()}")
    factor_params = top.get("factor_params", "{window_bars: 24}", {})
    if not isinstance(factor_params, dict):
        top.fail("factor_params", f"{factor_params!r} is not a mapping; write e.g. {{window: 24}}")
    config = SweepConfig(
        run_id=top.matching("run_id", _RUN_ID, "nightly_v1"),
        strategy=top.text("strategy", "ridge_next_bar"),
        data=_parse_data(top),
        cryptos=_parse_cryptos(top),
        folds=_parse_folds(top),
        costs_bps=_parse_costs(top),
        slippage_bps=_parse_slippage(top),
        factor=factor,
        factor_params=dict(factor_params),
        variants=_parse_variants(top),
        random_baseline=_parse_random_baseline(top),
        matched_null=_parse_matched_null(top),
        schedule_cron=_parse_cron(top),
        source_path=source_path,
    )
    _check_cryptos_available(top, config)
    return config


def resolve_sweep_path(path: str | Path | None = None) -> Path:
    """Pick the sweep file: explicit path, else $ECON_OBS_SWEEP, else the shipped default."""
    if path is not None:
        chosen, fix = Path(path), "pass the path of an existing YAML file"
    elif os.environ.get(SWEEP_ENV_VAR):
        chosen = Path(os.environ[SWEEP_ENV_VAR])
        fix = f"set ${SWEEP_ENV_VAR} to an existing YAML file, or unset it for the default"
    else:
        chosen, fix = DEFAULT_SWEEP_PATH, "reinstall econ_obs; the shipped default is missing"
    chosen = chosen.expanduser().resolve()
    if not chosen.is_file():
        fail(chosen, "", f"sweep config file not found; {fix}")
    return chosen


def load_sweep_config(path: str | Path | None = None) -> SweepConfig:
    """Read and validate a sweep file; see resolve_sweep_path for which file is read."""
    source_path = resolve_sweep_path(path)
    return parse_sweep_config(read_yaml_mapping(source_path), source_path)
