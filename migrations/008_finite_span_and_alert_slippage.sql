-- The last DOUBLE PRECISION columns a non-finite value could still enter. In PostgreSQL NaN
-- sorts above every number, so 005's `test_span_hours > 0 AND test_span_hours <> 'Infinity'`
-- and 006's `slippage_bps >= 0` both let NaN in (and 006 lets Infinity in too). Every other
-- DOUBLE PRECISION column was already closed by 004 and 005; the test that tries NaN and
-- ±Infinity on every such column keeps it that way.
--
-- A NULL passes a CHECK: a row written before 005 has no span, an alert about no key has no
-- slippage. NOT VALID, as 005's gap constraints: a row written before this migration could
-- hold the NaN the old checks let in, and must not stop the migration; every new or updated
-- row is checked. Once such rows are fixed or deleted, `ALTER TABLE ... VALIDATE CONSTRAINT`.
ALTER TABLE finetune_results ADD CONSTRAINT ck_finetune_result_span_finite
    CHECK (test_span_hours NOT IN ('NaN', 'Infinity', '-Infinity')) NOT VALID;
ALTER TABLE finetune_baselines ADD CONSTRAINT ck_finetune_baseline_span_finite
    CHECK (test_span_hours NOT IN ('NaN', 'Infinity', '-Infinity')) NOT VALID;
ALTER TABLE alerts ADD CONSTRAINT ck_alert_slippage_finite
    CHECK (slippage_bps NOT IN ('NaN', 'Infinity', '-Infinity')) NOT VALID;
