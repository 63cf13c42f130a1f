"""What a materialisation shows in the UI: counts, the window, the cost, the comparison, and
the step's measured memory."""

from __future__ import annotations

import dagster as dg

from econ_obs.core.backtest import FeatureSlice
from econ_obs.sizing import HeadroomState, MemoryPeak, format_bytes
from econ_obs.store.results import PartitionBasis
from econ_obs.store.step_memory import StepMemoryRow

BASELINE_TYPES = ("buy_and_hold", "random", "naive")
# Each asset declares the sweep it belongs to, so a failed run launched from the UI (no
# econ_obs/run_id tag) still names its sweep in the alert.
SWEEP_RUN_ID_METADATA = "econ_obs/run_id"
SWEEP_STRATEGY_METADATA = "econ_obs/strategy"
MIB = 1024**2


def basis_metadata(basis: PartitionBasis) -> dict:
    """Return the key, window, cost and slippage of a partition as metadata."""
    return {
        "crypto": basis.crypto,
        "fold_id": basis.fold_id,
        "cost_bps": basis.cost_bps,
        "slippage_bps": basis.slippage_bps,
        "test_start": str(basis.test_start),
        "test_end": str(basis.test_end),
        "n_test_bars": basis.n_test_bars,
    }


def slice_metadata(feature_slice: FeatureSlice) -> dict:
    """Return the window and features of a slice as metadata."""
    fold = feature_slice.fold
    return {
        "train_start": str(fold.train_start),
        "train_end": str(fold.train_end),
        "test_start": str(fold.test_start),
        "test_end": str(fold.test_end),
        "n_test_bars": fold.n_test_bars,
        "n_features": feature_slice.features.shape[1],
        "feature_hash": feature_slice.feature_hash,
        "data_fingerprint": feature_slice.data_fingerprint,
        **{
            f"{window}_{name}": value
            for window, gaps in (
                ("train", feature_slice.train_gaps),
                ("test", feature_slice.test_gaps),
            )
            for name, value in (
                ("missing_bars", int(gaps.missing_bars)),
                ("largest_gap_bars", int(gaps.largest_gap_bars)),
                ("span_hours", float(gaps.span_hours)),
            )
        },
    }


_COMPARISON_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("row_type", "string", description="variant | baseline"),
        dg.TableColumn("name", "string"),
        dg.TableColumn("net_return", "float", description="fraction, after costs"),
        dg.TableColumn(
            "excess_over_buy_and_hold", "float", description="net_return - buy_and_hold's"
        ),
    ]
)


def comparison_metadata(variant_net: dict[str, float], baseline_net: dict[str, float]) -> dict:
    """Return every variant's net return beside the three baselines', as a Dagster table.

    No best variant is picked: a pick made after the fact on the test window is biased, and
    the significance table beside it says which variants beat chance. A baseline that is not
    stored shows an empty net_return.
    """
    hold = baseline_net.get("buy_and_hold")
    rows = [("variant", name, net) for name, net in sorted(variant_net.items())]
    rows += [("baseline", kind, baseline_net.get(kind)) for kind in BASELINE_TYPES]
    records = [
        dg.TableRecord(
            {
                "row_type": row_type,
                "name": name,
                "net_return": _rounded(net),
                "excess_over_buy_and_hold": None
                if net is None or hold is None
                else _rounded(net - hold),
            }
        )
        for row_type, name, net in rows
    ]
    return {"comparison": dg.MetadataValue.table(records=records, schema=_COMPARISON_SCHEMA)}


