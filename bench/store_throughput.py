"""Store throughput through gRPC against a raw gRPC echo, measured in the same run, as users
run it: a real ``micro server`` (auth on) and a bearer token on every call.

The micro server (``micro server``, SQLite store, auth on; this bench logs in as the default
admin) and a raw ``grpc.aio`` echo service each run in their own subprocess; this process is
the client (:class:`~micro.store.grpc.GrpcStore` with the admin's token for the store, a
bytes-in/bytes-out call for the echo, with a payload as large as a store write request and
the same ``authorization`` metadata, which the echo ignores). One client sequential and 16
concurrent.

Each round measures every case for ``--seconds`` in short turns taken in alternation, so
noise from whatever else the machine runs hits all of them alike; the figures are the
medians over the rounds (at least 5), the ratios the medians of each round's ratio, with
their spread (lowest-highest) to show how noisy the machine was. Also printed: the CPU each
server process (Linux) and this client process spend per call, which noise disturbs less
than rates.

Bars: store write and store read at 16 concurrent clients >= 75% of the echo at the same
concurrency. Sequential ratios and the ratio to the SQLite backend called in-process (what
the gRPC hop and the server cost) are printed for reference. Exits 1 when a bar is missed.

    .venv/bin/python bench/store_throughput.py [--seconds 0.5] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _procs import start_server, stop  # noqa: E402

BAR = 0.75
CONCURRENCY = 16
MIN_ROUNDS = 5
SLICES = 10  # turns of each case per round and concurrency
VALUE = bytes(range(256))
KEYS = 1000
ECHO_METHOD = "/bench.Echo/Echo"
# (case, concurrency) held to the bar against the echo at the same concurrency
BARRED = {("store write (grpc)", CONCURRENCY), ("store read (grpc)", CONCURRENCY)}


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


def spawn_echo() -> tuple[subprocess.Popen[str], str]:
    """Start the echo process and wait for its ``Listening on`` line."""
    env = dict(os.environ, GRPC_VERBOSITY="NONE")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--echo"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE.parent,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Listening on ") and line.rstrip().endswith("(grpc)"):
            return proc, line.split()[2]
    proc.kill()
    raise SystemExit(f"the echo server exited before listening (code {proc.wait()})")


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


async def admin_token(address: str) -> str:
    """An access token of the default admin of the bench's fresh server."""
    from micro.auth.grpc import GrpcAuth

    auth = GrpcAuth(address)
    try:
        return (await auth.token(id="admin", secret="micro")).access_token
    finally:
        await auth.close()


