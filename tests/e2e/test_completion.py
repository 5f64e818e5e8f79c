"""Shell completion of service and endpoint names, driven the way bash drives it: the real
``micro`` with ``_MICRO_COMPLETE=complete_bash`` and ``COMP_WORDS``/``COMP_CWORD``."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import MicroServer, free_port, run_micro
from tests.e2e.test_call_cli import helloworld  # noqa: F401 - the fixture, shared with the call tests


def complete(
    line: str, *, env: dict[str, str] | None = None, timeout: float = 20, **kwargs: object
) -> list[str]:
    """What bash offers for the last word of ``line`` (a trailing space starts a new word)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {**(env or {}), "_MICRO_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    result = run_micro(env=env, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout.split()


@pytest.mark.usefixtures("helloworld")
def test_call_completes_registered_service_names(shared_server: MicroServer) -> None:
    assert complete("micro call he", server=shared_server) == ["helloworld"]
    every = complete("micro call ", server=shared_server)
    assert {"helloworld", "store", "config"} <= set(every)
    assert every == sorted(every)


@pytest.mark.usefixtures("helloworld")
def test_call_completes_endpoints_of_the_service_typed_before(shared_server: MicroServer) -> None:
    offered = complete("micro call helloworld He", server=shared_server)
    assert "Helloworld.Call" in offered
    assert all(name.startswith("Helloworld.") for name in offered)
    assert complete("micro call helloworld Helloworld.C", server=shared_server) == ["Helloworld.Call"]
    assert complete("micro stream helloworld Helloworld.S", server=shared_server) == ["Helloworld.Stream"]
    assert complete("micro call nosuch ", server=shared_server) == []


@pytest.mark.usefixtures("helloworld")
def test_completion_needs_no_login_for_the_default_namespace(shared_server: MicroServer) -> None:
    assert complete("micro call hello", address=shared_server.address) == ["helloworld"]


def test_completion_with_the_server_down_offers_nothing_quickly() -> None:
    # the lookup's deadline is a minute, the shell waits 50 s: an answer at all means the
    # refusal ended the lookup, not the deadline (no wall-clock bound a loaded machine misses)
    down = {"MICRO_TIMEOUT": "60"}
    address = f"127.0.0.1:{free_port()}"
    assert complete("micro call he", address=address, env=down, timeout=50) == []
    assert complete("micro se", address=address, env=down, timeout=50) == ["server", "service", "services"]
    assert complete("micro nosuch ", address=address, env=down, timeout=50) == []


@pytest.mark.usefixtures("helloworld")
def test_a_registered_service_completes_as_a_command(shared_server: MicroServer) -> None:
    """Services are commands (micro helloworld call …): the first word completes to them too,
    and the words after a service's name are its endpoints."""
    assert complete("micro hel", server=shared_server) == ["help", "helloworld"]  # builtins first
    assert complete("micro hell", server=shared_server) == ["helloworld"]
    offered = complete("micro st", server=shared_server)
    assert "store" in offered and "stream" in offered  # builtins, each once
    assert len(offered) == len(set(offered))
    endpoints = complete("micro helloworld ", server=shared_server)
    assert "call" in endpoints and "store" not in endpoints
    assert complete("micro helloworld ca", server=shared_server) == ["call"]
    assert "--name" in complete("micro helloworld call --", server=shared_server)
