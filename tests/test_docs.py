"""The README is the user's manual: the parts generated from code must match the code."""

from __future__ import annotations

import re

from tests.stack_configs import ROOT
from tools import config_reference, readme

README = (ROOT / "README.md").read_text()


def test_generated_blocks_match_the_code() -> None:
    assert readme.regenerate(README) == README, "run `make docs`"


def test_every_config_field_is_documented() -> None:
    rows = [line for line in config_reference.render().splitlines() if line.startswith("| `")]
    undocumented = [row for row in rows if not row.removesuffix(" |").rsplit(" | ", 1)[1].strip()]
    assert len(rows) > 50
    assert undocumented == []


def test_quick_start_commands_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("preview", "test", "docs"):
        assert re.search(rf"^{target}:", makefile, re.M), target
        assert f"make {target}" in README


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
