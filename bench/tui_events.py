"""Key presses in the events area while its topic takes 2,000 events/s, vs the same idle.

The real ``micro`` (no arguments) runs on a 120x40 pty against a real ``micro server``
subprocess, logged in, following a topic in the events area (``:events bench``). A key press
is timed from writing ``p`` (pause, then resume) on the pty until the screen shows the
answer (``p resumes`` / ``following``); median of 20 presses: with nothing published, then
while a publisher (a separate process, streamed publish) sends 2,000 events a second to
another topic (the machine's load alone), then while the view follows that topic from
offset 0 (it must show every event: the count it received is checked against the topic's).
Bar: the loaded median within 2x the idle one or 40 ms, whichever is larger; exits non-zero
on a miss. ``--rate N`` changes the publisher's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
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
RATE = 2000
BAR, FLOOR = 2.0, 0.040
DEADLINE = 30.0
TOPIC = "bench"
QUIET = "quiet"
_ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


class Terminal:
    """``micro`` on a 120x40 pty; a reader thread collects what it writes."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            [MICRO], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.arrived: list[tuple[int, float]] = []  # (the end of each chunk in raw, when it came)
        self.scanned = 0  # how much of raw is in text
        self.literal = 0  # where the raw search for the next word goes on from
        self.text = bytearray()  # what was written since the last expect, without escapes
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            with self.changed:
                self.raw += chunk
                self.arrived.append((len(self.raw), now))
                self.changed.notify_all()

    def expect(self, word: str, seconds: float = DEADLINE) -> float:
        """Wait until ``word`` is written (since the last expect); what follows it is next.
        Returns when the chunk that completed it came off the pty (the reader thread's clock).

        The output is stripped of escape sequences chunk by chunk, once, outside the lock the
        reader takes: a bench that scanned all of it again for every chunk would fall behind
        a busy screen, and the pty's full buffer would then hold the workspace's output back
        (its own slowness measured as the workspace's)."""
        wanted = word.encode()
        deadline = time.monotonic() + seconds
        while True:
            with self.changed:
                chunks = [(end, at) for end, at in self.arrived if end > self.scanned]
                raw = bytes(self.raw[self.scanned : chunks[-1][0]]) if chunks else b""
                if not chunks:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.proc.poll() is not None:
                        tail = self.text[-1500:]
                        raise SystemExit(f"no {word!r} within {seconds:g}s; the screen had: {tail!r}")
                    self.changed.wait(left)
                    continue
            base = self.scanned
            # most words are written in one piece: found in the raw bytes, no stripping
            for end, at in chunks:
                found = raw.find(wanted, max(0, self.literal - base))
                if found >= 0 and base + found + len(wanted) <= end:
                    self.skip()
                    return at
            self.literal = max(base, base + len(raw) - len(wanted))
            for end, at in chunks:
                segment = raw[self.scanned - base : end - base]
                escape = segment.rfind(b"\x1b")
                # an escape sequence cut by the chunk's end: left for the next chunk
                cut = escape if escape >= 0 and len(segment) - escape < 64 else len(segment)
                before = len(self.text)
                self.text += _ESCAPES.sub(b"", segment[:cut])
                self.scanned += cut
                if wanted in self.text[max(0, before - len(wanted)) :]:
                    self.skip()
                    return at
            if self.scanned == base:  # only a cut escape sequence so far: wait for its end
                with self.changed:
                    self.changed.wait(0.05)
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"no {word!r} within {seconds:g}s; the screen had: {self.text[-1500:]!r}"
                    )

    def skip(self) -> None:
        """Forget what was written so far."""
        with self.changed:
            self.scanned = self.literal = len(self.raw)
            self.arrived.clear()
            self.text = bytearray()

    def received(self, stored: int, seconds: float = DEADLINE) -> int:
        """The live view's count of events received, once it reaches ``stored`` (or the
        last count it showed before ``seconds``)."""
        deadline, count = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            with self.changed:
                text = _ESCAPES.sub(b"", bytes(self.raw[-200_000:]))
            found = re.findall(rb"([\d,]+) received", text)
            count = int(found[-1].replace(b",", b"")) if found else 0
            if count >= stored:
                break
            time.sleep(0.1)
        return count

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self.master)


def follow(term: Terminal, topic: str, start: str = "") -> None:
    """``:events topic`` (then ``o`` and ``start`` when given): the live view follows it."""
    term.type(":")
    term.expect("env benchenv")  # the command bar is up (the header is painted again)
    term.type(f"events {topic}\r")
    term.expect(f"live · {topic}")
    if start:
        term.type("o")
        term.expect("Follow")
        term.type(start + "\r")
        term.expect("from offset")
    term.expect("following")


