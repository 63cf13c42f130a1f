-- One row per affected key for each failed check or failed sweep run, written by the alert sensor.
CREATE TABLE alerts (
    id             BIGSERIAL PRIMARY KEY,
    event          TEXT NOT NULL,
    check_name     TEXT,
    run_id         TEXT,
    strategy       TEXT,
    crypto         TEXT,
    fold_id        INT,
    cost_bps       INT,
    dagster_run_id TEXT,
    detail         JSONB NOT NULL,
    raised_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX ix_alerts_event_raised_at ON alerts (event, raised_at);
