"""The Budgets page shows what calls in flight hold beside the spend, and the expired holds."""

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from metrics_core import reserve
from metrics_core.policy import budgets

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "budgets.py")


def test_page_shows_held_and_expired_holds(engine):
    budgets.set_budget(name="cap", amount_usd="1", hard=True)
    reserve("openai", "gpt-4o", prompt_tokens=4000, max_output_tokens=4000, ttl_seconds=0.001)  # its process "dies"
    time.sleep(0.01)
    live = reserve("openai", "gpt-4o", prompt_tokens=4000, max_output_tokens=2000)  # $0.01 + $0.02
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    row = at.dataframe[0].value
    assert row["spent_usd"].tolist() == [0.0] and row["held_usd"].tolist() == [0.03]
    assert row["percent"].tolist() == [3.0]
    assert "Held by calls in flight: 0.03 USD; holds expired unsettled this period (a process died): 1." in (
        at.caption[0].value
    )
    live.release()
