"""Loading the Dagster code location does not import matplotlib (about half a second in every run
process); only drawing a figure does."""

from __future__ import annotations

import os
import subprocess
import sys


def _imported_matplotlib(statements: str) -> bool:
    probe = f"import sys; {statements}; print('matplotlib' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    return result.stdout.strip().splitlines()[-1] == "True"


def test_the_code_location_loads_without_matplotlib():
    assert not _imported_matplotlib("import econ_obs.definitions, econ_obs.report")


def test_drawing_a_figure_imports_it():
    draw = (
        "from econ_obs.report.figures import variant_colours; "
        "assert variant_colours(['a']) == {'a': '#1f77b4'}"
    )
    assert _imported_matplotlib(draw)
