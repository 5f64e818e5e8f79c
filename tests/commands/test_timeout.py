"""``--timeout``: the forms it takes (global, ``MICRO_TIMEOUT``, v3's ``--request_timeout``,
after ``call``) and the deadline it gives the calls of the command."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from commands import _client
from commands._output import globals_
from commands.main import run
from micro import _platform


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(globals_, "timeout", 10.0)
    monkeypatch.setattr(_platform, "_call_deadline", None)


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        ([], 10.0),  # the default
        (["--timeout", "15s"], 15.0),
        (["--timeout", "2m"], 120.0),
        (["--timeout", "7"], 7.0),  # plain seconds
        (["--timeout", "500ms"], 0.5),
        (["--request_timeout=15s"], 15.0),  # v3's form
        (["--timeout", "0"], None),  # none
    ],
)
def test_the_global_option_sets_the_deadline_of_every_call(
    args: list[str], seconds: float | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*args, "env", "get"]) == 0
    assert globals_.timeout == seconds
    _client.context(login=False)
    assert _platform.call_deadline() == seconds


def test_micro_timeout_is_the_default_and_the_option_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MICRO_TIMEOUT", "3s")
    assert run(["env", "get"]) == 0
    assert globals_.timeout == 3.0
    assert run(["--timeout", "4s", "env", "get"]) == 0
    assert globals_.timeout == 4.0


@pytest.mark.parametrize("text", ["soon", "-1s", "5x", "nan"])
def test_an_invalid_timeout_is_one_line_and_exit_1(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--timeout", text, "env", "get"]) == 1
    assert capsys.readouterr().err == f"Invalid timeout {text!r}: expected a duration such as 10s\n"


def test_the_timeout_after_call_is_the_global_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``micro call … --timeout 3s`` gives its lookups the call's deadline too; nothing
    listens on the address, so the command ends with exit 4 at once."""
    monkeypatch.setenv("MICRO_PROXY", "127.0.0.1:1")
    assert run(["--timeout", "9s", "call", "svc", "Svc.Call", "--request_timeout=3s"]) == 4
    assert globals_.timeout == 3.0
    assert _platform.call_deadline() == 3.0


@pytest.fixture
def silent_address() -> Iterator[str]:
    """An address whose socket takes connections and never answers (a stopped server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_a_silent_server_is_told_apart_on_async_and_sync_channels(silent_address: str) -> None:
    from micro import errors
    from micro._grpc import rpc_errors, sync_channel
    from micro.proto.auth import auth_pb2, auth_pb2_grpc
    from micro.store.grpc import GrpcStore

    expected = f"timed out after 0.3s waiting for micro server at {silent_address}"
    _platform.set_call_deadline(0.3)
    store = GrpcStore(silent_address)  # no deadline of its own: the client's applies
    try:
        with pytest.raises(errors.Unavailable) as raised:
            await store.read("k")
    finally:
        await store.close()
    assert raised.value.detail == expected

    with (
        pytest.raises(errors.Unavailable) as raised,
        sync_channel(silent_address) as channel,
        rpc_errors(silent_address, channel=channel, timeout=0.3),
    ):
        auth_pb2_grpc.AuthStub(channel).Token(auth_pb2.TokenRequest(), timeout=0.3)
    assert raised.value.detail == expected
