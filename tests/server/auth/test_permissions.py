"""The permission table, written out: every caller kind × target namespace × service × where
the namespace is named, against a real server (auth on), each cell's outcome written
literally here — not computed by the code under test.

Namespaces: ``alpha`` (the callers' own), ``beta`` (another, locked down: its public
``default`` rule is replaced by one for its own accounts), ``gamma`` (does not exist).
Callers: anonymous; ``user`` (a plain account of alpha); ``svc`` (a service account of alpha
bound to ``echo``); ``nsadmin`` (an admin of alpha); ``madmin`` (the ``micro`` admin).
Columns: the namespace named in the ``micro-namespace`` metadata (``md``) or in the request
field (``f``) for alpha, beta and gamma, then ``tok``: nothing named, so the call acts in the
token's namespace (alpha for alpha's accounts, micro for the micro admin and anonymous).
Outcomes: ``ok`` or the HTTP-like code of the error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from micro import errors
from micro._grpc import from_rpc_error
from micro.auth import Access, Resource, Rule
from micro.auth.grpc import GrpcAuth
from micro.proto.auth import auth_pb2
from micro.proto.broker import broker_pb2
from micro.proto.config import config_pb2
from micro.proto.events import events_pb2
from micro.proto.network import network_pb2
from micro.proto.registry import registry_pb2
from micro.proto.runtime import runtime_pb2
from micro.proto.store import store_pb2
from micro.registry import Endpoint, Node, Service, Streaming
from micro.registry.grpc import GrpcRegistry
from tests.server.auth._nodes import identity, start_node

CALLERS = ("anon", "user", "svc", "nsadmin", "madmin")
COLUMNS = ("alpha-md", "alpha-f", "beta-md", "beta-f", "gamma-md", "gamma-f", "tok")

# store and config: an admin or a service account of the namespace (rules can only narrow)
ADMIN_OR_SERVICE = {
    "anon":    ("401", "401", "401", "401", "401", "401", "401"),
    "user":    ("403", "403", "403", "403", "403", "403", "403"),
    "svc":     ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "nsadmin": ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "madmin":  ("ok",  "ok",  "ok",  "ok",  "404", "404", "ok"),
}  # fmt: skip
# events: no request field names a namespace ("-"); reads and publishes need an admin or a
# service account of the namespace, changing a topic (retention, delete, reset) an admin
EVENTS_MEMBER = {
    "anon":    ("401", "-", "401", "-", "401", "-", "401"),
    "user":    ("403", "-", "403", "-", "403", "-", "403"),
    "svc":     ("ok",  "-", "403", "-", "403", "-", "ok"),
    "nsadmin": ("ok",  "-", "403", "-", "403", "-", "ok"),
    "madmin":  ("ok",  "-", "ok",  "-", "404", "-", "ok"),
}  # fmt: skip
EVENTS_ADMIN = {
    "anon":    ("401", "-", "401", "-", "401", "-", "401"),
    "user":    ("403", "-", "403", "-", "403", "-", "403"),
    "svc":     ("403", "-", "403", "-", "403", "-", "403"),
    "nsadmin": ("ok",  "-", "403", "-", "403", "-", "ok"),
    "madmin":  ("ok",  "-", "ok",  "-", "404", "-", "ok"),
}  # fmt: skip
# registry reads and network Services: public in micro, else any account of the namespace
REGISTRY_READ = {
    "anon":    ("401", "401", "401", "401", "401", "401", "ok"),
    "user":    ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "svc":     ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "nsadmin": ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "madmin":  ("ok",  "ok",  "ok",  "ok",  "404", "404", "ok"),
}  # fmt: skip
# auth Rules.List, network Nodes and Routes: any account of the namespace
RULES_LIST = {
    "anon":    ("401", "401", "401", "401", "401", "401", "401"),
    "user":    ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "svc":     ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "nsadmin": ("ok",  "ok",  "403", "403", "403", "403", "ok"),
    "madmin":  ("ok",  "ok",  "ok",  "ok",  "404", "404", "ok"),
}  # fmt: skip
# a user service through the proxy: the rules of the namespace the call is routed to (alpha
# keeps its public default rule; beta admits only its own accounts; a micro admin passes the
# rules of other namespaces); no request field names a namespace ("-")
PROXY = {
    "anon":    ("ok",  "-", "401", "-", "404", "-", "ok"),
    "user":    ("ok",  "-", "403", "-", "404", "-", "ok"),
    "svc":     ("ok",  "-", "403", "-", "404", "-", "ok"),
    "nsadmin": ("ok",  "-", "403", "-", "404", "-", "ok"),
    "madmin":  ("ok",  "-", "ok",  "-", "404", "-", "ok"),
}  # fmt: skip


@dataclass
class Table:
    address: str
    tokens: dict[str, str | None]
    channel: grpc.aio.Channel


async def _echo_node(namespace: str) -> tuple[grpc.aio.Server, str]:
    """A node of ``echo`` that answers with its namespace and the authorization it got."""
    return await start_node(
        "echo.Echo", "Call", lambda md: f"{namespace}|{md.get('authorization', '')}".encode()
    )


@pytest.fixture
async def table(micro_home: Path) -> AsyncIterator[Table]:
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    address = srv.bound_address
    login = GrpcAuth(address)
    madmin = (await login.token(id="admin", secret="micro", namespace="micro")).access_token
    admin = GrpcAuth(address, token=madmin)
    await admin.create_namespace("alpha")
    await admin.create_namespace("beta")
    await admin.generate("user", secret="pw", namespace="alpha")
    await admin.generate(
        "svc", secret="pw", type="service", scopes=["service"], service="echo", namespace="alpha"
    )
    await admin.generate("nsadmin", secret="pw", scopes=["admin"], namespace="alpha")
    await admin.create_rule(Rule("members", "*", Resource("*", "*", "*"), Access.GRANTED), namespace="beta")
    await admin.delete_rule("default", namespace="beta")
    tokens: dict[str, str | None] = {"anon": None, "madmin": madmin}
    for id in ("user", "svc", "nsadmin"):
        tokens[id] = (await login.token(id=id, secret="pw", namespace="alpha")).access_token
    nodes = []
    registry = GrpcRegistry(address, token=madmin)
    for ns in ("micro", "alpha", "beta"):
        node, node_address = await _echo_node(ns)
        nodes.append(node)
        endpoint = Endpoint("Echo.Call", method="/echo.Echo/Call", streaming=Streaming.UNARY)
        await registry.register(
            Service("echo", endpoints=[endpoint], nodes=[Node(f"echo-{ns}", node_address)]), domain=ns
        )
    await registry.close()
    await admin.close()
    await login.close()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Table(address, tokens, channel)
    finally:
        await channel.close()
        for node in nodes:
            await node.stop(0)
        await srv.stop(grace=0)


Request = Callable[[str], Any]  # the namespace named in the field ("" none) → request


async def _outcome(
    table: Table, caller: str, column: str, method: str, request: Request, reply: type[Any]
) -> str:
    if column == "tok":
        named_md = named_field = ""
    else:
        namespace, where = column.split("-")
        named_md, named_field = (namespace, "") if where == "md" else ("", namespace)
    metadata: list[tuple[str, str]] = []
    if named_md:
        metadata.append(("micro-namespace", named_md))
    token = table.tokens[caller]
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    call = table.channel.unary_unary(
        method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=reply.FromString
    )
    try:
        await call(request(named_field), metadata=tuple(metadata), timeout=10)
    except grpc.aio.AioRpcError as exc:
        return str(from_rpc_error(exc).code)
    return "ok"


async def _check(
    table: Table, expected: dict[str, tuple[str, ...]], method: str, request: Request, reply: type[Any]
) -> None:
    found: dict[str, tuple[str, ...]] = {}
    for caller in CALLERS:
        row = []
        for column, want in zip(COLUMNS, expected[caller], strict=True):
            row.append("-" if want == "-" else await _outcome(table, caller, column, method, request, reply))
        found[caller] = tuple(row)
    assert found == expected


async def test_store(table: Table) -> None:
    def request(ns: str) -> store_pb2.ReadRequest:
        return store_pb2.ReadRequest(key="k", options=store_pb2.ReadOptions(database=ns, prefix=True))

    await _check(table, ADMIN_OR_SERVICE, "/store.Store/Read", request, store_pb2.ReadResponse)


async def test_config(table: Table) -> None:
    await _check(
        table,
        ADMIN_OR_SERVICE,
        "/config.Config/Read",
        lambda ns: config_pb2.ReadRequest(namespace=ns),
        config_pb2.ReadResponse,
    )


async def test_broker_publish(table: Table) -> None:
    def request(ns: str) -> broker_pb2.PublishRequest:
        return broker_pb2.PublishRequest(topic="news", namespace=ns, message=broker_pb2.Message(body=b"x"))

    await _check(table, ADMIN_OR_SERVICE, "/broker.Broker/Publish", request, broker_pb2.PublishResponse)


async def test_broker_subscribe(table: Table) -> None:
    async def outcome(caller: str, column: str) -> str:
        namespace, _, where = column.partition("-")
        metadata: list[tuple[str, str]] = []
        if column != "tok" and where == "md":
            metadata.append(("micro-namespace", namespace))
        token = table.tokens[caller]
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        field = namespace if where == "f" else ""
        call = table.channel.unary_stream(
            "/broker.Broker/Subscribe",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=broker_pb2.Message.FromString,
        )(broker_pb2.SubscribeRequest(topic="news", namespace=field), metadata=tuple(metadata), timeout=10)
        try:
            await call.initial_metadata()
            if call.done():
                await call.read()
            return "ok"
        except grpc.aio.AioRpcError as exc:
            return str(from_rpc_error(exc).code)
        finally:
            call.cancel()

    found = {caller: tuple([await outcome(caller, column) for column in COLUMNS]) for caller in CALLERS}
    assert found == ADMIN_OR_SERVICE


async def test_events(table: Table) -> None:
    await _check(
        table,
        EVENTS_MEMBER,
        "/events.Store/Topics",
        lambda ns: events_pb2.TopicsRequest(),
        events_pb2.TopicsResponse,
    )
    await _check(
        table,
        EVENTS_MEMBER,
        "/events.Stream/Publish",
        lambda ns: events_pb2.PublishRequest(topic="orders", payload=b"{}"),
        events_pb2.PublishResponse,
    )
    await _check(
        table,
        EVENTS_ADMIN,
        "/events.Store/Retention",
        lambda ns: events_pb2.RetentionRequest(topic="orders", retention=events_pb2.Retention(max_count=5)),
        events_pb2.RetentionResponse,
    )
    await _check(
        table,
        EVENTS_MEMBER,
        "/events.Store/Groups",
        lambda ns: events_pb2.GroupsRequest(topic="orders"),
        events_pb2.GroupsResponse,
    )
    # an admitted caller gets to the request's own check: no such group or topic (404)
    admitted = {caller: tuple("404" if o == "ok" else o for o in row) for caller, row in EVENTS_ADMIN.items()}
    await _check(
        table,
        admitted,
        "/events.Store/ResetGroup",
        lambda ns: events_pb2.ResetGroupRequest(topic="orders", group="nobody", offset=0),
        events_pb2.ResetGroupResponse,
    )
    await _check(
        table,
        admitted,
        "/events.Store/Delete",
        lambda ns: events_pb2.DeleteRequest(topic="scratch"),
        events_pb2.DeleteResponse,
    )


async def test_blob_store(table: Table) -> None:
    def request(ns: str) -> store_pb2.BlobDeleteRequest:
        return store_pb2.BlobDeleteRequest(key="k", options=store_pb2.BlobOptions(namespace=ns))

    await _check(table, ADMIN_OR_SERVICE, "/store.BlobStore/Delete", request, store_pb2.BlobDeleteResponse)


async def test_registry(table: Table) -> None:
    def request(ns: str) -> registry_pb2.ListRequest:
        return registry_pb2.ListRequest(options=registry_pb2.Options(domain=ns))

    await _check(table, REGISTRY_READ, "/registry.Registry/ListServices", request, registry_pb2.ListResponse)


async def test_network(table: Table) -> None:
    """The network view: listing services is a registry read (public in micro); nodes and
    routes, which ask every node, are for any account of the namespace."""

    def options(ns: str) -> network_pb2.Options:
        return network_pb2.Options(namespace=ns)

    await _check(
        table,
        REGISTRY_READ,
        "/network.Network/Services",
        lambda ns: network_pb2.ServicesRequest(options=options(ns)),
        network_pb2.ServicesResponse,
    )
    await _check(
        table,
        RULES_LIST,
        "/network.Network/Nodes",
        lambda ns: network_pb2.NodesRequest(options=options(ns)),
        network_pb2.NodesResponse,
    )
    await _check(
        table,
        RULES_LIST,
        "/network.Network/Routes",
        lambda ns: network_pb2.RoutesRequest(options=options(ns)),
        network_pb2.RoutesResponse,
    )


async def test_auth(table: Table) -> None:
    def request(ns: str) -> auth_pb2.ListRequest:
        return auth_pb2.ListRequest(options=auth_pb2.Options(namespace=ns))

    await _check(table, RULES_LIST, "/auth.Rules/List", request, auth_pb2.ListResponse)


class _Raw:
    @staticmethod
    def FromString(data: bytes) -> bytes:
        return data


class _Empty:
    def SerializeToString(self) -> bytes:
        return b""


async def test_a_user_service_through_the_proxy(table: Table) -> None:
    await _check(table, PROXY, "/echo.Echo/Call", lambda ns: _Empty(), _Raw)


async def _echo(table: Table, caller: str, namespace: str = "") -> tuple[str, str]:
    metadata = [("micro-namespace", namespace)] if namespace else []
    token = table.tokens[caller]
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    call = table.channel.unary_unary(
        "/echo.Echo/Call", request_serializer=identity, response_deserializer=identity
    )
    served, _, auth = (await call(b"", metadata=tuple(metadata), timeout=10)).decode().partition("|")
    return served, auth


async def test_the_proxy_routes_to_the_namespace_it_checked(table: Table) -> None:
    # no namespace named: the call acts in the token's namespace, routed and checked there
    assert (await _echo(table, "user"))[0] == "alpha"
    assert (await _echo(table, "madmin"))[0] == "micro"
    assert (await _echo(table, "anon"))[0] == "micro"
    assert (await _echo(table, "madmin", "beta"))[0] == "beta"


async def test_a_node_never_gets_the_callers_token(table: Table) -> None:
    import jwt

    for caller in ("user", "svc", "nsadmin", "madmin"):
        served, auth = await _echo(table, caller, "alpha")
        assert served == "alpha"
        forwarded = auth.removeprefix("Bearer ")
        assert forwarded and forwarded != table.tokens[caller]
        claims = jwt.decode(forwarded, options={"verify_signature": False})
        assert claims["aud"] == "alpha/echo"
        assert claims["sub"] == ("admin" if caller == "madmin" else caller)
        own = jwt.decode(table.tokens[caller] or "", options={"verify_signature": False})
        # at most a minute from now, never past the caller's own token; issued as the caller's
        assert claims["exp"] <= own["exp"] and claims["exp"] <= time.time() + 60
        assert abs(claims["iat"] - own["iat"]) <= 1
    assert (await _echo(table, "anon", "alpha"))[1] == ""


async def _raw(
    table: Table, method: str, request: Any, reply: type[Any], metadata: list[tuple[str, str]]
) -> str:
    call = table.channel.unary_unary(
        method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=reply.FromString
    )
    try:
        await call(request, metadata=tuple(metadata), timeout=10)
    except grpc.aio.AioRpcError as exc:
        err = from_rpc_error(exc)
        return f"{err.code} {err.detail}"
    return "ok"


async def test_a_request_field_is_checked_against_its_own_namespace(table: Table) -> None:
    """The lockdown bypass: naming an open namespace in the metadata while the request field
    names the locked-down one used to check the open one's rules."""
    for caller in ("anon", "user", "nsadmin"):
        token = table.tokens[caller]
        md = [("micro-namespace", "alpha")] + ([("authorization", f"Bearer {token}")] if token else [])
        request = store_pb2.ReadRequest(key="k", options=store_pb2.ReadOptions(database="beta", prefix=True))
        outcome = await _raw(table, "/store.Store/Read", request, store_pb2.ReadResponse, md)
        assert outcome.split()[0] in ("401", "403"), (caller, outcome)


