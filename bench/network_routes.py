"""What counting routes for the network view costs the proxy (issue 15's bar: ≤ 5 µs of CPU
per call in a micro-bench, or ≤ 5% of proxy throughput).

    .venv/bin/python bench/network_routes.py [--calls N] [--runs N] [--seconds S]

1. Micro-bench: the proxy's unary entry (``Forwarder._unary``: resolve, count, forward) with
   the routing and the forwarding stubbed out, against the same steps without counting (the
   code before the counters), in this process; CPU time (``time.process_time``) per call,
   ``--runs`` interleaved rounds, medians.
2. Throughput: unary calls through a real in-process server's proxy to a raw ``grpc.aio``
   node, 32 callers, with counting and with the proxy given a table that counts nothing,
   ``--runs`` rounds of ``--seconds`` each interleaved ABBA, medians. Reported per second of
   wall time and per second of this process's CPU time; the bar is judged on the latter (on
   a shared machine the wall-clock figure moves by tens of percent between rounds of the
   same code, the CPU-normalised one does not).

Prints both figures, their ratios to the baselines and which bar is met; exits 1 when
neither is.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CPU_BAR_US = 5.0
THROUGHPUT_BAR = 0.95
METHOD = "/echo.Echo/Call"
CONCURRENCY = 32


class _Context:
    """What the proxy's entry reads of a grpc context."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float | None:
        return None


async def micro_bench(calls: int, runs: int) -> tuple[float, float]:
    """(µs of CPU per call without counting, with counting)."""
    from micro._routes import RouteTable
    from micro.client._router import Route
    from micro.registry import Endpoint, Node, Service, Streaming
    from micro.registry.memory import MemoryRegistry
    from server.proxy import Forwarder

    registry = MemoryRegistry()
    forwarder = Forwarder(registry, routes=RouteTable())
    endpoint = Endpoint("Echo.Call", method=METHOD, streaming=Streaming.UNARY)
    route = Route.of([Service("echo", endpoints=[endpoint], nodes=[Node("n", "127.0.0.1:1")])], ttl=60)
    resolved = ("micro", "echo", route, ())

    async def routed(method: str, metadata: Any) -> Any:
        return resolved

    async def forwarded(*args: Any) -> bytes:
        return b"ok"

    forwarder._route = routed  # type: ignore[method-assign]
    forwarder._unary_routed = forwarded  # type: ignore[method-assign]
    context = _Context()

    async def counted() -> None:
        unary = forwarder._unary
        for _ in range(calls):
            await unary(METHOD, b"", context)

    async def uncounted() -> None:  # the entry as it was: resolve, forward
        for _ in range(calls):
            metadata = context.invocation_metadata() or ()
            namespace, service, found, md = await forwarder._route(METHOD, metadata)
            await forwarder._unary_routed(METHOD, b"", context, namespace, service, found, md)

    async def cpu(body: Any) -> float:
        start = time.process_time()
        await body()
        return (time.process_time() - start) / calls * 1e6

    await counted()  # warm up
    await uncounted()
    base: list[float] = []
    ours: list[float] = []
    for _ in range(runs):
        base.append(await cpu(uncounted))
        ours.append(await cpu(counted))
    await forwarder.close()
    await registry.close()
    return statistics.median(base), statistics.median(ours)


async def _calls_per_second(stub: Any, seconds: float) -> tuple[float, float]:
    """(calls per second of wall time, calls per second of this process's CPU time)."""
    count = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await stub(b"x" * 16, metadata=(("micro-service", "echo"),), timeout=10)
            count += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


async def throughput(runs: int, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """((wall, CPU) calls/s through the proxy without counting, the same with counting)."""
    import grpc

    from micro import settings
    from micro._routes import ROUTES, RouteTable
    from micro.registry import Endpoint, Node, Service, Streaming
    from server.app import Server

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    node = grpc.aio.server()
    node.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "echo.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)}
            ),
        )
    )
    port = node.add_insecure_port("127.0.0.1:0")
    await node.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings.use(settings.Paths(home=tmp))
        srv = Server(data_dir=Path(tmp, "server"), address="127.0.0.1:0", profile="test", auth=False)
        await srv.start()
        channel = grpc.aio.insecure_channel(srv.bound_address)
        try:
            endpoint = Endpoint("Echo.Call", method=METHOD, streaming=Streaming.UNARY)
            service = Service("echo", endpoints=[endpoint], nodes=[Node("echo-1", f"127.0.0.1:{port}")])
            await srv.backends.registry.register(service, ttl=600)
            stub = channel.unary_unary(METHOD)
            counting, nothing = ROUTES, RouteTable(limit=0)
            srv.proxy.routes = counting
            await _calls_per_second(stub, 0.5)  # warm up: channels, routes, handlers
            base: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            for i in range(runs):  # ABBA: neither side always runs first
                order = [(nothing, base), (counting, ours)]
                for table, sink in order[::-1] if i % 2 else order:
                    srv.proxy.routes = table
                    sink.append(await _calls_per_second(stub, seconds))
            counted = sum(s.requests for s in counting.snapshot("micro") if s.service == "echo")
            assert counted > 0, "the proxy counted no call"
        finally:
            await channel.close()
            await srv.stop(grace=0)
            await node.stop(0)
    return _medians(base), _medians(ours)


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


async def main(calls: int, runs: int, seconds: float) -> int:
    base_us, ours_us = await micro_bench(calls, runs)
    cost = ours_us - base_us
    print(f"proxy entry, CPU per call:  {base_us:6.2f} µs without counting, {ours_us:6.2f} µs with")
    print(f"counting a call: {cost:.2f} µs of CPU ({ours_us / base_us:.2f}× the stubbed entry alone)")
    (base_wall, base_cpu), (ours_wall, ours_cpu) = await throughput(runs, seconds)
    print(
        f"proxy throughput, {CONCURRENCY} callers (median of {runs}): "
        f"{base_wall:7.0f} calls/s without counting, {ours_wall:7.0f} with "
        f"({ours_wall / base_wall:.1%}; wall clock, moved by whatever else the machine runs)"
    )
    ratio = ours_cpu / base_cpu
    print(
        f"per CPU second of the process (proxy, node and callers): {base_cpu:7.0f} calls without "
        f"counting, {ours_cpu:7.0f} with: {ratio:.1%} ({1 - ratio:+.1%} cost)"
    )
    cpu_ok = cost <= CPU_BAR_US
    rate_ok = ratio >= THROUGHPUT_BAR
    print(f"bar ≤ {CPU_BAR_US:g} µs CPU per call: {'met' if cpu_ok else 'missed'}")
    print(f"bar ≤ {1 - THROUGHPUT_BAR:.0%} of proxy throughput: {'met' if rate_ok else 'missed'}")
    return 0 if cpu_ok or rate_ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.calls, args.runs, args.seconds)))
