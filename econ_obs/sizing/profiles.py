"""Pod profiles and the choice of one for a step, from measured bytes per bar.

A profile is a named memory limit (and CPU request) for the pod that runs a step. A step's
need is ``bytes_per_bar x bars x assets x headroom`` (+ ``fixed_bytes x headroom``), where
``bars`` is the number of bars one asset's series holds in the step and ``assets`` the number
of series the step holds at once (2 for a factor that loads BTC beside the crypto, as
``btc_overlay`` does). ``bytes_per_bar`` comes from measured peaks of earlier runs of the same
factor (`bytes_per_bar_estimate`), never from a hand-kept list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

KIB = 1024
MIB = 1024**2
GIB = 1024**3
DEFAULT_HEADROOM = 1.25
DEFAULT_LAST_RUNS = 10
DEFAULT_CPU = "1"
# With no measurement yet: about 100 times a raw OHLCV bar (five float64 and a timestamp,
# 48 bytes). build_feature_slices on the sample data grew the process by 107 (btc_overlay)
# to 363 (returns) bytes per bar per asset, so this leaves ten times that for frames, copies
# and model fits. A first run at this figure is oversized, not killed; its measurement
# replaces it.
DEFAULT_BYTES_PER_BAR = 4 * KIB

_UNITS = {"": 1, "Ki": KIB, "Mi": MIB, "Gi": GIB, "Ti": 1024**4}
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|)B?")
_CPU = re.compile(r"\d+(\.\d+)?|\d+m")
_PROFILE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # usable as a Kubernetes label


class SizingError(ValueError):
    """A one-line sizing problem: a bad profile entry, or a step no profile can hold."""


@dataclass(frozen=True)
class PodProfile:
    """A pod size: `memory_bytes` is both the request and the limit; `cpu` the request."""

    name: str
    memory_bytes: int
    cpu: str = DEFAULT_CPU


DEFAULT_PROFILES: tuple[PodProfile, ...] = (
    PodProfile("standard", 8 * GIB),
    PodProfile("medium", 16 * GIB),
    PodProfile("heavy", 24 * GIB),
)


@dataclass(frozen=True)
class MemoryObservation:
    """One measured run of a factor's step: its peak and the data it held."""

    peak_bytes: int
    bars: int  # bars of one asset's series held by the step
    assets: int  # series held at once (2 for a factor that loads BTC beside the crypto)