async def test_a_repeated_namespace_is_a_bad_request(table: Table) -> None:
    md = [
        ("micro-namespace", "alpha"),
        ("micro-namespace", "beta"),
        ("authorization", f"Bearer {table.tokens['madmin']}"),
    ]
    request = store_pb2.ReadRequest(key="k", options=store_pb2.ReadOptions(prefix=True))
    outcome = await _raw(table, "/store.Store/Read", request, store_pb2.ReadResponse, md)
    assert outcome == "400 micro-namespace given more than once"
    outcome = await _raw(table, "/echo.Echo/Call", _Empty(), _Raw, md)
    assert outcome == "400 micro-namespace given more than once"


async def test_a_missing_namespace_is_not_found_never_public(table: Table) -> None:
    outcome = await _raw(table, "/echo.Echo/Call", _Empty(), _Raw, [("micro-namespace", "gamma")])
    assert outcome == "404 namespace gamma not found"


async def test_a_login_to_a_missing_namespace_is_invalid_credentials(table: Table) -> None:
    login = GrpcAuth(table.address)
    try:
        with pytest.raises(errors.Unauthorized) as caught:
            await login.token(id="admin", secret="micro", namespace="gamma")
    finally:
        await login.close()
    assert caught.value.detail == "invalid credentials"


