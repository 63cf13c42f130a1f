"""sweep_alert_sensor: turns failed runs into alerts, one per affected key, once each.

It reads finished runs (`instance.fetch_run_status_changes`) after its cursor, the event-log
storage ids of the last failed and the last succeeded run seen, so a run alerts once. The
blocking checks fail their run; for each failed run:

- a failed blocking check writes one alerts row per offending key (`baselines_incomplete`,
  ...) and nothing for the run: the run failed *because* of those keys;
- any other failure writes one `sweep_run_failed` row, with the sweep's run_id (the run's
  tag, or the asset definitions it materialised), the key when the run had a single result
  partition, and the failure's cause (the first line of the step failure) in its detail.
  A sweep is its stage runs alone (no run wraps them), so a failure is one failed run.

The WARN check memory_headroom does not fail its run: its failure, in a failed or succeeded
run, writes one `memory_headroom` row per step at or over the limit's threshold (asset,
factor, peak, limit and profile in its detail).

Each alert is logged once, as one structured line on the sensor's own log (`event=... run_id=...
crypto=... fold_id=... cost_bps=...`). Slack gets a summary when ECON_OBS_SLACK_TOKEN and
ECON_OBS_SLACK_CHANNEL are set (needs dagster-slack; off by default).
"""

import json
import os
from collections.abc import Sequence

import dagster as dg

from econ_obs.defs.checks import CHECK_EVENTS, OFFENDING_KEYS
from econ_obs.defs.metadata import SWEEP_RUN_ID_METADATA, SWEEP_STRATEGY_METADATA
from econ_obs.defs.partitions import PartitionKeyError, decode_result_key
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.sizing import HEADROOM_EVENT
from econ_obs.defs.sweep import SWEEP_RUN_ID_TAG, SWEEP_STAGE_TAG
from econ_obs.sizing import MEMORY_HEADROOM_CHECK
from econ_obs.store.alerts import alert_line, insert_alerts

SENSOR_NAME = "sweep_alert_sensor"
RUN_FAILED_EVENT = "sweep_run_failed"
SLACK_TOKEN_ENV_VAR = "ECON_OBS_SLACK_TOKEN"
SLACK_CHANNEL_ENV_VAR = "ECON_OBS_SLACK_CHANNEL"
PARTITION_TAG = "dagster/partition"
_BATCH = 1000
_KEY_FIELDS = ("crypto", "fold_id", "cost_bps", "slippage_bps")
# The blocking checks (a failure fails the run) and the WARN check memory_headroom (the run
# succeeds; its failure is found on the run's check evaluations).
ALERTING_CHECKS = {**CHECK_EVENTS, MEMORY_HEADROOM_CHECK: HEADROOM_EVENT}


def _finished_runs(
    instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after: int
) -> list[dg.EventLogRecord]:
    records_filter = dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after)
    return list(
        instance.fetch_run_status_changes(records_filter, limit=_BATCH, ascending=True).records
    )


