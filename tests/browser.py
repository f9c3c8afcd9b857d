"""Real-browser smoke harness: a Streamlit server plus Debian's headless Chromium.

Typical use::

    with streamlit_server(app, env={"LLM_METRICS_DB_URL": url}) as base, chromium() as b:
        check_page(b, base, "Overview", "overview", charts=1)

Screenshots go to ``artifacts/screenshots/<name>.png`` (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LLM_METRICS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

# Selectors that work with Streamlit 1.67.
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]'
EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stVegaLiteChart"]'  # st.altair_chart / st.vega_lite_chart
CHART_DRAWN = f"{CHART} :is(svg.marks, canvas.marks)"  # vega's drawn surface

CONTENT_HEIGHT_JS = """() => Math.ceil(Math.max(innerHeight,
  ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')]
    .map(e => e.scrollHeight + e.getBoundingClientRect().top)))"""

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason=f"{CHROMIUM} missing (apt-get install chromium fonts-dejavu-core); "
    "browser tests only run where it is installed (always in CI)",
)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(
    app: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 60,
    extra_args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run ``streamlit run app`` on a free localhost port; yield its base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        *extra_args,
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as log:
        yield from _serve(cmd, log, env, cwd, timeout, port)


def _serve(cmd, log, env, cwd, timeout, port) -> Iterator[str]:
    """Start ``cmd``, wait for /_stcore/health, yield the URL, then stop it."""
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read()[-4000:]

    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited ({proc.returncode}):\n{output()}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit not healthy in {timeout}s:\n{output()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium(headless: bool = True) -> Iterator[object]:
    """Yield a Playwright ``Browser`` driving Debian's Chromium (no downloads)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            f"{CHROMIUM} not found: apt-get install chromium fonts-dejavu-core (never `playwright install`)"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=headless)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """Open ``url`` in a fresh page (own context) and return the Page."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    return page


def assert_rendered(page, text: str, charts: int = 0, timeout: float = 30) -> None:
    """Wait for ``text`` and an idle script run; fail on exceptions or missing charts."""
    ms = timeout * 1000
    page.get_by_text(text).first.wait_for(timeout=ms)
    page.locator(APP_IDLE).wait_for(timeout=ms)
    errors = page.locator(EXCEPTION)
    if errors.count():
        raise AssertionError(f"Streamlit exception on page:\n{errors.first.inner_text()}")
    if charts:
        drawn = page.locator(CHART_DRAWN)
        drawn.nth(charts - 1).wait_for(state="visible", timeout=ms)
        for i in range(drawn.count()):
            box = drawn.nth(i).bounding_box()
            assert box and box["width"] > 50 and box["height"] > 50, f"chart {i}: {box}"


def screenshot(page, name: str, max_height: int = 8000) -> Path:
    """Save the whole page to ``artifacts/screenshots/<name>.png``.

    Streamlit scrolls inside ``stMain``, so ``full_page`` alone shows only the
    viewport: the viewport is grown to the scrolled height for the shot.
    """
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    size = page.viewport_size
    height = min(max_height, page.evaluate(CONTENT_HEIGHT_JS))
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(300)  # let the layout settle
    page.screenshot(path=str(path), full_page=True)
    if size:
        page.set_viewport_size(size)
    return path


def check_page(browser, url: str, text: str, name: str, charts: int = 0) -> Path:
    """Open ``url``, assert it rendered (see ``assert_rendered``), save a screenshot."""
    page = open_page(browser, url)
    try:
        try:
            assert_rendered(page, text, charts)
        except Exception:
            with suppress(Exception):
                screenshot(page, f"{name}-FAILED")
            raise
        return screenshot(page, name)
    finally:
        page.context.close()
