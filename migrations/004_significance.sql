-- Does a model row beat chance after costs? Everything needed to answer, and to recompute the
-- answer with SQL, stored beside the row (see the README's "Significance" section).

-- Every random seed's values, keyed like its baseline row plus the seed, so any statistic of
-- the random null can be computed in SQL. Written in the same transaction as the baselines.
CREATE TABLE finetune_random_seeds (
    run_id       TEXT NOT NULL,
    strategy     TEXT NOT NULL,
    crypto       TEXT NOT NULL,
    fold_id      INT NOT NULL CHECK (fold_id >= 0),
    cost_bps     INT NOT NULL CHECK (cost_bps >= 0),
    slippage_bps DOUBLE PRECISION NOT NULL CHECK (slippage_bps >= 0),
    seed         INT NOT NULL CHECK (seed >= 0),
    net_return   DOUBLE PRECISION NOT NULL,
    sharpe       DOUBLE PRECISION NOT NULL,
    n_trades     INT NOT NULL CHECK (n_trades >= 0),
    CONSTRAINT uq_finetune_random_seed
        UNIQUE (run_id, strategy, crypto, fold_id, cost_bps, seed)
);

-- The model row's own significance. NULL where undefined: a row without trades has no null,
-- no p-value and no break-even cost; a row without per-bar variance has no deflated Sharpe.
ALTER TABLE finetune_results
    -- matched null: n_perms placements of the row's own trades (count and lengths kept)
    ADD COLUMN matched_n_perms          INT CHECK (matched_n_perms > 0),
    ADD COLUMN matched_null_seed        BIGINT,
    ADD COLUMN matched_null_net_returns DOUBLE PRECISION[],
    ADD COLUMN matched_null_mean        DOUBLE PRECISION,
    ADD COLUMN matched_null_p05         DOUBLE PRECISION,
    ADD COLUMN matched_null_p95         DOUBLE PRECISION,
    ADD COLUMN p_value_matched          DOUBLE PRECISION
        CHECK (p_value_matched > 0 AND p_value_matched <= 1),
    -- against the stored random seeds of the same key
    ADD COLUMN random_n_seeds           INT CHECK (random_n_seeds > 0),
    ADD COLUMN p_value_random           DOUBLE PRECISION
        CHECK (p_value_random > 0 AND p_value_random <= 1),
    -- break-even per-side cost (fee + slippage) and the mean gross return per trade, in bps
    ADD COLUMN breakeven_cost_bps       DOUBLE PRECISION,
    ADD COLUMN gross_edge_bps_per_trade DOUBLE PRECISION,
    -- deflated Sharpe (Bailey and Lopez de Prado 2014) on the row's per-bar net returns
    ADD COLUMN n_returns                INT CHECK (n_returns > 0),
    ADD COLUMN sharpe_per_bar           DOUBLE PRECISION,
    ADD COLUMN return_skew              DOUBLE PRECISION,
    ADD COLUMN return_kurtosis          DOUBLE PRECISION,
    ADD COLUMN dsr_n_trials             INT CHECK (dsr_n_trials > 0),
    ADD COLUMN dsr_sharpe_variance      DOUBLE PRECISION CHECK (dsr_sharpe_variance >= 0),
    ADD COLUMN dsr_expected_max_sharpe  DOUBLE PRECISION,
    ADD COLUMN deflated_sharpe          DOUBLE PRECISION
        CHECK (deflated_sharpe >= 0 AND deflated_sharpe <= 1),
    -- mark-to-market equity at up to 256 bars of the test window, for the report's curves
    ADD COLUMN equity_curve             JSONB;

ALTER TABLE finetune_baselines ADD COLUMN equity_curve JSONB;
