"""Events throughput and latency through gRPC against raw ``grpc.aio`` baselines measured in the
same run, as users run it: a real ``micro server`` (SQLite log, auth on, the admin's bearer
token on every call) in one subprocess, a raw echo service (unary, bidi and server-stream
methods, no storage) in another, this process the client.

Cases and bars (issue #14):

- acknowledged unary publish, one client sequential and 16 concurrent: >= 75% of the unary
  echo's call rate at the same concurrency;
- streamed publish (``GrpcStream.publisher()``, up to 256 in flight, cumulative acks):
  >= 60% of a pipelined bidi echo of the same payloads with the same window;
- consume with auto-ack of stored events: >= 50% of a server-stream of the same payloads
  (the same ``events.Event`` messages, sent pre-serialized, parsed by the client);
- publish -> consumer delivery latency, median: <= 5x the unary echo's round trip;
- ``read`` of 100 events at offset 900,000 of a 1,000,000-event topic: <= 2x the same at
  offset 0 (a guard; the topic is written into the server's log file before it starts).

Rates are medians of ``--rounds`` rounds in which the cases alternate in short turns, so
noise from elsewhere on the machine hits all alike; ratios are medians of each round's
ratio. NATS JetStream (Debian's ``nats-server -js``, installed with apt-get when missing, on a
free port in a temporary folder; nats-py installed with pip when missing) is measured in the
same run: streamed publish >= JetStream's sequential acknowledged publish rate (one in
flight), and the ratio to JetStream with 256 in flight is reported. ``--no-nats`` skips it.
Exits 1 when a bar is missed.

    .venv/bin/python bench/events.py [--seconds 0.5] [--rounds 5] [--big 1000000]
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
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _procs import start_server, stop  # noqa: E402
from store_throughput import cpu_seconds  # noqa: E402

CONCURRENCY = 16
WINDOW = 256
PAYLOAD = b'{"order":12345,"customer":"c-0001","items":[1,2,3],"total":99.5}' * 3
CONSUME_BATCH = 5000
LATENCY_SAMPLES = 300
MIN_ROUNDS = 3


# -- the echo service (its own process) -------------------------------------------------------


async def _echo_server() -> None:
    import grpc

    from micro._grpc import SERVER_OPTIONS
    from micro.events import Event
    from micro.events._convert import event_to_proto

    event = event_to_proto(Event("0a114297-f936-4549-af94-b62650661f50", "bench", 0, time.time(), PAYLOAD))
    wire = event.SerializeToString()

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        for _ in range(int(request or b"0")):
            yield wire

    server = grpc.aio.server(options=SERVER_OPTIONS)
    ident = None
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo, ident, ident),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi, ident, ident),
            "Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"Listening on 127.0.0.1:{port} (grpc)", flush=True)
    await server.wait_for_termination()


def spawn_echo() -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, GRPC_VERBOSITY="NONE")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--echo"], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Listening on "):
            return proc, line.split()[2]
    proc.kill()
    raise SystemExit("the echo server exited before listening")


# -- helpers ----------------------------------------------------------------------------------

Op = Callable[[], Awaitable[object]]


async def rate(op: Op, concurrency: int, seconds: float) -> float:
    """Calls per second of ``concurrency`` workers calling ``op`` for ``seconds``."""
    counts = [0] * concurrency
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        while time.perf_counter() < deadline:
            await op()
            counts[w] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return sum(counts) / (time.perf_counter() - start)


async def admin_token(address: str) -> str:
    from micro.auth.grpc import GrpcAuth

    auth = GrpcAuth(address)
    try:
        return (await auth.token(id="admin", secret="micro")).access_token
    finally:
        await auth.close()


def fill(path: Path, topic: str, count: int) -> None:
    """Write ``count`` events of ``topic`` into the log at ``path`` (before the server starts)."""
    from micro.events import Publication
    from server.events.sqlite import SqliteStream

    async def write() -> None:
        stream = SqliteStream(path)
        batch = [Publication(topic, PAYLOAD)] * 5000
        for _ in range(count // len(batch)):
            await stream.publish_batch(batch)
        await stream.close()

    asyncio.run(write())


# -- the cases --------------------------------------------------------------------------------


class Bench:
    def __init__(self, address: str, echo_address: str, token: str) -> None:
        import grpc

        from micro._grpc import CHANNEL_OPTIONS, call_metadata
        from micro.events.grpc import GrpcStream
        from micro.proto.events import events_pb2

        self.stream = GrpcStream(address, token=token)
        self.metadata = call_metadata(token=token)
        self.channel = grpc.aio.insecure_channel(echo_address, options=CHANNEL_OPTIONS)
        self.echo = self.channel.unary_unary("/bench.Echo/Echo")
        self.bidi = self.channel.stream_stream("/bench.Echo/Bidi")
        # the baseline client parses what it receives, as every client of a stream of
        # events does (the echo sends them pre-serialized: no work on its side)
        self.server_stream = self.channel.unary_stream(
            "/bench.Echo/Stream", response_deserializer=events_pb2.Event.FromString
        )
        self.request = events_pb2.PublishRequest(topic="bench", payload=PAYLOAD).SerializeToString()

    async def publish(self) -> object:
        return await self.stream.publish("bench", PAYLOAD)

    async def echo_call(self) -> object:
        return await self.echo(self.request, metadata=self.metadata)

    async def streamed_publish(self, seconds: float) -> float:
        """Events per second published on one stream, ``WINDOW`` in flight."""
        publisher = self.stream.publisher(window=WINDOW)
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            for _ in range(64):
                await publisher.publish("bench-stream", PAYLOAD)
        await publisher.close()
        return publisher.acknowledged / (time.perf_counter() - start)

    async def bidi_echo(self, seconds: float) -> float:
        """Messages per second through a pipelined bidi echo with the same window."""
        call = self.bidi(metadata=self.metadata)
        sent = received = 0
        window_open = asyncio.Event()
        window_open.set()
        done = False

        async def reader() -> None:
            nonlocal received
            while True:
                reply = await call.read()
                if reply is grpc_eof():
                    return
                received += 1
                if sent - received < WINDOW:
                    window_open.set()

        task = asyncio.create_task(reader())
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while not done:
            for _ in range(64):
                if sent - received >= WINDOW:
                    window_open.clear()
                    await window_open.wait()
                await call.write(self.request)
                sent += 1
            done = time.perf_counter() >= deadline
        await call.done_writing()
        await task
        return received / (time.perf_counter() - start)

    async def consume(self, offset: int) -> float:
        """Events per second of an auto-ack consumer reading stored events."""
        start = time.perf_counter()
        async with await self.stream.consume("bench-big", offset=offset) as sub:
            for _ in range(CONSUME_BATCH):
                await sub.__anext__()
        return CONSUME_BATCH / (time.perf_counter() - start)

    async def server_stream_echo(self) -> float:
        start = time.perf_counter()
        count = 0
        async for _ in self.server_stream(str(CONSUME_BATCH).encode(), metadata=self.metadata):
            count += 1
        return count / (time.perf_counter() - start)

    async def latency(self) -> tuple[float, float]:
        """Median publish -> delivery seconds, and the unary echo's median round trip."""
        delivered, trips = [], []
        async with await self.stream.consume("bench-latency") as sub:
            for _ in range(LATENCY_SAMPLES):
                start = time.perf_counter()
                await self.stream.publish("bench-latency", PAYLOAD)
                await sub.__anext__()
                delivered.append(time.perf_counter() - start)
                start = time.perf_counter()
                await self.echo_call()
                trips.append(time.perf_counter() - start)
        return statistics.median(delivered), statistics.median(trips)

    async def read_at(self, offset: int, repeat: int = 50) -> float:
        start = time.perf_counter()
        for _ in range(repeat):
            events = await self.stream.read("bench-big", offset=offset, limit=100)
            assert len(events) == 100
        return (time.perf_counter() - start) / repeat

    async def close(self) -> None:
        await self.stream.close()
        await self.channel.close()


