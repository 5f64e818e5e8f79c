"""Cold start to first paint: the workspace vs a bare Textual app, median of 10 runs each.

Each run is a fresh process on a pseudo-terminal that exits right after its first frame
(the workspace with MICRO_TUI_EXIT_ON_PAINT=1). Bar: the workspace within 2x the bare app.
Exits non-zero on a miss.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 10
BAR = 2.0

BARE = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.exit)
Bare().run()
"""
WORKSPACE = "import micro_tui.app as a; a.run()"


def once(code: str, env: dict[str, str]) -> float:
    master, slave = os.openpty()
    os.set_blocking(master, False)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    while proc.poll() is None:
        try:
            os.read(master, 65536)  # keep the terminal drained
        except (BlockingIOError, OSError):
            time.sleep(0.001)
    elapsed = time.perf_counter() - started
    os.close(master)
    if proc.returncode != 0:
        raise SystemExit(f"run failed with exit code {proc.returncode}")
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        env = dict(
            os.environ,
            MICRO_HOME=home,
            MICRO_TUI_EXIT_ON_PAINT="1",
            TERM="xterm-256color",
            COLUMNS="120",
            LINES="40",
        )
        env.pop("NO_COLOR", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as on a user's machine
        once(BARE, env)  # warm the OS file cache for both
        once(WORKSPACE, env)
        bare, workspace = [], []
        for _ in range(RUNS):
            bare.append(once(BARE, env))
            workspace.append(once(WORKSPACE, env))
    b, w = statistics.median(bare), statistics.median(workspace)
    ratio = w / b
    print(f"bare Textual app first frame: median {b * 1000:.0f} ms ({RUNS} runs)")
    print(f"micro workspace first paint:  median {w * 1000:.0f} ms ({RUNS} runs)")
    print(f"ratio {ratio:.2f}x (bar {BAR:.1f}x): {'ok' if ratio <= BAR else 'MISS'}")
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
