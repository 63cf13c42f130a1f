-- Slippage is part of the cost basis: a row's basis is (cost_bps, slippage_bps), so two
-- slippages of one (crypto, fold, cost) are two keys, never one overwriting the other.
-- Each unique key is dropped and re-created under the same name with slippage_bps added.
ALTER TABLE finetune_results DROP CONSTRAINT uq_finetune_result;
ALTER TABLE finetune_results ADD CONSTRAINT uq_finetune_result
    UNIQUE (run_id, strategy, variant, crypto, fold_id, cost_bps, slippage_bps);
ALTER TABLE finetune_baselines DROP CONSTRAINT uq_finetune_baseline;
ALTER TABLE finetune_baselines ADD CONSTRAINT uq_finetune_baseline
    UNIQUE (run_id, strategy, baseline_type, crypto, fold_id, cost_bps, slippage_bps);
ALTER TABLE finetune_random_seeds DROP CONSTRAINT uq_finetune_random_seed;
ALTER TABLE finetune_random_seeds ADD CONSTRAINT uq_finetune_random_seed
    UNIQUE (run_id, strategy, crypto, fold_id, cost_bps, slippage_bps, seed);

-- The checks and the report join results to baselines on the whole key.
DROP INDEX ix_finetune_results_basis;
CREATE INDEX ix_finetune_results_basis
    ON finetune_results (run_id, strategy, crypto, fold_id, cost_bps, slippage_bps);
DROP INDEX ix_finetune_baselines_basis;
CREATE INDEX ix_finetune_baselines_basis
    ON finetune_baselines (run_id, strategy, crypto, fold_id, cost_bps, slippage_bps);

-- Gaps inside the windows (econ_obs.core.gaps.WindowGaps), stored beside each row so a result
-- on a gappy window can be told from one on a complete window. Rows written before this
-- migration have no gap figures and keep NULL; the NOT VALID constraint makes every new row
-- carry them (PostgreSQL enforces a NOT VALID check on new rows, not on existing ones).
ALTER TABLE finetune_results
    ADD COLUMN train_missing_bars    INT CHECK (train_missing_bars >= 0),
    ADD COLUMN test_missing_bars     INT CHECK (test_missing_bars >= 0),
    ADD COLUMN test_largest_gap_bars INT CHECK (test_largest_gap_bars >= 0),
    ADD COLUMN test_span_hours       DOUBLE PRECISION
        CHECK (test_span_hours > 0 AND test_span_hours <> 'Infinity');
ALTER TABLE finetune_results ADD CONSTRAINT ck_finetune_result_gaps_present CHECK (
    train_missing_bars IS NOT NULL AND test_missing_bars IS NOT NULL
    AND test_largest_gap_bars IS NOT NULL AND test_span_hours IS NOT NULL
) NOT VALID;
ALTER TABLE finetune_baselines
    ADD COLUMN train_missing_bars    INT CHECK (train_missing_bars >= 0),
    ADD COLUMN test_missing_bars     INT CHECK (test_missing_bars >= 0),
    ADD COLUMN test_largest_gap_bars INT CHECK (test_largest_gap_bars >= 0),
    ADD COLUMN test_span_hours       DOUBLE PRECISION
        CHECK (test_span_hours > 0 AND test_span_hours <> 'Infinity');
ALTER TABLE finetune_baselines ADD CONSTRAINT ck_finetune_baseline_gaps_present CHECK (
    train_missing_bars IS NOT NULL AND test_missing_bars IS NOT NULL
    AND test_largest_gap_bars IS NOT NULL AND test_span_hours IS NOT NULL
) NOT VALID;

