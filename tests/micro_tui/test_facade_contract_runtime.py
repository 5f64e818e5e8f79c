"""The runtime slice's contract, over the fake and the real one (an in-process server that
builds and supervises the service for real)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from commands.new import scaffold
from micro import errors
from micro_tui.slices.runtime import age, kill_words, run_words, update_words
from tests.micro_tui.contract import Harness, logged_in


async def test_run_progress_status_scale_and_kill_a_folder(harness: Harness, tmp_path: Path) -> None:
    facade = await logged_in(harness)
    runtime = facade.runtime
    folder = scaffold("tuirun", tmp_path)
    started = time.time() - 1
    created = await runtime.run(str(folder))
    assert (created.name, created.source) == ("tuirun", str(folder.resolve()))
    steps = [line async for line in runtime.progress("tuirun", since=started)]
    assert steps[-1] == "running", steps
    [service] = [s for s in await runtime.status() if s.name == "tuirun"]
    assert (service.status, service.instances) == ("running", 1)
    names = [s.name for s in await runtime.status()]
    assert names == sorted(names)
    with pytest.raises(errors.Conflict):
        await runtime.run(str(folder))  # running already: update or kill it
    scaled = await runtime.update("tuirun", instances=2)
    assert scaled.instances == 2
    await runtime.kill("tuirun")
    assert "tuirun" not in [s.name for s in await runtime.status()]
    with pytest.raises(errors.NotFound):
        await runtime.kill("tuirun")
    with pytest.raises(errors.NotFound):
        await runtime.update("tuirun")


async def test_a_source_that_cannot_run_is_one_line(harness: Harness, tmp_path: Path) -> None:
    facade = await logged_in(harness)
    runtime = facade.runtime
    with pytest.raises(errors.BadRequest, match="does not exist"):
        await runtime.run(str(tmp_path / "missing"))
    with pytest.raises(errors.BadRequest, match="invalid service name"):
        await runtime.run(str(scaffold("fine", tmp_path)), name="Not A Name")
    with pytest.raises(errors.BadRequest):
        await runtime.run(str(tmp_path), instances=0)


async def test_a_folder_that_cannot_run_is_refused_in_the_cli_s_words(
    harness: Harness, tmp_path: Path
) -> None:
    """The real slice checks a folder as ``micro run`` does (micro.runtime.source): the same
    line, before anything is uploaded or created."""
    if not harness.address:
        pytest.skip("the fake runs any folder")
    runtime = (await logged_in(harness)).runtime
    empty = tmp_path / "empty"
    empty.mkdir()
    nomain = tmp_path / "nomain"
    nomain.mkdir()
    (nomain / "README.md").write_text("no code here\n")
    with pytest.raises(errors.BadRequest) as refused:
        await runtime.run(str(empty))
    assert refused.value.detail == f"Source folder {empty} is empty"
    with pytest.raises(errors.BadRequest) as refused:
        await runtime.run(str(nomain))
    assert refused.value.detail.startswith(f"Cannot run {nomain}: no entry point: main.py")
    assert not {"empty", "nomain"} & {s.name for s in await runtime.status()}


def test_the_cli_words_of_each_action() -> None:
    assert run_words("./svc") == ["run", "./svc"]
    assert run_words("https://x/y", name="y2", instances=3) == [
        "run", "https://x/y", "--name", "y2", "--instances", "3",
    ]  # fmt: skip
    assert update_words("svc") == ["update", "svc"]
    assert update_words("svc", instances=4) == ["update", "svc", "--instances", "4"]
    assert kill_words("svc") == ["kill", "svc"]
    assert age(0) == "-"
    assert [age(100 - s, now=100) for s in (5, 0)] == ["5s", "0s"]
    assert age(0 + 1, now=1 + 3 * 3600 + 59) == "3h"
    assert age(1, now=1 + 2 * 86400) == "2d"
