"""Pod sizing: measure a step's peak memory, pick a pod profile for it, warn near the limit.

Pure code (no Dagster, no SQL, no Kubernetes client): the Dagster layer calls it.
"""

from econ_obs.sizing.headroom import (
    DEFAULT_WARN_RATIO,
    MEMORY_HEADROOM_CHECK,
    HeadroomState,
    headroom_message,
    headroom_state,
)
from econ_obs.sizing.k8s import (
    K8S_CONFIG_TAG,
    PROFILE_LABEL,
    k8s_config_for_profile,
    memory_quantity,
    step_k8s_tags,
)
from econ_obs.sizing.memory import MemoryPeak, PeakMeter, measure_peak_memory
from econ_obs.sizing.profiles import (
    DEFAULT_BYTES_PER_BAR,
    DEFAULT_HEADROOM,
    DEFAULT_PROFILES,
    MemoryObservation,
    PodProfile,
    SizingError,
    bytes_per_bar_estimate,
    choose_profile,
    format_bytes,
    parse_memory,
    parse_profiles,
    step_need_bytes,
)

__all__ = [
    "DEFAULT_BYTES_PER_BAR",
    "DEFAULT_HEADROOM",
    "DEFAULT_PROFILES",
    "DEFAULT_WARN_RATIO",
    "K8S_CONFIG_TAG",
    "MEMORY_HEADROOM_CHECK",
    "PROFILE_LABEL",
    "HeadroomState",
    "MemoryObservation",
    "MemoryPeak",
    "PeakMeter",
    "PodProfile",
    "SizingError",
    "bytes_per_bar_estimate",
    "choose_profile",
    "format_bytes",
    "headroom_message",
    "headroom_state",
    "k8s_config_for_profile",
    "measure_peak_memory",
    "memory_quantity",
    "parse_memory",
    "parse_profiles",
    "step_k8s_tags",
    "step_need_bytes",
]
