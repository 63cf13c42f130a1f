"""A sweep as few Dagster runs as the partitions allow: one single-run backfill per stage.

Dagster puts assets with different partitions definitions in different runs, so a sweep is
three ranged runs in dependency order: market_bars (crypto), feature_slice (crypto x fold),
then baseline_rows, model_results, their checks and sweep_report (crypto x fold_cost).
Each stage is a named asset job of the code location (`stage__market_bars`, ...), whether
`econ-obs sweep` runs it in-process or the schedule launches it through the run queue, so
every stage run in the UI names its job and a failed one can be re-executed from there.
A stage that fails stops the sweep; its partitions' earlier rows are left as they were.
Each run carries the process's tags (``store.orphans``), so a run whose process was killed
can be told from one still running, and a stage's failure keeps the error its step raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from econ_obs.config import ConfigError
from econ_obs.core.market_data import MarketDataError
from econ_obs.signals import raise_if_signalled
from econ_obs.store.orphans import process_tags

# Dagster's documented run tags for a single-run backfill over a partition range (the same
# strings the UI's "launch backfill" writes); spelled out so no private module is imported.
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
SWEEP_RUN_ID_TAG = "econ_obs/run_id"
SWEEP_STAGE_TAG = "econ_obs/stage"
# Errors the user fixes in the data or the config: shown as their message alone, exit 2.
INPUT_ERRORS: dict[str, type[ValueError]] = {
    error.__name__: error for error in (MarketDataError, ConfigError)
}


@dataclass(frozen=True)
class SweepStage:
    """One ranged run: these assets over every key of their shared partitions definition."""

    name: str
    asset_keys: tuple[str, ...]
    partition_keys: tuple[str, ...]


@dataclass(frozen=True)
class StepError:
    """The exception a failed step raised: its class name and its message, without traceback."""

    step_key: str
    error_class: str
    message: str
    traceback: str  # the whole chain as Dagster stored it, for errors nobody anticipated


@dataclass(frozen=True)
class StageOutcome:
    stage: SweepStage
    dagster_run_id: str
    success: bool
    seconds: float
    failed_checks: tuple[str, ...]
    step_error: StepError | None = None  # the first failed step's error


def _error_text(class_name: str, message: str) -> str:
    # Dagster stores "module.Class: message\n"; keep the message, every line of it.
    head, separator, rest = message.strip().partition(": ")
    is_class_name = separator and (head == class_name or head.endswith("." + class_name))
    return rest if is_class_name else message.strip()


def _is_dagster_wrapper(message: str) -> bool:
    return message.startswith("dagster.") or message.startswith("dagster_")


def first_step_error(result: dg.ExecuteInProcessResult) -> StepError | None:
    """Return the error the run's first failed step raised: the user's exception, unwrapped
    from dg.Failure and Dagster's own errors (its causes, if any, stay out)."""
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data is None or data.error is None:
            continue
        error = data.error
        while _is_dagster_wrapper(error.message) and error.cause is not None:
            error = error.cause
        class_name = error.cls_name or ""
        return StepError(
            event.step_key or "",
            class_name,
            _error_text(class_name, error.message),
            data.error.to_string(),
        )
    return None


def raise_input_error(outcomes: Sequence[StageOutcome]) -> None:
    """Raise again the MarketDataError or ConfigError a failed stage's step raised, if any."""
    for outcome in outcomes:
        error = outcome.step_error
        if not outcome.success and error is not None and error.error_class in INPUT_ERRORS:
            raise INPUT_ERRORS[error.error_class](error.message)


def sweep_plan(assets: Sequence[dg.AssetsDefinition]) -> list[SweepStage]:
    """Return the stages of a sweep, upstream first; partitioned assets are grouped by their
    partitions definition and unpartitioned ones join the last stage. A stage is named by its
    assets' names (`baseline_rows+model_results`) and lists their whole keys."""
    stages: list[tuple[dg.PartitionsDefinition, list[dg.AssetKey]]] = []
    unpartitioned: list[dg.AssetKey] = []
    for asset in assets:
        if asset.partitions_def is None:
            unpartitioned.append(asset.key)
            continue
        for partitions_def, keys in stages:
            if partitions_def == asset.partitions_def:
                keys.append(asset.key)
                break
        else:
            stages.append((asset.partitions_def, [asset.key]))
    plan = [
        SweepStage(
            "+".join(key.path[-1] for key in keys),
            tuple(key.to_user_string() for key in keys),
            tuple(str(k) for k in pdef.get_partition_keys()),
        )
        for pdef, keys in stages
    ]
    last = plan[-1]
    extra = tuple(key.to_user_string() for key in unpartitioned)
    plan[-1] = SweepStage(last.name, (*last.asset_keys, *extra), last.partition_keys)
    return plan


