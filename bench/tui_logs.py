"""The logs area under a flood: a real supervised service writing 10,000 lines/s for 30 s.

A real ``micro server`` subprocess runs ``chatty`` (``micro run``): a micro service that,
once told to (a file appears), writes ``--rate`` numbered lines a second for ``--seconds``
seconds, then ``done N``. The workspace (``micro``, as a user runs it, on a 120x40 pty) is
open on its logs (``:logs chatty``). Measured, in one run:

- every line accounted for: the workspace's line count (lines received, and lines the server
  reported dropped) equals the lines of the service's log since the follow began (those
  before the flood, the flood's, ``done``); of those, the ones written to the screen and the
  ones shown as dropped (the batcher's unit tests hold it to written + dropped = received);
- RSS of the workspace before the flood, its peak and after: bounded (growth under
  :data:`RSS_GROWTH_MB`);
- key presses: ``t`` (times on/off) timed from the key's write to the pty until the
  screen's info line shows the change (``· times`` appears or goes), median of 20, idle
  (before the flood) and under it. Bar: under the flood within 2x idle or 40 ms, whichever
  is larger.

Exits non-zero when a bar is missed. ``--seconds 5`` for a short run.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import MICRO, clean_env, start_server, stop

PRESSES = 20
KEY_BAR = 2.0
KEY_FLOOR = 0.040
RSS_GROWTH_MB = 64
DEADLINE = 60.0
ENV_NAME = "benchlogs"

SERVICE = '''\
"""chatty: once CHATTY_GO exists, RATE numbered lines a second for SECONDS seconds."""

import asyncio
import os
import sys
import time

import micro


async def flood() -> None:
    go = os.environ["CHATTY_GO"]
    rate, seconds = int(os.environ["RATE"]), float(os.environ["SECONDS"])
    while not os.path.exists(go):
        await asyncio.sleep(0.05)
    total, written, started = int(rate * seconds), 0, time.monotonic()
    while written < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        if due > written:
            sys.stdout.write("".join(
                f"line {n:07d} GET /orders/{n % 997} 200 {n % 53}ms user=u{n % 101}\\n"
                for n in range(written + 1, due + 1)
            ))
            sys.stdout.flush()
            written = due
        await asyncio.sleep(0.005)
    print(f"done {written} in {time.monotonic() - started:.2f}s", flush=True)


async def main() -> None:
    service = micro.Service("chatty")
    asyncio.get_running_loop().create_task(flood())
    await service.serve()


asyncio.run(main())
'''

_INFO = re.compile(rb"(following|paused \(\d[\d,]* waiting\))[^\x1b]*")
_OVERLAP = 4096
_DONE = re.compile(rb"done (\d+) in ([\d.]+)s")
_LINES = re.compile(r"([\d,]+) lines")
_DROPPED = re.compile(r"dropped ([\d,]+)")


class Terminal:
    """``argv`` on a 120x40 pty; a thread keeps reading what it draws (a flood of output
    must never block the app on a full pty)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self.base = 0  # the position in the whole output of self.out[0] (old output is let go)
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                chunk = b""
            with self.changed:
                if not chunk:
                    self.out += b"\0EOF"
                    self.changed.notify_all()
                    return
                self.out += chunk
                if len(self.out) > 1 << 24:
                    del self.out[: 1 << 23]
                    self.base += 1 << 23
                self.changed.notify_all()

    def mark(self) -> int:
        """The position of the output so far (what comes after it is new)."""
        with self.changed:
            return self.base + len(self.out)

    def send(self, keys: bytes) -> float:
        """Write ``keys``; the time it was written."""
        os.write(self.master, keys)
        return time.perf_counter()

    def wait(self, test: object, since: int = 0, timeout: float = DEADLINE) -> bytes:
        """Wait until ``test(output after since)`` is true (a bytes marker: it appears);
        returns the output it was true of. Each look reads only what came since the last
        (and a little before it, for a match across two reads): a flood draws megabytes."""
        deadline = time.monotonic() + timeout
        check = test if callable(test) else (lambda out: test in out)
        scanned = since
        with self.changed:
            while True:
                start = max(since, scanned - _OVERLAP, self.base) - self.base
                seen = bytes(self.out[start:])
                scanned = self.base + len(self.out)
                if check(seen):
                    return seen
                if b"\0EOF" in seen:
                    raise SystemExit(f"the workspace ended: {seen[-800:]!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"timed out waiting for {test!r}: {seen[-800:]!r}")
                self.changed.wait(left)

    def info(self, since: int = 0) -> str:
        """The info line the workspace drew last (after ``since``)."""
        with self.changed:
            start = max(since - self.base, 0)
            drawn = [m.group(0) for m in _INFO.finditer(bytes(self.out[start:]))]
        return drawn[-1].decode(errors="replace") if drawn else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the workspace used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self.master)


def _times_on(out: bytes) -> bool:
    return any(b"times" in m.group(0) for m in _INFO.finditer(out))


def _times_off(out: bytes) -> bool:
    return any(b"times" not in m.group(0) for m in _INFO.finditer(out))


