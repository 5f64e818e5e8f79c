"""The one place the CLI writes to the user: lines, JSON, tables and one-line failures.

Tables go through rich when stdout is a terminal (and ``NO_COLOR`` is unset) and are plain
aligned text otherwise; rich is imported only when it draws something.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

__all__ = [
    "Failure",
    "Globals",
    "OutputOption",
    "ask",
    "confirm",
    "emit_json",
    "err",
    "globals_",
    "out",
    "output_option",
    "table",
    "wants_json",
]


class OutputOption(StrEnum):
    """``--output`` after a command: text or json."""

    text = "text"
    json = "json"


def output_option(*names: str) -> Any:
    """The ``--output`` option every listing, read and streaming command takes after its name."""
    import typer

    return typer.Option(None, *(names or ("--output",)), help="Output format: text or json.")


class Failure(Exception):
    """A command failed: print ``line`` on stderr and exit with ``code``."""

    def __init__(self, line: str, code: int = 1) -> None:
        super().__init__(line)
        self.line = line
        self.code = code


class Globals:
    """The global options of this invocation (set by the root callback)."""

    def __init__(self) -> None:
        self.env: str | None = None
        self.namespace: str | None = None
        self.output = "text"
        self.debug = False
        # the deadline of each unary call to the server, in seconds (None: none)
        self.timeout: float | None = 10.0


globals_ = Globals()


def wants_json(output: str | None = None) -> bool:
    """Whether this command prints JSON (its own ``--output`` wins over the global one)."""
    return (output or globals_.output) == "json"


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def ask(label: str, *, missing: str, hidden: bool = False, twice: bool = False) -> str:
    """A value the user did not pass as an option: prompted on a terminal (``hidden`` for
    passwords, ``twice`` to confirm it), else one line read from stdin (``echo pw | micro
    login``); nothing there fails with the line ``missing``."""
    if sys.stdin.isatty():
        import typer

        return str(typer.prompt(label, hide_input=hidden, confirmation_prompt=twice))
    line = sys.stdin.readline()
    if not line.strip():
        raise Failure(missing)
    return line.rstrip("\r\n")


def confirm(question: str, *, refuse: str) -> None:
    """Ask a yes/no question on a terminal; without one it fails with the line ``refuse``
    (scripts pass ``--yes``), and a "no" fails with ``Aborted``."""
    if not sys.stdin.isatty():
        raise Failure(refuse)
    import typer

    if not typer.confirm(question):
        raise Failure("Aborted")


def emit_json(data: Any) -> None:
    """JSON with a 2-space indent, as every ``--output json`` prints it."""
    out(json.dumps(data, indent=2, ensure_ascii=False))


def _rich_ok() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# control characters shown as escapes in table cells: a stored "\x1b[31m" or newline must not
# restyle the terminal or break the table's lines
_VISIBLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_VISIBLE.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _cell(text: str) -> str:
    return text.translate(_VISIBLE)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table: rich on a terminal, plain aligned columns otherwise. Cells are text (never
    rich markup), with control characters escaped."""
    rows = [[_cell(cell) for cell in row] for row in rows]
    if _rich_ok():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for header in headers:
            grid.add_column(header, overflow="fold")
        from rich.text import Text

        for row in rows:
            grid.add_row(*(Text(cell) for cell in row))
        Console().print(grid)
        return
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        out("  ".join(cells).rstrip())
