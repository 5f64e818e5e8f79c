"""Unary calls through the framework and the proxy, against raw grpc.aio baselines.

    python bench/framework_calls.py [--calls N] [--runs N]

Processes: a real ``micro server``, a route guide service (``micro.Service``) and a minimal
raw ``grpc.aio`` forwarding proxy (this file with ``--raw-proxy``), each its own process; the
calls come from this process.

1. ``micro.client.call`` to the service vs a raw ``grpc.aio`` stub call to the same node.
2. A stub call through the micro proxy vs the same call through the raw forwarder (a bare
   Python forwarder reaches about half of direct, so direct is the wrong baseline).
3. The same with a bearer token on every call, as users run it: the micro proxy verifies it,
   checks the rules and forwards a call token minted for the hop (the node verifies that);
   the raw forwarder passes the caller's token on unchecked (the node verifies it).

Each pair runs sequentially and with 16 concurrent callers, ``--runs`` times interleaved
(baseline, ours, baseline, ours…); the figures are the medians (the machine is shared, and a
median is not flattered by one lucky run as a best-of is). Bars: >= 80% of the baseline.
Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import clean_env, start_server, stop  # noqa: E402

BAR = 0.80
CONCURRENCY = 16


def _start(argv: list[str], env: dict[str, str], pattern: str, timeout: float = 30.0) -> tuple[Any, str]:
    import re

    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found: list[str] = []
    lines: list[str] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = re.search(pattern, line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"{argv} did not start: {''.join(lines)}")
        time.sleep(0.02)
    return proc, found[0]


async def _raw_proxy(target: str) -> None:
    """A minimal forwarding proxy: every unary call to ``target`` as raw bytes."""
    import grpc

    channel = grpc.aio.insecure_channel(target)
    callables: dict[str, Any] = {}

    class Forward(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, details: Any) -> Any:
            method = details.method
            mc = callables.get(method)
            if mc is None:
                mc = callables[method] = channel.unary_unary(method)

            async def unary(request: bytes, context: Any) -> bytes:
                md = tuple((k, v) for k, v in context.invocation_metadata() if k == "authorization")
                return await mc(  # type: ignore[no-any-return]
                    request, metadata=md or None, timeout=context.time_remaining()
                )

            return grpc.unary_unary_rpc_method_handler(unary)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Forward(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"Listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


async def _rate(call: Callable[[], Awaitable[Any]], calls: int, concurrency: int) -> float:
    """Calls per second of ``call``, ``calls`` in all, ``concurrency`` at a time."""
    for _ in range(50):  # warm up: channels, caches, routes
        await call()
    per_worker = calls // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_worker * concurrency / (time.perf_counter() - started)


async def _measure(
    service: str, proxy: str, raw_proxy: str, node: str, calls: int, runs: int, token: str, case: str = ""
) -> list[tuple[str, float, float]]:
    import grpc

    import micro.client
    from tests.micro.framework.routeguide import routeguide

    rg = routeguide()
    point = rg.pb.Point(latitude=1)
    channels = {
        name: grpc.aio.insecure_channel(addr)
        for name, addr in (("node", node), ("proxy", proxy), ("raw_proxy", raw_proxy))
    }
    stubs = {name: rg.pb_grpc.RouteGuideStub(ch) for name, ch in channels.items()}
    bearer = (("authorization", f"Bearer {token}"),)
    pairs: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]] = [
        (
            "micro.client.call vs raw stub (direct)",
            lambda: micro.client.call(service, "RouteGuide.GetFeature", point),
            lambda: stubs["node"].GetFeature(point),
        ),
        (
            "micro proxy vs raw forwarding proxy",
            lambda: stubs["proxy"].GetFeature(point),
            lambda: stubs["raw_proxy"].GetFeature(point),
        ),
        (
            "micro proxy vs raw forwarder, bearer token",
            lambda: stubs["proxy"].GetFeature(point, metadata=bearer),
            lambda: stubs["raw_proxy"].GetFeature(point, metadata=bearer),
        ),
    ]
    results = []
    for name, ours, base in pairs:
        if case not in name:
            continue
        for concurrency in (1, CONCURRENCY):
            rates_ours: list[float] = []
            rates_base: list[float] = []
            for _ in range(runs):  # interleaved: the machine is shared
                rates_base.append(await _rate(base, calls, concurrency))
                rates_ours.append(await _rate(ours, calls, concurrency))
            ours_median, base_median = statistics.median(rates_ours), statistics.median(rates_base)
            results.append((f"{name}, {concurrency} at a time", ours_median, base_median))
    for ch in channels.values():
        await ch.close()
    return results


async def _admin_token(proxy: str) -> str:
    from micro.auth.grpc import GrpcAuth

    auth = GrpcAuth(proxy)
    try:
        return (await auth.token(id="admin", secret="micro")).access_token
    finally:
        await auth.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per case (medians)")
    parser.add_argument("--case", default="", help="run only the cases whose name holds this text")
    parser.add_argument("--raw-proxy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_proxy:
        asyncio.run(_raw_proxy(args.raw_proxy))
        return 0

    from tests.micro.framework.routeguide import routeguide

    rg = routeguide()
    procs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        try:
            server, proxy = start_server(home)
            procs.append(server)
            creds = {"MICRO_AUTH_ID": "admin", "MICRO_AUTH_SECRET": "micro"}
            env = clean_env(home, MICRO_PROXY=proxy, PYTHONUNBUFFERED="1", **creds)
            service, node = _start(
                [sys.executable, str(rg.folder / "routeguide_service.py")], env, r"Listening on (\S+)"
            )
            procs.append(service)
            raw, raw_address = _start(
                [sys.executable, __file__, "--raw-proxy", node], env, r"Listening on (\S+)"
            )
            procs.append(raw)
            from micro import settings

            settings.use(settings.Client(proxy=proxy), settings.Service(auth_id="admin", auth_secret="micro"))
            token = asyncio.run(_admin_token(proxy))
            results = asyncio.run(
                _measure("routeguide", proxy, raw_address, node, args.calls, args.runs, token, args.case)
            )
        finally:
            for proc in reversed(procs):
                stop(proc)
    missed = False
    print(f"{'case':<62} {'ours/s':>9} {'base/s':>9} {'ratio':>7}")
    for name, ours, base in results:
        ratio = ours / base
        mark = f"  meets the bar (>= {BAR:.0%})" if ratio >= BAR else f"  MISSES the bar (>= {BAR:.0%})"
        missed |= ratio < BAR
        print(f"{name:<62} {ours:>9.0f} {base:>9.0f} {ratio:>7.2f}{mark}")
    print(f"bar: >= {BAR:.0%} of the baseline")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
