"""Each step's peak memory and pod profile, recorded; the memory_headroom check that reads them.

An asset body runs inside `measured_step`: its peak resident memory (econ_obs.sizing) and the
series it held are written to step_memory and to the materialisation's metadata, with the
profile chosen for it from the earlier measurements of the same (factor, asset). The profiles
are DEFAULT_PROFILES unless $ECON_OBS_MEMORY_PROFILES holds others, read when the step runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import yaml
from sqlalchemy.engine import Connection

from econ_obs.config import SweepConfig
from econ_obs.defs.metadata import step_memory_metadata, step_memory_table
from econ_obs.defs.resources import PostgresResource
from econ_obs.sizing import (
    DEFAULT_PROFILES,
    DEFAULT_WARN_RATIO,
    MEMORY_HEADROOM_CHECK,
    PodProfile,
    SizingError,
    bytes_per_bar_estimate,
    choose_profile,
    headroom_message,
    headroom_state,
    measure_peak_memory,
    parse_profiles,
)
from econ_obs.store.step_memory import (
    StepMemoryRow,
    insert_step_memory,
    latest_step_memory,
    step_observations,
)

PROFILES_ENV_VAR = "ECON_OBS_MEMORY_PROFILES"


def profiles_from_env() -> tuple[PodProfile, ...]:
    """Return the pod profiles: $ECON_OBS_MEMORY_PROFILES as YAML ({standard: 8GiB, ...}),
    or DEFAULT_PROFILES when it is unset or empty."""
    raw = os.environ.get(PROFILES_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_PROFILES
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise SizingError(
            f"{PROFILES_ENV_VAR}: {raw!r} is not YAML ({error.__class__.__name__});"
            " write e.g. '{standard: 8GiB, medium: 16GiB}'"
        ) from None
    return parse_profiles(parsed, PROFILES_ENV_VAR)


class StepInput:
    """The series a step held: `hold` each one, `release` it once dropped; bars is the longest,
    assets the most held at once (a step that cuts one crypto's slices after another holds
    one series, however many cryptos it goes through, so its bytes per bar are not divided
    by the number of cryptos and a later run over fewer cryptos is not undersized)."""

    def __init__(self) -> None:
        self._bars: dict[str, int] = {}
        self._held: set[str] = set()
        self._most_held = 0

    def hold(self, series: str, bars: int) -> None:
        self._bars[series] = max(int(bars), self._bars.get(series, 0))
        self._held.add(series)
        self._most_held = max(self._most_held, len(self._held))

    def release(self, series: str) -> None:
        self._held.discard(series)

    @property
    def bars(self) -> int:
        return max(self._bars.values(), default=0)

    @property
    def assets(self) -> int:
        return self._most_held


def _profile_for(
    observations: Sequence, bars: int, assets: int, fixed_bytes: int, profiles: Sequence
) -> tuple[PodProfile, float, str | None]:
    """Return the profile, the bytes per bar it was chosen from, and why it is the largest
    when no profile holds the step (the step has run: it is recorded, and the check warns)."""
    per_bar = bytes_per_bar_estimate(observations)
    try:
        profile = choose_profile(per_bar, bars, assets, profiles=profiles, fixed_bytes=fixed_bytes)
    except SizingError as error:
        largest = max(profiles, key=lambda p: p.memory_bytes)
        return largest, per_bar, str(error)
    return profile, per_bar, None


def next_step_profiles(
    connection: Connection, config: SweepConfig, assets: Sequence[str]
) -> dict[str, PodProfile]:
    """Return the profile the next step of each of `assets` that has run in this sweep needs:
    the factor's measured bytes per bar (its recent runs, the latest included) x the bars and
    series its latest step held, with headroom; the largest when none holds it."""
    profiles = profiles_from_env()
    chosen = {}
    for row in latest_step_memory(connection, config.run_id, config.strategy, assets):
        observations = step_observations(connection, config.factor, row.asset)
        chosen[row.asset], _, _ = _profile_for(
            observations, row.input_bars, row.input_assets, row.baseline_rss_bytes or 0, profiles
        )
    return chosen


@contextmanager
def measured_step(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    config: SweepConfig,
    asset: str,
) -> Iterator[StepInput]:
    """Measure the block's peak memory; when it succeeds, record it with the series the block
    `hold`s, in step_memory and on every partition of the step's materialisation."""
    held = StepInput()
    profiles = profiles_from_env()  # read at run start: a bad value fails before the work
    with measure_peak_memory() as meter:
        yield held
    peak = meter.result
    if peak is None or held.assets == 0:
        return
    with postgres.get_connection() as connection:
        observations = step_observations(connection, config.factor, asset)
        profile, per_bar, note = _profile_for(
            observations, held.bars, held.assets, peak.baseline_rss_bytes or 0, profiles
        )
        row = StepMemoryRow(
            run_id=config.run_id,
            strategy=config.strategy,
            asset=asset,
            factor=config.factor,
            dagster_run_id=context.run.run_id,
            peak_bytes=peak.peak_bytes,
            baseline_rss_bytes=peak.baseline_rss_bytes,
            lifetime_peak=peak.lifetime_peak,
            input_bars=held.bars,
            input_assets=held.assets,
            profile=profile.name,
            limit_bytes=profile.memory_bytes,
        )
        insert_step_memory(connection, row)
    # No partition key: Dagster puts it on every partition the step materialises.
    context.add_asset_metadata(step_memory_metadata(row, peak, per_bar, note))


