"""``micro events`` output and payload checks that need no server: what is JSON and what is not."""

from __future__ import annotations

import json

import pytest

from commands.events import _json_payload, event_json, event_line
from micro import errors
from micro.events import Event


@pytest.mark.parametrize("text", ["1e999", "-1e400", "[1, 1e999]", "NaN", "Infinity"])
def test_a_number_json_cannot_hold_is_refused(text: str) -> None:
    """Python's parser reads 1e999 as infinity, which was stored and printed as ``Infinity``."""
    with pytest.raises(errors.BadRequest, match="Error creating request: invalid JSON payload"):
        _json_payload(text)


def test_large_but_finite_numbers_are_kept() -> None:
    assert (
        _json_payload("[1.5e308, 123456789012345678901234567890]")
        == b"[1.5e+308,123456789012345678901234567890]"
    )


@pytest.mark.parametrize("stored", [b"Infinity", b"-Infinity", b"NaN", b"1e999", b'{"x": 1e999}'])
def test_a_stored_payload_that_is_not_json_prints_as_a_json_string(stored: bytes) -> None:
    """Another client may have stored such bytes: the line and the NDJSON record stay JSON."""
    event = Event("id", "t", 0, 0.0, stored)
    record = json.loads(json.dumps(event_json(event)), parse_constant=lambda c: pytest.fail(c))
    assert (record["payload"], record["encoding"]) == (stored.decode(), "text")
    assert event_line(event).endswith(" " + json.dumps(stored.decode()))


def test_metadata_stays_one_field_of_the_line() -> None:
    """A space, comma or equals sign in metadata split the line's fields and pairs apart."""
    meta = {"note": "hello world", "list": "a,b", "eq": "x=y", "pct": "50%", "nl": "1\n2", "é": "ü"}
    fields = event_line(Event("id", "t", 7, 0.0, b"{}", meta)).split(" ")
    assert len(fields) == 5
    assert fields[3] == "eq=x%3Dy,list=a%2Cb,nl=1%0A2,note=hello%20world,pct=50%25,é=ü"
    assert event_line(Event("id", "t", 7, 0.0, b"{}", {"foo": "bar"})).split(" ")[3] == "foo=bar"
