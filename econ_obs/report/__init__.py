"""The sweep report: PNG figures and one self-contained HTML file from a `ReportData`.

Pure: numpy, pandas and matplotlib only, no Dagster and no SQL. The caller reads the stored rows
into a `ReportData`; `write_html_report` writes the file and `figures_markdown` gives the same
figures as markdown for Dagster metadata.
"""

from econ_obs.report.data import ReportData, fold_mean_null, seed_fold_means, stitch_equity
from econ_obs.report.figures import report_figures
from econ_obs.report.html import figures_markdown, render_html, write_html_report

__all__ = [
    "ReportData",
    "figures_markdown",
    "fold_mean_null",
    "render_html",
    "report_figures",
    "seed_fold_means",
    "stitch_equity",
    "write_html_report",
]