async def test_runtime_read(table: Table) -> None:
    """Status is for any account of the namespace."""

    def request(ns: str) -> runtime_pb2.ReadRequest:
        return runtime_pb2.ReadRequest(options=runtime_pb2.ReadOptions(namespace=ns))

    await _check(table, RULES_LIST, "/runtime.Runtime/Read", request, runtime_pb2.ReadResponse)


async def test_runtime_logs(table: Table) -> None:
    """Logs (a server stream) are for any account of the namespace, as status is; an admitted
    caller gets to the request's own check (no such service: 404)."""
    admitted = {caller: tuple("404" if o == "ok" else o for o in row) for caller, row in RULES_LIST.items()}

    async def outcome(caller: str, column: str) -> str:
        namespace, _, where = column.partition("-")
        metadata: list[tuple[str, str]] = []
        if column != "tok" and where == "md":
            metadata.append(("micro-namespace", namespace))
        token = table.tokens[caller]
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        options = runtime_pb2.LogsOptions(namespace=namespace if where == "f" else "")
        call = table.channel.unary_stream(
            "/runtime.Runtime/Logs",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=runtime_pb2.LogBatch.FromString,
        )(runtime_pb2.LogsRequest(service="nosuch", options=options), metadata=tuple(metadata), timeout=10)
        try:
            async for _ in call:
                pass
            return "ok"
        except grpc.aio.AioRpcError as exc:
            return str(from_rpc_error(exc).code)

    found = {caller: tuple([await outcome(caller, column) for column in COLUMNS]) for caller in CALLERS}
    assert found == admitted


async def test_runtime_create(table: Table) -> None:
    """Running needs an admin or a service account of the namespace; an admitted caller gets
    to the request's own check (no source: 400)."""
    admitted = {
        caller: tuple("400" if outcome == "ok" else outcome for outcome in row)
        for caller, row in ADMIN_OR_SERVICE.items()
    }

    def request(ns: str) -> runtime_pb2.CreateRequest:
        return runtime_pb2.CreateRequest(
            service=runtime_pb2.Service(name="hello"), options=runtime_pb2.CreateOptions(namespace=ns)
        )

    await _check(table, admitted, "/runtime.Runtime/Create", request, runtime_pb2.CreateResponse)
