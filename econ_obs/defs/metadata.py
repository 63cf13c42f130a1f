"""What a materialisation shows in the UI: counts, the window, the cost, and the comparison."""

from __future__ import annotations

import dagster as dg

from econ_obs.core.backtest import FeatureSlice
from econ_obs.store.results import PartitionBasis


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


def _percent(value: float | None) -> str:
    return "missing" if value is None else f"{value:+.2%}"


def comparison_metadata(variant_net: dict[str, float], baseline_net: dict[str, float]) -> dict:
    """Return the markdown table of every variant beside the baselines.

    No best variant is picked: a pick made after the fact on the test window is biased, and
    the significance table beside it says which variants beat chance.
    """
    lines = ["| row | net_return |", "|---|---|"]
    lines += [
        f"| variant `{name}` | {_percent(net)} |" for name, net in sorted(variant_net.items())
    ]
    lines += [
        f"| baseline `{kind}` | {_percent(baseline_net.get(kind))} |"
        for kind in ("buy_and_hold", "random", "naive")
    ]
    return {"comparison": dg.MetadataValue.md("\n".join(lines))}


_SIGNIFICANCE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("variant", "string"),
        dg.TableColumn("net_return", "float", description="fraction, after costs"),
        dg.TableColumn("n_trades", "int"),
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
    """Return each variant's net return, p-values, break-even cost and DSR as a Dagster table."""
    records = []
    for name, assessment in sorted(assessed.items()):
        matched = assessment.matched
        records.append(
            dg.TableRecord(
                {
                    "variant": name,
                    "net_return": _rounded(assessment.metrics.net_return),
                    "n_trades": int(assessment.metrics.n_trades),
                    "matched_null_mean": _rounded(matched.mean) if matched else None,
                    "p_value_matched": _rounded(matched.p_value) if matched else None,
                    "p_value_random": _rounded(assessment.p_value_random),
                    "breakeven_cost_bps": _rounded(assessment.breakeven_cost_bps, 3),
                    "deflated_sharpe": _rounded(assessment.deflated_sharpe),
                }
            )
        )
    return dg.MetadataValue.table(records=records, schema=_SIGNIFICANCE_SCHEMA)