async def measure(
    store_address: str, echo_address: str, pids: dict[str, int], seconds: float, rounds: int
) -> int:
    import grpc

    from micro._grpc import CHANNEL_OPTIONS, call_metadata
    from micro.proto.store import store_pb2
    from micro.store import Record
    from micro.store.grpc import GrpcStore
    from server.store.sqlite import SqliteStore

    token = await admin_token(store_address)
    metadata = call_metadata(token=token)
    keys = [f"bench/{i:04}" for i in range(KEYS)]
    payload = store_pb2.WriteRequest(record=store_pb2.Record(key=keys[0], value=VALUE)).SerializeToString()
    store = GrpcStore(store_address, token=token)
    channel = grpc.aio.insecure_channel(echo_address, options=CHANNEL_OPTIONS)
    echo_call = channel.unary_unary(ECHO_METHOD)
    tmp = tempfile.TemporaryDirectory()
    local = SqliteStore(Path(tmp.name) / "store.db")

    async def echo(i: int) -> object:
        return await echo_call(payload, metadata=metadata)

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
    server_of = {
        "raw grpc echo": pids["echo"],
        "store write (grpc)": pids["store"],
        "store read (grpc)": pids["store"],
    }
    cpu: dict[str, list[float]] = {name: [0.0, 0.0] for name in server_of}  # seconds, calls
    client: dict[str, list[float]] = {name: [0.0, 0.0] for name in cases}  # this process
    for key in keys:  # warm up and make every read hit
        await store.write(Record(key, VALUE))
        await local.write(Record(key, VALUE))
    for op, _ in cases.values():
        await rate(op, CONCURRENCY, 0.2)

    # a round: for each concurrency, SLICES short turns of every case in alternation, so a
    # burst of load from elsewhere on the machine (seconds long) hits every case alike
    samples: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for conc in (1, CONCURRENCY):
            done = {name: [0.0, 0.0] for name in cases}  # operations, seconds
            for _ in range(SLICES):
                for name, (op, _) in cases.items():
                    pid = server_of.get(name)
                    before = cpu_seconds(pid) if pid else 0.0
                    mine = time.process_time()
                    ops = await rate(op, conc, seconds / SLICES)
                    client[name][0] += time.process_time() - mine
                    client[name][1] += ops * seconds / SLICES
                    done[name][0] += ops * seconds / SLICES
                    done[name][1] += seconds / SLICES
                    if pid:
                        cpu[name][0] += cpu_seconds(pid) - before
                        cpu[name][1] += ops * seconds / SLICES
            for name, (ops, spent) in done.items():
                samples.setdefault((name, conc), []).append(ops / spent)

    await store.close()
    await channel.close()
    await local.close()
    tmp.cleanup()

    median = {case: statistics.median(values) for case, values in samples.items()}
    print(
        f"auth on, bearer token on every call; medians of {rounds} rounds, {seconds} s of each case per round"
    )
    print(f"{'ops/s':<28}{'sequential':>14}{f'{CONCURRENCY} concurrent':>16}   spread at {CONCURRENCY}")
    for name in cases:
        values = samples[name, CONCURRENCY]
        spread = (
            f"{min(values) / median[name, CONCURRENCY]:.0%}-{max(values) / median[name, CONCURRENCY]:.0%}"
        )
        print(f"{name:<28}{median[name, 1]:>14,.0f}{median[name, CONCURRENCY]:>16,.0f}   {spread:>12}")
    print()
    for name, (spent, calls) in cpu.items():
        if spent:
            mine, _ = client[name]
            print(
                f"CPU per call, {name}: server {spent / calls * 1e6:.0f} us,"
                f" client (this process) {mine / calls * 1e6:.0f} us"
            )
    print()
    missed = 0
    for name, (_, baseline) in cases.items():
        if not baseline:
            continue
        for conc in (1, CONCURRENCY):
            ratios = [a / b for a, b in zip(samples[name, conc], samples[baseline, conc], strict=True)]
            ratio = statistics.median(ratios)
            spread = f"rounds {min(ratios):.0%}-{max(ratios):.0%}"
            line = f"{name} / echo, concurrency {conc:>2}: {ratio:6.1%} ({spread})"
            if (name, conc) in BARRED:
                ok = ratio >= BAR
                missed += not ok
                line += f"  {'meets' if ok else 'MISSES'} the bar (>= {BAR:.0%})"
            else:
                line += "  (no bar)"
            print(line)
    for op in ("write", "read"):
        for conc in (1, CONCURRENCY):
            ratio = median[f"store {op} (grpc)", conc] / median[f"sqlite {op} (in-process)", conc]
            print(f"store {op} grpc / sqlite in-process, concurrency {conc:>2}: {ratio:6.1%}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.0, help="time of each case in one round")
    parser.add_argument("--rounds", type=int, default=7, help=f"interleaved rounds (at least {MIN_ROUNDS})")
    args = parser.parse_args()
    if args.echo:
        asyncio.run(_echo_server())
        return
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS} (the figures are medians)")
    with tempfile.TemporaryDirectory() as home:
        procs: list[subprocess.Popen[str]] = []
        try:
            store_proc, store_address = start_server(Path(home))
            procs.append(store_proc)
            echo_proc, echo_address = spawn_echo()
            procs.append(echo_proc)
            pids = {"store": store_proc.pid, "echo": echo_proc.pid}
            missed = asyncio.run(measure(store_address, echo_address, pids, args.seconds, args.rounds))
        finally:
            for proc in procs:
                stop(proc)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
