-- An alert names the whole key of what it is about: since 005, slippage_bps is part of the
-- cost basis, so two alerts on the same (crypto, fold_id, cost_bps) at different slippages
-- are about different partitions. NULL for an alert that is not about one key.
ALTER TABLE alerts ADD COLUMN slippage_bps DOUBLE PRECISION CHECK (slippage_bps >= 0);