_SIGNIFICANCE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("variant", "string"),
        dg.TableColumn("net_return", "float", description="fraction, after costs"),
        dg.TableColumn("n_trades", "int"),
        dg.TableColumn("exposure", "float", description="fraction of the window's bars held"),
        dg.TableColumn("sharpe", "float", description="annualised, per-bar net returns"),
        dg.TableColumn("matched_null_mean", "float", description="mean net return of the null"),
        dg.TableColumn("p_value_matched", "float", description="(1 + #{null >= net}) / (n + 1)"),
        dg.TableColumn("p_value_random", "float", description="against the random seeds"),
        dg.TableColumn("breakeven_cost_bps", "float", description="per side, fee + slippage"),
        dg.TableColumn("deflated_sharpe", "float", description="probability, across variants"),
    ]
)


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def assessment_table(assessed: dict) -> dg.MetadataValue:
    """Return each variant's net return, exposure, sharpe, p-values, break-even cost and DSR
    as a Dagster table."""
    records = []
    for name, assessment in sorted(assessed.items()):
        matched = assessment.matched
        records.append(
            dg.TableRecord(
                {
                    "variant": name,
                    "net_return": _rounded(assessment.metrics.net_return),
                    "n_trades": int(assessment.metrics.n_trades),
                    "exposure": _rounded(assessment.metrics.exposure),
                    "sharpe": _rounded(assessment.metrics.sharpe, 4),
                    "matched_null_mean": _rounded(matched.mean) if matched else None,
                    "p_value_matched": _rounded(matched.p_value) if matched else None,
                    "p_value_random": _rounded(assessment.p_value_random),
                    "breakeven_cost_bps": _rounded(assessment.breakeven_cost_bps, 3),
                    "deflated_sharpe": _rounded(assessment.deflated_sharpe),
                }
            )
        )
    return dg.MetadataValue.table(records=records, schema=_SIGNIFICANCE_SCHEMA)


def step_memory_metadata(
    row: StepMemoryRow, peak: MemoryPeak, bytes_per_bar_estimate: float, sizing_note: str | None
) -> dict:
    """Return a step's measured peak, the data it held and the profile chosen for it.

    bytes_per_bar is this step's growth above its starting RSS per bar per asset (the figure
    the next choice is made from); bytes_per_bar_estimate the one this step's profile came from.
    """
    growth = peak.growth_bytes if peak.growth_bytes is not None else row.peak_bytes
    metadata = {
        "factor": row.factor,
        "peak_memory_bytes": row.peak_bytes,
        "peak_memory_mib": round(row.peak_bytes / MIB, 1),
        "baseline_rss_bytes": row.baseline_rss_bytes,
        "lifetime_peak": row.lifetime_peak,
        "step_seconds": round(peak.seconds, 3),
        "input_bars": row.input_bars,
        "input_assets": row.input_assets,
        "bytes_per_bar": round(growth / (row.input_bars * row.input_assets), 1),
        "bytes_per_bar_estimate": round(bytes_per_bar_estimate, 1),
        "memory_profile": row.profile,
        "memory_limit_bytes": row.limit_bytes,
        "memory_limit": format_bytes(row.limit_bytes),
    }
    if sizing_note:
        metadata["sizing_note"] = sizing_note
    return metadata


_STEP_MEMORY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("asset", "string"),
        dg.TableColumn("factor", "string"),
        dg.TableColumn("peak_bytes", "int"),
        dg.TableColumn("limit_bytes", "int"),
        dg.TableColumn("profile", "string"),
        dg.TableColumn("ratio", "float", description="peak / limit"),
        dg.TableColumn("status", "string", description="ok | warn"),
    ]
)


def step_memory_table(states: list[tuple[StepMemoryRow, HeadroomState]]) -> dg.MetadataValue:
    """Return each measured step's peak against its profile's limit, as a Dagster table."""
    records = [
        dg.TableRecord(
            {
                "asset": row.asset,
                "factor": row.factor,
                "peak_bytes": row.peak_bytes,
                "limit_bytes": row.limit_bytes,
                "profile": row.profile,
                "ratio": round(state.ratio, 4),
                "status": state.status,
            }
        )
        for row, state in states
    ]
    return dg.MetadataValue.table(records=records, schema=_STEP_MEMORY_SCHEMA)
