"""Memory headroom of a step: how close its measured peak came to its pod's limit.

The Dagster layer reports it as the WARN-severity asset check `memory_headroom`, so a step
that creeps towards its limit is seen before the OOM killer ends it (the seed system's
`btc_features` reached 7.68 GiB of 8 GiB and nobody knew until the kill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from econ_obs.sizing.profiles import SizingError, format_bytes

MEMORY_HEADROOM_CHECK = "memory_headroom"
DEFAULT_WARN_RATIO = 0.85

HeadroomStatus = Literal["ok", "warn"]


@dataclass(frozen=True)
class HeadroomState:
    """A step's peak against its limit: `ratio` = peak / limit, `warn` at or above threshold."""

    status: HeadroomStatus
    ratio: float
    peak_bytes: int
    limit_bytes: int
    threshold: float

    @property
    def passed(self) -> bool:
        return self.status == "ok"


def headroom_state(
    peak_bytes: int, limit_bytes: int, threshold: float = DEFAULT_WARN_RATIO
) -> HeadroomState:
    """Return ok when peak / limit < threshold, else warn (ratio is a fraction of the limit)."""
    if limit_bytes <= 0:
        raise SizingError(f"limit_bytes {limit_bytes!r} must be > 0")
    if peak_bytes < 0:
        raise SizingError(f"peak_bytes {peak_bytes!r} must be >= 0")
    if not (math.isfinite(threshold) and 0 < threshold <= 1):
        raise SizingError(f"threshold {threshold!r} must be in (0, 1]; write e.g. 0.85")
    ratio = peak_bytes / limit_bytes
    status: HeadroomStatus = "warn" if ratio >= threshold else "ok"
    return HeadroomState(status, ratio, peak_bytes, limit_bytes, threshold)


def headroom_message(factor: str, state: HeadroomState, profile_name: str | None = None) -> str:
    """Return the check's one line, naming the factor, the measured peak and the limit."""
    profile = f" ({profile_name!r} profile)" if profile_name else ""
    line = (
        f"{MEMORY_HEADROOM_CHECK}: factor {factor!r} peaked at {format_bytes(state.peak_bytes)}"
        f" of its {format_bytes(state.limit_bytes)} limit{profile}: {state.ratio:.0%}"
    )
    if state.status == "warn":
        return f"{line}, at or over {state.threshold:.0%}; move it to a larger profile"
    return f"{line}, under {state.threshold:.0%}"
