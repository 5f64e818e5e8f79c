"""``micro call`` end to end (process start to output) against ``micro store read``.

Both read the same key from the same running ``micro server``, runs interleaved:
``micro call store Store.Read '{"key":"k"}'`` (dynamic: schema from the cache after the
first run, JSON ⇄ protobuf, a raw-bytes call) and ``micro store read k`` (generated stub).
A dynamic command (``micro registry get-service --service store``) is shown too.
Bar: ``micro call`` within 1.3x of ``micro store read``. Exits 1 when the bar is missed.

    .venv/bin/python bench/call_cli.py [--runs 21]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import MICRO, clean_env, medians, start_server, stop, wall

BAR = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server_home, cli_home = Path(tmp, "server"), Path(tmp, "cli")
        proc, address = start_server(server_home)
        try:
            env = clean_env(cli_home, MICRO_PROXY=address)
            wall([MICRO, "login", "--username", "admin", "--password", "micro"], env)
            wall([MICRO, "store", "write", "k", "v"], env)
            figures = medians(
                {
                    "micro store read k": ([MICRO, "store", "read", "k"], env),
                    "micro call store Store.Read": (
                        [MICRO, "call", "store", "Store.Read", '{"key":"k"}'],
                        env,
                    ),
                    "micro registry get-service": (
                        [MICRO, "registry", "get-service", "--service", "store"],
                        env,
                    ),
                },
                args.runs,
            )
        finally:
            stop(proc)
    base = figures["micro store read k"]
    for name, seconds in figures.items():
        print(f"{name:32} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x")
    ratio = figures["micro call store Store.Read"] / base
    ok = ratio <= BAR
    print(f"micro call / micro store read = {ratio:.2f} (bar {BAR}x): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
