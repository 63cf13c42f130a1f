"""Which executor runs the steps of a stage job: a deployment's choice, `ECON_OBS_EXECUTOR`.

- unset or `multiprocess`: Dagster's default; each step in its own process inside the run's
  process (or run pod).
- `in_process`: every step in the run's own process: no Python start-up per step, the quicker
  choice for small sweeps on a few cores (the live-daemon test uses it).
- `k8s`: dagster-k8s's `k8s_job_executor`: each step in a Kubernetes Job of its own, sized by
  the step's `dagster-k8s/config` op tag (`econ_obs.sizing`). Needs the `k8s` extra.

It is read when the code location loads. `econ-obs sweep` executes its stage jobs in its own
process whatever it says.
"""

import os

import dagster as dg

from econ_obs.config import ConfigError

EXECUTOR_ENV_VAR = "ECON_OBS_EXECUTOR"
EXECUTOR_NAMES = ("multiprocess", "in_process", "k8s")


def executor_name() -> str:
    """Return `ECON_OBS_EXECUTOR` as written, stripped; "" when unset."""
    return os.environ.get(EXECUTOR_ENV_VAR, "").strip()


def stage_executor() -> dg.ExecutorDefinition | None:
    """Return the executor `ECON_OBS_EXECUTOR` names; None keeps Dagster's default."""
    name = executor_name()
    if name in ("", "multiprocess"):
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ConfigError(
                f"{EXECUTOR_ENV_VAR}=k8s needs dagster-k8s: pip install 'econ_obs[k8s]'"
            ) from None
        return k8s_job_executor
    raise ConfigError(f"{EXECUTOR_ENV_VAR}={name!r} must be one of {', '.join(EXECUTOR_NAMES)}")
