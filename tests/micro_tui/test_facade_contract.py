"""One contract for every facade slice, run over the fake and the real implementation.

The real one talks to an in-process server (auth on) with the test greeter registered; the
fake is :class:`~micro_tui.fake.FakeFacade`. Both start logged out. Whatever a workspace
test proves on the fake holds on the real one as far as this suite goes, and
:func:`test_the_suite_exercises_every_public_member_of_every_slice` keeps it covering every
member of every slice.
"""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from micro import errors
from micro_tui import facade as facade_module
from micro_tui.areas import AREAS
from micro_tui.facade import CallsFacade, Connection, EnvInfo, RegistryFacade, SessionFacade
from micro_tui.slices.auth import AuthFacade
from micro_tui.slices.config import ConfigFacade
from micro_tui.slices.events import EventsFacade
from micro_tui.slices.logs import LogsFacade
from micro_tui.slices.runtime import RuntimeFacade
from micro_tui.slices.store import StoreFacade
from tests.micro_tui.contract import Harness, logged_in

SLICES: dict[str, type] = {
    "session": SessionFacade,
    "registry": RegistryFacade,
    "calls": CallsFacade,
    "logs": LogsFacade,
    "events": EventsFacade,
    "store": StoreFacade,
    "config": ConfigFacade,
    "runtime": RuntimeFacade,
    "auth": AuthFacade,
}
"""Every slice of :class:`~micro_tui.facade.Facade`; areas 2–7 have their contract suites in
``test_facade_contract_<area>.py`` beside this file (the harness is in conftest.py)."""
DEADLINE = 10.0


# --- session ---------------------------------------------------------------------------


async def test_a_server_that_answers_wants_a_login_and_takes_the_right_one(harness: Harness) -> None:
    session = harness.facade.session
    assert await session.ping() is Connection.CONNECTED
    assert session.connection is Connection.CONNECTED
    assert session.login_required
    assert session.account == "not logged in"
    with pytest.raises(errors.MicroError) as refused:
        await session.login("admin", "wrong")
    assert refused.value.code == 401
    assert session.login_required
    assert await session.login("admin", "micro") == "admin"
    assert session.account == "admin" and not session.login_required
    assert await session.ping() is Connection.CONNECTED
    assert not session.login_required


async def test_the_context_names_env_address_and_namespace(harness: Harness) -> None:
    session = harness.facade.session
    assert isinstance(session.env, EnvInfo)
    assert session.env in session.envs()
    assert session.address == session.env.address
    assert session.namespace == "micro"
    assert await session.ensure_server() == ""  # a server answers: nothing to start


async def test_envs_add_switch_and_refuse_unknown_or_taken_names(harness: Harness) -> None:
    session = harness.facade.session
    before = session.env
    other = EnvInfo("other", "127.0.0.1:1", "nothing listens", read_only=True, color="red")
    session.add_env(other)
    assert other in session.envs()
    with pytest.raises(errors.Conflict):
        session.add_env(other)
    with pytest.raises(errors.NotFound):
        session.set_env("missing")
    assert session.env == before
    assert session.set_env("other") == other
    assert session.env == other and session.address == "127.0.0.1:1"
    assert await session.ping() is Connection.DISCONNECTED
    with pytest.raises(errors.MicroError):
        await harness.facade.registry.list_services()
    # without a server to ask, the namespaces known locally
    assert await session.list_namespaces() == session.namespaces()
    assert session.set_env(before.name) == before
    assert await session.ping() is Connection.CONNECTED


async def test_namespaces_local_then_the_servers_once_logged_in(harness: Harness) -> None:
    session = harness.facade.session
    assert {"micro"} <= set(session.namespaces())
    await session.ping()
    # not logged in: the server will not list them, the local ones stand in
    assert await session.list_namespaces() == session.namespaces()
    await logged_in(harness)
    found = await session.list_namespaces()
    assert "micro" in found and found == sorted(found)
    session.set_namespace("team-z")
    assert session.namespace == "team-z"
    assert "team-z" in session.namespaces()
    assert "team-z" in await session.list_namespaces()


# --- registry --------------------------------------------------------------------------


async def test_services_list_describe_and_cache(harness: Harness) -> None:
    registry = harness.facade.registry
    names = await registry.list_services()
    assert "greeter" in names and names == sorted(names)
    assert registry.cached_services() == names  # the next start paints these first
    [version] = await registry.get_service("greeter")
    kinds = {e.name: e.streaming for e in version.endpoints}
    assert kinds == {
        "Greeter.Chat": "bidi",
        "Greeter.Cook": "unary",
        "Greeter.Hello": "unary",
        "Greeter.Stream": "server",
    }
    hello = next(e for e in version.endpoints if e.name == "Greeter.Hello")
    assert (hello.method, hello.request_type) == ("/demo.Greeter/Hello", "demo.HelloRequest")
    assert version.nodes and version.descriptor_set
    with pytest.raises(errors.NotFound):
        await registry.get_service("nope")


