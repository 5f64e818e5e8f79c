"""What a restarted server brings back of the runtime's services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.runtime import Service
from micro.runtime.source import pack
from server.app import Server
from tests._poll import eventually


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_service_in_error_stays_in_status_after_a_restart_and_can_be_killed(
    micro_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "main.py").write_text("raise SystemExit('broken on purpose')\n")
    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="local", auth=False)
    await srv.start()
    try:
        runtime = srv.backends.runtime
        upload = await runtime.upload("broken", _one(pack(folder).data))
        await runtime.create(Service(name="broken", source=str(folder)), upload=upload)

        async def failed() -> bool:
            return bool((await runtime.read("broken"))[0].status == "error")

        await eventually(failed, "the service is in error", timeout=60, interval=0.1)
        reason = (await runtime.read("broken"))[0].error
    finally:
        await srv.stop(grace=0)

    again = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="local", auth=False)
    await again.start()
    try:
        runtime = again.backends.runtime
        assert runtime._restore is not None
        await runtime._restore
        [found] = await runtime.read("broken")
        assert (found.status, found.error) == ("error", reason)
        await runtime.delete("broken")
        assert await runtime.read() == []
    finally:
        await again.stop(grace=0)


async def test_an_uploaded_source_is_kept_only_while_a_service_is_built_from_it(
    server: Any, tmp_path: Path
) -> None:
    """A refused run or update, an update's replaced source and a killed service's source
    leave no blob behind (every run and update uploads one)."""
    runtime = server.backends.runtime
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "main.py").write_text("raise SystemExit('not started here')\n")
    data = pack(folder).data

    async def stored(upload: str) -> bool:
        try:
            async for _ in runtime.blobs.read(f"sources/{upload}", namespace="micro"):
                pass
        except errors.NotFound:
            return False
        return True

    refused = await runtime.upload("kept", _one(data))
    with pytest.raises(errors.BadRequest):
        await runtime.create(Service(name="kept", source=str(folder)), upload=refused, instances=65)
    assert not await stored(refused)

    first = await runtime.upload("kept", _one(data))
    await runtime.create(Service(name="kept", source=str(folder)), upload=first)
    twice = await runtime.upload("kept", _one(data))
    with pytest.raises(errors.Conflict):
        await runtime.create(Service(name="kept", source=str(folder)), upload=twice)
    assert not await stored(twice)
    assert await stored(first)

    bad = await runtime.upload("kept", _one(data))
    with pytest.raises(errors.BadRequest):
        await runtime.update("kept", upload=bad, env=["NOEQUALS"])
    assert not await stored(bad)
    assert await stored(first)

    second = await runtime.upload("kept", _one(data))
    await runtime.update("kept", upload=second)

    async def replaced() -> bool:
        return not await stored(first)

    await eventually(replaced, "the replaced source is deleted", timeout=30, interval=0.05)
    assert await stored(second)

    async def built() -> bool:  # its build is over (not cut short by the kill)
        return bool((await runtime.read("kept"))[0].status == "error")

    await eventually(built, "the update's build is over", timeout=60, interval=0.05)
    await runtime.delete("kept")
    assert not await stored(second)


async def test_two_runs_of_one_name_at_once_start_one_service(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second is refused; before, both passed the name check while the upload's hash was
    read, and the first one's processes were left beyond kill's reach."""
    runtime = server.backends.runtime
    read_hash = runtime._upload_hash

    async def remote_read(namespace: str, upload: str) -> str:
        await asyncio.sleep(0.01)  # a store across the network (a runtime run alone)
        return str(await read_hash(namespace, upload))

    monkeypatch.setattr(runtime, "_upload_hash", remote_read)
    folder = tmp_path / "twice"
    folder.mkdir()
    (folder / "main.py").write_text("raise SystemExit('not started here')\n")
    data = pack(folder).data
    uploads = [await runtime.upload("twice", _one(data)) for _ in range(2)]
    results = await asyncio.gather(
        *(runtime.create(Service(name="twice", source=str(folder)), upload=u) for u in uploads),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Service"]

    async def failed() -> bool:  # its build is over (not cut short by the kill)
        return bool((await runtime.read("twice"))[0].status == "error")

    await eventually(failed, "the service is in error", timeout=60, interval=0.05)
    await runtime.delete("twice")
    assert await runtime.read() == []


async def test_logs_take_a_service_name_never_a_path(server: Any) -> None:
    """``../team/secret`` named another namespace's log file: any account of this one read it."""
    runtime = server.backends.runtime
    runtime.logs_.book("team", "secret").write("stdout", 0, "the team's secret")
    runtime.logs_.book("micro", "mine").write("stdout", 0, "this namespace's own")
    for name in ("../team/secret", "../../logs/team/secret", "/etc/passwd"):
        for follow in (False, True):
            with pytest.raises(errors.NotFound):
                async for _ in runtime.logs(name, follow=follow, namespace="micro"):
                    pass
    assert [r.line async for b in runtime.logs("secret", namespace="team") for r in b.records] == [
        "the team's secret"
    ]


async def test_the_count_of_crashes_starts_over_after_a_healthy_run(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance that ran :data:`HEALTHY_SECONDS` before it crashed was healthy: its
    service's crash count starts over instead of adding up to ``error`` (here a crash every
    second, "healthy" after half a second and at most one retry: it must keep running)."""
    from server.runtime import local

    monkeypatch.setattr(local, "HEALTHY_SECONDS", 0.5)
    monkeypatch.setenv("MICRO_RUNTIME_MAX_RETRIES", "1")
    runtime = server.backends.runtime
    folder = tmp_path / "crashy"
    folder.mkdir()
    (folder / "main.py").write_text(
        "import os, threading, time\n"
        "import micro\n"
        "def crash():\n"
        "    time.sleep(1.0)\n"
        "    os._exit(3)\n"
        "threading.Thread(target=crash, daemon=True).start()\n"
        "micro.Service('crashy').run()\n"
    )
    upload = await runtime.upload("crashy", _one(pack(folder).data))
    await runtime.create(Service(name="crashy", source=str(folder)), upload=upload)

    async def crashed_thrice() -> bool:
        lines = [r.line async for batch in runtime.logs("crashy", count=-1) for r in batch.records]
        return sum("restarting instance 0" in line for line in lines) >= 3

    await eventually(
        crashed_thrice, "the service crashed and was restarted three times", timeout=90, interval=0.2
    )
    [found] = await runtime.read("crashy")
    assert found.status != "error", found.error
    assert found.retries == 1
    await runtime.delete("crashy")
