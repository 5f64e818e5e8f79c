"""``micro store snapshot`` / ``restore`` round-trip every record of the namespace: store data
only (never config), in a private file that appears only when complete; a restore that
stops says how many records it wrote."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from micro.proto.store import store_pb2, store_pb2_grpc
from tests._poll import eventually_sync
from tests.e2e.conftest import MICRO, MicroServer, free_port, one_line, run_micro

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


def ok(*args: str, server: MicroServer) -> str:
    result = run_micro(*args, server=server)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_snapshot_and_restore_round_trip(start_server: Start, tmp_path: Path) -> None:
    source = start_server(home=tmp_path / "source")
    asyncio.run(_fill(source))
    ok("config", "set", "--secret", "db.password", "source-secret", server=source)
    dump = tmp_path / "snap.jsonl"
    umask = os.umask(0)  # the snapshot is private whatever the umask
    try:
        taken = run_micro("store", "snapshot", "--destination", str(dump), server=source)
    finally:
        os.umask(umask)
    assert (taken.returncode, taken.stdout, taken.stderr) == (0, "", "")
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    lines = dump.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "micro-store-snapshot" and header["version"] == 2
    assert header["database"] == "micro"
    assert len(lines) == 1 + 605  # store records only: no config document
    assert {json.loads(line)["table"] for line in lines[1:]} == {"bulk", "micro", "other"}

    target = start_server(home=tmp_path / "target")
    ok("config", "set", "--secret", "db.password", "target-secret", server=target)
    restored = run_micro("store", "restore", "--source", str(dump), server=target)
    assert (restored.returncode, restored.stdout, restored.stderr) == (0, "", "")
    asyncio.run(_check(target))
    # the target's config is its own, its secret still readable
    assert ok("config", "get", "--secret", "db.password", server=target) == "target-secret\n"


def test_restore_refuses_a_file_that_is_not_a_snapshot(start_server: Start, tmp_path: Path) -> None:
    server = start_server()
    bogus = tmp_path / "bogus.txt"
    bogus.write_text("hello\n")
    result = run_micro("store", "restore", "--source", str(bogus), server=server)
    assert result.returncode == 1
    assert one_line(result.stderr) == f"Not a micro store snapshot: {bogus}"
    # a relative name keeps its spelling (the line's first letter is upper-cased), and a
    # broken record names its line
    bogus.write_text('{"format": "micro-store-snapshot", "version": 2}\n{"key": "a", "value": "b"}\n[1]\n')
    result = run_micro("store", "restore", "--source", "bogus.txt", server=server, cwd=tmp_path)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        "Restored 1 record, then stopped: line 3 of bogus.txt is not a snapshot record",
    )
    assert ok("store", "read", "a", server=server) == "b\n"  # the lines before it are written
    # an expiry the wire cannot carry was a ValueError from protobuf, exit 127
    header = '{"format": "micro-store-snapshot", "version": 2}\n'
    bogus.write_text(header + '{"key": "a", "value": "b", "expires_at": 1e300}\n')
    result = run_micro("store", "restore", "--source", str(bogus), server=server)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        "Restored 0 records, then stopped: expiry out of range: 1e+300 seconds",
    )
    # each line is decoded on its own: every record before the bad byte is written, and the
    # line is named (text decoded a chunk ahead once stopped at the chunk, a record early)
    big = [json.dumps({"key": f"big{i}", "value": "x" * 20_000}) + "\n" for i in range(2)]
    bogus.write_bytes((header + "".join(big)).encode() + b'{"key": "a", "value": "\xff"}\n')
    result = run_micro("store", "restore", "--source", str(bogus), server=server)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        f"Restored 2 records, then stopped: line 4 of {bogus} is not UTF-8 text",
    )


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


def test_restore_never_writes_the_servers_internal_tables(start_server: Start, tmp_path: Path) -> None:
    server = start_server()
    ok("config", "set", "--secret", "db.password", "mine", server=server)
    snap = tmp_path / "snap.jsonl"
    # a version 1 file (micro 0.1.0) carried its server's config document: skipped
    sealed = '{"db": {"password": {"$secret": "c2VhbGVkIGJ5IGFub3RoZXIga2V5"}}}'
    old_config = {"table": "config", "key": "document", "value": sealed, "metadata": {}}
    lines = [
        {"format": "micro-store-snapshot", "version": 1, "database": "micro"},
        {"table": "micro", "key": "one", "value": "1"},
        old_config,
        {"table": "config", "key": "other", "value": "2"},
    ]
    snap.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_micro("store", "restore", "--source", str(snap), server=server)
    assert (result.returncode, result.stderr) == (0, "")
    assert ok("store", "list", "-t", "config", server=server) == "other\n"
    assert ok("config", "get", "--secret", "db.password", server=server) == "mine\n"

    # a file naming an internal table: those records are refused, the others restored
    lines[0]["version"] = 2
    lines[2] = {**old_config, "table": "_config"}
    lines.append({"table": "_config", "key": "x", "value": "3"})
    snap.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_micro("store", "restore", "--source", str(snap), server=server)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        "Restored 2 records; refused 2 records of the server's internal tables (_config)",
    )
    assert ok("config", "get", "--secret", "db.password", server=server) == "mine\n"


class FakeStore(store_pb2_grpc.StoreServicer):
    """A store service that lists one table and then holds every List (a snapshot caught in
    the middle), and accepts ``accept`` writes, then answers UNAVAILABLE (a server gone)."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.writes = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def Tables(self, request: Any, context: Any) -> Any:
        return store_pb2.TablesResponse(tables=["t"])

    def List(self, request: Any, context: Any) -> Iterator[Any]:
        self.release.wait(60)
        yield from ()

    def Write(self, request: Any, context: Any) -> Any:
        with self.lock:
            self.writes += 1
            n = self.writes
        if n > self.accept:
            context.abort(grpc.StatusCode.UNAVAILABLE, "gone")
        return store_pb2.WriteResponse(version=1)


