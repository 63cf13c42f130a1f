-- One row per model variant per (run_id, strategy, crypto, fold_id, cost_bps).
-- cost_bps has no default on purpose: a writer that forgets the cost must fail, not store 0.
CREATE TABLE finetune_results (
    id                BIGSERIAL PRIMARY KEY,
    run_id            TEXT NOT NULL,
    strategy          TEXT NOT NULL,
    variant           TEXT NOT NULL,
    crypto            TEXT NOT NULL,
    fold_id           INT NOT NULL CHECK (fold_id >= 0),
    cost_bps          INT NOT NULL CHECK (cost_bps >= 0),
    slippage_bps      DOUBLE PRECISION NOT NULL CHECK (slippage_bps >= 0),
    train_start       TIMESTAMPTZ NOT NULL,
    train_end         TIMESTAMPTZ NOT NULL,
    test_start        TIMESTAMPTZ NOT NULL,
    test_end          TIMESTAMPTZ NOT NULL,
    n_test_bars       INT NOT NULL CHECK (n_test_bars > 0),
    model_hyperparams JSONB NOT NULL,
    feature_hash      TEXT NOT NULL,
    net_return        DOUBLE PRECISION NOT NULL,
    gross_return      DOUBLE PRECISION NOT NULL,
    n_trades          INT NOT NULL CHECK (n_trades >= 0),
    sharpe            DOUBLE PRECISION NOT NULL,
    max_drawdown      DOUBLE PRECISION NOT NULL,
    exposure          DOUBLE PRECISION NOT NULL,
    hit_rate          DOUBLE PRECISION NOT NULL,
    dagster_run_id    TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_finetune_result UNIQUE (run_id, strategy, variant, crypto, fold_id, cost_bps),
    CONSTRAINT ck_finetune_result_windows CHECK (train_end < test_start AND test_start <= test_end)
);

-- The completeness and same-basis checks join results to baselines on this key.
CREATE INDEX ix_finetune_results_basis
    ON finetune_results (run_id, strategy, crypto, fold_id, cost_bps);
