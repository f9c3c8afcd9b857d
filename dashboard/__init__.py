"""The Streamlit dashboard's shared helpers: sidebar filters, cached queries, formatting, charts.

Pages (``pages/*.py``) are short scripts that call these and ``metrics_core``; nothing here or
there touches the database except through ``metrics_core``.
"""