def presses(term: Terminal, count: int) -> list[float]:
    """``t`` ``count`` times, each timed until the info line shows the flag change."""
    times = []
    for n in range(count):
        since = term.mark()
        sent = term.send(b"t")
        term.wait(_times_on if n % 2 == 0 else _times_off, since, timeout=10)
        times.append(time.perf_counter() - sent)
        time.sleep(0.05)
    return times


def _micro(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [MICRO, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"micro {' '.join(args)}: {result.stderr[-800:]}")
    return result.stdout


def _count(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.search(text)
    return int(found.group(1).replace(",", "")) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=10_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server, address = start_server(root / "server")
        term: Terminal | None = None
        try:
            env = clean_env(root / "client", TERM="xterm-256color", COLUMNS="120", LINES="40")
            env.pop("NO_COLOR")
            _micro(env, "env", "add", ENV_NAME, address)
            _micro(env, "env", "set", ENV_NAME)
            _micro(env, "login", "--username", "admin", "--password", "micro")
            # the tail holds every line the service wrote before the flood
            (root / "client" / "workspace.json").write_text(json.dumps({"logs_tail": 1000}))
            folder = root / "chatty"
            folder.mkdir()
            (folder / "main.py").write_text(SERVICE)
            go = root / "go"
            settings = f"CHATTY_GO={go},RATE={options.rate},SECONDS={options.seconds}"
            _micro(env, "run", "--wait", "--env-vars", settings, ".", cwd=folder)

            term = Terminal([MICRO], env)
            term.wait(ENV_NAME.encode())
            term.send(b":")
            time.sleep(0.3)
            term.send(b"logs chatty\r")
            term.wait(b"chatty \xe2\x97\x8f")  # "chatty ●": its stream is live
            term.wait(b"has no handlers")  # its last line before the flood
            time.sleep(1.0)
            before = len(json_lines(_micro(env, "logs", "chatty", "-n", "-1", "-o", "json")))
            idle = presses(term, PRESSES)
            rss_before = term.rss_mb()

            flood_mark = term.mark()
            go.touch()
            started, cpu_before = time.monotonic(), term.cpu_seconds()
            peak = rss_before
            flood: list[float] = []
            while time.monotonic() - started < options.seconds * 0.2:
                time.sleep(0.25)
            while len(flood) < PRESSES and time.monotonic() - started < options.seconds * 0.9:
                flood += presses(term, 2)
                peak = max(peak, term.rss_mb())
            done = _DONE.search(term.wait(_DONE.search, flood_mark, timeout=options.seconds + DEADLINE))
            assert done is not None
            written, took = int(done.group(1)), float(done.group(2))
            cpu = term.cpu_seconds() - cpu_before
            load = os.getloadavg()[0]
            time.sleep(1.0)  # the last batches
            peak = max(peak, term.rss_mb())
            mark = term.mark()
            term.send(b"t")  # one more frame with the final counts
            term.wait(lambda out: bool(_INFO.search(out)), mark, timeout=10)
            info = term.info(mark)
            rss_after = term.rss_mb()
        finally:
            if term is not None:
                term.close()
            stop(server)

    expected = before + written + 1  # and "done"
    lines, dropped = _count(_LINES, info), _count(_DROPPED, info)
    idle_median, flood_median = statistics.median(idle), statistics.median(flood)
    key_bar = max(KEY_BAR * idle_median, KEY_FLOOR)
    growth = peak - rss_before
    print(f"service wrote {written:,} lines in {took:.1f}s ({written / took:,.0f} lines/s)")
    print(f"log since the follow began: {expected:,} lines ({before:,} before the flood)")
    print(f"workspace: {lines:,} lines, {lines - dropped:,} written, {dropped:,} shown as dropped")
    print(f"  info line: {info.strip()}")
    accounted = lines == expected
    print(f"every line written or counted as dropped: {'ok' if accounted else 'MISS'}")
    print(f"workspace CPU during the flood: {cpu / took:.0%} of a core (load average {load:.1f})")
    print(f"RSS: before {rss_before:.0f} MB, peak {peak:.0f} MB, after {rss_after:.0f} MB")
    rss_ok = growth <= RSS_GROWTH_MB
    print(f"RSS growth {growth:.0f} MB (bar {RSS_GROWTH_MB} MB): {'ok' if rss_ok else 'MISS'}")
    print(f"key press (t), idle:  median {idle_median * 1000:.1f} ms ({len(idle)} presses)")
    print(f"key press (t), flood: median {flood_median * 1000:.1f} ms ({len(flood)} presses)")
    print("  under the flood, each (ms):", " ".join(f"{t * 1000:.0f}" for t in flood))
    keys_ok = flood_median <= key_bar
    ratio = flood_median / idle_median
    print(f"ratio {ratio:.2f}x (bar: within {key_bar * 1000:.0f} ms): {'ok' if keys_ok else 'MISS'}")
    return 0 if accounted and rss_ok and keys_ok else 1


def json_lines(text: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


if __name__ == "__main__":
    sys.exit(main())
