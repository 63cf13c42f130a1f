"""deploy/k8s: the instance config is what K8sRunLauncher accepts, and each profile's step Job,
built by dagster-k8s's own job constructor, has the profile's resources and no literal URL."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_k8s_job_name,
    get_user_defined_k8s_config,
)
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from kubernetes.client import ApiClient

from econ_obs.definitions import STORAGE_DIR_ENV_VAR
from econ_obs.sizing import (
    DEFAULT_PROFILES,
    K8S_CONFIG_TAG,
    PROFILE_LABEL,
    PodProfile,
    k8s_config_for_profile,
    step_k8s_tags,
)
from econ_obs.store.dagster_event_log import BatchingPostgresEventLogStorage
from econ_obs.store.database import DAGSTER_DATABASE_ENV_VAR, DATABASE_ENV_VAR, render

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
SECRET = "econ-obs-database"
URL_VARS = (DATABASE_ENV_VAR, DAGSTER_DATABASE_ENV_VAR)
FAKE_URL = "postgresql://econ_obs:secret@postgres.example.internal:5432/econ_obs_dagster"


def _yaml(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _launcher_section() -> dict:
    return _yaml("dagster.yaml")["run_launcher"]


def _validated(schema: Any, config: dict) -> dict:
    """Validate `config` against a Dagster config schema through public API only: the schema
    becomes an op's config schema and `dg.validate_run_config` processes it (defaults filled,
    `env:` resolved); a bad config raises DagsterInvalidConfigError."""

    @dg.op(config_schema=schema)
    def holder() -> None:
        pass

    @dg.job
    def validate() -> None:
        holder()

    processed = dg.validate_run_config(validate, {"ops": {"holder": {"config": config}}})
    return processed["ops"]["holder"]["config"]


def _deployment() -> dict:
    (deployment,) = _yaml("values.yaml")["dagster-user-deployments"]["deployments"]
    return deployment


def _image() -> str:
    image = _deployment()["image"]
    return f"{image['repository']}:{image['tag']}"


def test_instance_names_dagster_k8s_run_launcher():
    section = _launcher_section()
    launcher_class = getattr(importlib.import_module(section["module"]), section["class"])
    assert launcher_class is K8sRunLauncher


def test_k8s_run_launcher_schema_accepts_the_instance_config():
    config = _validated(K8sRunLauncher.config_type(), _launcher_section()["config"])
    assert config["env_secrets"] == [SECRET]
    assert config["instance_config_map"] == "dagster-instance"
    assert config["job_namespace"] == "econ-obs"
    assert config["dagster_home"] == "/opt/dagster/dagster_home"  # the schema's default
    assert config["load_incluster_config"] is True
    assert f"{STORAGE_DIR_ENV_VAR}=/tmp/econ_obs/storage" in config["env_vars"]


def test_k8s_run_launcher_schema_refuses_a_misspelt_key():
    config = {**_launcher_section()["config"], "env_secret": [SECRET]}
    with pytest.raises(dg.DagsterInvalidConfigError, match="env_secret"):
        _validated(K8sRunLauncher.config_type(), config)


@pytest.mark.parametrize(
    ("name", "storage_class"),
    [
        ("run_storage", PostgresRunStorage),
        ("event_log_storage", BatchingPostgresEventLogStorage),
        ("schedule_storage", PostgresScheduleStorage),
    ],
)
def test_each_storage_class_accepts_its_instance_config(monkeypatch, name, storage_class):
    """The three storages the instance names, each in the schema of the class it names; the
    event log is ours (it batches planned events), the other two are dagster-postgres'."""
    monkeypatch.setenv(DAGSTER_DATABASE_ENV_VAR, FAKE_URL)
    configured = _yaml("dagster.yaml")[name]
    module = importlib.import_module(configured["module"])
    assert getattr(module, configured["class"]) is storage_class
    assert configured["config"] == {"postgres_url": {"env": DAGSTER_DATABASE_ENV_VAR}}
    validated = _validated(storage_class.config_type(), configured["config"])
    assert validated["postgres_url"] == FAKE_URL


_KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: test, user: {token: test}}]
contexts: [{name: test, context: {cluster: test, user: test, namespace: econ-obs}}]
current-context: test
"""


def test_dagster_loads_the_instance_with_k8s_launcher_and_postgres(
    dagster_database_url, tmp_path, monkeypatch
):
    """The whole deploy/k8s/dagster.yaml, loaded by Dagster itself on a real PostgreSQL. The
    one change: outside a cluster the launcher reads a kubeconfig instead of in-cluster config
    (nothing connects to Kubernetes at load)."""
    raw = _yaml("dagster.yaml")
    (tmp_path / "kubeconfig").write_text(_KUBECONFIG)
    raw["run_launcher"]["config"].update(
        load_incluster_config=False, kubeconfig_file=str(tmp_path / "kubeconfig")
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(DAGSTER_DATABASE_ENV_VAR, render(dagster_database_url))

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.env_secrets == [SECRET]
        assert launcher.job_namespace == "econ-obs"
        assert launcher.fail_pod_on_run_failure is True
        assert launcher.resources["limits"] == {"memory": "1Gi"}
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 20
        # The PostgreSQL run storage answers (the session database may hold other tests' runs).
        assert isinstance(instance.get_runs(limit=1), list)
    finally:
        instance.dispose()


def _job_config() -> DagsterK8sJobConfig:
    """The step Job's base config, as the launcher builds it from deploy/k8s/dagster.yaml,
    with the image of the user deployment in values.yaml."""
    config = _validated(K8sRunLauncher.config_type(), _launcher_section()["config"])
    return DagsterK8sJobConfig(
        job_image=_image(),
        dagster_home=config["dagster_home"],
        image_pull_policy=config["image_pull_policy"],
        service_account_name=config["service_account_name"],
        instance_config_map=config["instance_config_map"],
        env_secrets=config["env_secrets"],
        env_vars=config["env_vars"],
        resources=config["resources"],
    )


def _step_tags(profile: PodProfile) -> dict[str, str]:
    """The op tags Dagster stores for an asset sized to `profile`, as the executor reads them."""

    @dg.asset(op_tags=step_k8s_tags(profile))
    def btc_features() -> None:
        pass

    return dict(btc_features.op.tags)


@pytest.mark.parametrize("profile", DEFAULT_PROFILES, ids=lambda p: p.name)
def test_each_profile_builds_a_step_job_of_its_size(profile: PodProfile):
    # Dagster stores a dict tag as JSON; dagster-k8s's executor parses and validates it here.
    tags = _step_tags(profile)
    assert json.loads(tags[K8S_CONFIG_TAG]) == k8s_config_for_profile(profile)
    user_defined = get_user_defined_k8s_config(tags)
    assert user_defined == UserDefinedDagsterK8sConfig.from_dict(k8s_config_for_profile(profile))

    job = construct_dagster_k8s_job(
        job_config=_job_config(),
        args=["dagster", "api", "execute_step", "{}"],
        job_name=get_k8s_job_name("0123456789abcdef", "btc_features"),
        user_defined_k8s_config=user_defined,
        component="step_worker",
    )

    pod = job.spec.template
    (container,) = pod.spec.containers
    gib = profile.memory_bytes // 1024**3
    assert container.resources.requests == {"memory": f"{gib}Gi", "cpu": profile.cpu}
    assert container.resources.limits == {"memory": f"{gib}Gi"}
    assert container.image == _image()
    assert pod.metadata.labels[PROFILE_LABEL] == profile.name
    assert [source.secret_ref.name for source in container.env_from] == [SECRET]
    env = {var.name: var.value for var in container.env}
    assert env[STORAGE_DIR_ENV_VAR] == "/tmp/econ_obs/storage"
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    for name in URL_VARS:  # the URLs reach the pod through the Secret only
        assert name not in env

    # The manifest sent to the API server, in its own camelCase.
    manifest = ApiClient().sanitize_for_serialization(job)
    sent = manifest["spec"]["template"]["spec"]["containers"][0]
    assert sent["resources"]["limits"] == {"memory": f"{gib}Gi"}
    assert sent["envFrom"] == [{"secretRef": {"name": SECRET}}]
    assert "postgresql://" not in json.dumps(manifest)


def test_values_run_econ_obs_definitions_with_urls_from_the_secret():
    values = _yaml("values.yaml")
    deployment = _deployment()
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert module == "econ_obs.definitions"
    assert importlib.util.find_spec(module) is not None
    assert deployment["envSecrets"] == [{"name": SECRET}]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert launcher["config"]["k8sRunLauncher"]["envSecrets"] == [{"name": SECRET}]
    # External PostgreSQL, password from an existing Secret the chart does not overwrite.
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    env_names = {var["name"] for var in deployment["env"]}
    assert STORAGE_DIR_ENV_VAR in env_names
    assert not env_names & set(URL_VARS)
    for name in ("values.yaml", "dagster.yaml"):
        assert "postgresql://" not in (DEPLOY / name).read_text()


def test_the_deployment_runs_each_step_of_a_stage_job_in_its_own_kubernetes_job(
    small_config, monkeypatch
):
    from dagster_k8s import k8s_job_executor

    from econ_obs.definitions import build_definitions
    from econ_obs.defs.executor import EXECUTOR_ENV_VAR

    env = {var["name"]: var.get("value") for var in _deployment()["env"]}
    assert env[EXECUTOR_ENV_VAR] == "k8s"
    monkeypatch.setenv(EXECUTOR_ENV_VAR, env[EXECUTOR_ENV_VAR])
    defs = build_definitions(small_config)

    for job in defs.jobs:
        assert defs.resolve_job_def(job.name).executor_def is k8s_job_executor, job.name


@pytest.mark.parametrize(
    ("value", "executor"), [("", None), ("in_process", dg.in_process_executor)]
)
def test_the_executor_is_dagsters_default_or_the_one_named(value, executor, monkeypatch):
    from econ_obs.defs.executor import EXECUTOR_ENV_VAR, stage_executor

    monkeypatch.setenv(EXECUTOR_ENV_VAR, value)
    assert stage_executor() is executor


def test_an_unknown_executor_is_one_line_naming_the_variable(monkeypatch):
    from econ_obs.config import ConfigError
    from econ_obs.defs.executor import EXECUTOR_ENV_VAR, stage_executor

    monkeypatch.setenv(EXECUTOR_ENV_VAR, "kubernetes")
    with pytest.raises(ConfigError) as error:
        stage_executor()
    assert str(error.value) == (
        "ECON_OBS_EXECUTOR='kubernetes' must be one of multiprocess, in_process, k8s"
    )


def test_a_scheduled_stage_sizes_each_step_pod_from_its_measured_memory(
    small_config, engine, database_url, monkeypatch, tmp_path
):
    from econ_obs.definitions import build_definitions
    from econ_obs.defs.executor import EXECUTOR_ENV_VAR
    from econ_obs.defs.resources import PostgresResource
    from econ_obs.defs.schedules import step_pod_config
    from econ_obs.defs.sweep import stage_job_name, sweep_plan
    from econ_obs.store.step_memory import StepMemoryRow, insert_step_memory

    monkeypatch.setenv(EXECUTOR_ENV_VAR, "k8s")
    monkeypatch.setenv(DATABASE_ENV_VAR, render(database_url))  # the job's resources read these
    monkeypatch.setenv(STORAGE_DIR_ENV_VAR, str(tmp_path))
    defs = build_definitions(small_config)
    plan = sweep_plan(list(defs.assets))
    postgres = PostgresResource(database_url=render(database_url))
    # model_results held 10M bars of one series and grew by 1 KiB a bar: 10 GiB x 1.25
    # headroom needs the 16 GiB profile; baseline_rows never ran: the executor's default.
    row = StepMemoryRow(
        run_id="test_run",
        strategy="test_strategy",
        asset="model_results",
        factor=small_config.factor,
        dagster_run_id=None,
        peak_bytes=10_000_000 * 1024 + 200 * 1024**2,
        baseline_rss_bytes=200 * 1024**2,
        lifetime_peak=False,
        input_bars=10_000_000,
        input_assets=1,
        profile="standard",
        limit_bytes=8 * 1024**3,
    )
    with engine.connect() as connection:
        insert_step_memory(connection, row)

    run_config = step_pod_config(postgres, small_config, plan[-1])

    medium = next(p for p in DEFAULT_PROFILES if p.name == "medium")
    per_step = run_config["execution"]["config"]["per_step_k8s_config"]
    assert per_step == {"test_run__model_results": k8s_config_for_profile(medium)}
    # Dagster accepts it as k8s_job_executor's config of the stage job ...
    job = defs.resolve_job_def(stage_job_name(plan[-1]))
    dg.validate_run_config(job, run_config)
    # ... and dagster-k8s builds the step's Job with the profile's memory.
    step_job = construct_dagster_k8s_job(
        job_config=_job_config(),
        args=["dagster", "api", "execute_step", "{}"],
        job_name=get_k8s_job_name("0123456789abcdef", "test_run__model_results"),
        user_defined_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
            per_step["test_run__model_results"]
        ),
        component="step_worker",
    )
    (container,) = step_job.spec.template.spec.containers
    assert container.resources.limits == {"memory": "16Gi"}

    monkeypatch.setenv(EXECUTOR_ENV_VAR, "")
    assert step_pod_config(postgres, small_config, plan[-1]) == {}
