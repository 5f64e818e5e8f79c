"""End-to-end fixtures: a real ``micro server`` subprocess and the real ``micro`` CLI.

One server is shared per module (``shared_server``) where tests do not conflict; tests keep
apart with distinct keys and tables. ``micro`` runs the CLI against it (``MICRO_PROXY``),
with the test's own ``MICRO_HOME`` from the autouse fixture.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MICRO = shutil.which("micro", path=str(Path(sys.executable).parent)) or shutil.which("micro") or "micro"
LISTENING = re.compile(r"Listening on (\S+) \(grpc\)")
START_SECONDS = 20.0


def pytest_configure() -> None:
    """Tests stop the CLI with Ctrl-C (SIGINT). A pytest that a shell started in the background
    (or nohup) ignores SIGINT, and the processes it starts would ignore it too; with a handler
    installed here, they start with the default one."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class MicroServer:
    """A ``micro server`` subprocess; ``stderr`` collects its log lines."""

    home: Path
    proc: subprocess.Popen[str]
    address: str = ""
    stderr: list[str] = field(default_factory=list)
    _token: list[str | None] = field(default_factory=list)
    _drainer: threading.Thread | None = None

    def token(self) -> str | None:
        """An admin access token for this server (None when it does not enforce auth)."""
        if not self._token:
            self._token.append(admin_token(self.address, self.home / "admin-client"))
        return self._token[0]

    def wait_listening(self, timeout: float = START_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stderr):
                match = LISTENING.search(line)
                if match:
                    self.address = match.group(1)
                    return self.address
            if self.proc.poll() is not None:
                if self._drainer is not None:
                    self._drainer.join(5)  # the reader collects the last lines
                raise RuntimeError(f"micro server exited {self.proc.returncode}: {''.join(self.stderr)}")
            time.sleep(0.02)
        raise TimeoutError(f"micro server did not listen within {timeout}s: {''.join(self.stderr)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_pipe()

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._close_pipe()

    def drain(self) -> None:
        """Collect the server's log lines in ``stderr`` (on a thread) until it exits."""
        self._drainer = threading.Thread(target=_drain, args=(self.proc, self.stderr), daemon=True)
        self._drainer.start()

    def _close_pipe(self) -> None:
        close_pipes(self.proc, self._drainer)


def close_pipes(proc: subprocess.Popen[str], *readers: threading.Thread | None) -> None:
    """Once ``proc`` has exited: let its reader threads take the last lines, then close its
    pipes (left open, they are a ResourceWarning, which fails the test run). A pipe that a
    reader still blocks on is left alone: closing it would wait for that reader."""
    for reader in readers:
        if reader is not None:
            reader.join(5)
            if reader.is_alive():
                return
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _drain(proc: subprocess.Popen[str], sink: list[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        sink.append(line)


def launch_server(
    home: Path,
    address: str = "127.0.0.1:0",
    *,
    wait: bool = True,
    args: tuple[str, ...] = (),
    settings: dict[str, str] | None = None,
) -> MicroServer:
    """Start ``micro server`` on ``home`` (``args`` after it, ``settings``: ``MICRO_*``
    variables of its own); with ``wait``, return once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_HOME=str(home), MICRO_API_ADDRESS="127.0.0.1:0", GRPC_VERBOSITY="NONE", NO_COLOR="1")
    env.update(settings or {})
    proc = subprocess.Popen(
        [MICRO, "server", "--address", address, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = MicroServer(home=home, proc=proc)
    server.drain()
    if wait:
        try:
            server.wait_listening()
        except BaseException:
            server.stop()
            raise
    return server


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicroServer]:
    """One real server for the whole module (its own MICRO_HOME)."""
    server = launch_server(tmp_path_factory.mktemp("server-home"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_server(micro_home: Path) -> Iterator[Callable[..., MicroServer]]:
    """Start servers for one test (on the test's MICRO_HOME unless told); stopped after it."""
    started: list[MicroServer] = []

    def start(
        home: Path | None = None, address: str = "127.0.0.1:0", wait: bool = True, args: tuple[str, ...] = ()
    ) -> MicroServer:
        server = launch_server(home or micro_home, address, wait=wait, args=args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def admin_token(address: str, home: Path) -> str | None:
    """Log in as the default admin (in a client home of its own) and return the access token."""
    env = {**os.environ, "MICRO_HOME": str(home), "MICRO_PROXY": address}
    env.pop("MICRO_TOKEN", None)
    login = subprocess.run(
        [MICRO, "login", "--username", "admin", "--password", "micro"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    if login.returncode != 0:
        return None
    token = subprocess.run(
        [MICRO, "user", "token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return token.stdout.strip() or None if token.returncode == 0 else None


def run_micro(
    *args: str | bytes,
    server: MicroServer | None = None,
    address: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``micro`` CLI (in ``cwd`` when given).

    ``server`` points it at that server (``MICRO_PROXY``) as its admin (``MICRO_TOKEN``);
    ``address`` only points it there.
    """
    full_env = {**os.environ}
    if server is not None:
        address = server.address
        token = server.token()
        if token:
            full_env["MICRO_TOKEN"] = token
    if address:
        full_env["MICRO_PROXY"] = address
    full_env.update(env or {})
    return subprocess.run(
        [MICRO, *args],
        env=full_env,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        cwd=cwd,
    )


@pytest.fixture
def micro(shared_server: MicroServer) -> Runner:
    """``micro(*args)``: the CLI against the module's shared server."""

    def call(*args: str | bytes, **kwargs: object) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("server", shared_server)
        return run_micro(*args, **kwargs)  # type: ignore[arg-type]

    return call


_RESERVED: list[socket.socket] = []


def free_port() -> int:
    """A port nothing listens on, and nothing else can take while the tests run: bound but
    never listening, and kept open (a port bound and released could be taken by another
    process before the test uses it). Connections to it are refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _RESERVED.append(sock)
    return int(sock.getsockname()[1])


def pytest_sessionfinish() -> None:
    """Release the reserved ports (left to the interpreter's exit, each is a ResourceWarning)."""
    while _RESERVED:
        _RESERVED.pop().close()


def one_line(text: str) -> str:
    """The single line of ``text``; fails when there are more (or none)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    assert "Traceback" not in text
    return lines[0]
