"""The HTTP gateway under load, against a minimal uvicorn forwarder, in one run.

    python bench/gateway.py [--seconds 4] [--runs 5] [--connections 32]
    python bench/gateway.py --soak [--seconds 30] [--connections 200]

Processes: a real ``micro server`` (auth on, the gateway on a free port), the route guide
service (``micro.Service``, registered in it), and a baseline (this file with ``--baseline``):
a minimal uvicorn ASGI app that forwards the same JSON to the same node over raw
``grpc.aio`` — JSON to protobuf and back with the generated classes, one shared channel,
no auth check. The load comes from Debian's ``wrk`` (installed with apt-get when missing):
keep-alive connections posting ``{"latitude":1,"longitude":2}`` with a bearer token (the
baseline ignores it), the gateway's requests reaching ``RouteGuide.GetFeature`` through the
server's call boundary and its proxy, which mints a call token for the node.

Gateway and baseline runs alternate (``--runs`` each; the figures are medians: the machine is
shared). Bars: gateway throughput >= 60% of the baseline's, and its p99 latency <= 2x the
baseline's. Reported: the gateway's throughput as a ratio of direct gRPC calls to the node
(``grpc.aio`` stub calls from this process, as many in flight as connections), and requests
per CPU second of the answering process (server or baseline) against the baseline's: the
figure a loaded machine moves least.

``--soak``: the gateway alone for ``--seconds`` (default 30) at ``--connections`` (default
200): errors (socket errors and non-2xx answers) must be zero, the server's RSS before and
after is printed. Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import MICRO, clean_env, stop  # noqa: E402

THROUGHPUT_BAR = 0.60  # gateway requests/s >= 60% of the baseline's
LATENCY_BAR = 2.0  # gateway p99 <= 2x the baseline's
BODY = '{"latitude":1,"longitude":2}'
PATH = "/routeguide/routeGuide/getFeature"


@dataclass
class Load:
    """What one wrk run measured."""

    rate: float  # requests/s
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # socket errors + non-2xx answers
    cpu: float = 0.0  # CPU seconds per request of the process answering (server or baseline)
    detail: str = ""  # wrk's lines about errors
    node_cpu: float = 0.0  # CPU seconds per request of the service's node


def _start(argv: list[str], env: dict[str, str], patterns: list[str], timeout: float = 60.0) -> Any:
    """Start ``argv``; returns the process and the first match of each pattern in its output."""
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found: dict[str, str] = {}
    lines: list[str] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            for pattern in patterns:
                match = re.search(pattern, line)
                if match and pattern not in found:
                    found[pattern] = match.group(1)

    threading.Thread(target=drain, daemon=True).start()
    proc.lines = lines  # type: ignore[attr-defined]  # shown when the bench fails
    deadline = time.monotonic() + timeout
    while len(found) < len(patterns):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"{argv} did not start: {''.join(lines)}")
        time.sleep(0.02)
    return proc, [found[p] for p in patterns]


# -- the baseline ----------------------------------------------------------------------------


def _baseline(node: str) -> None:
    """A minimal uvicorn app forwarding POSTed JSON to ``node``'s GetFeature over grpc.aio."""
    import grpc
    import uvicorn
    from google.protobuf import json_format

    from tests.micro.framework.routeguide import routeguide

    pb = routeguide().pb
    state: dict[str, Any] = {}
    # what the proxy sends, so that the reply is the same
    metadata = (("micro-service", "routeguide"), ("micro-namespace", "micro"))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if "call" not in state:
            channel = grpc.aio.insecure_channel(node)
            state["call"] = channel.unary_unary(
                "/routeguide.RouteGuide/GetFeature",
                request_serializer=pb.Point.SerializeToString,
                response_deserializer=pb.Feature.FromString,
            )
        request = json_format.Parse(body, pb.Point())
        reply = await state["call"](request, metadata=metadata, timeout=30)
        data = json.dumps(
            json_format.MessageToDict(
                reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            ),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False, server_header=False
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"Listening on 127.0.0.1:{port} (http)", flush=True)
        await task

    asyncio.run(run())


# -- load ------------------------------------------------------------------------------------


