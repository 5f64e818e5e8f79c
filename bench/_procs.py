"""Shared by the benchmarks: the ``micro`` executable, a real ``micro server`` subprocess,
and process wall times."""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MICRO = shutil.which("micro", path=str(Path(sys.executable).parent)) or shutil.which("micro") or "micro"
_LISTENING = re.compile(r"Listening on (\S+) \(grpc\)")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked process: no inherited MICRO_* settings, and bytecode
    cached as on a user's machine (some CI and sandbox images set PYTHONDONTWRITEBYTECODE,
    which makes every run compile this checkout's modules again)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(MICRO_HOME=str(home), NO_COLOR="1", GRPC_VERBOSITY="NONE", **extra)
    return env


def start_server(home: Path, timeout: float = 30.0) -> tuple[subprocess.Popen[str], str]:
    """``micro server`` on a free port; returns the process and its address once it listens."""
    proc = subprocess.Popen(
        [MICRO, "server", "--address", "127.0.0.1:0"],
        env=clean_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    lines: list[str] = []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            match = _LISTENING.search(line)
            if match:
                found.append(match.group(1))

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"micro server did not start: {''.join(lines)}")
        time.sleep(0.02)
    return proc, found[0]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``argv`` takes; fails loudly when it fails."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return elapsed


def medians(cases: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """Median wall time of each case, runs interleaved so that noise hits all alike."""
    for argv, env in cases.values():  # warm the page cache and .pyc files
        wall(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (argv, env) in cases.items():
            samples[name].append(wall(argv, env))
    return {name: statistics.median(times) for name, times in samples.items()}
