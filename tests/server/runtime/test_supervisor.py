"""The supervisor in the server's process: idle services cost it no timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from commands.new import scaffold
from micro.runtime import Service
from micro.runtime.source import pack
from tests._poll import eventually


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _waiting_on_a_timer(task: asyncio.Task[Any]) -> list[str]:
    """The functions of ``task``'s stack that wait on time (a sleep or a poll)."""
    return [
        frame.f_code.co_name
        for frame in task.get_stack(limit=50)
        if frame.f_code.co_name in ("sleep", "_await_registration", "wait_for")
    ]


async def test_idle_services_cost_the_supervisor_no_timer(server: Any, tmp_path: Path) -> None:
    runtime = server.backends.runtime
    folder = scaffold("idler", tmp_path)
    packed = pack(folder)
    for name in ("idler", "idler-two"):
        upload = await runtime.upload(name, _one(packed.data))
        await runtime.create(Service(name=name, source=str(folder)), upload=upload)

    async def running() -> bool:
        return all(s.status == "running" for s in await runtime.read()) and len(await runtime.read()) == 2

    await eventually(running, "both services run", timeout=90, interval=0.1)
    supervising = [
        task
        for unit in runtime._units.values()
        for task in (unit.task, *unit.watchers)
        if task is not None and not task.done()
    ]
    assert len(supervising) == 2 * 2  # per service: its lifecycle and its instance's watcher
    assert {name for task in supervising for name in _waiting_on_a_timer(task)} == set()
    for name in ("idler", "idler-two"):
        await runtime.delete(name)


async def test_a_service_that_never_registers_goes_to_error(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_RUNTIME_REGISTER_SECONDS", "1")
    runtime = server.backends.runtime
    folder = tmp_path / "silent"
    folder.mkdir()
    (folder / "main.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    upload = await runtime.upload("silent", _one(pack(folder).data))
    await runtime.create(Service(name="silent", source=str(folder)), upload=upload)

    async def failed() -> bool:
        return (await runtime.read("silent"))[0].status == "error"

    await eventually(failed, "the service is in error", timeout=60, interval=0.1)
    assert (await runtime.read("silent"))[0].error == "did not register within 1s"
    lines = [r.line async for batch in runtime.logs("silent", count=-1) for r in batch.records]
    assert "up" in lines
    pid = int(next(line for line in lines if "started (pid" in line).rsplit(" ", 1)[1].rstrip(")"))
    await eventually(lambda: not Path(f"/proc/{pid}").exists(), "its process ended", timeout=30)
    await runtime.delete("silent")


async def test_a_warm_interpreter_starts_the_next_instance_as_a_cold_start_would(
    server: Any, tmp_path: Path
) -> None:
    """Once a service runs, an interpreter of its venv waits with the platform imported; the
    next start (here another service of the same venv) is that process, and the service
    sees what ``python main.py`` would give it: ``__main__``, its argv, folder, import path,
    environment and an empty stdin, and none of the runtime's modules. A service given a
    ``PYTHON*`` variable starts cold."""
    runtime = server.backends.runtime
    folder = scaffold("warmed", tmp_path)
    main = folder / "main.py"
    main.write_text(
        "import os, sys\n"
        "print('seen', __name__, sys.argv, sys.path[0] == os.getcwd(), os.environ.get('GREETING'),"
        " 'GREETING' in os.environ and os.environ.get('MICRO_SERVICE_NAME'), sys.stdin.read(),"
        " 'server' in sys.modules, flush=True)\n" + main.read_text()
    )
    data = pack(folder).data

    async def start(name: str, env: list[str]) -> list[str]:
        upload = await runtime.upload(name, _one(data))
        await runtime.create(Service(name=name, source=str(folder)), upload=upload, env=env)

        async def running() -> bool:
            return (await runtime.read(name))[0].status == "running"

        await eventually(running, f"{name} runs", timeout=90, interval=0.1)
        return [r.line async for batch in runtime.logs(name, count=-1) for r in batch.records]

    first = await start("warmed", ["GREETING=hi"])
    venv = next(iter(runtime._warm._starting), None) or next(iter(runtime._warm._ready))

    async def ready() -> bool:
        return venv in runtime._warm._ready

    await eventually(ready, "a warm interpreter of the venv waits", timeout=30, interval=0.05)
    warm_pid = runtime._warm._ready[venv].pid
    second = await start("warmed-two", ["GREETING=hi"])
    assert f"instance 0 started (pid {warm_pid})" in second
    seen = [line for line in (*first, *second) if line.startswith("seen ")]
    assert seen == [
        "seen __main__ ['main.py'] True hi warmed  False",
        "seen __main__ ['main.py'] True hi warmed-two  False",
    ]
    assert Path(f"/proc/{warm_pid}").exists()  # the instance is that process, still running

    # an interpreter-level variable: a cold start, and the warm one stays for the next
    await eventually(ready, "another warm interpreter waits", timeout=30, interval=0.05)
    waiting = runtime._warm._ready[venv].pid
    third = await start("warmed-three", ["PYTHONOPTIMIZE=1"])
    assert not any(f"(pid {waiting})" in line for line in third)
    assert runtime._warm._ready[venv].pid == waiting
    for name in ("warmed", "warmed-two", "warmed-three"):
        await runtime.delete(name)
