"""Store throughput through gRPC against a raw gRPC echo, measured in the same run.

The micro server (SQLite store) and a raw ``grpc.aio`` echo service each run in their own
subprocess; this process is the client (:class:`~micro.store.grpc.GrpcStore` for the
store, a bytes-in/bytes-out call for the echo, with a payload as large as a store write
request). Each figure is the best of several short interleaved rounds (the best round is
the one least disturbed by whatever else the machine runs), one client sequential and 16
concurrent. Also printed: the CPU each server process spends per call (Linux), which
noise disturbs less than rates.

Bar: every store rate >= 75% of the echo rate at the same concurrency. Also printed: the
ratio to the SQLite backend called in-process (what the gRPC hop costs).

    .venv/bin/python bench/store_throughput.py [--store-only] [--seconds 0.4] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BAR = 0.75
CONCURRENCY = 16
VALUE = bytes(range(256))
KEYS = 1000
ECHO_METHOD = "/bench.Echo/Echo"


# -- the echo service (runs in its own process) ---------------------------------------------


async def _echo_server() -> None:
    import grpc

    from micro._grpc import SERVER_OPTIONS

    async def echo(request: bytes, context: object) -> bytes:
        return request

    server = grpc.aio.server(options=SERVER_OPTIONS)
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"Listening on 127.0.0.1:{port} (grpc)", flush=True)
    await server.wait_for_termination()


# -- client side ------------------------------------------------------------------------------

Op = Callable[[int], Awaitable[object]]


def spawn(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and wait for its ``Listening on`` line."""
    env = dict(os.environ, GRPC_VERBOSITY="NONE")
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env, cwd=HERE.parent
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Listening on ") and line.rstrip().endswith("(grpc)"):
            return proc, line.split()[2]
    proc.kill()
    raise SystemExit(f"server {args} exited before listening (code {proc.wait()})")


async def rate(op: Op, concurrency: int, seconds: float) -> float:
    """Operations per second of ``concurrency`` workers calling ``op`` for ``seconds``."""
    counts = [0] * concurrency
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < deadline:
            await op(i)
            i += concurrency
            counts[w] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return sum(counts) / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    store_address: str, echo_address: str, pids: dict[str, int], seconds: float, rounds: int
) -> int:
    import grpc

    from micro._grpc import CHANNEL_OPTIONS
    from micro.proto.store import store_pb2
    from micro.store import Record
    from micro.store.grpc import GrpcStore
    from server.store.sqlite import SqliteStore

    keys = [f"bench/{i:04}" for i in range(KEYS)]
    payload = store_pb2.WriteRequest(record=store_pb2.Record(key=keys[0], value=VALUE)).SerializeToString()
    store = GrpcStore(store_address)
    channel = grpc.aio.insecure_channel(echo_address, options=CHANNEL_OPTIONS)
    echo_call = channel.unary_unary(ECHO_METHOD)
    tmp = tempfile.TemporaryDirectory()
    local = SqliteStore(Path(tmp.name) / "store.db")

    async def echo(i: int) -> object:
        return await echo_call(payload)

    def writer(s: object) -> Op:
        async def write(i: int) -> object:
            return await s.write(Record(keys[i % KEYS], VALUE))  # type: ignore[attr-defined]

        return write

    def reader(s: object) -> Op:
        async def read(i: int) -> object:
            return await s.read(keys[i % KEYS])  # type: ignore[attr-defined]

        return read

    cases: dict[str, tuple[Op, str]] = {
        "raw grpc echo": (echo, ""),
        "store write (grpc)": (writer(store), "raw grpc echo"),
        "store read (grpc)": (reader(store), "raw grpc echo"),
        "sqlite write (in-process)": (writer(local), ""),
        "sqlite read (in-process)": (reader(local), ""),
    }
    server_of = {"raw grpc echo": pids["echo"], "store write (grpc)": pids["store"]}
    server_of["store read (grpc)"] = pids["store"]
    cpu: dict[str, list[float]] = {name: [0.0, 0.0] for name in server_of}  # seconds, calls
    for key in keys:  # warm up and make every read hit
        await store.write(Record(key, VALUE))
        await local.write(Record(key, VALUE))
    for op, _ in cases.values():
        await rate(op, CONCURRENCY, 0.2)

    best: dict[tuple[str, int], float] = {}
    for _ in range(rounds):
        for name, (op, _) in cases.items():
            for conc in (1, CONCURRENCY):
                pid = server_of.get(name)
                before = cpu_seconds(pid) if pid else 0.0
                ops = await rate(op, conc, seconds)
                best[name, conc] = max(best.get((name, conc), 0.0), ops)
                if pid:
                    cpu[name][0] += cpu_seconds(pid) - before
                    cpu[name][1] += ops * seconds

    await store.close()
    await channel.close()
    await local.close()
    tmp.cleanup()

    missed = 0
    print(f"{'ops/s':<28}{'sequential':>14}{f'{CONCURRENCY} concurrent':>16}")
    for name in cases:
        print(f"{name:<28}{best[name, 1]:>14,.0f}{best[name, CONCURRENCY]:>16,.0f}")
    print()
    for name, (spent, calls) in cpu.items():
        if spent:
            print(f"server CPU per call, {name}: {spent / calls * 1e6:.0f} us")
    print()
    for name, (_, baseline) in cases.items():
        if not baseline:
            continue
        for conc in (1, CONCURRENCY):
            ratio = best[name, conc] / best[baseline, conc]
            ok = ratio >= BAR
            missed += not ok
            verdict = "meets" if ok else "MISSES"
            print(f"{name} / echo, concurrency {conc:>2}: {ratio:6.1%}  {verdict} the bar (>= {BAR:.0%})")
    for op in ("write", "read"):
        for conc in (1, CONCURRENCY):
            ratio = best[f"store {op} (grpc)", conc] / best[f"sqlite {op} (in-process)", conc]
            print(f"store {op} grpc / sqlite in-process, concurrency {conc:>2}: {ratio:6.1%}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store-only", action="store_true", help="host only the store service")
    parser.add_argument("--seconds", type=float, default=0.4, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds; the best counts")
    args = parser.parse_args()
    if args.echo:
        asyncio.run(_echo_server())
        return
    with tempfile.TemporaryDirectory() as home:
        serve = [str(HERE / "_serve.py"), str(Path(home) / "server")]
        if args.store_only:
            serve.append("--store-only")
        procs: list[subprocess.Popen[str]] = []
        try:
            store_proc, store_address = spawn(serve)
            procs.append(store_proc)
            echo_proc, echo_address = spawn([str(Path(__file__).resolve()), "--echo"])
            procs.append(echo_proc)
            pids = {"store": store_proc.pid, "echo": echo_proc.pid}
            missed = asyncio.run(measure(store_address, echo_address, pids, args.seconds, args.rounds))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
