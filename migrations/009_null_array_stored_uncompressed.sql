-- A model row's matched-null array (a thousand net returns, 8 KB) is stored out of line
-- without compression. PostgreSQL's default for an array is EXTENDED: it tries pglz on every
-- row it writes, and on doubles that vary in their last bits pglz saves nothing (a
-- 240-partition sweep's 720 rows took 9.8 MB with it and 10.0 MB without) while it cost about a quarter of
-- the time COPY spent writing them. EXTERNAL keeps the value out of line, as before, but
-- uncompressed: a read of the row's other columns still never fetches it.
-- The equity curve keeps its default: its JSON text compresses to about half.
-- Rows already written keep how they were stored; only new rows are affected.
ALTER TABLE finetune_results ALTER COLUMN matched_null_net_returns SET STORAGE EXTERNAL;
