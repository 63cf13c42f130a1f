"""The sweep_report asset's pure work, timed as the sweep's own process pays it.

`python -m econ_obs.bench.report_compute CONFIG`, with $ECON_OBS_DATABASE_URL set, prints the
seconds the report's roll-up, figures and HTML take on the sweep's stored rows. It runs in a
fresh process that has first imported what the sweep's process holds when its report step
starts (the code location's modules, not matplotlib), so matplotlib's import is timed with the
drawing: the report imports it when it first draws, as in the sweep, and it is neither Dagster
nor PostgreSQL. The rows are read untimed: that read is the asset's orchestration.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> float:
    import econ_obs.definitions  # noqa: F401  (the code location: what the sweep process holds)
    from econ_obs.config import load_sweep_config
    from econ_obs.core.rollup import rollup
    from econ_obs.defs.checks import expected_keys
    from econ_obs.report.figures import report_figures
    from econ_obs.report.html import figures_markdown, render_html
    from econ_obs.store.database import DATABASE_ENV_VAR, make_engine, parse_url
    from econ_obs.store.report_data import load_report_data

    (config_path,) = argv
    config = load_sweep_config(Path(config_path))
    engine = make_engine(parse_url(os.environ[DATABASE_ENV_VAR]))
    try:
        with engine.connect() as connection:
            data = load_report_data(
                connection, config.run_id, config.strategy, expected_keys(config)
            )
    finally:
        engine.dispose()
    if "matplotlib" in sys.modules:
        raise RuntimeError("matplotlib was imported before the timed report; its import is part")
    started = time.perf_counter()
    rollup(data.rows.to_dict("records"))
    figures = report_figures(data)
    figures_markdown(figures)
    render_html(data, figures)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"{main(sys.argv[1:]):.6f}")
