"""sweep_alert_sensor: turns failed checks and failed runs into alerts, once each.

For every failed evaluation of one of our checks it writes one alerts row per offending key
and logs one structured line (`event=baselines_incomplete run_id=… crypto=… fold_id=…
cost_bps=…`); for every failed run it writes one `sweep_run_failed` row. Slack gets a
summary when ECON_OBS_SLACK_TOKEN and ECON_OBS_SLACK_CHANNEL are set (needs dagster-slack;
off by default). The cursor is the last event-log storage id seen, so a failure alerts once.
"""

import logging
import os
import warnings

import dagster as dg

from econ_obs.defs.checks import CHECK_EVENTS, OFFENDING_KEYS
from econ_obs.defs.resources import PostgresResource
from econ_obs.store.alerts import alert_line, insert_alerts

SENSOR_NAME = "sweep_alert_sensor"
RUN_FAILED_EVENT = "sweep_run_failed"
SLACK_TOKEN_ENV_VAR = "ECON_OBS_SLACK_TOKEN"
SLACK_CHANNEL_ENV_VAR = "ECON_OBS_SLACK_CHANNEL"
_BATCH = 1000
logger = logging.getLogger("econ_obs.alerts")


def _records(instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after: int) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # get_event_records is deprecated but still the only
        # API that reads check evaluations and run failures by storage id
        return list(
            instance.get_event_records(
                dg.EventRecordsFilter(event_type=event_type, after_cursor=after),
                limit=_BATCH,
                ascending=True,
            )
        )


def check_alerts(record) -> list[dict]:
    """Return one alert per offending key of a failed check evaluation (none if it passed)."""
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    if evaluation.passed or evaluation.check_name not in CHECK_EVENTS:
        return []
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    base = {
        "event": CHECK_EVENTS[evaluation.check_name],
        "check_name": evaluation.check_name,
        "run_id": metadata.get("run_id"),
        "strategy": metadata.get("strategy"),
        "dagster_run_id": record.run_id,
    }
    keys = metadata.get(OFFENDING_KEYS) or [{}]
    return [
        {
            **base,
            "crypto": key.get("crypto"),
            "fold_id": key.get("fold_id"),
            "cost_bps": key.get("cost_bps"),
            "detail": {k: v for k, v in key.items() if k not in ("crypto", "fold_id", "cost_bps")},
        }
        for key in keys
    ]


def run_failure_alert(instance: dg.DagsterInstance, record) -> dict:
    """Return the alert of a failed run, with the sweep's run_id when the run carries it."""
    run = instance.get_run_by_id(record.run_id)
    tags = run.tags if run else {}
    return {
        "event": RUN_FAILED_EVENT,
        "run_id": tags.get("econ_obs/run_id"),
        "dagster_run_id": record.run_id,
        "detail": {
            "job_name": run.job_name if run else None,
            "stage": tags.get("econ_obs/stage"),
            "message": record.event_log_entry.user_message.splitlines()[0][:300]
            if record.event_log_entry.user_message
            else "",
        },
    }


def _post_to_slack(alerts: list[dict]) -> None:
    token, channel = os.environ.get(SLACK_TOKEN_ENV_VAR), os.environ.get(SLACK_CHANNEL_ENV_VAR)
    if not (token and channel):
        return
    from dagster_slack import SlackResource  # optional dependency: pip install dagster-slack

    lines = [alert_line(alert) for alert in alerts[:20]]
    more = f"\n… and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    SlackResource(token=token).get_client().chat_postMessage(
        channel=channel, text="econ_obs alerts:\n" + "\n".join(lines) + more
    )


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes an alert per affected key when a check or a sweep run fails.",
)
def sweep_alert_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SkipReason:
    after = int(context.cursor or 0)
    batches = [
        _records(context.instance, event_type, after)
        for event_type in (
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            dg.DagsterEventType.RUN_FAILURE,
        )
    ]
    if not any(batches):
        return dg.SkipReason("no new failures")
    # The cursor is one storage id for both kinds: stop at the end of any batch that was cut
    # at the limit, so that nothing after the cursor is skipped.
    cutoff = min(
        (batch[-1].storage_id for batch in batches if len(batch) == _BATCH),
        default=max(batch[-1].storage_id for batch in batches if batch),
    )
    check_records, failure_records = (
        [record for record in batch if record.storage_id <= cutoff] for batch in batches
    )
    alerts = [alert for record in check_records for alert in check_alerts(record)]
    alerts += [run_failure_alert(context.instance, record) for record in failure_records]
    if alerts:
        with postgres.get_connection() as connection, connection.begin():
            insert_alerts(connection, alerts)
        for alert in alerts:
            line = alert_line(alert)
            logger.error(line)
            context.log.error(line)
        _post_to_slack(alerts)
    context.update_cursor(str(cutoff))
    return dg.SkipReason(f"{len(alerts)} alert(s) written" if alerts else "no new failures")