-- What no correct writer produces, refused by the database. In PostgreSQL NaN equals NaN and
-- sorts above every number, so `x >= 0` lets NaN through: finiteness is checked on its own,
-- as `x NOT IN ('NaN', 'Infinity', '-Infinity')`. A NULL passes a CHECK, so nullable columns
-- are checked where they hold a value. Fractions (exposure, hit_rate, max_drawdown) lie in
-- [0, 1]; a window has at least two bars, so it ends after it starts.
ALTER TABLE finetune_results ADD CONSTRAINT ck_finetune_result_metrics CHECK (
    net_return NOT IN ('NaN', 'Infinity', '-Infinity')
    AND gross_return NOT IN ('NaN', 'Infinity', '-Infinity')
    AND sharpe NOT IN ('NaN', 'Infinity', '-Infinity')
    AND max_drawdown >= 0 AND max_drawdown <= 1 AND max_drawdown <> 'NaN'
    AND exposure >= 0 AND exposure <= 1 AND exposure <> 'NaN'
    AND hit_rate >= 0 AND hit_rate <= 1 AND hit_rate <> 'NaN'
);
ALTER TABLE finetune_results ADD CONSTRAINT ck_finetune_result_basis CHECK (
    slippage_bps NOT IN ('NaN', 'Infinity') AND n_test_bars > 0 AND test_end > test_start
);
ALTER TABLE finetune_results ADD CONSTRAINT ck_finetune_result_significance CHECK (
    matched_null_mean NOT IN ('NaN', 'Infinity', '-Infinity')
    AND matched_null_p05 NOT IN ('NaN', 'Infinity', '-Infinity')
    AND matched_null_p95 NOT IN ('NaN', 'Infinity', '-Infinity')
    AND NOT (matched_null_net_returns && ARRAY['NaN', 'Infinity', '-Infinity']::DOUBLE PRECISION[])
    AND p_value_matched <> 'NaN'
    AND p_value_random <> 'NaN'
    AND breakeven_cost_bps NOT IN ('NaN', 'Infinity', '-Infinity')
    AND gross_edge_bps_per_trade NOT IN ('NaN', 'Infinity', '-Infinity')
    AND sharpe_per_bar NOT IN ('NaN', 'Infinity', '-Infinity')
    AND return_skew NOT IN ('NaN', 'Infinity', '-Infinity')
    AND return_kurtosis NOT IN ('NaN', 'Infinity', '-Infinity')
    AND dsr_sharpe_variance NOT IN ('NaN', 'Infinity')
    AND dsr_expected_max_sharpe NOT IN ('NaN', 'Infinity', '-Infinity')
    AND deflated_sharpe <> 'NaN'
);
ALTER TABLE finetune_baselines ADD CONSTRAINT ck_finetune_baseline_metrics CHECK (
    net_return NOT IN ('NaN', 'Infinity', '-Infinity')
    AND gross_return NOT IN ('NaN', 'Infinity', '-Infinity')
    AND n_trades NOT IN ('NaN', 'Infinity')
    AND sharpe NOT IN ('NaN', 'Infinity', '-Infinity')
    AND max_drawdown >= 0 AND max_drawdown <= 1 AND max_drawdown <> 'NaN'
    AND exposure >= 0 AND exposure <= 1 AND exposure <> 'NaN'
    AND hit_rate >= 0 AND hit_rate <= 1 AND hit_rate <> 'NaN'
);
ALTER TABLE finetune_baselines ADD CONSTRAINT ck_finetune_baseline_basis CHECK (
    slippage_bps NOT IN ('NaN', 'Infinity') AND n_test_bars > 0 AND test_end > test_start
);
ALTER TABLE finetune_random_seeds ADD CONSTRAINT ck_finetune_random_seed_values CHECK (
    net_return NOT IN ('NaN', 'Infinity', '-Infinity')
    AND sharpe NOT IN ('NaN', 'Infinity', '-Infinity')
    AND slippage_bps NOT IN ('NaN', 'Infinity')
);

-- One row per sweep: the config that owns the (run_id, strategy)'s keys. `econ-obs sweep`
-- refuses a different config under the same run_id unless --replace, which deletes the keys
-- the new config does not expect in the same transaction that records it.
CREATE TABLE sweep_runs (
    run_id            TEXT NOT NULL,
    strategy          TEXT NOT NULL,
    config            JSONB NOT NULL,       -- canonical config, sorted keys, no source path
    config_sha256     TEXT NOT NULL CHECK (config_sha256 ~ '^[0-9a-f]{64}$'),
    -- {crypto: market_bars fingerprint}; NULL until the market stage of the sweep has run
    data_fingerprints JSONB,
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ,          -- NULL while the sweep runs, or if it was killed
    dagster_run_ids   TEXT[] NOT NULL DEFAULT '{}',
    CONSTRAINT pk_sweep_runs PRIMARY KEY (run_id, strategy)
);