def grpc_eof() -> object:
    import grpc

    return grpc.aio.EOF


def ensure_nats() -> str:
    """The ``nats-server`` binary and the ``nats`` client package, installed when missing."""
    import importlib.util
    import shutil

    binary = shutil.which("nats-server")
    if binary is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "nats-server"], check=True, capture_output=True)
        binary = shutil.which("nats-server")
    if importlib.util.find_spec("nats") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "nats-py"], check=True, capture_output=True
        )
    if binary is None:
        raise SystemExit("nats-server could not be installed (apt-get install nats-server)")
    return binary


def start_nats(binary: str, folder: Path) -> tuple[subprocess.Popen[str], str]:
    """``nats-server -js`` on a free port, its data in ``folder``; returns it and its URL."""
    import re

    proc = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"Listening for client connections on (\S+:\d+)", line)
        if found:
            return proc, f"nats://{found.group(1)}"
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("nats-server did not start")


async def nats_rates(url: str, seconds: float, rounds: int) -> tuple[float, float]:
    """JetStream acknowledged publishes per second: one in flight, and 256 in flight."""
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="bench", subjects=["bench"])
    sequential: list[float] = []
    pipelined: list[float] = []
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await js.publish("bench", PAYLOAD)
            count += 1
        sequential.append(count / (time.perf_counter() - start))
        gate = asyncio.Semaphore(WINDOW)
        done = 0

        async def one(gate: asyncio.Semaphore = gate) -> None:
            nonlocal done
            try:
                await js.publish("bench", PAYLOAD)
                done += 1
            finally:
                gate.release()

        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await gate.acquire()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        pipelined.append(done / (time.perf_counter() - start))
    await nc.close()
    return statistics.median(sequential), statistics.median(pipelined)


