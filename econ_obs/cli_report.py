"""`econ-obs report`: the model and baseline rows at the config's keys, and their roll-up
across folds, as a table, CSV, JSON or an HTML file; also the roll-up that `sweep` ends with."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import URL, Connection

from econ_obs.config import SweepConfig, load_sweep_config
from econ_obs.core.rollup import ROLLUP_FIELDS, rollup
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
REPORT_HELP = "print the per-key comparison of model and baselines from the database"
T = TypeVar("T")


def read_database(database_url: URL, reader: Callable[[Connection], T]) -> T:
    """Return what reader reads through one connection; the engine is disposed after."""
    engine = make_engine(database_url)
    try:
        with connect(engine) as connection:
            return reader(connection)
    finally:
        engine.dispose()


# Columns that are part of a row's basis, printed as written (5, 2.5), not as a signed figure.
PLAIN_NUMBER_COLUMNS = ("slippage_bps",)


def _format_number(value: object, column: str = "") -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:g}" if column in PLAIN_NUMBER_COLUMNS else f"{value:+.4f}"
    return str(value)


def print_table(rows: Sequence[dict], columns: Sequence[str], out=sys.stdout) -> None:
    """Print rows as an aligned text table."""
    cells = [[_format_number(row.get(c), c) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)


def _report_rows(config: SweepConfig, database_url: URL) -> list[dict]:
    """Return the model rows at the config's keys; rows an older config left are not listed."""
    from econ_obs.defs.checks import expected_keys

    expected = expected_keys(config)
    return read_database(
        database_url, lambda c: report_rows(c, config.run_id, config.strategy, expected)
    )


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
    data = read_database(
        database_url, lambda c: load_report_data(c, config.run_id, config.strategy, expected)
    )
    written = write_html_report(data, Path(path), report_figures(data))
    print(f"HTML report written to {written}", file=sys.stderr)


def _print_verdicts(rolled: list[dict]) -> None:
    counts: dict[str, int] = {}
    for row in rolled:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    summary = ", ".join(f"{verdict} {count}" for verdict, count in sorted(counts.items()))
    basis = "(crypto, variant, cost_bps, slippage_bps)"
    print(f"verdicts over {len(rolled)} {basis}: {summary or 'none'}")


def print_rollup(config: SweepConfig, database_url: URL) -> None:
    """Print the roll-up across folds of the config's keys, then the count of each verdict."""
    rolled = _rollup_rows(_report_rows(config, database_url))
    print_table(rolled, ROLLUP_COLUMNS)
    _print_verdicts(rolled)


def report(args: argparse.Namespace) -> int:
    """Run `econ-obs report`: print the rows and roll-up in args.format; exit 0."""
    config = load_sweep_config(args.config)
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


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the report verb's own options (its --config is shared with the other verbs)."""
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument(
        "--rollup", action="store_true", help="csv: the roll-up across folds, not rows"
    )
    parser.add_argument(
        "--html", metavar="PATH", help="also write a self-contained HTML report there"
    )
