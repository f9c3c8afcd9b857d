"""Reports: the monthly report's data (``gather``) and its Markdown, HTML and CSV renderings (``render``)."""

from .gather import Report, month_window, monthly_report
from .render import FORMATS, render, render_csv, render_html, render_md, usd

__all__ = [
    "FORMATS",
    "Report",
    "month_window",
    "monthly_report",
    "render",
    "render_csv",
    "render_html",
    "render_md",
    "usd",
]