@pytest.fixture
def fake() -> Iterator[tuple[FakeStore, str]]:
    servicer = FakeStore(accept=100)
    server = grpc.server(futures.ThreadPoolExecutor(8))
    store_pb2_grpc.add_StoreServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        servicer.release.set()
        server.stop(0)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    eventually_sync(condition, what, timeout=timeout)


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_snapshot_leaves_no_file(
    fake: tuple[FakeStore, str], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    dest = folder / "backup.jsonl"
    with subprocess.Popen(  # closes the pipes however the test ends
        [MICRO, "store", "snapshot", "--destination", str(dest)],
        env={**os.environ, "MICRO_PROXY": fake[1]},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            wait_for(lambda: bool(partials(folder)) or proc.poll() is not None, "the partial snapshot file")
            assert partials(folder) == [f".backup.jsonl.partial-{proc.pid}"]
            assert stat.S_IMODE((folder / partials(folder)[0]).stat().st_mode) == 0o600
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (proc.returncode, stderr) == (code, "")
    assert list(folder.iterdir()) == []


def test_partial_files_of_killed_snapshots_are_removed_by_the_next(
    start_server: Start, tmp_path: Path
) -> None:
    server = start_server()
    dead = subprocess.Popen(["true"])
    dead.wait()
    dest = tmp_path / "backup.jsonl"
    stale = tmp_path / f".backup.jsonl.partial-{dead.pid}"
    running = tmp_path / f".backup.jsonl.partial-{os.getpid()}"  # a snapshot still at work
    other = tmp_path / f".other.jsonl.partial-{dead.pid}"
    for path in (stale, running, other):
        path.write_text("{}\n")
    ok("store", "snapshot", "--destination", str(dest), server=server)
    assert partials(tmp_path) == sorted([running.name, other.name])
    assert json.loads(dest.read_text().splitlines()[0])["format"] == "micro-store-snapshot"


def test_a_restore_that_loses_its_server_says_how_many_records_it_wrote(
    fake: tuple[FakeStore, str], tmp_path: Path
) -> None:
    snap = tmp_path / "snap.jsonl"
    lines = [json.dumps({"format": "micro-store-snapshot", "version": 2, "database": "micro"})]
    lines += [json.dumps({"table": "t", "key": f"k{i:04d}", "value": "v"}) for i in range(1000)]
    snap.write_text("\n".join(lines) + "\n")
    result = run_micro("store", "restore", "--source", str(snap), address=fake[1])
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        f"Restored 100 records, then stopped: failed to connect to micro server at {fake[1]}",
    )


def test_a_restore_the_server_refuses_outright_says_so_as_every_command_does(
    start_server: Start, tmp_path: Path
) -> None:
    """Refused before any record is written (forbidden, no such namespace): the plain line and
    exit code of every command (Forbidden is exit 2), not "Restored 0 records, then stopped"."""
    server = start_server()
    snap = tmp_path / "snap.jsonl"
    snap.write_text('{"format": "micro-store-snapshot", "version": 2}\n{"key": "a", "value": "b"}\n')
    missing = run_micro("store", "restore", "--source", str(snap), "-d", "nosuch", server=server)
    assert (missing.returncode, one_line(missing.stderr)) == (1, "Namespace nosuch not found")
    ok("auth", "create", "account", "plain", "--secret", "pw", server=server)
    home = {"MICRO_HOME": str(tmp_path / "plain")}
    login = run_micro("login", "--username", "plain", "--password", "pw", address=server.address, env=home)
    assert login.returncode == 0, login.stderr
    refused = run_micro("store", "restore", "--source", str(snap), address=server.address, env=home)
    assert (refused.returncode, one_line(refused.stderr)) == (2, "Forbidden: access denied to namespace")
    # no server at all: exit 4, as every command says it
    down = f"127.0.0.1:{free_port()}"
    gone = run_micro("store", "restore", "--source", str(snap), address=down)
    assert (gone.returncode, one_line(gone.stderr)) == (4, f"Failed to connect to micro server at {down}")


def test_a_restore_of_json_nested_too_deeply_names_the_file_or_line(
    start_server: Start, tmp_path: Path
) -> None:
    """A line of thousands of nested brackets overflowed the parser: 'RecursionError: …',
    exit 127 on the header, and that text after "then stopped:" on a record."""
    server = start_server()
    deep = "[" * 100_000 + "]" * 100_000
    snap = tmp_path / "deep.jsonl"
    snap.write_text(deep + "\n")
    result = run_micro("store", "restore", "--source", str(snap), server=server)
    assert (result.returncode, one_line(result.stderr)) == (1, f"Not a micro store snapshot: {snap}")
    snap.write_text('{"format": "micro-store-snapshot", "version": 2}\n' + deep + "\n")
    result = run_micro("store", "restore", "--source", str(snap), server=server)
    assert (result.returncode, one_line(result.stderr)) == (
        1,
        f"Restored 0 records, then stopped: line 2 of {snap} is not a snapshot record",
    )


def test_ctrl_c_ends_a_restore_whose_pipe_stays_open(start_server: Start) -> None:
    """``slow-producer | micro store restore``: Ctrl-C ends it at once, exit 130 and one line
    saying how many records it wrote; what the producer sent is written while it waits for
    more (it once read stdin on the event loop's thread, where the first Ctrl-C only cancelled
    a task: the restore waited until the producer ended or sent more)."""
    server = start_server()
    env = {**os.environ, "MICRO_PROXY": server.address}
    token = server.token()
    if token:
        env["MICRO_TOKEN"] = token
    with subprocess.Popen(  # closes the pipes however the test ends
        [MICRO, "store", "restore"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            header = json.dumps({"format": "micro-store-snapshot", "version": 2, "database": "micro"})
            proc.stdin.write(header + "\n" + json.dumps({"key": "sent", "value": "early"}) + "\n")
            proc.stdin.flush()  # and the pipe stays open: more could come

            def written() -> bool:
                read = run_micro("store", "read", "sent", server=server)
                return read.stdout == "early\n" or proc.poll() is not None

            eventually_sync(written, "the record sent before the pause is written", timeout=20, interval=0.2)
            assert proc.poll() is None, proc.stderr.read()
            code, stdout, stderr = _interrupt(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (code, stdout, one_line(stderr)) == (130, "", "Restored 1 record, then stopped: interrupted")
    assert ok("store", "read", "sent", server=server) == "early\n"  # what was written stays


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Ctrl-C (SIGINT) to a running ``micro store restore``: its exit code, stdout, stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail("micro store restore did not end on Ctrl-C (SIGINT) within 10 s")
    return code, proc.stdout.read(), proc.stderr.read()


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc/PID/wchan")
def test_ctrl_c_while_a_fifo_source_has_no_writer_says_the_restore_stopped(
    start_server: Start, tmp_path: Path
) -> None:
    """``--source FIFO`` with nothing writing to it waits in open(); Ctrl-C there ended the
    restore with exit 130 and no line at all, now with the line of any interrupted restore."""
    server = start_server()
    fifo = tmp_path / "snapshot.fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "MICRO_PROXY": server.address}
    with subprocess.Popen(  # closes the pipes however the test ends
        [MICRO, "store", "restore", "--source", str(fifo)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            wchan = Path(f"/proc/{proc.pid}/wchan")

            def opening() -> bool:  # the kernel's wait of a FIFO's reader for a writer
                return proc.poll() is not None or wchan.read_text() == "wait_for_partner"

            eventually_sync(opening, "micro store restore waits in open() of the FIFO", timeout=20)
            assert proc.poll() is None, proc.stderr.read()
            code, stdout, stderr = _interrupt(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (code, stdout, one_line(stderr)) == (130, "", "Restored 0 records, then stopped: interrupted")