async def test_the_watch_sees_a_service_leave(harness: Harness) -> None:
    registry = harness.facade.registry
    await logged_in(harness)
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def watch() -> None:
        async for change in registry.watch_services():
            seen.put_nowait((change.action, change.name))

    task = asyncio.create_task(watch())
    try:
        # the watch starts on the server some time after the call: put the greeter back and
        # take it out until the watch reports it leaving
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        change: tuple[str, str] | None = None
        while change != ("delete", "greeter"):
            assert loop.time() < deadline, "the watch never saw the greeter leave"
            await harness.register()
            await harness.deregister()
            try:
                while change != ("delete", "greeter"):
                    change = await asyncio.wait_for(seen.get(), 0.2)
            except TimeoutError:
                continue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "greeter" not in await registry.list_services()


# --- calls -----------------------------------------------------------------------------


async def test_without_a_login_the_servers_default_rules_still_answer(harness: Harness) -> None:
    facade = harness.facade
    await facade.session.ping()
    assert facade.session.login_required  # the workspace offers the login dialog
    assert "greeter" in await facade.registry.list_services()
    result = await facade.calls.call("greeter", "Greeter.Hello", "{}", metadata={}, timeout=DEADLINE)
    assert result.ok, result.detail


async def test_unary_calls_answer_or_carry_the_services_error(harness: Harness) -> None:
    calls = (await logged_in(harness)).calls
    ok = await calls.call("greeter", "Greeter.Hello", '{"name": "Ann"}', metadata={}, timeout=DEADLINE)
    assert ok.ok and ok.status == "OK", ok.detail
    assert json.loads(ok.response) == {"message": "Hello Ann"}
    echo = await calls.call("greeter", "Greeter.Cook", '{"name": "pie"}', metadata={}, timeout=DEADLINE)
    assert echo.ok and json.loads(echo.response)["name"] == "pie"
    bad = await calls.call("greeter", "Greeter.Hello", '{"name": "error"}', metadata={}, timeout=DEADLINE)
    assert not bad.ok
    assert (bad.code, bad.status) == (400, "Bad Request")
    assert "name must not be 'error'" in bad.detail


async def test_streams_in_order_then_their_end(harness: Harness) -> None:
    calls = (await logged_in(harness)).calls
    items = [
        item
        async for item in calls.stream(
            "greeter", "Greeter.Stream", '{"name": "Ann", "times": 2}', metadata={}, timeout=DEADLINE
        )
    ]
    assert [json.loads(i.response)["message"] for i in items[:-1]] == ["Hello Ann #1", "Hello Ann #2"]
    assert [i.index for i in items] == [0, 1, 2]
    end = items[-1].result
    assert end is not None and end.ok

    async def messages() -> AsyncIterator[str]:
        for name in ("one", "two"):
            yield json.dumps({"name": name})

    chat = [
        item
        async for item in calls.stream(
            "greeter", "Greeter.Chat", "", metadata={}, timeout=DEADLINE, requests=messages()
        )
    ]
    assert [json.loads(i.response)["message"] for i in chat[:-1]] == ["Hello one", "Hello two"]
    assert chat[-1].result is not None and chat[-1].result.ok


# --- the suite covers every member --------------------------------------------------------


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_suite_exercises_every_public_member_of_every_slice() -> None:
    """Every public member of every slice is used in the contract suites on a variable named
    after its slice (``session.ping()``, ``registry.list_services()``, ``store.list_keys(…)``)."""
    used: dict[str, set[str]] = {name: set() for name in SLICES}
    suites = sorted(Path(__file__).parent.glob("test_facade_contract*.py"))
    for node in (n for suite in suites for n in ast.walk(ast.parse(suite.read_text()))):
        if isinstance(node, ast.Attribute):
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in used:
                used[name].add(node.attr)
    for slice_name, protocol in SLICES.items():
        missing = _members(protocol) - used[slice_name]
        assert not missing, f"the contract suite never uses {slice_name}.{sorted(missing)}"
    # and every slice of the facade is listed above, as is every one an area names
    assert _members(facade_module.Facade) == set(SLICES)
    assert {name for area in AREAS for name in area.facade} <= set(SLICES)