def _run_events(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    return [record.event_log_entry.dagster_event.event_specific_data for record in records]


def check_alerts(evaluation: dg.AssetCheckEvaluation, dagster_run_id: str) -> list[dict]:
    """Return one alert per offending key of a failed check evaluation (none if it passed)."""
    if evaluation.passed or evaluation.check_name not in ALERTING_CHECKS:
        return []
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    base = {
        "event": ALERTING_CHECKS[evaluation.check_name],
        "check_name": evaluation.check_name,
        "run_id": metadata.get("run_id"),
        "strategy": metadata.get("strategy"),
        "dagster_run_id": dagster_run_id,
    }
    keys = metadata.get(OFFENDING_KEYS) or [{}]
    return [
        {
            **base,
            **{field: key.get(field) for field in _KEY_FIELDS},
            "detail": {k: v for k, v in key.items() if k not in _KEY_FIELDS},
        }
        for key in keys
    ]


def _error_line(error) -> str:
    # Dagster wraps a user's exception in its own errors; the user's is the cause worth reading.
    while (error.cls_name or "").startswith("Dagster") and error.cause is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    line = lines[0] if lines else ""
    head, separator, rest = line.partition(": ")
    if separator and error.cls_name and head.split(".")[-1] == error.cls_name:
        line = f"{error.cls_name}: {rest}"
    return line


def failure_cause(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> str:
    """Return the first line of the run's first step failure (a dg.Failure's description, or
    the user's exception), else the run failure's own message."""
    for failure in _run_events(instance, record.run_id, dg.DagsterEventType.STEP_FAILURE):
        user = failure.user_failure_data
        if user is not None and user.description:
            return user.description.strip().splitlines()[0][:300]
        if failure.error is not None:
            return _error_line(failure.error)[:300]
    message = record.event_log_entry.user_message or ""
    return message.strip().splitlines()[0][:300] if message.strip() else ""


def _asset_metadata(context: dg.SensorEvaluationContext, run: dg.DagsterRun) -> dict:
    """Return the sweep identity the run's assets declare (their definition metadata)."""
    repository = context.repository_def
    if repository is None:
        return {}
    definitions = repository.assets_defs_by_key
    keys = list(run.asset_selection or ()) or list(definitions)
    for key in keys:
        assets_def = definitions.get(key)
        metadata = assets_def.specs_by_key[key].metadata if assets_def else {}
        if SWEEP_RUN_ID_METADATA in metadata:
            return {
                "run_id": metadata[SWEEP_RUN_ID_METADATA],
                "strategy": metadata.get(SWEEP_STRATEGY_METADATA),
            }
    return {}


def sweep_identity(context: dg.SensorEvaluationContext, run: dg.DagsterRun) -> dict:
    """Return the sweep's run_id (and strategy when known): the run's tag, else the
    metadata of the assets it materialised."""
    declared = _asset_metadata(context, run)
    return {
        "run_id": run.tags.get(SWEEP_RUN_ID_TAG) or declared.get("run_id"),
        "strategy": declared.get("strategy"),
    }


def _partition_key_fields(run: dg.DagsterRun) -> dict:
    partition = run.tags.get(PARTITION_TAG)
    if not partition:
        return {}
    try:
        key = decode_result_key(partition)
    except PartitionKeyError:
        return {}  # a market or slice partition: not a result key
    return {field: getattr(key, field) for field in _KEY_FIELDS}


def evaluation_alerts(instance: dg.DagsterInstance, dagster_run_id: str) -> list[dict]:
    """Return the alerts of a run's failed check evaluations, blocking or WARN."""
    evaluations = _run_events(instance, dagster_run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return [alert for e in evaluations for alert in check_alerts(e, dagster_run_id)]


def run_alerts(context: dg.SensorEvaluationContext, record: dg.EventLogRecord) -> list[dict]:
    """Return the alerts of one failed run: one per offending key of its failed checks, and one
    for the run with its cause unless a blocking check is why it failed."""
    instance = context.instance
    from_checks = evaluation_alerts(instance, record.run_id)
    if any(alert["event"] in CHECK_EVENTS.values() for alert in from_checks):
        return from_checks
    run = instance.get_run_by_id(record.run_id)
    if run is None:
        return from_checks
    return [
        *from_checks,
        {
            "event": RUN_FAILED_EVENT,
            **sweep_identity(context, run),
            **_partition_key_fields(run),
            "dagster_run_id": record.run_id,
            "detail": {
                "job_name": run.job_name,
                "stage": run.tags.get(SWEEP_STAGE_TAG),
                "cause": failure_cause(instance, record),
            },
        },
    ]


def _post_to_slack(alerts: Sequence[dict]) -> None:
    token, channel = os.environ.get(SLACK_TOKEN_ENV_VAR), os.environ.get(SLACK_CHANNEL_ENV_VAR)
    if not (token and channel):
        return
    from dagster_slack import SlackResource  # optional dependency: pip install dagster-slack

    lines = [alert_line(alert) for alert in alerts[:20]]
    more = f"\n… and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    SlackResource(token=token).get_client().chat_postMessage(
        channel=channel, text="econ_obs alerts:\n" + "\n".join(lines) + more
    )


def parse_cursor(cursor: str | None) -> dict[str, int]:
    """Return the sensor's two cursors: the last failed and the last succeeded run seen.

    A cursor written before succeeded runs were read is one storage id; the succeeded runs'
    cursor then starts there too, so old runs' WARN checks do not alert all at once.
    """
    if not cursor:
        return {"failed": 0, "succeeded": 0}
    if cursor.isdigit():
        return {"failed": int(cursor), "succeeded": int(cursor)}
    loaded = json.loads(cursor)
    return {"failed": int(loaded["failed"]), "succeeded": int(loaded["succeeded"])}


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes an alert per affected key when a check or a sweep run fails, and per "
    "step when the WARN check memory_headroom fails in a run that succeeded.",
)
def sweep_alert_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SkipReason:
    cursor = parse_cursor(context.cursor)
    instance = context.instance
    failed = _finished_runs(instance, dg.DagsterEventType.RUN_FAILURE, cursor["failed"])
    succeeded = _finished_runs(instance, dg.DagsterEventType.RUN_SUCCESS, cursor["succeeded"])
    if not failed and not succeeded:
        return dg.SkipReason("no new finished runs")
    alerts = [alert for record in failed for alert in run_alerts(context, record)]
    alerts += [
        alert for record in succeeded for alert in evaluation_alerts(instance, record.run_id)
    ]
    if alerts:
        with postgres.get_connection() as connection, connection.begin():
            insert_alerts(connection, alerts)
        # Once, on the sensor's log: it reaches the console and the tick's log in the UI. A
        # module logger beside it printed every line a second time.
        for alert in alerts:
            context.log.error(alert_line(alert))
        _post_to_slack(alerts)
    for name, records in (("failed", failed), ("succeeded", succeeded)):
        if records:
            cursor[name] = records[-1].storage_id
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    return dg.SkipReason(f"{len(alerts)} alert(s) written" if alerts else "no new alerts")
