-- One row per measured step (an asset body over its whole partition range): its peak
-- resident memory, the data it held and the pod profile chosen for it. Earlier rows of the
-- same (factor, asset) give the bytes per bar the next choice is made from; the
-- memory_headroom check compares a run's latest peaks with their profile's limit.
CREATE TABLE step_memory (
    id                 BIGSERIAL PRIMARY KEY,
    run_id             TEXT NOT NULL,
    strategy           TEXT NOT NULL,
    asset              TEXT NOT NULL,
    factor             TEXT NOT NULL,
    dagster_run_id     TEXT,
    peak_bytes         BIGINT NOT NULL CHECK (peak_bytes > 0),
    baseline_rss_bytes BIGINT CHECK (baseline_rss_bytes >= 0),
    lifetime_peak      BOOLEAN NOT NULL,
    input_bars         BIGINT NOT NULL CHECK (input_bars >= 1),
    input_assets       INT NOT NULL CHECK (input_assets >= 1),
    profile            TEXT NOT NULL,
    limit_bytes        BIGINT NOT NULL CHECK (limit_bytes > 0),
    measured_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX step_memory_factor_asset ON step_memory (factor, asset, measured_at);
CREATE INDEX step_memory_run ON step_memory (run_id, strategy, asset, measured_at);