def _wrk() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk could not be installed (apt-get install wrk)")
    return binary


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _cpu(pid: int) -> float:
    """CPU seconds ``pid`` has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(
    wrk: str,
    script: Path,
    url: str,
    connections: int,
    seconds: float,
    pid: int = 0,
    node: int = 0,
    timeout: float = 2.0,
) -> Load:
    """One wrk run; a request unanswered after ``timeout`` seconds counts as an error."""
    threads = min(2, connections)
    cpu = _cpu(pid) if pid else 0.0
    node_cpu = _cpu(node) if node else 0.0
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout:g}s"]
    argv += ["--latency", "-s", str(script), url]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    out = result.stdout
    if result.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out}{result.stderr}")
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    used = _cpu(pid) - cpu if pid else 0.0
    node_used = _cpu(node) - node_cpu if node else 0.0
    detail = "; ".join(
        line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line
    )
    count = max(requests, 1)
    return Load(rate, p50, p99, requests, errors, used / count, detail, node_used / count)


def _script(folder: Path, token: str) -> Path:
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    return script


async def _direct(node: str, concurrency: int, seconds: float) -> float:
    """grpc.aio stub calls per second to ``node``, ``concurrency`` in flight."""
    import grpc

    from tests.micro.framework.routeguide import routeguide

    rg = routeguide()
    async with grpc.aio.insecure_channel(node) as channel:
        stub = rg.pb_grpc.RouteGuideStub(channel)
        point = rg.pb.Point(latitude=1, longitude=2)
        metadata = (("micro-service", "routeguide"), ("micro-namespace", "micro"))
        for _ in range(100):
            await stub.GetFeature(point, metadata=metadata)
        count = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                await stub.GetFeature(point, metadata=metadata)
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def _profile(folder: Path, pids: dict[str, int], seconds: float) -> None:
    """py-spy records each of ``pids`` for ``seconds`` in the background (``<name>.txt``,
    collapsed stacks)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    folder.mkdir(parents=True, exist_ok=True)
    for name, pid in pids.items():
        argv = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "--nonblocking"]
        argv += ["-f", "raw", "-o", str(folder / f"{name}.txt")]
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _rss(pid: int) -> int:
    """Resident set size of ``pid``, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _post(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=BODY.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _admin_token(proxy: str) -> str:
    from micro.auth.grpc import GrpcAuth

    async def login() -> str:
        auth = GrpcAuth(proxy)
        try:
            return (await auth.token(id="admin", secret="micro")).access_token
        finally:
            await auth.close()

    return asyncio.run(login())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=None, help="per run (default 4; --soak 30)")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per side (medians)")
    parser.add_argument("--connections", type=int, default=None, help="default 32; --soak 200")
    parser.add_argument("--soak", action="store_true", help="the gateway alone, long, many connections")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the server and the service during a gateway run (raw stacks)"
    )
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        _baseline(args.baseline)
        return 0
    seconds = args.seconds or (30.0 if args.soak else 4.0)
    connections = args.connections or (200 if args.soak else 32)
    wrk = _wrk()

    from tests.micro.framework.routeguide import routeguide

    rg = routeguide()
    procs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        try:
            server, (api, proxy) = _start(
                [MICRO, "server", "--address", "127.0.0.1:0", "--api-address", "127.0.0.1:0"],
                clean_env(home),
                [r"Listening on (\S+) \(http\)", r"Listening on (\S+) \(grpc\)"],
            )
            procs.append(server)
            creds = {"MICRO_AUTH_ID": "admin", "MICRO_AUTH_SECRET": "micro"}
            env = clean_env(home, MICRO_PROXY=proxy, PYTHONUNBUFFERED="1", **creds)
            env["PYTHONPATH"] = os.pathsep.join([str(rg.folder), str(ROOT)])
            service, (node,) = _start(
                [sys.executable, str(rg.folder / "routeguide_service.py")], env, [r"Listening on (\S+)"]
            )
            procs.append(service)
            token = _admin_token(proxy)
            gateway_url = f"http://{api}{PATH}"
            deadline = time.monotonic() + 30
            while _post(gateway_url, token)[0] != 200:  # registered and routed
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway does not reach the service: {_post(gateway_url, token)}")
                time.sleep(0.05)
            script = _script(home, token)
            if args.soak:
                return _soak(wrk, script, gateway_url, server.pid, connections, seconds)
            baseline, (base_address,) = _start(
                [sys.executable, __file__, "--baseline", node], env, [r"Listening on (\S+) \(http\)"]
            )
            procs.append(baseline)
            base_url = f"http://{base_address}{PATH}"
            gateway_reply, base_reply = _post(gateway_url, token), _post(base_url, token)
            if json.loads(gateway_reply[1]) != json.loads(base_reply[1]):
                raise RuntimeError(f"different replies: {gateway_reply} vs {base_reply}")
            for url in (base_url, gateway_url):  # warm up: channels, caches, routes
                _load(wrk, script, url, connections, 1)
            if args.profile:
                _profile(Path(args.profile), {"server": server.pid, "service": service.pid}, seconds)
                _load(wrk, script, gateway_url, connections, seconds)
            ours: list[Load] = []
            base: list[Load] = []
            for _ in range(args.runs):  # interleaved: the machine is shared
                base.append(_load(wrk, script, base_url, connections, seconds, baseline.pid, service.pid))
                ours.append(_load(wrk, script, gateway_url, connections, seconds, server.pid, service.pid))
            direct = asyncio.run(_direct(node, connections, seconds))
        except Exception:
            for proc in procs:
                print(f"--- {proc.args[1]} exited {proc.poll()}:", "".join(proc.lines[-30:]), file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                stop(proc)
    return _report(ours, base, direct, connections)


def _median(loads: list[Load], field: str) -> float:
    return float(statistics.median(getattr(load, field) for load in loads))


def _report(ours: list[Load], base: list[Load], direct: float, connections: int) -> int:
    rate, base_rate = _median(ours, "rate"), _median(base, "rate")
    p99, base_p99 = _median(ours, "p99"), _median(base, "p99")
    p50, base_p50 = _median(ours, "p50"), _median(base, "p50")
    errors = sum(load.errors for load in ours + base)
    print(f"{connections} connections, medians of {len(ours)} interleaved runs each (wrk, bearer token)")
    cpu, base_cpu = _median(ours, "cpu"), _median(base, "cpu")
    node, base_node = _median(ours, "node_cpu"), _median(base, "node_cpu")
    print(f"{'':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'node µs/req':>11}")
    print(
        f"{'gateway (auth, proxy, call token)':<34} {rate:>8.0f} {p50 * 1e3:>8.2f} {p99 * 1e3:>8.2f}"
        f" {cpu * 1e6:>11.0f} {node * 1e6:>11.0f}"
    )
    print(
        f"{'baseline (uvicorn + raw grpc.aio)':<34} {base_rate:>8.0f} {base_p50 * 1e3:>8.2f}"
        f" {base_p99 * 1e3:>8.2f} {base_cpu * 1e6:>11.0f} {base_node * 1e6:>11.0f}"
    )
    print(f"{'direct gRPC (grpc.aio stub calls)':<34} {direct:>8.0f}")
    throughput = rate / base_rate
    latency = p99 / base_p99
    ok_rate = throughput >= THROUGHPUT_BAR
    ok_latency = latency <= LATENCY_BAR
    mark = {True: "meets", False: "MISSES"}
    print(f"throughput: {throughput:.2f} of the baseline — {mark[ok_rate]} the bar (>= {THROUGHPUT_BAR:.0%})")
    print(f"p99 latency: {latency:.2f}x the baseline's — {mark[ok_latency]} the bar (<= {LATENCY_BAR:g}x)")
    print(f"gateway / direct gRPC calls: {rate / direct:.2f} (reported)")
    # what a shared machine moves least: requests per CPU second of the answering process
    print(f"per CPU second of the answering process: {base_cpu / cpu:.2f} of the baseline (reported)")
    if errors:
        print(f"errors: {errors} (socket errors or non-2xx answers)")
    return 0 if ok_rate and ok_latency and not errors else 1


def _soak(wrk: str, script: Path, url: str, pid: int, connections: int, seconds: float) -> int:
    _load(wrk, script, url, connections, 2)  # warm up: every connection once
    before = _rss(pid)
    # 200 connections on one event loop wait their turn: a request is an error when it is
    # refused, fails or is unanswered after 10 s (wrk's 2 s would count the queue's tail)
    load = _load(wrk, script, url, connections, seconds, timeout=10)
    after = _rss(pid)
    print(f"soak: {connections} connections for {seconds:g}s against the gateway")
    print(
        f"requests: {load.requests} ({load.rate:.0f}/s),"
        f" p50 {load.p50 * 1e3:.1f} ms, p99 {load.p99 * 1e3:.1f} ms"
    )
    print(f"errors: {load.errors} (bar: 0){' — ' + load.detail if load.detail else ''}")
    grown = (after - before) / 2**20
    print(f"server RSS: {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after ({grown:+.1f})")
    return 0 if load.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
