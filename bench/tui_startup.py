"""First paint: the ``micro`` workspace vs a bare Textual app, on a pseudo-terminal.

Each run is a fresh process on a 120x40 pty, timed from its start to the first output that
holds a marker text: the environment's name (it shows only in the workspace's header) and
the one word of the bare app. The process is killed there, so what it does after its first
frame (and on exit) is not counted. The workspace runs as a user runs it (``micro`` with no
arguments) against a real ``micro server`` subprocess, logged in, its registry cache warm.
Median of 7 interleaved runs each. Bar: the workspace within 2x the bare app; exits non-zero
on a miss.
"""

from __future__ import annotations

import fcntl
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import MICRO, clean_env, start_server, stop

RUNS = 7
BAR = 2.0
DEADLINE = 30.0
ENV_NAME = "benchenv"  # the workspace's marker: the header is the only place it shows
BARE_WORD = "marmalade"
BARE = f"""
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("{BARE_WORD}")
Bare().run()
"""


def first_paint(argv: list[str], env: dict[str, str], marker: str) -> float:
    """Seconds from starting ``argv`` on a pty until its output holds ``marker``."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    wanted = marker.encode()
    try:
        while wanted not in seen:
            if time.perf_counter() - started > DEADLINE:
                raise SystemExit(f"no {marker!r} within {DEADLINE:g}s from {argv}: {seen[-500:]!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the process ended and closed the pty
                raise SystemExit(f"{argv} ended before showing {marker!r}: {seen[-500:]!r}") from None
            seen += chunk
        return time.perf_counter() - started
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.close(master)


def _micro(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([MICRO, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"micro {' '.join(args)}: {result.stderr.decode()[-500:]}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server, address = start_server(Path(tmp) / "server")
        try:
            env = clean_env(Path(tmp) / "client", TERM="xterm-256color", COLUMNS="120", LINES="40")
            env.pop("NO_COLOR")  # colours, as a user sees them
            _micro(env, "env", "add", ENV_NAME, address)
            _micro(env, "env", "set", ENV_NAME)
            _micro(env, "login", "--username", "admin", "--password", "micro")
            _micro(env, "services")  # the registry snapshot the first paint shows
            cases = {
                "bare": ([sys.executable, "-c", BARE], BARE_WORD),
                "workspace": ([MICRO], ENV_NAME),
            }
            for argv, marker in cases.values():  # warm the page cache and .pyc files
                first_paint(argv, env, marker)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(RUNS):
                for name, (argv, marker) in cases.items():
                    samples[name].append(first_paint(argv, env, marker))
        finally:
            stop(server)
    bare, workspace = (statistics.median(samples[n]) for n in ("bare", "workspace"))
    ratio = workspace / bare
    print(f"bare Textual app first frame: median {bare * 1000:.0f} ms ({RUNS} runs)")
    print(f"micro workspace first paint:  median {workspace * 1000:.0f} ms ({RUNS} runs)")
    print(f"ratio {ratio:.2f}x (bar {BAR:.1f}x): {'ok' if ratio <= BAR else 'MISS'}")
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