async def measure(
    address: str,
    echo_address: str,
    pids: dict[str, int],
    seconds: float,
    rounds: int,
    big: int,
    nats_url: str | None = None,
) -> int:
    bench = Bench(address, echo_address, await admin_token(address))
    samples: dict[str, list[float]] = {}
    cpu = {"publish": [0.0, 0.0], "echo": [0.0, 0.0]}  # server CPU seconds, calls

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    async def timed(kind: str, op: Op, conc: int) -> float:
        pid = pids["events" if kind == "publish" else "echo"]
        before = cpu_seconds(pid)
        ops = await rate(op, conc, seconds / 4)
        cpu[kind][0] += cpu_seconds(pid) - before
        cpu[kind][1] += ops * seconds / 4
        return ops

    for conc in (1, CONCURRENCY):  # warm up
        await rate(bench.publish, conc, 0.2)
        await rate(bench.echo_call, conc, 0.2)
    for r in range(rounds):
        for conc in (1, CONCURRENCY):
            for _ in range(4):
                add(f"publish {conc}", await timed("publish", bench.publish, conc))
                add(f"echo {conc}", await timed("echo", bench.echo_call, conc))
        add("streamed publish", await bench.streamed_publish(seconds))
        add("bidi echo", await bench.bidi_echo(seconds))
        add("consume", await bench.consume(offset=(r * CONSUME_BATCH) % max(1, big - CONSUME_BATCH)))
        add("server stream", await bench.server_stream_echo())
    delivered, trip = await bench.latency()
    jetstream = await nats_rates(nats_url, seconds, rounds) if nats_url else None
    read_first = statistics.median([await bench.read_at(0) for _ in range(5)])
    read_far = statistics.median([await bench.read_at(min(900_000, big - 100)) for _ in range(5)])
    await bench.close()

    def ratio(case: str, baseline: str) -> float:
        # each round's turns pair up in order: median of the paired ratios
        pairs = zip(samples[case], samples[baseline], strict=True)
        return statistics.median(a / b for a, b in pairs)

    med = {name: statistics.median(values) for name, values in samples.items()}
    print(f"auth on, bearer token on every call; medians of {rounds} rounds ({seconds} s per case and round)")
    for name in samples:
        print(f"  {name:<22}{med[name]:>12,.0f} /s")
    far = min(900_000, big - 100)
    print(f"  publish -> delivery    {delivered * 1e3:>9.2f} ms median; echo round trip {trip * 1e3:.2f} ms")
    print(f"  read 100 at offset 0   {read_first * 1e3:>9.2f} ms; at {far:,}: {read_far * 1e3:.2f} ms")
    for kind, (spent, calls) in cpu.items():
        print(f"  server CPU per unary {kind}: {spent / calls * 1e6:.0f} us")
    print()
    checks = [
        ("unary publish / echo, sequential", ratio("publish 1", "echo 1"), ">=", 0.75),
        (
            f"unary publish / echo, {CONCURRENCY} concurrent",
            ratio(f"publish {CONCURRENCY}", f"echo {CONCURRENCY}"),
            ">=",
            0.75,
        ),
        ("streamed publish / bidi echo", ratio("streamed publish", "bidi echo"), ">=", 0.60),
        ("consume (auto-ack) / server stream", ratio("consume", "server stream"), ">=", 0.50),
        ("delivery latency / echo round trip", delivered / trip, "<=", 5.0),
        ("read at 900k / read at 0", read_far / read_first, "<=", 2.0),
    ]
    if jetstream is not None:
        sequential, pipelined = jetstream
        streamed = med["streamed publish"]
        print(f"  JetStream publish, 1 in flight   {sequential:>12,.0f} /s")
        print(f"  JetStream publish, {WINDOW} in flight {pipelined:>12,.0f} /s")
        print(
            f"  streamed publish / JetStream with {WINDOW} in flight: {streamed / pipelined:.1%} (reported)"
        )
        checks.append(("streamed publish / JetStream, 1 in flight", streamed / sequential, ">=", 1.0))
    missed = 0
    for name, value, op, bar in checks:
        ok = value >= bar if op == ">=" else value <= bar
        missed += not ok
        shown = f"{value:.1%}" if op == ">=" else f"{value:.2f}x"
        bar_shown = f"{bar:.0%}" if op == ">=" else f"{bar:g}x"
        print(f"{name:<42}{shown:>9}  {'meets' if ok else 'MISSES'} the bar ({op} {bar_shown})")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.0, help="time of each case in one round")
    parser.add_argument("--rounds", type=int, default=5, help=f"interleaved rounds (at least {MIN_ROUNDS})")
    parser.add_argument("--big", type=int, default=1_000_000, help="events of the topic read at 900k")
    parser.add_argument("--no-nats", action="store_true", help="skip the NATS JetStream comparison")
    args = parser.parse_args()
    if args.echo:
        asyncio.run(_echo_server())
        return
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}")
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        fill(Path(home) / "server" / "events.db", "bench-big", args.big)
        took = time.perf_counter() - started
        print(f"wrote {args.big:,} events in {took:.1f} s (in-process, before the server starts)")
        procs: list[subprocess.Popen[str]] = []
        try:
            server, address = start_server(Path(home))
            procs.append(server)
            echo, echo_address = spawn_echo()
            procs.append(echo)
            pids = {"events": server.pid, "echo": echo.pid}
            nats_url = None
            if not args.no_nats:
                nats_dir = Path(home) / "nats"
                nats_dir.mkdir()
                nats_proc, nats_url = start_nats(ensure_nats(), nats_dir)
                procs.append(nats_proc)
            missed = asyncio.run(
                measure(address, echo_address, pids, args.seconds, args.rounds, args.big, nats_url)
            )
        finally:
            for proc in procs:
                stop(proc)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
