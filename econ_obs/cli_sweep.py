"""`econ-obs sweep | check | report | ui`: the verbs that drive the asset graph."""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import URL, Connection

from econ_obs.config import SWEEP_ENV_VAR, SweepConfig, load_sweep_config
from econ_obs.config.data_check import check_against_data
from econ_obs.core.rollup import ROLLUP_FIELDS, rollup
from econ_obs.paths import project_home
from econ_obs.runtime import prepare_runtime
from econ_obs.store.database import connect, make_engine
from econ_obs.store.report import REPORT_COLUMNS, report_rows

# The table leaves out what only csv and json need, never a key column (slippage_bps is one:
# two slippages at one cost are two rows); the roll-up prints every field.
TABLE_COLUMNS = tuple(
    c
    for c in REPORT_COLUMNS
    if c not in ("naive", "matched_null_p05", "matched_null_p95")
    and c not in ("gross_edge_bps_per_trade", "gross_return", "test_start", "test_end")
)
ROLLUP_COLUMNS = ROLLUP_FIELDS
UI_HOST, UI_PORT = "127.0.0.1", "3000"
UI_SHUTDOWN_SECONDS = 30
T = TypeVar("T")


def _config(args: argparse.Namespace) -> SweepConfig:
    return load_sweep_config(args.config)


def _read(database_url: URL, reader: Callable[[Connection], T]) -> T:
    engine = make_engine(database_url)
    try:
        with connect(engine) as connection:
            return reader(connection)
    finally:
        engine.dispose()


def _format_number(value: object) -> str:
    if value is None:
        return "missing"
    return f"{value:+.4f}" if isinstance(value, float) else str(value)


