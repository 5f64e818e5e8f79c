"""How a reply reads in the invoke screen: pretty JSON, the status line, the headers (no widgets)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text

from micro_tui.facade import CallResult

__all__ = ["Rendered", "pretty", "render"]


def pretty(text: str) -> Syntax | Text:
    """A JSON body indented and highlighted; anything else as it came."""
    try:
        body = json.dumps(json.loads(text), indent=2)
    except ValueError:
        return Text(text)
    return Syntax(body, "json", theme="ansi_dark", background_color="default", word_wrap=True)


@dataclass(frozen=True)
class Rendered:
    response: Syntax | Text | None  # None: keep what the response pane shows (an empty OK reply)
    status: Text  # Text, never markup: server text may hold "[/bold]"
    headers: Text
    notice: str  # one line for a notification: "" when the call succeeded


def render(result: CallResult, cli: str) -> Rendered:
    """The panes of ``result``; an error names its code, detail and the equivalent ``cli`` line."""
    lines = [f"{k}: {v}" for k, v in result.headers.items()]
    lines += [f"{k}: {v} (trailer)" for k, v in result.trailers.items()]
    headers = Text("\n".join(lines) or "no headers")
    if result.ok:
        response = pretty(result.response) if result.response else None
        return Rendered(response, Text(f"OK · {result.elapsed_ms:.1f} ms"), headers, "")
    title = f"{result.code} {result.status}"
    return Rendered(
        Text.assemble((f"{title}\n", "bold red"), result.detail),
        Text(f"{title} · {result.elapsed_ms:.1f} ms\n{result.detail}\n\n{cli}"),
        headers,
        _summary(f"{title}: {result.detail}"),
    )


def _summary(text: str, width: int = 100) -> str:
    """One line of at most ``width`` characters, for a notification (the Status pane has all)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
