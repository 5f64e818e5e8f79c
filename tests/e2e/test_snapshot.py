"""``micro store snapshot`` / ``restore`` round-trip every record of the namespace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import MicroServer, one_line, run_micro

Start = Callable[..., MicroServer]


async def _fill(server: MicroServer) -> None:
    from micro.store import Record
    from micro.store.grpc import GrpcStore

    store = GrpcStore(server.address, token=server.token())
    try:
        await store.write(Record(key="plain", value=b"hello world"))
        await store.write(Record(key="meta", value=b"m", metadata={"owner": "alice", "kind": "test"}))
        await store.write(Record(key="ttl", value=b"soon", expiry=3600))
        await store.write(Record(key="binary", value=b"\x00\xff\xfe"), table="other")
        await store.write(Record(key="ünïcode", value="välue".encode()), table="other")
        for i in range(600):  # more than one page of keys
            await store.write(Record(key=f"many-{i:04d}", value=str(i).encode()), table="bulk")
    finally:
        await store.close()


async def _check(server: MicroServer) -> None:
    from micro.store.grpc import GrpcStore

    store = GrpcStore(server.address, token=server.token())
    try:
        assert (await store.read("plain"))[0].value == b"hello world"
        meta = (await store.read("meta"))[0]
        assert meta.metadata == {"owner": "alice", "kind": "test"}
        ttl = (await store.read("ttl"))[0]
        assert ttl.expiry is not None and 3500 < ttl.expiry <= 3600
        assert (await store.read("binary", table="other"))[0].value == b"\x00\xff\xfe"
        assert (await store.read("ünïcode", table="other"))[0].value == "välue".encode()
        bulk = await store.read("many-", prefix=True, table="bulk")
        assert [r.value for r in bulk] == [str(i).encode() for i in range(600)]
        assert await store.tables() == ["bulk", "micro", "other"]
    finally:
        await store.close()


def test_snapshot_and_restore_round_trip(start_server: Start, tmp_path: Path) -> None:
    source = start_server(home=tmp_path / "source")
    asyncio.run(_fill(source))
    dump = tmp_path / "snap.jsonl"
    taken = run_micro("store", "snapshot", "--destination", str(dump), server=source)
    assert (taken.returncode, taken.stdout, taken.stderr) == (0, "", "")
    lines = dump.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "micro-store-snapshot" and header["version"] == 1
    assert header["database"] == "micro"
    assert len(lines) == 1 + 605

    target = start_server(home=tmp_path / "target")
    restored = run_micro("store", "restore", "--source", str(dump), server=target)
    assert (restored.returncode, restored.stdout, restored.stderr) == (0, "", "")
    asyncio.run(_check(target))


def test_restore_refuses_a_file_that_is_not_a_snapshot(start_server: Start, tmp_path: Path) -> None:
    server = start_server()
    bogus = tmp_path / "bogus.txt"
    bogus.write_text("hello\n")
    result = run_micro("store", "restore", "--source", str(bogus), server=server)
    assert result.returncode == 1
    assert one_line(result.stderr) == f"Not a micro store snapshot: {bogus}"
    # a relative name keeps its spelling (the line's first letter is upper-cased), and a
    # broken record names its line
    bogus.write_text('{"format": "micro-store-snapshot", "version": 1}\n{"key": "a", "value": "b"}\n[1]\n')
    result = run_micro("store", "restore", "--source", "bogus.txt", server=server, cwd=tmp_path)
    assert (result.returncode, one_line(result.stderr)) == (1, "Line 3 of bogus.txt is not a snapshot record")
    # an expiry the wire cannot carry was a ValueError from protobuf, exit 127
    header = '{"format": "micro-store-snapshot", "version": 1}\n'
    bogus.write_text(header + '{"key": "a", "value": "b", "expires_at": 1e300}\n')
    result = run_micro("store", "restore", "--source", str(bogus), server=server)
    assert (result.returncode, one_line(result.stderr)) == (1, "Expiry out of range: 1e+300 seconds")


def test_a_destination_it_cannot_write_is_one_line(start_server: Start, tmp_path: Path) -> None:
    server = start_server()
    missing = tmp_path / "no-such-folder" / "snap.jsonl"
    result = run_micro("store", "snapshot", "--destination", str(missing), server=server)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        f"Cannot write {missing}: No such file or directory",
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    result = run_micro("store", "snapshot", "--destination", str(folder), server=server)
    assert (result.returncode, one_line(result.stderr)) == (1, f"Cannot write {folder}: Is a directory")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_restore_from_a_terminal_says_what_it_needs_instead_of_waiting(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    from tests.e2e.conftest import MICRO, free_port

    leader, follower = pty.openpty()
    try:
        env = {**os.environ, "MICRO_PROXY": f"127.0.0.1:{free_port()}"}
        result = subprocess.run(
            [MICRO, "store", "restore"], stdin=follower, capture_output=True, text=True, env=env, timeout=30
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        "No snapshot to restore: give --source FILE or pipe one on stdin",
    )
