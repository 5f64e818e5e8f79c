"""Service identity: only an admin or a service account bound to S registers nodes of S,
and a node never receives a caller's own token — it gets a call token minted for it, which
is worthless anywhere else (the node-injection attack, end to end against a real server)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from micro import _platform, errors
from micro._grpc import rpc_errors
from micro.auth import Account, Resource
from micro.auth.boundary import Caller
from micro.auth.grpc import GrpcAuth
from micro.auth.guard import PlatformAuth, ServiceGuard
from micro.registry import Endpoint, Node, Service, Streaming
from micro.registry.grpc import GrpcRegistry
from tests._poll import eventually
from tests.server.auth._nodes import identity, start_node

HELLO = Resource("service", "helloworld", "Helloworld.Call")


@dataclass
class Setup:
    server: Any
    address: str
    admin_token: str
    tokens: dict[str, str]
    captured: list[str]
    node_address: str


async def _capturing_node(captured: list[str]) -> tuple[grpc.aio.Server, str]:
    """A node that records the authorization of every call it gets."""

    def answer(metadata: dict[str, str]) -> bytes:
        captured.append(metadata.get("authorization", ""))
        return b""

    return await start_node("helloworld.Helloworld", "Call", answer)


def _hello(node_address: str) -> Service:
    endpoint = Endpoint("Helloworld.Call", method="/helloworld.Helloworld/Call", streaming=Streaming.UNARY)
    return Service("helloworld", endpoints=[endpoint], nodes=[Node("hello-rogue", node_address)])


@pytest.fixture
async def setup(micro_home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    address = srv.bound_address
    monkeypatch.setenv("MICRO_PROXY", address)
    # guards read their namespace's rules with the service's own credentials
    monkeypatch.setenv("MICRO_AUTH_ID", "hello-svc")
    monkeypatch.setenv("MICRO_AUTH_SECRET", "pw")
    monkeypatch.setattr(_platform, "_session", _platform._Session())
    login = GrpcAuth(address)
    admin_token = (await login.token(id="admin", secret="micro")).access_token
    admin = GrpcAuth(address, token=admin_token)
    await admin.generate("hello-svc", secret="pw", type="service", scopes=["service"], service="helloworld")
    await admin.generate("other-svc", secret="pw", type="service", scopes=["service"], service="other")
    await admin.generate("loose-svc", secret="pw", type="service", scopes=["service"])
    await admin.generate("plain", secret="pw")
    tokens = {
        id: (await login.token(id=id, secret="pw")).access_token
        for id in ("hello-svc", "other-svc", "loose-svc", "plain")
    }
    await admin.close()
    await login.close()
    captured: list[str] = []
    node, node_address = await _capturing_node(captured)
    try:
        yield Setup(srv, address, admin_token, tokens, captured, node_address)
    finally:
        await node.stop(0)
        await srv.stop(grace=0)


async def _register(setup: Setup, token: str, *, deregister: bool = False) -> None:
    registry = GrpcRegistry(setup.address, token=token)
    try:
        if deregister:
            await registry.deregister(_hello(setup.node_address))
        else:
            await registry.register(_hello(setup.node_address))
    finally:
        await registry.close()


async def test_only_the_bound_account_or_an_admin_registers_a_service(setup: Setup) -> None:
    for intruder in ("other-svc", "loose-svc", "plain"):
        with pytest.raises(errors.Forbidden):
            await _register(setup, setup.tokens[intruder])
    await _register(setup, setup.tokens["hello-svc"])
    registry = GrpcRegistry(setup.address, token=setup.admin_token)
    try:
        [service] = await registry.get_service("helloworld")
    finally:
        await registry.close()
    assert service.nodes[0].metadata["registered-by"] == "micro/hello-svc"
    # nobody else removes it either
    with pytest.raises(errors.Forbidden):
        await _register(setup, setup.tokens["other-svc"], deregister=True)
    await _register(setup, setup.admin_token, deregister=True)


async def _call_hello(setup: Setup, token: str) -> None:
    async with grpc.aio.insecure_channel(setup.address) as channel:
        call = channel.unary_unary("/helloworld.Helloworld/Call", identity, identity)
        with rpc_errors(setup.address):
            await call(b"", metadata=(("authorization", f"Bearer {token}"),), timeout=10)


async def _guard(setup: Setup, service: str) -> ServiceGuard:
    guard = ServiceGuard(service, "micro", source=PlatformAuth("micro"))
    assert await guard.start() is True
    return guard


async def test_a_captured_call_token_is_worthless_elsewhere(setup: Setup) -> None:
    await _register(setup, setup.tokens["hello-svc"])
    await _call_hello(setup, setup.admin_token)
    await _call_hello(setup, setup.admin_token)
    [first, second] = setup.captured
    assert first == second  # reused for the same caller and target, not minted per call
    captured = first.removeprefix("Bearer ")
    assert captured and captured != setup.admin_token

    # replayed at the auth service (to make itself an admin), at the store, through the proxy
    auth = GrpcAuth(setup.address, token=captured)
    try:
        with pytest.raises(errors.Unauthorized):
            await auth.generate("evil", secret="pw", scopes=["admin"])
    finally:
        await auth.close()
    with pytest.raises(errors.Unauthorized):
        await _call_hello(setup, captured)

    # at another service's guard: refused; at helloworld's own: the caller, as the proxy sent it
    other, hello = await _guard(setup, "other"), await _guard(setup, "helloworld")
    try:
        with pytest.raises(errors.Unauthorized):
            await other.check([("authorization", first)], Resource("service", "other", "Other.Call"))
        account = await hello.check([("authorization", first)], HELLO)
        assert account is not None and account.id == "admin"
    finally:
        await other.close()
        await hello.close()


async def test_an_expired_call_token_is_refused(setup: Setup) -> None:
    from server.auth.calls import CallTokens

    long_ago = time.time() - 3600
    minted = CallTokens(setup.server.auth.key, clock=lambda: long_ago).mint(
        Caller(Account("admin", scopes=["admin"]), "micro", "caller-token", long_ago, long_ago + 900),
        "micro",
        "helloworld",
    )
    assert minted is not None
    hello = await _guard(setup, "helloworld")
    try:
        with pytest.raises(errors.Unauthorized) as caught:
            await hello.check([("authorization", f"Bearer {minted}")], HELLO)
    finally:
        await hello.close()
    assert caught.value.detail == "token has expired"


async def test_a_call_token_lives_at_most_a_minute_and_never_past_the_callers(setup: Setup) -> None:
    import jwt

    from server.auth.calls import CallTokens

    now = time.time()
    tokens = CallTokens(setup.server.auth.key, clock=lambda: now)
    account = Account("admin", scopes=["admin"])
    long_lived = tokens.mint(Caller(account, "micro", "t1", now, now + 900), "micro", "helloworld")
    short_lived = tokens.mint(Caller(account, "micro", "t2", now, now + 20), "micro", "helloworld")
    anonymous = tokens.mint(Caller(None, "micro"), "micro", "helloworld")
    assert anonymous is None
    claims = [jwt.decode(t or "", options={"verify_signature": False}) for t in (long_lived, short_lived)]
    assert claims[0]["exp"] == int(now + 60) and claims[1]["exp"] == int(now + 20)
    assert all(c["aud"] == "micro/helloworld" and c["sub"] == "admin" for c in claims)


async def test_a_deleted_accounts_token_stops_working_at_a_service_within_seconds(setup: Setup) -> None:
    hello = await _guard(setup, "helloworld")
    metadata = [("authorization", f"Bearer {setup.tokens['plain']}")]
    try:
        account = await hello.check(metadata, HELLO)
        assert account is not None and account.id == "plain"
        admin = GrpcAuth(setup.address, token=setup.admin_token)
        try:
            await admin.delete_account("plain")
        finally:
            await admin.close()

        async def refused() -> bool:
            try:
                await hello.check(metadata, HELLO)
            except errors.Unauthorized as exc:
                assert exc.detail == "token has been revoked"
                return True
            return False

        await eventually(refused, "the guard refusing a deleted account's token", timeout=15)
    finally:
        await hello.close()


async def test_only_a_micro_admin_registers_a_core_services_name_and_only_in_micro(setup: Setup) -> None:
    """How a core service run alone (``micro service store``) joins a server, and nobody else."""
    store = Service("store", nodes=[Node("store-alone", setup.node_address)])
    for intruder in ("hello-svc", "loose-svc"):  # service accounts (a plain one is refused earlier)
        registry = GrpcRegistry(setup.address, token=setup.tokens[intruder])
        try:
            with pytest.raises(errors.Forbidden, match="'store' is reserved"):
                await registry.register(store)
        finally:
            await registry.close()
    admin = GrpcAuth(setup.address, token=setup.admin_token)
    registry = GrpcRegistry(setup.address, token=setup.admin_token)
    try:
        await admin.create_namespace("elsewhere")
        with pytest.raises(errors.Forbidden, match="'store' is reserved"):
            await registry.register(store, domain="elsewhere")
        await registry.register(store, domain="micro")
        [service] = await registry.get_service("store")
        assert sorted(n.id for n in service.nodes) == ["store-alone", "store-core"]
        await registry.deregister(store, domain="micro")
        [service] = await registry.get_service("store")
        assert [n.id for n in service.nodes] == ["store-core"]
    finally:
        await registry.close()
        await admin.close()


async def test_a_core_service_left_out_is_reached_in_micro_with_a_token_only_it_accepts(
    micro_home: Path,
) -> None:
    """``micro server --without runtime``: the proxy forwards runtime calls to the runtime
    registered in ``micro`` whatever namespace the call acts in, with a call token of the
    audience ``core:runtime`` — which the server's own core services refuse."""
    import jwt

    from server.app import Server

    srv = Server(
        data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", without=frozenset({"runtime"})
    )
    await srv.start()
    seen: list[dict[str, str]] = []

    def answer(metadata: dict[str, str]) -> bytes:
        seen.append(metadata)
        return b""

    node, node_address = await start_node("runtime.Runtime", "Read", answer)
    login = GrpcAuth(srv.bound_address)
    token = (await login.token(id="admin", secret="micro")).access_token
    admin = GrpcAuth(srv.bound_address, token=token)
    registry = GrpcRegistry(srv.bound_address, token=token)
    try:
        await admin.create_namespace("elsewhere")
        await registry.register(
            Service("runtime", nodes=[Node("runtime-alone", node_address)]), domain="micro"
        )
        async with grpc.aio.insecure_channel(srv.bound_address) as channel:
            call = channel.unary_unary("/runtime.Runtime/Read", identity, identity)
            md = (("authorization", f"Bearer {token}"), ("micro-namespace", "elsewhere"))
            with rpc_errors(srv.bound_address):
                await call(b"", metadata=md, timeout=10)
        [got] = seen
        assert got["micro-namespace"] == "elsewhere"
        minted = got["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(minted, options={"verify_signature": False})
        assert (claims["aud"], claims["sub"]) == ("core:runtime", "admin")
        replayed = GrpcAuth(srv.bound_address, token=minted)
        try:
            with pytest.raises(errors.Unauthorized):
                await replayed.generate("evil", secret="pw", scopes=["admin"])
        finally:
            await replayed.close()
    finally:
        await registry.close()
        await admin.close()
        await login.close()
        await node.stop(0)
        await srv.stop(grace=0)
