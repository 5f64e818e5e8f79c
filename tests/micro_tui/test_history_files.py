"""History and collection files edited by hand into something unreadable are never silently
written over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from micro_tui import history, settings
from micro_tui.history import Entry, UnreadableFile


def test_saving_into_an_unreadable_collection_refuses_and_keeps_it(micro_home: Path) -> None:
    path = settings.collections_dir() / "default.json"
    path.parent.mkdir(parents=True)
    path.write_text('[{"service": "greeter", "endpoint": "Greeter.Hello", "request": "{}"},')
    with pytest.raises(UnreadableFile, match=r"default\.json"):
        history.save_to_collection("default", Entry("greeter", "Greeter.Hello", "{}", name="x"))
    assert path.read_text().endswith("},")


def test_history_moves_an_unreadable_file_aside(micro_home: Path) -> None:
    path = settings.history_dir() / "dev.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    history.record("dev", Entry("greeter", "Greeter.Hello", "{}"))
    assert (path.parent / "dev.json.broken").read_text() == "{not json"
    assert [e["service"] for e in json.loads(path.read_text())] == ["greeter"]
