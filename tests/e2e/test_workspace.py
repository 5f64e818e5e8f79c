"""The workspace as a user runs it: the real ``micro`` (no arguments) on a pseudo-terminal
against a real ``micro server`` subprocess. Log in through the dialog, see the services,
invoke an endpoint, quit; start again with the server gone and the first paint still shows
the services (from the cache)."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import MICRO, MicroServer, run_micro

DEADLINE = 30.0
_ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


class Terminal:
    """``micro`` on a 120x40 pty; what it writes is collected by a reader thread."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            [MICRO], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.mark = 0  # where the next expect() starts looking
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the process ended and closed the pty
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk

    def text(self) -> str:
        """Everything written since the last expect(), without escape sequences."""
        with self._lock:
            data = bytes(self.raw[self.mark :])
        return _ESCAPES.sub(b"", data).decode(errors="replace")

    def expect(self, *words: str, seconds: float = DEADLINE) -> None:
        """Wait until every one of ``words`` has been written (since the last expect)."""
        deadline = time.monotonic() + seconds
        while not all(w in self.text() for w in words):
            if self.proc.poll() is not None:
                raise AssertionError(f"micro exited {self.proc.returncode}: {self.text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {words!r} within {seconds:g}s; the screen had:\n{self.text()[-3000:]}"
                )
            time.sleep(0.02)
        with self._lock:
            self.mark = len(self.raw)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_exit(self, seconds: float = DEADLINE) -> int:
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"micro did not quit; the screen had:\n{self.text()[-2000:]}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


def command(term: Terminal, line: str) -> None:
    """Run ``:line``. The command bar opens over a dimmed screen (so the header is painted
    again); what is typed before it is up would go to the screen below."""
    term.type(":")
    term.expect("env e2e")
    term.type(line + "\r")


def _env() -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color"}
    for key in ("MICRO_PROXY", "MICRO_TOKEN", "COLUMNS", "LINES"):
        env.pop(key, None)
    return env


def test_workspace_login_list_invoke_quit_then_paint_from_the_cache(
    start_server: Callable[..., MicroServer], tmp_path: Path
) -> None:
    server = start_server(home=tmp_path / "server-home")
    for args in (("env", "add", "e2e", server.address), ("env", "set", "e2e")):
        result = run_micro(*args, env={"MICRO_PROXY": ""})
        assert result.returncode == 0, result.stderr
    term = Terminal(_env())
    try:
        # the first paint, the service list (the server's default rules let anyone list),
        # and the login dialog, since the server wants a login
        term.expect("env e2e", "registry", "store", "Log in to")
        term.type("admin\rmicro\r")  # in one burst, as typed ahead
        term.expect("Logged in as admin", "as admin")
        # a call through the command bar: the invoke screen, ctrl+j sends
        command(term, "call registry Registry.ListServices {}")
        term.expect("registry · Registry.ListServices", "Send ^j")
        term.type("\n")
        term.expect('"services": [', '"name": "auth"')  # the registry's reply, as JSON
        term.type("\x1b")  # back to the services
        command(term, "q")
        assert term.wait_exit() == 0
    finally:
        term.close()
    # the login is stored like `micro login`'s
    user = run_micro("user", env={"MICRO_PROXY": ""})
    assert user.stdout.strip() == "admin", user.stderr
    server.stop()
    term = Terminal(_env())
    try:
        # no server: the first paint still lists the services the last run saw
        term.expect("env e2e", "registry", "store", seconds=DEADLINE)
        command(term, "q")
        assert term.wait_exit() == 0
    finally:
        term.close()
