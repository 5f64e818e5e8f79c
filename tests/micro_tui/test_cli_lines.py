"""The copied command lines are shell-safe: pasted into a shell they give exactly these words."""

from __future__ import annotations

import shlex

from micro_tui.history import cli_line, grpcurl_line


def test_cli_line_quotes_metadata_values() -> None:
    line = cli_line("greeter", "Greeter.Hello", '{"name": "O\'Brien $x"}', {"x-note": "two words; $HOME"})
    assert shlex.split(line) == [
        "micro",
        "call",
        "--metadata",
        "x-note=two words; $HOME",
        "greeter",
        "Greeter.Hello",
        '{"name":"O\'Brien $x"}',
    ]


def test_grpcurl_line_words() -> None:
    line = grpcurl_line("127.0.0.1:8081", "micro", "greeter", "/demo.Greeter/Hello", "{}", {"x-note": "a b"})
    words = shlex.split(line.replace('"authorization: Bearer $(micro user token)"', "AUTH"))
    assert words[-3:] == ["{}", "127.0.0.1:8081", "demo.Greeter/Hello"]
    assert "x-note: a b" in words
