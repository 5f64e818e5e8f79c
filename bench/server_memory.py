"""Idle resident memory of ``micro server`` against a bare ``grpc.aio`` server.

Starts each on a free port, waits until it listens, lets it settle, and reads ``VmRSS``
from ``/proc/<pid>/status``. The baseline (a grpc.aio server with only the health service,
written by this bench) shows what Python + grpc cost by themselves.
Bar: ``micro server`` idle RSS under 120 MB. Exits 1 when it is missed.

    .venv/bin/python bench/server_memory.py [--settle 2]
"""

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import clean_env, start_server, stop

BAR_MB = 120.0

BARE_SERVER = textwrap.dedent(
    """
    import asyncio

    import grpc
    from grpc_health.v1 import health, health_pb2_grpc


    async def main() -> None:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"Listening on 127.0.0.1:{port} (grpc)", flush=True)
        await server.wait_for_termination()


    asyncio.run(main())
    """
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bare_rss(folder: Path, settle: float) -> float:
    script = folder / "bare_server.py"
    script.write_text(BARE_SERVER)
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=clean_env(folder / "bare-home"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "Listening" not in line:
            raise RuntimeError(f"the bare server did not start: {line!r}")
        time.sleep(settle)
        return rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to idle before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        baseline = bare_rss(folder, args.settle)
        proc, address = start_server(folder / "home")
        try:
            time.sleep(args.settle)
            micro = rss_mb(proc.pid)
        finally:
            stop(proc)
    print(f"idle resident memory after {args.settle:g}s (Python {sys.version.split()[0]})")
    print(f"  bare grpc.aio server (baseline)  {baseline:6.1f} MB")
    print(f"  micro server ({address})  {micro:6.1f} MB  ({micro / baseline:.2f}x the baseline)")
    met = micro < BAR_MB
    print(f"  bar: under {BAR_MB:g} MB: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
