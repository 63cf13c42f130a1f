"""The asset graph: market_bars → feature_slice → baseline_rows → model_results → sweep_report.

feature_slice is the single upstream of both result assets: they read its partition and
never compute a window or a price themselves. Every asset runs its whole partition range in
one step (single-run backfill), so a sweep is one run per partitions definition; each step's
peak memory and the series it held are recorded once per step (`measured_step`).
"""

from collections import defaultdict
from collections.abc import Mapping
from itertools import groupby

import dagster as dg

from econ_obs.config import OVERLAY_CRYPTO, SweepConfig
from econ_obs.core.accounting import trades_from_positions
from econ_obs.core.assessment import Trades, assess_cell
from econ_obs.core.backtest import (
    FeatureSlice,
    build_feature_slices,
    evaluate_baselines,
    variant_positions,
)
from econ_obs.core.market_data import MarketBars
from econ_obs.core.matched_null import PlacementCache, matched_seed
from econ_obs.defs.description import describe, sweep_name
from econ_obs.defs.freshness import INPUT_FINGERPRINTS, SLICE_FINGERPRINT, input_fingerprints_text
from econ_obs.defs.io_manager import LAZY_INPUT
from econ_obs.defs.metadata import (
    assessment_table,
    basis_metadata,
    comparison_metadata,
    slice_metadata,
)
from econ_obs.defs.partitions import (
    CRYPTO_DIM,
    SweepPartitions,
    decode_slice_key,
)
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.result_partitions import (
    DATABASE_RETRY,
    SINGLE_RUN,
    PartitionBatch,
    one_slice_at_a_time,
    retry_only_database_errors,
)
from econ_obs.defs.result_rows import baseline_rows_for, model_rows_for
from econ_obs.defs.sizing import measured_step
from econ_obs.defs.table_metadata import (
    table_definition_metadata,
    table_materialisation_metadata,
)
from econ_obs.defs.versions import asset_code_versions, bars_data_version
from econ_obs.store.partition_writes import PartitionRows
from econ_obs.store.results import (
    BASELINES_TABLE,
    RESULTS_TABLE,
)
from econ_obs.store.significance import stored_baseline_returns
from econ_obs.store.sweep_runs import record_data_fingerprints

SLICE_IO_MANAGER = "slice_io_manager"


