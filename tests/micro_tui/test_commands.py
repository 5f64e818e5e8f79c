"""The command bar grammar (no Textual)."""

from __future__ import annotations

import pytest

from micro_tui.commands import Command, CommandError, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":svc", Command("svc")),
        ("services greeter", Command("svc", ("greeter",))),
        (":env", Command("env")),
        (":env prod", Command("env", ("prod",))),
        (":ns team-a", Command("ns", ("team-a",))),
        (":namespace dev", Command("ns", ("dev",))),
        (":theme micro-light", Command("theme", ("micro-light",))),
        (":q", Command("quit")),
        (":quit", Command("quit")),
        (":logs a,b", Command("logs", ("a,b",))),
        (":store users al", Command("store", ("users", "al"))),
        (":help", Command("help")),
    ],
)
def test_commands_parse(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_call_keeps_json_with_spaces() -> None:
    cmd = parse(':call greeter Greeter.Hello {"name": "Alice Smith"}')
    assert cmd == Command("call", ("greeter", "Greeter.Hello"), '{"name": "Alice Smith"}')


def test_call_defaults_to_empty_request_and_strips_quotes() -> None:
    assert parse(":call greeter Greeter.Hello").body == "{}"
    assert parse(":call greeter Greeter.Hello '{\"a\": 1}'").body == '{"a": 1}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type a command"),
        (":frobnicate", "unknown command 'frobnicate'"),
        (":call greeter", "usage: :call"),
        (":call greeter Hello {}", 'Method name "Hello" invalid format'),
        (":call greeter Greeter.Hello {oops", "invalid JSON at column 2"),
        (":call greeter Greeter.Hello [1]", "must be a JSON object"),
        (":env a b", "too many words"),
        (":q now", "too many words"),
        (":ns 'unclosed", "No closing quotation"),
    ],
)
def test_bad_commands_say_why(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse(text)


def test_complete_extends_the_word_being_typed() -> None:
    from micro_tui.commands import command_words, complete, word_to_complete

    assert complete(":sv", command_words()) == ":svc"
    assert complete(":th", command_words()) == ":theme"
    assert complete(":svc gr", ["auth", "greeter"]) == ":svc greeter"
    assert complete(":svc greeter", ["greeter"]) is None  # nothing to add
    assert complete(":", command_words()) is None
    assert word_to_complete(":call greeter Gre") == ("call", 1, ("greeter",), "Gre")
    assert word_to_complete(":nope x") is None
