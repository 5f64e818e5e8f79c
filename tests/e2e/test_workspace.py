"""The workspace as a user runs it: the real ``micro`` (no arguments) on a pseudo-terminal
against a real ``micro server`` subprocess. Log in through the dialog, see the services,
invoke an endpoint, quit; start again with the server gone and the first paint still shows
the services (from the cache). Then every area in turn, each showing what the CLI did."""

from __future__ import annotations

import codecs
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
ROWS, COLUMNS = 40, 120
_ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")
_SEQUENCE = re.compile(
    r"\x1b(\[([0-9;?<>=$]*)[ -/]*([@-~])|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[^\[\]PX^_])"
)


class Screen:
    """What a terminal shows, as text: enough of one for Textual, which draws each line
    after moving the cursor to it (``CSI row;col H``), with colours (ignored here)."""

    def __init__(self, rows: int, columns: int) -> None:
        self.rows = [[" "] * columns for _ in range(rows)]
        self.row = self.column = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""  # a sequence not complete yet

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        at = 0
        while at < len(text):
            char = text[at]
            if char == "\x1b":
                match = _SEQUENCE.match(text, at)
                if match is None and len(text) - at < 4096:
                    self._pending = text[at:]  # the rest of it comes with the next read
                    return
                if match is None:  # not one this screen knows: skipped
                    at += 1
                    continue
                if match.group(3) == "H":
                    row, _, column = (match.group(2) or "1;1").partition(";")
                    self.row = min(max(int(row or 1), 1), len(self.rows)) - 1
                    self.column = max(int(column or 1), 1) - 1
                at = match.end()
                continue
            if char == "\r":
                self.column = 0
            elif char == "\n":
                self.row = min(self.row + 1, len(self.rows) - 1)
            elif char >= " ":
                if self.column < len(self.rows[0]):
                    self.rows[self.row][self.column] = char
                self.column += 1
            at += 1

    def text(self) -> str:
        return "\n".join("".join(row) for row in self.rows)


class Terminal:
    """``micro`` on a 120x40 pty; what it writes is collected by a reader thread."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.proc = subprocess.Popen(
            [MICRO], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.mark = 0  # where the next expect() starts looking
        self.screen = Screen(ROWS, COLUMNS)
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
                self.screen.feed(chunk)

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

    def shows(
        self, *words: str, absent: tuple[str, ...] = (), line: bool = False, seconds: float = DEADLINE
    ) -> str:
        """Wait until the screen shows every one of ``words`` (with ``line``, all on one
        line) and none of ``absent``; the screen."""

        def shown(screen: str) -> bool:
            places = screen.splitlines() if line else [screen]
            found = any(all(w in place for w in words) for place in places)
            return found and not any(w in screen for w in absent)

        what = f"{words!r}" + (f" without {absent!r}" if absent else "") + (" on one line" if line else "")
        return self.wait_screen(shown, what, seconds)

    def wait_screen(self, check: Callable[[str], bool], what: str, seconds: float = DEADLINE) -> str:
        """Wait until ``check`` holds for the screen (its lines joined by newlines); the screen."""
        deadline = time.monotonic() + seconds
        while True:
            with self._lock:
                screen = self.screen.text()
            if check(screen):
                return screen
            if self.proc.poll() is not None:
                raise AssertionError(f"micro exited {self.proc.returncode}; the screen was:\n{screen}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen did not show {what} within {seconds:g}s:\n{screen}")
            time.sleep(0.02)

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


TICKER = """\
import asyncio

import micro


async def main() -> None:
    service = micro.Service("ticker")
    await service.start()
    n = 0
    while True:
        print(f"tick-{n} keep", flush=True)
        print(f"tock-{n} drop", flush=True)
        n += 1
        await asyncio.sleep(0.2)


asyncio.run(main())
"""


def test_workspace_through_every_area(start_server: Callable[..., MicroServer], tmp_path: Path) -> None:
    """Each area against the real server, showing what the CLI did there: a service's logs
    (filtered by a regex), an event published while its topic is followed, a stored key, a
    config path, the service running, the admin account; then ``:q``. Checked on the screen
    as it stands (a line filtered out must be gone from it)."""
    server = start_server(home=tmp_path / "server-home")
    cli("env", "add", "e2e", server.address)
    cli("env", "set", "e2e")
    folder = tmp_path / "ticker"
    folder.mkdir()
    (folder / "main.py").write_text(TICKER)
    term = Terminal(_env())
    try:
        term.expect("env e2e", "Log in to")
        term.type("admin\rmicro\r")
        term.expect("Logged in as admin")
        # the CLI, logged in by the workspace's dialog
        cli("run", "--wait", str(folder))
        cli("store", "write", "e2e-key", "e2e-value")
        cli("config", "set", "e2egreeting", "hello-e2e")

        # 2: the service's lines; then /regex: only the lines it matches
        on_screen_command(term, "logs ticker")
        term.shows("following · ticker", "ticker/0 tick-", "keep", "ticker/0 tock-", "drop")
        term.type("/tick-[0-9]")
        term.shows("/tick-[0-9]: ", "ticker/0 tick-", "keep", absent=("tock-",))
        # back to the lines with shift+tab, not enter: tab keys are handled in order with
        # the keys after them, while enter reaches the filter box after a ":" typed next
        # would (which the box, still focused, would take as text)
        term.type("\x1b[Z")

        # 3: a topic followed live; the CLI publishes to it
        on_screen_command(term, "events e2e-orders")
        term.shows("live · e2e-orders")
        _publish_until_seen(term)

        # 4-7: the key and its value, the config path, the service running, the admin account
        term.type("4")
        term.shows("keys · micro", "e2e-key", "e2e-value")
        term.type("5")
        term.shows("paths", "e2egreeting = hello-e2e")
        term.type("6")
        term.shows("services run by the server")
        term.shows("ticker", "latest", "running", line=True)
        term.type("7")
        term.shows("accounts · micro")
        term.shows("admin", "user", line=True)
        on_screen_command(term, "q")
        assert term.wait_exit() == 0
    finally:
        term.close()


def cli(*args: str) -> None:
    """``micro ARGS`` with the current env and login, as a user types it; it must succeed."""
    result = run_micro(*args, env={"MICRO_PROXY": ""}, timeout=90)
    assert result.returncode == 0, f"micro {' '.join(args)}: {result.stderr}"


def on_screen_command(term: Terminal, line: str) -> None:
    """Run ``:line`` once the command bar shows (its prompt in place of the footer)."""
    term.type(":")
    term.wait_screen(
        lambda screen: screen.splitlines()[-1].startswith(" :") and "Command" not in screen.splitlines()[-1],
        "the command bar",
    )
    term.type(line + "\r")


def _publish_until_seen(term: Terminal) -> None:
    """Publish with the CLI and see the event in the live view. The view follows from the
    end as it was when it first read the topics, and says nothing of when that was: an
    event published before it is (rightly) not shown. A second one, published once the
    first had seconds to show, must show."""
    cli("events", "publish", "e2e-orders", '{"order": "e2e-first"}')
    try:
        term.shows('{"order":"e2e-first"}', seconds=5)
        return
    except AssertionError:
        pass  # published before the view read where the end was
    cli("events", "publish", "e2e-orders", '{"order": "e2e-second"}')
    term.shows('{"order":"e2e-second"}')
