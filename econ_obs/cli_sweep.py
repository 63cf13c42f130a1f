"""`econ-obs sweep | check | ui`: the verbs that drive the asset graph (`report` is in
cli_report.py; every verb is registered here, in the order --help lists them)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import subprocess
import sys

from sqlalchemy.engine import URL, Connection

from econ_obs.cli_report import (
    REPORT_HELP,
    add_report_arguments,
    print_rollup,
    read_database,
    report,
)
from econ_obs.config import SWEEP_ENV_VAR, SweepConfig, load_sweep_config
from econ_obs.config.data_check import check_against_data
from econ_obs.paths import project_home
from econ_obs.runtime import prepare_runtime

UI_HOST, UI_PORT = "127.0.0.1", "3000"
UI_SHUTDOWN_SECONDS = 30


def _config(args: argparse.Namespace) -> SweepConfig:
    return load_sweep_config(args.config)


def _print_check_failures(failures: dict[str, list[dict]]) -> None:
    for name, offending in failures.items():
        print(f"check {name} FAILED: {len(offending)} offending key(s)")
        for row in offending[:50]:
            print("  " + " ".join(f"{k}={v}" for k, v in row.items()))
        if len(offending) > 50:
            print(f"  ... and {len(offending) - 50} more")


def _run_checks(config: SweepConfig, database_url: URL) -> dict[str, list[dict]]:
    from econ_obs.defs.checks import CHECK_NAMES, evaluate_check, expected_keys, expected_windows

    # The current data's fold windows, read once for window_matches_config.
    expected, windows = expected_keys(config), expected_windows(config)

    def read(connection: Connection) -> dict[str, list[dict]]:
        return {
            name: evaluate_check(
                connection, name, config.run_id, config.strategy, expected, windows
            )
            for name in CHECK_NAMES
        }

    return {name: rows for name, rows in read_database(database_url, read).items() if rows}


# Young objects a cyclic collection of the first generation waits for (Python's default: 700).
_GC_FIRST_GENERATION_THRESHOLD = 10_000


def _settle_long_lived_objects() -> None:
    """Keep the cyclic garbage collector off what lives for the whole command.

    The definitions, Dagster's modules and the instance are made once and kept; frozen, no
    later full collection walks them again (those walks were about 5 % of a 240-partition
    sweep). The stages allocate many short-lived containers (events, rows, metadata): a larger
    first-generation threshold collects them in fewer, larger passes. Memory is unchanged:
    reference counting still frees every object that is not in a cycle at once.
    """
    gc.collect()
    gc.freeze()
    _, *older = gc.get_threshold()
    gc.set_threshold(_GC_FIRST_GENERATION_THRESHOLD, *older)


def _sweep(args: argparse.Namespace) -> int:
    from econ_obs.definitions import build_definitions, default_resources
    from econ_obs.defs.sweep import raise_input_error, run_sweep, sweep_plan
    from econ_obs.signals import Interrupted, on_hard_stop
    from econ_obs.store.orphans import end_own_runs, open_instance

    config = _config(args)
    runtime = prepare_runtime()
    defs = build_definitions(config)
    assets = list(defs.assets)
    plan = sweep_plan(assets)
    n_results = len(plan[-1].partition_keys)
    print(
        f"sweep {config.run_id!r} strategy {config.strategy!r}: {len(config.cryptos)} cryptos x "
        f"{config.folds.n_folds} folds x {len(config.costs_bps)} costs = {n_results} partitions, "
        f"{len(config.variants)} variants, in {len(plan)} Dagster runs"
    )
    for note in check_against_data(config):  # what the loaders dropped, said before any run
        print(note)
    # sweep_runs: the run_id's keys belong to one config; another one is refused (exit 2)
    # unless --replace, which deletes the keys outside this config before anything runs.
    from econ_obs.defs.checks import expected_keys
    from econ_obs.store.sweep_runs import begin_sweep, canonical_config, finish_sweep

    canonical, expected = canonical_config(config), expected_keys(config)
    started = read_database(
        runtime.database_url, lambda c: begin_sweep(c, canonical, expected, args.replace)
    )
    if any(started.removed.values()):
        print(f"--replace removed rows outside this config: {started.removed}")
    with open_instance(runtime.dagster_url) as instance:

        def end_runs(signum: int) -> None:  # the main thread is stuck inside Dagster
            reason = f"econ-obs sweep interrupted by {signal.Signals(signum).name}"
            for run in end_own_runs(instance, reason):
                print(f"dagster run {run.run_id[:8]} marked CANCELED", file=sys.stderr)

        forget_end_runs = on_hard_stop(end_runs)
        _settle_long_lived_objects()
        try:
            outcomes = run_sweep(
                [*assets, *defs.asset_checks],
                plan,
                instance,
                default_resources(),
                config.run_id,
                log_level="CRITICAL",  # progress lines say what happens; step errors below
            )
        except Interrupted as interrupted:
            end_runs(interrupted.signum)
            raise
        finally:
            forget_end_runs()
    read_database(
        runtime.database_url,
        lambda c: finish_sweep(
            c, config.run_id, config.strategy, [o.dagster_run_id for o in outcomes]
        ),
    )
    raise_input_error(outcomes)  # a bad file or config: one line, exit 2
    seconds = sum(o.seconds for o in outcomes)
    print(f"materialised in {seconds:.1f}s ({n_results / seconds:.1f} result partitions/s)")
    print_rollup(config, runtime.database_url)
    failures = _run_checks(config, runtime.database_url)
    _print_check_failures(failures)
    failed_stages = [o for o in outcomes if not o.success]
    for outcome in failed_stages:
        if outcome.step_error is not None:
            print(outcome.step_error.traceback, file=sys.stderr)
        print(f"stage {outcome.stage.name} FAILED (dagster run {outcome.dagster_run_id})")
    if failures or failed_stages:
        return 1
    from econ_obs.defs.checks import CHECK_NAMES

    print(f"checks passed: {', '.join(CHECK_NAMES)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _config(args)
    runtime = prepare_runtime()
    failures = _run_checks(config, runtime.database_url)
    _print_check_failures(failures)
    if not failures:
        print(f"all checks passed for run_id {config.run_id!r} strategy {config.strategy!r}")
    return 1 if failures else 0


def _ui(args: argparse.Namespace) -> int:
    from econ_obs.paths import workspace_file
    from econ_obs.runtime import require_free_port, write_dotenv

    config = _config(args)  # validate before starting anything
    require_free_port(UI_HOST, args.port)  # else the webserver dies and a stranger's UI answers
    prepare_runtime()  # it also marks FAILED the runs a killed econ-obs left STARTED
    os.environ[SWEEP_ENV_VAR] = str(config.source_path)
    # dagster dev loads the .env of its folder over our environment: make it say the same.
    write_dotenv()
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-h",
        UI_HOST,
        "-p",
        str(args.port),
        "-w",
        str(workspace_file()),
    ]
    print(f"Dagster UI on http://{UI_HOST}:{args.port} (Ctrl-C stops it and the embedded server)")
    # Its own process group, with SIGINT restored (a background shell ignores it), so that we
    # can stop dagster dev and every process it starts, before the database they all use.
    process = subprocess.Popen(
        command,
        cwd=project_home(),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a SIGTERM shuts down like Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)  # dagster dev shuts its children down on SIGINT
        try:
            return process.wait(timeout=UI_SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    """Register the sweep-related verbs on the top-level parser."""
    config_help = f"sweep YAML (default: ${SWEEP_ENV_VAR}, else the packaged default)"
    specs = [
        (
            "sweep",
            "materialise the whole sweep through Dagster, run the checks, print a "
            "summary; exit 1 if a check fails",
            _sweep,
        ),
        (
            "check",
            "run the checks against the database; exit 1 and list the keys on failure",
            _check,
        ),
        ("report", REPORT_HELP, report),
        ("ui", f"start `dagster dev` on {UI_HOST} against the same instance and database", _ui),
    ]
    for name, help_text, handler in specs:
        parser = verbs.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--config", metavar="PATH", help=config_help)
        parser.set_defaults(handler=handler)
        if name == "report":
            add_report_arguments(parser)
        if name == "ui":
            parser.add_argument("--port", type=int, default=int(UI_PORT))
        if name == "sweep":
            parser.add_argument(
                "--replace",
                action="store_true",
                help="the run_id was swept with another config: delete its keys outside this "
                "config (one transaction) and sweep; without it such a sweep is refused",
            )