HEADROOM_EVENT = "memory_headroom"  # the alert a WARN failure of memory_headroom raises
HEADROOM_OFFENDING = "offending_keys"  # the same metadata name as the blocking checks'


def headroom_result(
    rows: Sequence[StepMemoryRow], run_id: str, strategy: str, threshold: float
) -> dg.AssetCheckResult:
    """Return memory_headroom's result: failed (WARN) when a step's peak reached `threshold`
    of its profile's limit; the description names each such factor, peak and limit."""
    states = [(row, headroom_state(row.peak_bytes, row.limit_bytes, threshold)) for row in rows]
    over = [(row, state) for row, state in states if not state.passed]
    shown = over or states
    lines = [f"{row.asset}: {headroom_message(row.factor, s, row.profile)}" for row, s in shown]
    if not rows:
        lines = [f"{MEMORY_HEADROOM_CHECK}: no step of this sweep has been measured yet"]
    # A failure names its event and its steps, as a blocking check names its keys, so the
    # alert sensor writes one alert per step even though the run itself succeeded.
    failure = {
        "event": HEADROOM_EVENT,
        HEADROOM_OFFENDING: dg.MetadataValue.json(
            [
                {
                    "asset": row.asset,
                    "factor": row.factor,
                    "peak_bytes": row.peak_bytes,
                    "limit_bytes": row.limit_bytes,
                    "profile": row.profile,
                    "message": headroom_message(row.factor, state, row.profile),
                }
                for row, state in over
            ]
        ),
    }
    return dg.AssetCheckResult(
        check_name=MEMORY_HEADROOM_CHECK,
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        description="\n".join(lines),
        metadata={
            "run_id": run_id,
            "strategy": strategy,
            "threshold": threshold,
            "n_steps": len(rows),
            "n_over": len(over),
            "n_offending": len(over),  # as every check: the count of what is wrong
            "steps": step_memory_table(states),
            **(failure if over else {}),
        },
    )


def build_headroom_check(
    config: SweepConfig,
    model_results: dg.AssetsDefinition,
    asset_names: Sequence[str],
    threshold: float = DEFAULT_WARN_RATIO,
):
    """Return the WARN check memory_headroom on model_results, over the sweep's latest steps."""

    @dg.asset_check(
        asset=model_results,
        name=MEMORY_HEADROOM_CHECK,
        blocking=False,
        description=f"No step of the sweep peaked at {threshold:.0%} or more of its pod "
        "profile's memory limit (latest measurement of each asset, from step_memory). WARN: "
        "the run still succeeds; move the factor to a larger profile.",
    )
    def memory_headroom(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.get_connection() as connection:
            rows = latest_step_memory(connection, config.run_id, config.strategy, asset_names)
        return headroom_result(rows, config.run_id, config.strategy, threshold)

    return memory_headroom