def format_bytes(size_bytes: float) -> str:
    """Return a size as '7.68 GiB' (binary units, two decimals above 1 KiB)."""
    for unit, factor in (("TiB", 1024**4), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(size_bytes) >= factor:
            return f"{size_bytes / factor:.2f} {unit}"
    return f"{size_bytes:.0f} B"


def parse_memory(value: Any, where: str) -> int:
    """Return bytes from an int or a binary quantity ('8GiB', '8Gi', '512 MiB')."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _QUANTITY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise SizingError(
            f"{where}: {value!r} is not a memory size; write e.g. 8GiB, 512MiB or 8Gi"
        )
    return int(float(match[1]) * _UNITS[match[2]])


def parse_profiles(raw: Any, source: str = "profiles") -> tuple[PodProfile, ...]:
    """Return profiles sorted by memory from ``{name: 8GiB}`` or ``{name: {memory, cpu}}``."""
    if not isinstance(raw, Mapping) or not raw:
        raise SizingError(f"{source}: {raw!r} is not a mapping; write e.g. {{standard: 8GiB}}")
    profiles = []
    for name, entry in raw.items():
        where = f"{source}.{name}"
        if not isinstance(name, str) or not _PROFILE_NAME.fullmatch(name):
            raise SizingError(f"{where}: the name must be lower-case letters, digits and '-'")
        if isinstance(entry, Mapping):
            unknown = sorted(set(entry) - {"memory", "cpu"})
            if unknown or "memory" not in entry:
                raise SizingError(
                    f"{where}: {dict(entry)!r} needs 'memory' and may have 'cpu' only;"
                    " write e.g. {memory: 8GiB, cpu: '2'}"
                )
            memory, cpu = entry["memory"], str(entry.get("cpu", DEFAULT_CPU))
            if not _CPU.fullmatch(cpu) or float(cpu.rstrip("m")) <= 0:
                raise SizingError(f"{where}.cpu: {cpu!r} is not a CPU amount; write e.g. 2 or 500m")
        else:
            memory, cpu = entry, DEFAULT_CPU
        profiles.append(PodProfile(name, parse_memory(memory, f"{where}.memory"), cpu))
    by_size = sorted(profiles, key=lambda p: p.memory_bytes)
    for smaller, larger in pairwise(by_size):
        if smaller.memory_bytes == larger.memory_bytes:
            raise SizingError(
                f"{source}: {smaller.name!r} and {larger.name!r} have the same memory"
                f" ({format_bytes(larger.memory_bytes)}); keep one"
            )
    return tuple(by_size)


def step_need_bytes(
    bytes_per_bar: float,
    bars: int,
    assets: int,
    headroom: float = DEFAULT_HEADROOM,
    fixed_bytes: int = 0,
) -> float:
    """Return the memory a step needs, bytes: (bytes_per_bar x bars x assets + fixed) x headroom."""
    if not (math.isfinite(bytes_per_bar) and bytes_per_bar > 0):
        raise SizingError(f"bytes_per_bar {bytes_per_bar!r} must be a finite number > 0")
    if bars < 1 or assets < 1:
        raise SizingError(f"bars ({bars}) and assets ({assets}) must be >= 1")
    if not (math.isfinite(headroom) and headroom >= 1):
        raise SizingError(f"headroom {headroom!r} must be >= 1 (1.25 leaves 25% spare)")
    if fixed_bytes < 0:
        raise SizingError(f"fixed_bytes {fixed_bytes!r} must be >= 0")
    return (bytes_per_bar * bars * assets + fixed_bytes) * headroom


def choose_profile(
    bytes_per_bar: float,
    bars: int,
    assets: int,
    headroom: float = DEFAULT_HEADROOM,
    profiles: Sequence[PodProfile] = DEFAULT_PROFILES,
    fixed_bytes: int = 0,
) -> PodProfile:
    """Return the smallest profile whose memory >= the step's need (`step_need_bytes`)."""
    need = step_need_bytes(bytes_per_bar, bars, assets, headroom, fixed_bytes)
    if not profiles:
        raise SizingError("no pod profiles configured; configure e.g. {standard: 8GiB}")
    by_size = sorted(profiles, key=lambda p: p.memory_bytes)
    for profile in by_size:
        if profile.memory_bytes >= need:
            return profile
    largest = by_size[-1]
    fixed = f" + {format_bytes(fixed_bytes)}" if fixed_bytes else ""
    raise SizingError(
        f"step needs {format_bytes(need)} ({bytes_per_bar:,.0f} bytes/bar x {bars:,} bars x"
        f" {assets} assets{fixed}, x {headroom} headroom) but the largest profile"
        f" {largest.name!r} is {format_bytes(largest.memory_bytes)};"
        " add a larger profile or split the step into fewer partitions"
    )


def bytes_per_bar_estimate(
    observations: Sequence[MemoryObservation],
    last_runs: int = DEFAULT_LAST_RUNS,
    fixed_bytes: int = 0,
    default: float = DEFAULT_BYTES_PER_BAR,
) -> float:
    """Return bytes per bar per asset: the max of (peak - fixed) / (bars x assets) over the
    last `last_runs` observations (oldest first), or `default` when there are none."""
    if last_runs < 1:
        raise SizingError(f"last_runs {last_runs!r} must be >= 1")
    recent = list(observations)[-last_runs:]
    if not recent:
        return float(default)
    for observation in recent:
        if observation.bars < 1 or observation.assets < 1 or observation.peak_bytes < 0:
            raise SizingError(f"{observation!r}: bars and assets must be >= 1, peak >= 0")
    # The max, not the mean: one run near its limit is the one that gets killed. At least one
    # byte, so a run that stayed under fixed_bytes still gives a usable figure.
    return max(1.0, *((o.peak_bytes - fixed_bytes) / (o.bars * o.assets) for o in recent))
