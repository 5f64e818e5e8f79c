"""What a restarted server brings back of the runtime's services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from commands._pack import pack
from micro.runtime import Service
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
            return (await runtime.read("broken"))[0].status == "error"

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
