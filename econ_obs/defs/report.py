"""sweep_report: the per-key comparison of the whole sweep, blocked by failing checks."""

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.defs.assets import GROUP
from econ_obs.defs.resources import PostgresResource
from econ_obs.store.report import Comparison, comparisons


def _cell(value: float | None) -> str:
    return "missing" if value is None else f"{value:+.4f}"


def comparison_markdown(rows: list[Comparison]) -> str:
    """Return a markdown table: best variant's net return beside each baseline, per key."""
    lines = [
        "| crypto | fold | cost_bps | best variant | net_return | buy_and_hold | random mean "
        "| naive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.crypto} | {row.fold_id} | {row.cost_bps} | {row.best_variant or 'missing'} "
            f"| {_cell(row.best_net_return)} | {_cell(row.buy_and_hold)} "
            f"| {_cell(row.random_mean)} | {_cell(row.naive)} |"
        )
    return "\n".join(lines)


def build_report_asset(
    config: SweepConfig, model_results: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    """Return the unpartitioned report asset downstream of every result partition."""

    @dg.asset(
        deps=[model_results],
        group_name=GROUP,
        description="The sweep's comparison table; the blocking checks on model_results keep "
        "it from materialising over incomplete or mismatched rows.",
    )
    def sweep_report(postgres: PostgresResource) -> dg.MaterializeResult:
        with postgres.get_connection() as connection:
            rows = comparisons(connection, config.run_id, config.strategy)
        beats = [r for r in rows if (r.excess_over_buy_and_hold or 0) > 0]
        return dg.MaterializeResult(
            metadata={
                "run_id": config.run_id,
                "strategy": config.strategy,
                "n_keys": len(rows),
                "n_keys_beating_buy_and_hold": len(beats),
                "comparison": dg.MetadataValue.md(comparison_markdown(rows)),
            }
        )

    return sweep_report