def stage_job_name(stage: SweepStage) -> str:
    """Return the name of the asset job that runs `stage`: its sweep's name (the assets' key
    prefix), then `stage` and its assets' names: `nightly_v1__stage__feature_slice`."""
    prefix = dg.AssetKey.from_user_string(stage.asset_keys[0]).path[:-1]
    return "__".join([*prefix, "stage", *stage.name.split("+")])


def stage_job(
    stage: SweepStage, sweep_run_id: str, executor_def: dg.ExecutorDefinition | None = None
) -> dg.UnresolvedAssetJobDefinition:
    """Return the asset job of one stage: its assets and the checks that target them. Every
    run of it carries the sweep's econ_obs/run_id tag, however it is launched (the run queue's
    one-run-per-sweep limit keys on it). `executor_def` None is Dagster's default."""
    return dg.define_asset_job(
        stage_job_name(stage),
        tags={SWEEP_RUN_ID_TAG: sweep_run_id},
        selection=dg.AssetSelection.assets(
            *(dg.AssetKey.from_user_string(key) for key in stage.asset_keys)
        ),
        description=f"Sweep stage {stage.name}: one ranged run over its "
        f"{len(stage.partition_keys)} partitions.",
        executor_def=executor_def,
    )


def stage_tags(stage: SweepStage, sweep_run_id: str) -> dict[str, str]:
    """Return the tags of a stage run: its partition range, its sweep and its stage."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: stage.partition_keys[0],
        ASSET_PARTITION_RANGE_END_TAG: stage.partition_keys[-1],
        SWEEP_RUN_ID_TAG: sweep_run_id,
        SWEEP_STAGE_TAG: stage.name,
    }


def _execute_stage(
    assets_and_checks: Sequence,
    stage: SweepStage,
    instance: dg.DagsterInstance,
    resources: dict,
    tags: dict[str, str],
    log_level: str,
) -> dg.ExecuteInProcessResult:
    assets = [a for a in assets_and_checks if isinstance(a, dg.AssetsDefinition)]
    checks = [c for c in assets_and_checks if not isinstance(c, dg.AssetsDefinition)]
    job = stage_job(stage, tags[SWEEP_RUN_ID_TAG])
    defs = dg.Definitions(assets=assets, asset_checks=checks, jobs=[job], resources=resources)
    return defs.resolve_job_def(job.name).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags=tags,
    )


def run_sweep(
    assets_and_checks: Sequence,
    plan: Sequence[SweepStage],
    instance: dg.DagsterInstance,
    resources: dict,
    sweep_run_id: str,
    progress: Callable[[str], None] = print,
    log_level: str = "INFO",
) -> list[StageOutcome]:
    """Run each stage's job in-process as one ranged run on `instance`; stop at the first
    failure."""
    outcomes = []
    for number, stage in enumerate(plan, start=1):
        progress(f"[{number}/{len(plan)}] {stage.name}: {len(stage.partition_keys)} partitions ...")
        started = time.perf_counter()
        tags = {**stage_tags(stage, sweep_run_id), **process_tags()}
        result = _execute_stage(assets_and_checks, stage, instance, resources, tags, log_level)
        failed_checks = tuple(
            evaluation.check_name
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed
        )
        outcome = StageOutcome(
            stage,
            result.run_id,
            result.success,
            time.perf_counter() - started,
            failed_checks,
            None if result.success else first_step_error(result),
        )
        raise_if_signalled()  # Dagster's handler may have made our signal a failed step
        outcomes.append(outcome)
        state = "done" if outcome.success else "FAILED"
        progress(f"      {state} in {outcome.seconds:.1f}s (dagster run {result.run_id[:8]})")
        if not outcome.success:
            break
    return outcomes
