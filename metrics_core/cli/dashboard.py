"""``llm-metrics dashboard``: start the Streamlit dashboard bound to an address you choose
(registered through cli.COMMAND_MODULES).

The bind address is part of the command (``--server.address``), so the dashboard listens on
127.0.0.1 unless told otherwise, whatever the working directory (``streamlit run app.py`` alone
reads ``.streamlit/config.toml`` from the working directory only, and binds every interface
without it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"  # the repository's Streamlit entry point


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
    return value


def register(sub) -> dict:
    p = sub.add_parser("dashboard", help="start the dashboard (default http://127.0.0.1:8501, this machine only)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 = every interface)")
    p.add_argument("--port", type=_port, default=8501, help="port (default 8501)")
    return {"dashboard": cmd_dashboard}


def streamlit_command(host: str, port: int, app: Path = APP) -> list[str]:
    """The command line that runs the dashboard on ``host``:``port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def cmd_dashboard(engine, args) -> int:
    if not APP.is_file():
        print(f"error: the dashboard app is not at {APP} (run from a checkout of llm-metrics)", file=sys.stderr)
        return 1
    where = "this machine only" if args.host in ("127.0.0.1", "localhost", "::1") else "reachable from the network"
    print(
        f"llm-metrics dashboard on http://{args.host}:{args.port} ({where}; database "
        f"{engine.url.render_as_string(hide_password=True)})",
        file=sys.stderr,
        flush=True,
    )
    command = streamlit_command(args.host, args.port)
    os.execv(command[0], command)  # the dashboard takes over this process (signals, exit status)
    return 0  # not reached