def build_assets(config: SweepConfig, parts: SweepPartitions) -> list[dg.AssetsDefinition]:
    """Return the sweep's assets, partitioned as `parts` describes, code-versioned by versions."""
    code_versions = asset_code_versions(config)
    prefix = [sweep_name(config)]  # an input's key is its upstream's: in the same sweep

    @dg.asset(
        partitions_def=parts.market,
        backfill_policy=SINGLE_RUN,
        io_manager_key=SLICE_IO_MANAGER,
        **describe(config, "ingest", {"pandas"}),
        code_version=code_versions["market_bars"],
        description="Validated OHLCV bars of one crypto and their fingerprint.",
    )
    def market_bars(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> dg.Output[dict[str, MarketBars]]:
        with measured_step(context, postgres, config, "market_bars") as step:
            return _load_market_bars(context, postgres, step)

    def _load_market_bars(context, postgres, step) -> dg.Output[dict[str, MarketBars]]:
        loaded, fingerprints = {}, {}
        for crypto in context.partition_keys:
            bars = config.data.load_bars(crypto)
            fingerprints[crypto] = bars.fingerprint()
            context.add_asset_metadata(
                {
                    "n_bars": bars.n_bars,
                    "first_bar": str(bars.frame.index[0]),
                    "last_bar": str(bars.frame.index[-1]),
                    "bar_interval": str(bars.bar_interval),
                    "fingerprint": fingerprints[crypto],
                    "source": bars.source,
                    # Trailing candles that had not closed, dropped at load (README: closed
                    # candles); the bars above end before them.
                    "partial_bars_dropped": bars.partial_bars_dropped,
                },
                partition_key=crypto,
            )
            # Downstream reads the close prices only; storing them alone keeps a third.
            loaded[crypto] = bars.close_only()
            step.hold(crypto, bars.n_bars)
        # The sweep's record (sweep_runs) carries the data it ran on; a run launched outside
        # `econ-obs sweep` has no record, and this changes nothing.
        with postgres.get_connection() as connection:
            record_data_fingerprints(connection, config.run_id, config.strategy, fingerprints)
        # The bars' own version: a rerun on the same bars leaves everything downstream fresh.
        return dg.Output(loaded, data_version=dg.DataVersion(bars_data_version(fingerprints)))

    # The BTC overlay needs BTC's bars beside each crypto's own, so it reads every partition.
    market_mapping = (
        dg.AllPartitionMapping()
        if config.needs_btc
        else dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=CRYPTO_DIM)
    )

    @dg.asset(
        partitions_def=parts.slices,
        backfill_policy=SINGLE_RUN,
        io_manager_key=SLICE_IO_MANAGER,
        **describe(config, "features", {"pandas"}),
        code_version=code_versions["feature_slice"],
        ins={
            "market_bars": dg.AssetIn(
                key_prefix=prefix, partition_mapping=market_mapping, **LAZY_INPUT
            )
        },
        description="One fold's window, features and close prices: the single upstream of "
        "model results and baselines.",
    )
    def feature_slice(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        market_bars: Mapping[str, MarketBars],
    ) -> dict[str, FeatureSlice]:
        with measured_step(context, postgres, config, "feature_slice") as step:
            return _build_slices(context, market_bars, step)

    def _build_slices(context, market_bars, step) -> dict[str, FeatureSlice]:
        wanted = defaultdict(list)
        for partition_key in context.partition_keys:
            wanted[decode_slice_key(partition_key).crypto].append(partition_key)
        # Read from storage once each: BTC for every crypto, each crypto's bars while in use.
        btc = market_bars[OVERLAY_CRYPTO] if config.needs_btc else None
        out = {}
        for crypto, partition_keys in wanted.items():
            bars = btc if crypto == OVERLAY_CRYPTO and btc is not None else market_bars[crypto]
            # The series this factor holds: the crypto's own and, for btc_overlay, BTC's.
            step.hold(crypto, bars.n_bars)
            if btc is not None:
                step.hold(OVERLAY_CRYPTO, btc.n_bars)
            read = {
                crypto: bars.fingerprint(),
                **({OVERLAY_CRYPTO: btc.fingerprint()} if btc is not None else {}),
            }
            slices = build_feature_slices(
                bars,
                config.folds,
                config.factor,
                config.factor_params,
                btc=btc,
                max_gap_bars=config.data.max_gap_bars,
            )
            del bars
            step.release(crypto)  # BTC's series, under btc_overlay, stays held throughout
            for partition_key in partition_keys:
                feature_slice = slices[decode_slice_key(partition_key).fold_id]
                context.add_asset_metadata(
                    {
                        **slice_metadata(feature_slice),
                        INPUT_FINGERPRINTS: input_fingerprints_text(read),
                        SLICE_FINGERPRINT: feature_slice.content_fingerprint,
                    },
                    partition_key=partition_key,
                )
                out[partition_key] = feature_slice
        return out

    # Both result assets: same partitions, same single upstream slice, same retry rule.
    result_asset = {
        "partitions_def": parts.results,
        "backfill_policy": SINGLE_RUN,
        "retry_policy": DATABASE_RETRY,
        "ins": {
            "feature_slice": dg.AssetIn(
                key_prefix=prefix, partition_mapping=parts.slice_to_result, **LAZY_INPUT
            )
        },
    }

    @dg.asset(
        **result_asset,
        **describe(config, "results", {"postgres"}, table_definition_metadata(BASELINES_TABLE)),
        code_version=code_versions["baseline_rows"],
        description="buy_and_hold, random and naive rows per (crypto, fold, cost_bps, "
        "slippage_bps), on the slice's test window at the partition's cost basis; written to "
        "finetune_baselines.",
    )
    def baseline_rows(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        feature_slice: Mapping[str, FeatureSlice],
    ) -> None:
        with (
            retry_only_database_errors(),
            measured_step(context, postgres, config, "baseline_rows") as step,
            postgres.get_engine() as engine,
            PartitionBatch(context, engine, BASELINES_TABLE) as batch,
        ):
            for part in one_slice_at_a_time(config, context.partition_keys, feature_slice):
                step.hold(str(part.key.slice_key), part.feature_slice.fold.n_test_bars)
                step.release(str(part.key.slice_key))  # one slice at a time
                results = evaluate_baselines(part.feature_slice, part.cost, config.random_baseline)
                rows, seeds = baseline_rows_for(part, results, context.run.run_id)
                batch.add(
                    part.partition_key,
                    PartitionRows(part.basis, rows, seeds),
                    {
                        "n_rows": len(rows),
                        **table_materialisation_metadata(BASELINES_TABLE, len(rows)),
                        **basis_metadata(part.basis),
                        SLICE_FINGERPRINT: part.feature_slice.content_fingerprint,
                        **{f"{r.baseline_type}_net_return": r.metrics.net_return for r in results},
                    },
                )

    @dg.asset(
        **result_asset,
        **describe(config, "results", {"postgres"}, table_definition_metadata(RESULTS_TABLE)),
        code_version=code_versions["model_results"],
        deps=[baseline_rows],
        description="One row per model variant per (crypto, fold, cost_bps, slippage_bps); "
        "written to finetune_results. Runs after baseline_rows so its metadata compares the two.",
    )
    def model_results(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        feature_slice: Mapping[str, FeatureSlice],
    ) -> None:
        # A variant's trades and their matched placements do not depend on the cost: both are
        # made once per slice (a slice's costs are consecutive partitions) and then dropped.
        # The stored seeds and baselines of a slice's costs are read in one query too.
        with (
            retry_only_database_errors(),
            measured_step(context, postgres, config, "model_results") as step,
            postgres.get_engine() as engine,
            PartitionBatch(context, engine, RESULTS_TABLE) as batch,
        ):
            partitions = one_slice_at_a_time(config, context.partition_keys, feature_slice)
            for slice_key, group in groupby(partitions, key=lambda part: part.key.slice_key):
                parts = list(group)
                one_slice = parts[0].feature_slice
                step.hold(str(slice_key), one_slice.fold.n_test_bars)
                step.release(str(slice_key))  # one slice at a time
                trades = {
                    variant.name: Trades(
                        *trades_from_positions(variant_positions(one_slice, variant))
                    )
                    for variant in config.variants
                }
                placements = PlacementCache()
                seeds = {
                    v.name: matched_seed(slice_key.crypto, slice_key.fold_id, v.name)
                    for v in config.variants
                }
                with engine.connect() as connection:
                    stored = stored_baseline_returns(connection, [part.basis for part in parts])
                for part, baselines in zip(parts, stored, strict=True):
                    assessed = assess_cell(
                        one_slice.price_path,
                        trades,
                        part.cost,
                        config.matched_null.n_perms,
                        seeds,
                        baselines.seed_net_returns,
                        placements,
                    )
                    rows = model_rows_for(part, config.variants, assessed, context.run.run_id)
                    variant_net = {name: a.metrics.net_return for name, a in assessed.items()}
                    batch.add(
                        part.partition_key,
                        PartitionRows(part.basis, rows),
                        {
                            "n_rows": len(rows),
                            **table_materialisation_metadata(RESULTS_TABLE, len(rows)),
                            **basis_metadata(part.basis),
                            SLICE_FINGERPRINT: one_slice.content_fingerprint,
                            **comparison_metadata(variant_net, baselines.baseline_net_returns),
                            "significance": assessment_table(assessed),
                        },
                    )

    return [market_bars, feature_slice, baseline_rows, model_results]
