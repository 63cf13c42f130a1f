-- Three rows (buy_and_hold, random, naive) per (run_id, strategy, crypto, fold_id, cost_bps).
-- strategy stays in the key on purpose: two strategies' baselines can never collapse into one.
-- n_trades is DOUBLE PRECISION here: the random row holds the mean over its seeds.
CREATE TABLE finetune_baselines (
    id              BIGSERIAL PRIMARY KEY,
    run_id          TEXT NOT NULL,
    strategy        TEXT NOT NULL,
    baseline_type   TEXT NOT NULL
        CONSTRAINT ck_finetune_baseline_type CHECK (baseline_type IN ('buy_and_hold', 'random', 'naive')),
    crypto          TEXT NOT NULL,
    fold_id         INT NOT NULL CHECK (fold_id >= 0),
    cost_bps        INT NOT NULL CHECK (cost_bps >= 0),
    slippage_bps    DOUBLE PRECISION NOT NULL CHECK (slippage_bps >= 0),
    train_start     TIMESTAMPTZ NOT NULL,
    train_end       TIMESTAMPTZ NOT NULL,
    test_start      TIMESTAMPTZ NOT NULL,
    test_end        TIMESTAMPTZ NOT NULL,
    n_test_bars     INT NOT NULL CHECK (n_test_bars > 0),
    net_return      DOUBLE PRECISION NOT NULL,
    gross_return    DOUBLE PRECISION NOT NULL,
    n_trades        DOUBLE PRECISION NOT NULL CHECK (n_trades >= 0),
    sharpe          DOUBLE PRECISION NOT NULL,
    max_drawdown    DOUBLE PRECISION NOT NULL,
    exposure        DOUBLE PRECISION NOT NULL,
    hit_rate        DOUBLE PRECISION NOT NULL,
    baseline_params JSONB NOT NULL,
    dagster_run_id  TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_finetune_baseline
        UNIQUE (run_id, strategy, baseline_type, crypto, fold_id, cost_bps),
    CONSTRAINT ck_finetune_baseline_windows CHECK (train_end < test_start AND test_start <= test_end)
);

CREATE INDEX ix_finetune_baselines_basis
    ON finetune_baselines (run_id, strategy, crypto, fold_id, cost_bps);