def presses(term: Terminal, count: int = PRESSES) -> list[float]:
    """``count`` key presses (``p`` pauses, the next resumes), each timed to its answer."""
    times: list[float] = []
    for n in range(count):
        answer = "p resumes" if n % 2 == 0 else "following"
        term.skip()
        started = time.perf_counter()
        term.type("p")
        times.append(term.expect(answer) - started)
        time.sleep(0.05)  # a person's pace, not a burst
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish(address: str, rate: int) -> None:
    """The publisher process: ``rate`` events a second on :data:`TOPIC` until killed."""

    async def run() -> None:
        from micro.auth.grpc import GrpcAuth
        from micro.events.grpc import GrpcStream

        auth = GrpcAuth(address, namespace="micro")
        token = (await auth.token(id="admin", secret="micro", namespace="micro")).access_token
        await auth.close()
        stream = GrpcStream(address, namespace="micro", token=token)
        tick, sent, started = 0.01, 0, time.perf_counter()
        async with stream.publisher() as publisher:
            while True:
                due = int((time.perf_counter() - started) * rate)
                while sent < due:
                    await publisher.publish(
                        TOPIC, b'{"n":%d,"note":"bench event"}' % sent, metadata={"src": "bench"}
                    )
                    sent += 1
                await asyncio.sleep(tick)

    asyncio.run(run())


def _micro(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([MICRO, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"micro {' '.join(args)}: {result.stderr.decode()[-500:]}")
    return result.stdout.decode()


def _count(env: dict[str, str]) -> int:
    for line in _micro(env, "events", "topics").splitlines():
        if line.split()[:1] == [TOPIC]:
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=RATE)
    parser.add_argument("--publish", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.rate)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        server, address = start_server(Path(tmp) / "server")
        publisher: subprocess.Popen[bytes] | None = None
        term: Terminal | None = None
        try:
            shown = stored = 0
            output = 0.0
            env = clean_env(Path(tmp) / "client", TERM="xterm-256color", COLUMNS="120", LINES="40")
            env.pop("NO_COLOR")
            _micro(env, "env", "add", "benchenv", address)
            _micro(env, "env", "set", "benchenv")
            _micro(env, "login", "--username", "admin", "--password", "micro")
            _micro(env, "events", "publish", QUIET, '{"n":-1}')
            term = Terminal(env)
            term.expect("as admin")
            follow(term, QUIET)
            idle = presses(term)
            publisher = subprocess.Popen(
                [sys.executable, __file__, "--publish", address, "--rate", str(args.rate)],
                env=env,
                stdin=subprocess.DEVNULL,
            )
            while _count(env) < args.rate:  # the publisher at its pace
                time.sleep(0.1)
            # the same keys while the server stores 2,000 events/s that this view does not show:
            # what the machine's load alone costs them
            control = presses(term)
            follow(term, TOPIC, "0")  # from offset 0: every event published
            term.expect(" received", seconds=DEADLINE)
            started, at_start, cpu = time.perf_counter(), _count(env), cpu_seconds(term.proc.pid)
            written = len(term.raw)
            loaded = presses(term)
            elapsed, published = time.perf_counter() - started, _count(env) - at_start
            busy_cpu = (cpu_seconds(term.proc.pid) - cpu) / elapsed
            output = (len(term.raw) - written) / elapsed
            publisher.kill()
            publisher.wait()
            stored = _count(env)
            shown = term.received(stored)
        finally:
            if publisher is not None:
                publisher.kill()
                publisher.wait()
            if term is not None:
                term.close()
            stop(server)
    quiet, busy, machine = (statistics.median(t) for t in (idle, loaded, control))
    bar = max(BAR * quiet, FLOOR)
    rate = f"{args.rate:,}/s"
    print(f"key press, nothing published:             median {quiet * 1000:6.1f} ms ({len(idle)} presses)")
    print(f"key press, {rate} to another topic:     median {machine * 1000:6.1f} ms (the load alone)")
    print(f"key press, following a topic at {rate}: median {busy * 1000:6.1f} ms ({len(loaded)} presses)")
    print(f"  each, ms: {' '.join(f'{t * 1000:.0f}' for t in loaded)}")
    print(f"events stored meanwhile: {published:,} in {elapsed:.1f} s ({published / elapsed:,.0f}/s)")
    print(f"the workspace meanwhile: {busy_cpu:.0%} of a core, {output / 1024:,.0f} KiB/s to the terminal")
    print(f"the live view received {shown:,} of the {stored:,} events of the topic")
    verdict = "ok" if busy <= bar else "MISS"
    print(f"ratio {busy / quiet:.2f}x; bar {bar * 1000:.1f} ms (2x idle or 40 ms): {verdict}")
    return 0 if busy <= bar else 1


if __name__ == "__main__":
    sys.exit(main())
