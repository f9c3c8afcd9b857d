"""The README cannot drift: every setting and every command is documented, nothing undocumented is named."""

import re
from pathlib import Path

from metrics_core.cli import build_parser
from metrics_core.config import ENV_VARS

README = (Path(__file__).parent.parent / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_readme_opens_with_the_two_commands():
    quick = section("Quick start")
    assert quick.index("make run") < quick.index("make test")
    assert README.index("## Quick start") < README.index("## Recording from your code")


def test_every_setting_is_in_the_configuration_table():
    table = section("Configuration")
    for name in ENV_VARS:
        assert f"| `{name}` |" in table, f"{name} is missing from the README's configuration table"


def test_the_readme_names_no_setting_that_does_not_exist():
    named = set(re.findall(r"LLM_METRICS_[A-Z_]+[A-Z]", README))
    assert named <= set(ENV_VARS) | {"LLM_METRICS_TEST_PG_URL", "LLM_METRICS_TEST_BACKENDS", "LLM_METRICS_TEST_NOW"}, (
        named - set(ENV_VARS)
    )


def test_every_cli_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    cli = section("CLI")
    for name in commands:
        assert f"`llm-metrics {name}" in README, f"`llm-metrics {name}` is not documented in the README"
    assert "llm-metrics migrate" in cli