def print_table(rows: Sequence[dict], columns: Sequence[str], out=sys.stdout) -> None:
    """Print rows as an aligned text table."""
    cells = [[_format_number(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)


def _report_rows(config: SweepConfig, database_url: URL) -> list[dict]:
    """Return the model rows at the config's keys; rows an older config left are not listed."""
    from econ_obs.defs.checks import expected_keys

    expected = expected_keys(config)
    return _read(database_url, lambda c: report_rows(c, config.run_id, config.strategy, expected))


def _rollup_rows(rows: list[dict]) -> list[dict]:
    return [row.as_dict() for row in rollup(rows)]


def _json_value(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _write_html(config: SweepConfig, database_url: URL, path: str) -> None:
    from pathlib import Path

    from econ_obs.defs.checks import expected_keys
    from econ_obs.report.figures import report_figures
    from econ_obs.report.html import write_html_report
    from econ_obs.store.report_data import load_report_data

    expected = expected_keys(config)
    data = _read(
        database_url, lambda c: load_report_data(c, config.run_id, config.strategy, expected)
    )
    written = write_html_report(data, Path(path), report_figures(data))
    print(f"HTML report written to {written}", file=sys.stderr)


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

    return {name: rows for name, rows in _read(database_url, read).items() if rows}


def _sweep(args: argparse.Namespace) -> int:
    from econ_obs.definitions import build_definitions, default_resources
    from econ_obs.defs.sweep import raise_input_error, run_sweep, sweep_plan
    from econ_obs.signals import Interrupted, on_hard_stop
    from econ_obs.store.orphans import end_own_runs, mark_orphaned_runs, open_instance

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
    check_against_data(config)
    # sweep_runs: the run_id's keys belong to one config; another one is refused (exit 2)
    # unless --replace, which deletes the keys outside this config before anything runs.
    from econ_obs.defs.checks import expected_keys
    from econ_obs.store.sweep_runs import begin_sweep, canonical_config, finish_sweep

    canonical, expected = canonical_config(config), expected_keys(config)
    started = _read(
        runtime.database_url, lambda c: begin_sweep(c, canonical, expected, args.replace)
    )
    if any(started.removed.values()):
        print(f"--replace removed rows outside this config: {started.removed}")
    with open_instance(runtime.dagster_url) as instance:
        for orphan in mark_orphaned_runs(instance):
            print(f"dagster run {orphan.run_id[:8]} marked FAILED: its process is gone")

        def end_runs(signum: int) -> None:  # the main thread is stuck inside Dagster
            reason = f"econ-obs sweep interrupted by {signal.Signals(signum).name}"
            for run in end_own_runs(instance, reason):
                print(f"dagster run {run.run_id[:8]} marked CANCELED", file=sys.stderr)

        forget_end_runs = on_hard_stop(end_runs)
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
    _read(
        runtime.database_url,
        lambda c: finish_sweep(
            c, config.run_id, config.strategy, [o.dagster_run_id for o in outcomes]
        ),
    )
    raise_input_error(outcomes)  # a bad file or config: one line, exit 2
    seconds = sum(o.seconds for o in outcomes)
    print(f"materialised in {seconds:.1f}s ({n_results / seconds:.1f} result partitions/s)")
    rolled = _rollup_rows(_report_rows(config, runtime.database_url))
    print_table(rolled, ROLLUP_COLUMNS)
    _print_verdicts(rolled)
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


def _print_verdicts(rolled: list[dict]) -> None:
    counts: dict[str, int] = {}
    for row in rolled:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    summary = ", ".join(f"{verdict} {count}" for verdict, count in sorted(counts.items()))
    print(f"verdicts over {len(rolled)} (crypto, variant, cost): {summary or 'none'}")


def _check(args: argparse.Namespace) -> int:
    config = _config(args)
    runtime = prepare_runtime()
    failures = _run_checks(config, runtime.database_url)
    _print_check_failures(failures)
    if not failures:
        print(f"all checks passed for run_id {config.run_id!r} strategy {config.strategy!r}")
    return 1 if failures else 0


def _report(args: argparse.Namespace) -> int:
    config = _config(args)
    runtime = prepare_runtime()
    rows = _report_rows(config, runtime.database_url)
    rolled = _rollup_rows(rows)
    if args.html:
        _write_html(config, runtime.database_url, args.html)
    if args.format == "json":
        document = {
            "rows": [{k: _json_value(row[k]) for k in REPORT_COLUMNS} for row in rows],
            "rollup": rolled,
        }
        print(json.dumps(document, indent=2))
    elif args.format == "csv":
        columns = ROLLUP_COLUMNS if args.rollup else REPORT_COLUMNS
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rolled if args.rollup else rows)
    else:
        print_table(rows, TABLE_COLUMNS)
        print()
        print_table(rolled, ROLLUP_COLUMNS)
        _print_verdicts(rolled)
    return 0


def _ui(args: argparse.Namespace) -> int:
    from econ_obs.paths import workspace_file
    from econ_obs.runtime import require_free_port, write_dotenv
    from econ_obs.store.orphans import mark_orphaned_runs, open_instance

    config = _config(args)  # validate before starting anything
    require_free_port(UI_HOST, args.port)  # else the webserver dies and a stranger's UI answers
    runtime = prepare_runtime()
    os.environ[SWEEP_ENV_VAR] = str(config.source_path)
    # Before the UI shows them: runs left STARTED by a killed econ-obs process are FAILED.
    with open_instance(runtime.dagster_url) as instance:
        for orphan in mark_orphaned_runs(instance):
            print(f"dagster run {orphan.run_id[:8]} marked FAILED: its process is gone")
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
        (
            "report",
            "print the per-key comparison of model and baselines from the database",
            _report,
        ),
        ("ui", f"start `dagster dev` on {UI_HOST} against the same instance and database", _ui),
    ]
    for name, help_text, handler in specs:
        parser = verbs.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--config", metavar="PATH", help=config_help)
        parser.set_defaults(handler=handler)
        if name == "report":
            parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
            parser.add_argument(
                "--rollup", action="store_true", help="csv: the roll-up across folds, not rows"
            )
            parser.add_argument(
                "--html", metavar="PATH", help="also write a self-contained HTML report there"
            )
        if name == "ui":
            parser.add_argument("--port", type=int, default=int(UI_PORT))
        if name == "sweep":
            parser.add_argument(
                "--replace",
                action="store_true",
                help="the run_id was swept with another config: delete its keys outside this "
                "config (one transaction) and sweep; without it such a sweep is refused",
            )
