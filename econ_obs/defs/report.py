"""sweep_report: the roll-up of every variant across folds, with its figures, blocked by checks."""

from collections import Counter
from datetime import timedelta

import dagster as dg

from econ_obs.config import SweepConfig
from econ_obs.core.rollup import VERDICTS, RollupRow, rollup
from econ_obs.defs.checks import expected_keys
from econ_obs.defs.description import describe
from econ_obs.defs.resources import PostgresResource
from econ_obs.defs.versions import asset_code_versions
from econ_obs.paths import state_dir
from econ_obs.report.figures import report_figures
from econ_obs.report.html import figures_markdown, render_html
from econ_obs.store.report_data import load_report_data

# The report is due after every scheduled sweep (nightly by default). Past a day and two hours
# without a new one the UI shows it WARN (one night missed), past two days FAIL. The policy
# only colours the asset; it never blocks a run, and the checks stay the gate on its content.
REPORT_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=50), warn_window=timedelta(hours=26)
)

# The verdict comes early: the UI's table is narrow and a user reads it first.
ROLLUP_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("crypto", "string"),
        dg.TableColumn("variant", "string"),
        dg.TableColumn("cost_bps", "int", description="per-side fee"),
        dg.TableColumn("verdict", "string", description=" | ".join(VERDICTS)),
        dg.TableColumn("mean_net_return", "float", description="fraction, mean over folds"),
        dg.TableColumn("t_stat", "float", description="of the net return across folds"),
        dg.TableColumn("share_significant", "float", description="folds with p_matched < 0.05"),
        dg.TableColumn("share_positive", "float", description="folds with net_return > 0"),
        dg.TableColumn("n_folds", "int"),
        dg.TableColumn("slippage_bps", "float", description="per-side slippage"),
    ]
)


def rollup_table(rows: list[RollupRow]) -> dg.MetadataValue:
    """Return the roll-up as a Dagster table."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(float(value), 6)

    records = [
        dg.TableRecord(
            {
                "crypto": row.crypto,
                "variant": row.variant,
                "cost_bps": int(row.cost_bps),
                "verdict": row.verdict,
                "mean_net_return": rounded(row.mean_net_return),
                "t_stat": rounded(row.t_stat),
                "share_significant": rounded(row.share_significant),
                "share_positive": rounded(row.share_positive),
                "n_folds": row.n_folds,
                "slippage_bps": float(row.slippage_bps),
            }
        )
        for row in rows
    ]
    return dg.MetadataValue.table(records=records, schema=ROLLUP_SCHEMA)


def build_report_asset(
    config: SweepConfig, model_results: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    """Return the unpartitioned report asset downstream of every result partition."""

    @dg.asset(
        deps=[model_results],
        **describe(config, "report", {"html", "matplotlib"}),
        freshness_policy=REPORT_FRESHNESS,
        code_version=asset_code_versions(config)["sweep_report"],
        description="Every variant's verdict across folds (edge, no_edge, loses_to_costs, "
        "no_trades) with its figures; the blocking checks on model_results keep it from "
        "materialising over incomplete or mismatched rows.",
    )
    def sweep_report(postgres: PostgresResource) -> dg.MaterializeResult:
        with postgres.get_connection() as connection:
            data = load_report_data(
                connection, config.run_id, config.strategy, expected_keys(config)
            )
        rolled = rollup(data.rows.to_dict("records"))
        figures = report_figures(data)
        html_path = state_dir() / "reports" / f"{config.run_id}.html"
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(data, figures), encoding="utf-8")
        verdicts = Counter(row.verdict for row in rolled)
        return dg.MaterializeResult(
            metadata={
                "run_id": config.run_id,
                "strategy": config.strategy,
                "n_model_rows": len(data.rows),
                **{f"n_{verdict}": verdicts.get(verdict, 0) for verdict in VERDICTS},
                "html_report": dg.MetadataValue.path(str(html_path)),
                "rollup": rollup_table(rolled),
                "figures": dg.MetadataValue.md(figures_markdown(figures)),
            }
        )

    return sweep_report
