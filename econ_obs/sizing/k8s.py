"""The `dagster-k8s/config` tag that puts a step in a pod of a given profile.

The value follows dagster-k8s's `UserDefinedDagsterK8sConfig` (container_config is a
Kubernetes V1Container in snake_case, pod_template_spec_metadata a V1ObjectMeta). The
k8s_job_executor reads it from a step's op tags (one pod per step); K8sRunLauncher reads it
from a run's tags (one pod per run). Memory request equals the limit, so the scheduler only
places the pod on a node that has the memory, and the kernel never reclaims it under pressure
from other pods (the OOM kill comes at our limit, which `memory_headroom` watches).
"""

from __future__ import annotations

from typing import Any

from econ_obs.sizing.profiles import GIB, KIB, MIB, PodProfile

K8S_CONFIG_TAG = "dagster-k8s/config"
PROFILE_LABEL = "econ-obs/profile"


def memory_quantity(size_bytes: int) -> str:
    """Return a Kubernetes quantity for a size: '8Gi', '1536Mi', or plain bytes."""
    for suffix, factor in (("Gi", GIB), ("Mi", MIB), ("Ki", KIB)):
        if size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)


def k8s_config_for_profile(profile: PodProfile) -> dict[str, Any]:
    """Return the `dagster-k8s/config` tag value sizing a step's container to the profile."""
    memory = memory_quantity(profile.memory_bytes)
    return {
        "container_config": {
            "resources": {
                "requests": {"memory": memory, "cpu": profile.cpu},
                "limits": {"memory": memory},
            }
        },
        # A label, so `kubectl get pods -l econ-obs/profile=heavy` lists the large pods.
        "pod_template_spec_metadata": {"labels": {PROFILE_LABEL: profile.name}},
    }


def step_k8s_tags(profile: PodProfile) -> dict[str, Any]:
    """Return op tags for `@dg.asset(op_tags=...)`: the profile's `dagster-k8s/config`."""
    return {K8S_CONFIG_TAG: k8s_config_for_profile(profile)}
