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
    }


def _percent(value: float | None) -> str:
    return "missing" if value is None else f"{value:+.2%}"


def comparison_metadata(variant_net: dict[str, float], baseline_net: dict[str, float]) -> dict:
    """Return the markdown table of variants beside baselines and the excess returns.

    Excess returns are plain floats so Dagster plots them across materialisations.
    """
    lines = ["| row | net_return |", "|---|---|"]
    lines += [
        f"| variant `{name}` | {_percent(net)} |" for name, net in sorted(variant_net.items())
    ]
    lines += [
        f"| baseline `{kind}` | {_percent(baseline_net.get(kind))} |"
        for kind in ("buy_and_hold", "random", "naive")
    ]
    metadata: dict = {"comparison": dg.MetadataValue.md("\n".join(lines))}
    if variant_net:
        best = max(variant_net, key=lambda name: (variant_net[name], name))
        metadata["best_variant"] = best
        metadata["best_net_return"] = float(variant_net[best])
        for kind, label in (("buy_and_hold", "buy_and_hold"), ("random", "random_mean")):
            if kind in baseline_net:
                metadata[f"excess_over_{label}"] = float(variant_net[best] - baseline_net[kind])
    return metadata
