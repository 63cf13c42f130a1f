"""The wheel runs without the checkout: it carries migrations/ and dagster.yaml, and an
`econ-obs sweep` from an installed wheel migrates a fresh database and writes its rows.

To stay fast the fresh venv gets its third-party packages from the project venv through a .pth
line (a folder added that way has its own .pth files ignored, so the checkout's editable
install is not seen); econ_obs itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from econ_obs.paths import checkout_root
from econ_obs.store.database import make_engine, render
from econ_obs_tests.conftest import SMALL_SWEEP_YAML

# The build needs only the sources; the rest of the checkout is state, caches or the venv.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".econ_obs", ".env", "build", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", ".tmp_dagster_home_*", "logs", "storage", "history", "schedules", ".logs_queue",
)  # fmt: skip


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = checkout_root()
    assert root is not None, "the wheel is built from the checkout"
    # A clean copy: setuptools reuses build/ in place, which could hide a file the wheel lacks.
    sources = tmp_path_factory.mktemp("sources") / "econ_obs"
    shutil.copytree(root, sources, symlinks=True, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(sources)],
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("econ_obs-*.whl")
    return path


def test_the_wheel_carries_the_migrations_and_the_dagster_config(wheel):
    root = checkout_root()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = {
            Path(name).name: archive.read(name)
            for name in names
            if name.startswith("econ_obs/deployment/migrations/")
        }
        dagster_yaml = archive.read("econ_obs/deployment/dagster.yaml")
        workspace_yaml = archive.read("econ_obs/deployment/workspace.yaml")

    assert shipped == {path.name: path.read_bytes() for path in root.glob("migrations/*.sql")}
    assert dagster_yaml == (root / "dagster.yaml").read_bytes()
    assert workspace_yaml == (root / "workspace.yaml").read_bytes()
    assert "econ_obs/sweeps/default.yaml" in names
    assert not any(name.startswith("econ_obs_tests/") for name in names)


def test_an_installed_wheel_sweeps_from_any_folder(wheel, make_database, tmp_path):
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)],
        timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    venv_packages = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    (venv_packages / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    config = work / "small_sweep.yaml"
    config.write_text(SMALL_SWEEP_YAML)
    app_url = make_database("econ_obs_wheel")  # empty: the wheel's migrations create the tables
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECON_OBS_", "DAGSTER_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        ECON_OBS_HOME=str(home),
        ECON_OBS_DATABASE_URL=render(app_url),
        ECON_OBS_DAGSTER_DATABASE_URL=render(make_database("econ_obs_wheel_dagster")),
    )

    where = _run(
        [str(python), "-c", "import econ_obs.paths as p; print(p.__file__, p.checkout_root())"],
        env=env,
        cwd=work,
    )
    swept = _run(
        [str(venv / "bin" / "econ-obs"), "sweep", "--config", str(config)],
        env=env,
        cwd=work,
        timeout=300,
    )

    assert where.stdout.split() == [str(venv_packages / "econ_obs" / "paths.py"), "None"]
    assert swept.returncode == 0, swept.stdout[-2000:] + swept.stderr[-3000:]
    engine = make_engine(app_url)
    try:
        with engine.connect() as connection:
            results = connection.execute(sa.text("SELECT count(*) FROM finetune_results"))
            migrations = connection.execute(sa.text("SELECT count(*) FROM schema_migrations"))
            assert results.scalar_one() == 16  # 2 cryptos x 2 folds x 2 costs x 2 variants
            assert migrations.scalar_one() == len(list(checkout_root().glob("migrations/*.sql")))
    finally:
        engine.dispose()
    # The instance's dagster.yaml is the packaged one, copied into the state folder.
    assert (home / ".econ_obs" / "dagster_home" / "dagster.yaml").read_bytes() == (
        checkout_root() / "dagster.yaml"
    ).read_bytes()
