"""The CLI reads ``MICRO_*`` through micro.settings: a bad value is one line naming the
variable, and a global option overrides a variable without writing it into os.environ."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from commands.main import run
from micro import settings


@pytest.mark.parametrize(
    ("name", "value", "args", "line"),
    [
        ("MICRO_OUTPUT", "xml", ["env", "get"], "MICRO_OUTPUT must be one of text, json, not 'xml'"),
        (
            "MICRO_TIMEOUT",
            "soon",
            ["env", "get"],
            "MICRO_TIMEOUT must be a duration such as 10s, 2m or 0 (none), not 'soon'",
        ),
        (
            "MICRO_PROXY_TLS",
            "maybe",
            ["store", "list"],
            "MICRO_PROXY_TLS must be true or false (1, yes, on / 0, no, off), not 'maybe'",
        ),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_1(
    name: str,
    value: str,
    args: list[str],
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert run(args) == 1
    assert capsys.readouterr().err == line + "\n"


def test_home_overrides_micro_home_without_writing_it(
    micro_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    assert run(["--home", str(other), "env", "add", "staging", "10.0.0.7:8081"]) == 0
    assert "staging" in json.loads((other / "config.json").read_text())["envs"]
    assert not (micro_home / "config.json").exists()
    assert os.environ["MICRO_HOME"] == str(micro_home)
    assert settings.child_env()["MICRO_HOME"] == str(other)  # what a child process would get
