"""How the invoke screen renders a reply (UI-free)."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text

from micro_tui.facade import CallResult
from micro_tui.reply import pretty, render


def test_json_is_indented_and_anything_else_is_shown_as_it_came() -> None:
    body = pretty('{"a":{"b":1}}')
    assert isinstance(body, Syntax) and body.code == '{\n  "a": {\n    "b": 1\n  }\n}'
    assert pretty("not json") == Text("not json")


def test_an_ok_reply_shows_timing_headers_and_trailers() -> None:
    result = CallResult(True, '{"x":1}', elapsed_ms=3.25, headers={"h": "1"}, trailers={"t": "2"})
    shown = render(result, "micro call s E.m '{}'")
    assert shown.status.plain == "OK · 3.2 ms" and shown.notice == ""
    assert shown.headers.plain == "h: 1\nt: 2 (trailer)"
    assert isinstance(shown.response, Syntax)
    assert render(CallResult(True), "").response is None  # an empty reply keeps the pane


def test_an_error_names_code_detail_and_the_equivalent_cli() -> None:
    result = CallResult(False, code=404, status="Not Found", detail="no such key", elapsed_ms=1.0)
    shown = render(result, 'micro call store Store.Read \'{"key":"k"}\'')
    cli = 'micro call store Store.Read \'{"key":"k"}\''
    assert shown.status.plain == f"404 Not Found · 1.0 ms\nno such key\n\n{cli}"
    assert shown.notice == "404 Not Found: no such key"
    assert isinstance(shown.response, Text) and shown.response.plain == "404 Not Found\nno such key"
    assert shown.headers.plain == "no headers"
