"""The runtime's bars, against baselines measured in the same run.

1. ``micro run .`` of a ``micro new`` service until it answers its first call, venv cache
   warm, against starting the same service by hand (``python main.py``, same environment)
   until it answers; the cold figure (first run: the venv is made) beside it. Bar: ≤ 2×.
2. Log follow latency: the service writes a line → ``micro logs -f`` prints it, against
   ``tail -F`` on a file the service writes itself, line-buffered. Bars: median ≤ 5 ms and
   ≤ 2× tail.
3. Idle supervision: the server's CPU over ``--idle-seconds`` with ``--idle`` idle services
   (their heartbeats included). Bar: ≤ 1% of one core.
4. ``--many`` services at once: the server's RSS growth, and ``micro status`` time against
   with one. Bar: ≤ 2×.

Usage: python bench/runtime.py [--idle 10] [--idle-seconds 60] [--many 50] [--lines 200]
       [--starts 5] [--parts start,follow,idle,many]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._procs import MICRO, clean_env, start_server, stop

_CALL = b"\n\x03Joe"  # helloworld.CallRequest(name="Joe")


def _cli(env: dict[str, str], *args: str, cwd: Path | None = None, check: bool = True) -> str:
    done = subprocess.run([MICRO, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise RuntimeError(f"micro {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _answers(address: str, token: str, service: str, deadline: float) -> float:
    """Wait until ``service`` answers Call through the proxy; returns when it did."""
    import grpc

    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(f"/{service}.Helloworld/Call")
    md = (("authorization", f"Bearer {token}"), ("micro-service", service))
    try:
        while time.monotonic() < deadline:
            try:
                call(_CALL, metadata=md, timeout=2)
                return time.perf_counter()
            except grpc.RpcError:
                time.sleep(0.01)
    finally:
        channel.close()
    raise RuntimeError(f"{service} did not answer")


def _ps_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _stream_server(lines: int) -> None:
    """The floor's server (``--stream-server``): a bare ``grpc.aio`` server stream sending
    its clock every 10 ms, as the ticker writes lines."""
    import asyncio

    import grpc

    async def ticks(request: bytes, context: object) -> object:
        await asyncio.sleep(0.5)
        for _ in range(lines):
            await asyncio.sleep(0.01)
            yield str(time.time_ns()).encode()

    server = grpc.aio.server()
    handler = grpc.unary_stream_rpc_method_handler(ticks)
    generic = grpc.method_handlers_generic_handler("bench.Ticks", {"Ticks": handler})
    server.add_generic_rpc_handlers((generic,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


def _grpc_floor(lines: int) -> float:
    """Median ms from a bare ``grpc.aio`` server stream's send to a grpc client's receipt in
    another process (the client polls its stream as ``micro logs -f`` does): what one gRPC
    message between two Python processes costs here, with no micro code on either side."""
    import grpc

    server = subprocess.Popen(
        [sys.executable, __file__, "--stream-server", str(lines)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        channel = grpc.insecure_channel(
            f"127.0.0.1:{int(server.stdout.readline())}", options=[("SingleThreadedUnaryStream", 1)]
        )
        took = [(time.time_ns() - int(m)) / 1e6 for m in channel.unary_stream("/bench.Ticks/Ticks")(b"")]
        channel.close()
        return statistics.median(took)
    finally:
        server.kill()
        server.wait()


def main() -> int:
    if sys.argv[1:2] == ["--stream-server"]:
        import asyncio

        asyncio.run(_stream_server(int(sys.argv[2])))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--many", type=int, default=50)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5, help="starts of each kind (part 1)")
    parser.add_argument("--parts", default="start,follow,idle,many", help="which parts to run")
    opts = parser.parse_args()
    parts = set(opts.parts.split(","))
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server, address = start_server(root / "server")
        try:
            env = clean_env(root / "client", MICRO_PROXY=address)
            _cli(env, "login", "--username", "admin", "--password", "micro")
            token = _cli(env, "user", "token").strip()
            _cli(env, "new", "helloworld", cwd=root)
            folder = root / "helloworld"

            if "start" in parts:
                # 1. by hand, then micro run cold and warm
                create = ("auth", "create", "account", "--type", "service", "--service", "helloworld", "hw")
                secret = _cli(env, *create).split('"secret":"', 1)[1].split('"', 1)[0]
                hand_env = clean_env(
                    root / "hand", MICRO_PROXY=address, MICRO_AUTH_ID="hw", MICRO_AUTH_SECRET=secret
                )

                def by_hand() -> float:
                    started = time.perf_counter()
                    proc = subprocess.Popen(
                        [sys.executable, "main.py"], cwd=folder, env=hand_env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    took = _answers(address, token, "helloworld", time.monotonic() + 60) - started
                    proc.terminate()
                    proc.wait(10)
                    return took

                def by_run() -> float:
                    started = time.perf_counter()
                    _cli(env, "run", ".", cwd=folder)
                    took = _answers(address, token, "helloworld", time.monotonic() + 600) - started
                    _cli(env, "kill", "helloworld")
                    return took

                # the first run makes the venv (cold); then both ways in turn, so that a load that
                # comes and goes on the machine weighs on both alike
                cold = by_run()
                hand_times, runs = [], []
                for _ in range(opts.starts):
                    hand_times.append(by_hand())
                    runs.append(by_run())
                hand, warm = statistics.median(hand_times), statistics.median(runs)
                print(f"start: by hand {hand * 1000:.0f} ms, micro run warm {warm * 1000:.0f} ms "
                      f"({warm / hand:.2f}x, bar 2x), cold {cold * 1000:.0f} ms")  # fmt: skip
                if warm > 2 * hand:
                    missed.append("run start")

            if "follow" in parts:
                # 2. log follow latency against tail -F of a file the service writes itself
                ticker = root / "ticker"
                shutil.copytree(folder, ticker)
                mirror = root / "ticker.out"
                (ticker / "main.py").write_text(
                    "import sys, threading, time\n"
                    "import micro\n"
                    "from handler import Helloworld\n"
                    f"mirror = open({str(mirror)!r}, 'a', buffering=1)\n"
                    "def tick():\n"
                    "    time.sleep(1.0)\n"
                    f"    for _ in range({opts.lines}):\n"
                    "        line = f'tick {time.time_ns()}'\n"
                    "        print(line); mirror.write(line + '\\n')\n"
                    "        time.sleep(0.01)\n"
                    "threading.Thread(target=tick, daemon=True).start()\n"
                    "s = micro.Service('ticker'); s.handle(Helloworld()); s.run()\n"
                )
                mirror.touch()
                _cli(env, "run", "--wait", str(ticker))  # its ticks start a second after it runs
                tail = subprocess.Popen(
                    ["tail", "-n", "0", "-F", str(mirror)], stdout=subprocess.PIPE, text=True
                )
                follow = subprocess.Popen(
                    [MICRO, "logs", "ticker", "-f", "-n", "0"], env=env, stdout=subprocess.PIPE, text=True
                )
                seen: dict[str, list[float]] = {"micro logs -f": [], "tail -F": []}

                def read(proc: subprocess.Popen[str], key: str) -> None:
                    assert proc.stdout is not None
                    for line in proc.stdout:
                        now = time.time_ns()
                        if line.startswith("tick "):
                            seen[key].append((now - int(line.split()[1])) / 1e6)
                            if len(seen[key]) >= opts.lines:
                                return

                readers = [
                    threading.Thread(target=read, args=(tail, "tail -F"), daemon=True),
                    threading.Thread(target=read, args=(follow, "micro logs -f"), daemon=True),
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join(60)
                for proc in (tail, follow):
                    proc.terminate()
                    proc.wait(10)
                if os.environ.get("BENCH_DEBUG"):
                    for key, values in seen.items():
                        print(key, [round(v, 1) for v in values])
                ours, theirs = (statistics.median(seen[k] or [float("nan")]) for k in seen)
                print(f"log follow: micro logs -f median {ours:.2f} ms, tail -F {theirs:.2f} ms "
                      f"({ours / theirs:.2f}x; bars 5 ms and 2x)")  # fmt: skip
                floor = _grpc_floor(opts.lines)
                print(f"  for scale: one bare grpc.aio stream message between two processes "
                      f"(no micro code) {floor:.2f} ms = {floor / theirs:.2f}x tail -F")  # fmt: skip
                if not ours <= 5 or not ours <= 2 * theirs:
                    missed.append("log follow")
                _cli(env, "kill", "ticker")

            if "idle" in parts:
                # 3. idle supervision
                for i in range(opts.idle):
                    _cli(env, "run", "--name", f"idle{i}", str(folder))
                _cli(env, "run", "--wait", "--name", "idlelast", str(folder))
                time.sleep(5)  # every instance registered and settled
                before, started = _ps_cpu(server.pid), time.monotonic()
                time.sleep(opts.idle_seconds)
                share = (_ps_cpu(server.pid) - before) / (time.monotonic() - started) * 100
                print(f"idle: {opts.idle + 1} services, server CPU {share:.2f}% of one core over "
                      f"{opts.idle_seconds:.0f}s (bar 1%)")  # fmt: skip
                if share > 1:
                    missed.append("idle CPU")
                for i in range(opts.idle):
                    _cli(env, "kill", f"idle{i}")

            if "many" in parts:
                # 4. many services: RSS growth and status time
                def status_time() -> float:
                    times = []
                    for _ in range(5):
                        t = time.perf_counter()
                        _cli(env, "status")
                        times.append(time.perf_counter() - t)
                    return statistics.median(times)

                one, rss_one = status_time(), _rss(server.pid)
                for i in range(opts.many - 1):
                    _cli(env, "run", "--name", f"many{i}", str(folder))
                deadline = time.monotonic() + 600
                while _cli(env, "status").count(" running ") < opts.many and time.monotonic() < deadline:
                    time.sleep(1)
                many = status_time()
                growth = (_rss(server.pid) - rss_one) / (1024 * 1024)
                print(
                    f"many: {opts.many} services, server RSS +{growth:.1f} MiB, micro status "
                    f"{many * 1000:.0f} ms vs {one * 1000:.0f} ms with one ({many / one:.2f}x, bar 2x)"
                )
                if many > 2 * one:
                    missed.append("status with many")
        finally:
            stop(server)
    print("missed: " + ", ".join(missed) if missed else "bars met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
