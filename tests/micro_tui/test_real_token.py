"""A workspace left open longer than an access token lives keeps working: the facade renews
the token (with the stored refresh token) before it lapses. The stored token is marked due
(tests/_credentials.py) rather than waited out, so the tests hold on a loaded machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro_tui.facade import Connection
from micro_tui.real import RealFacade
from tests._credentials import expire_access_token, stored_access_token


@pytest.fixture
async def short_tokens(micro_home: Path) -> AsyncIterator[str]:
    """A real server (auth on) as the current environment, ``test``."""
    from micro import environment
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    environment.add(environment.Environment("test", srv.bound_address))
    environment.set_current("test")
    try:
        yield srv.bound_address
    finally:
        await srv.stop(grace=0)


async def test_the_access_token_is_renewed_before_it_lapses(short_tokens: str, micro_home: Path) -> None:
    facade = RealFacade()
    session = facade.session
    await session.login("admin", "micro")
    first = session.token
    assert await session.ping() is Connection.CONNECTED
    assert session.token == first  # fresh: kept
    # the workspace pings every few seconds; one past the token's expiry renews it
    assert expire_access_token(micro_home, "test/micro") == first
    assert await session.ping() is Connection.CONNECTED
    assert session.token != first, "the token was never renewed"
    assert not session.login_required
    assert "registry" in await facade.registry.list_services()
    result = await facade.calls.call("registry", "Registry.ListServices", "{}", metadata={}, timeout=5)
    assert result.ok, result.detail


async def test_the_services_list_stays_live_across_a_renewal(
    short_tokens: str, micro_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from micro.registry import Node, Service
    from micro.registry.grpc import GrpcRegistry
    from micro_tui import app as app_module
    from micro_tui.app import MicroApp
    from micro_tui.widgets.service_list import ServiceList
    from tests.micro_tui.test_pilot import until
    from tests.micro_tui.test_real import logged_in

    monkeypatch.setattr(app_module, "PING_SECONDS", 0.2)
    app = MicroApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        assert isinstance(app.facade, RealFacade)
        session = app.facade.session
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "registry" in services.names, seconds=10)
        # the login is stored by a worker: expiring it before it lands would be overwritten
        await until(pilot, lambda: stored_access_token(micro_home, "test/micro") == session.token)
        first = expire_access_token(micro_home, "test/micro")
        await until(pilot, lambda: session.token != first, seconds=10)
        registry = GrpcRegistry(short_tokens, namespace="micro", token=session.token)
        try:
            await registry.register(Service("late", nodes=[Node("late-1", "127.0.0.1:1")]))
            await until(pilot, lambda: "late" in services.names, seconds=10)
        finally:
            await registry.close()


async def test_a_started_local_server_is_connected_before_the_workspace_says_so(
    micro_home: Path, monkeypatch: Any
) -> None:
    """``micro server --detach`` returns before the server answers: the session waits for its
    answer, so the header does not say "disconnected" right after "started the local server"."""
    import asyncio

    from micro_tui.real import RealSession

    class Started:
        returncode = 0

        async def communicate(self) -> tuple[bytes, bytes]:
            return b"", b""

    async def spawn(*argv: Any, **kwargs: Any) -> Started:
        return Started()

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn)
    session = RealSession()
    assert session.env.name == "local"
    answers = iter([Connection.DISCONNECTED] * 4 + [Connection.CONNECTED])

    shown: list[Connection] = []  # what the header reads meanwhile

    async def ping() -> Connection:
        session._connection = next(answers)
        shown.append(session.connection)
        return session._connection

    monkeypatch.setattr(session, "ping", ping)
    message = await session.ensure_server()
    assert message.startswith("started the local server")
    assert session.connection is Connection.CONNECTED
    # the first ping finds nothing; then it is starting, never "disconnected"
    assert shown[1:] == [Connection.CONNECTING] * 4
