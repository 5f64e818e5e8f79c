"""Deterministic in-memory facade slices (:mod:`micro_tui.facade`) for tests, snapshots and
demos; the contract suite holds them to what the real ones do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from micro_tui.facade import (
    CallResult,
    Connection,
    EndpointInfo,
    EnvInfo,
    NodeInfo,
    ServiceChange,
    ServiceVersion,
    StreamItem,
)

if TYPE_CHECKING:
    from micro_tui.slices.auth_fake import FakeAuth
    from micro_tui.slices.config_fake import FakeConfig
    from micro_tui.slices.events_fake import FakeEvents
    from micro_tui.slices.logs_fake import FakeLogs
    from micro_tui.slices.runtime_fake import FakeRuntime
    from micro_tui.slices.store_fake import FakeStore

__all__ = ["FakeCalls", "FakeFacade", "FakeRegistry", "FakeSession", "greeter_service"]

_CORE = ("auth", "broker", "config", "events", "network", "registry", "runtime", "store")


def greeter_service(name: str = "greeter") -> ServiceVersion:
    """A service over the kitchen-sink proto: unary, server-, bidi-streaming endpoints."""
    from micro_tui._sample_proto import descriptor_set_bytes

    endpoints = (
        EndpointInfo("Greeter.Chat", "/demo.Greeter/Chat", "demo.HelloRequest", "demo.HelloReply", "bidi"),
        EndpointInfo("Greeter.Cook", "/demo.Greeter/Cook", "demo.Kitchen", "demo.Kitchen", "unary"),
        EndpointInfo("Greeter.Hello", "/demo.Greeter/Hello", "demo.HelloRequest", "demo.HelloReply", "unary"),
        EndpointInfo(
            "Greeter.Stream", "/demo.Greeter/Stream", "demo.HelloRequest", "demo.HelloReply", "server"
        ),
    )
    nodes = (NodeInfo(f"{name}-7f3a", "127.0.0.1:40123", {"protocol": "grpc"}),)
    return ServiceVersion(name, "latest", endpoints, nodes, {"owner": "dev"}, descriptor_set_bytes())


def _core_service(name: str) -> ServiceVersion:
    title = name.capitalize()
    endpoints = (
        EndpointInfo(f"{title}.List", f"/{name}.{title}/List", f"{name}.ListRequest", f"{name}.ListResponse"),
        EndpointInfo(f"{title}.Read", f"/{name}.{title}/Read", f"{name}.ReadRequest", f"{name}.ReadResponse"),
    )
    return ServiceVersion(name, "latest", endpoints, (NodeInfo(f"{name}-core", "127.0.0.1:8081"),))


class FakeSession:
    """Fixed envs (``local``, ``staging``, ``prod`` read-only) and namespaces; ``admin`` /
    ``micro`` logs in. A server answers at each built-in env's address (``set_connected``
    turns the current one off and on); an added env's address answers nothing."""

    def __init__(self, *, connected: bool = True, logged_in: bool = True) -> None:
        self._envs = [
            EnvInfo("local", "127.0.0.1:8081", "the bundled server"),
            EnvInfo("staging", "staging.example.com:8081", "shared staging", color="yellow"),
            EnvInfo("prod", "prod.example.com:8081", "production", read_only=True, color="red"),
        ]
        self.servers = {e.address for e in self._envs}  # the addresses where a server answers
        self._env = self._envs[0]
        self._namespace = "micro"
        self._namespaces = ["dev", "micro", "team-a"]  # sorted, like the real ones
        self.server_namespaces = ["dev", "micro", "team-a"]  # what Namespaces.List answers an admin
        self._account = "admin" if logged_in else ""
        self.logins: list[tuple[str, str]] = []
        self.pings = 0  # how often the workspace checked the connection
        self._connection = Connection.CONNECTED
        if not connected:
            self.set_connected(False)

    @property
    def env(self) -> EnvInfo:
        return self._env

    @property
    def address(self) -> str:
        return self._env.address

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def account(self) -> str:
        connected = self._connection is Connection.CONNECTED
        return self._account or ("not logged in" if connected else "")

    @property
    def login_required(self) -> bool:
        return not self._account

    async def login(self, username: str, password: str) -> str:
        """``admin`` / ``micro`` logs in; anything else is the server's 401."""
        from micro import errors

        self.logins.append((username, password))
        if (username, password) != ("admin", "micro"):
            raise errors.Unauthorized("invalid credentials")
        self._account = username
        return username

    @property
    def connection(self) -> Connection:
        return self._connection

    def envs(self) -> list[EnvInfo]:
        return list(self._envs)

    def set_env(self, name: str) -> EnvInfo:
        from micro import errors

        for env in self._envs:
            if env.name == name:
                self._env = env
                self._connection = Connection.UNKNOWN
                return env
        raise errors.NotFound(f"Environment '{name}' does not exist")

    def add_env(self, env: EnvInfo) -> None:
        from micro import errors

        if any(e.name == env.name for e in self._envs):
            raise errors.Conflict(f"Environment '{env.name}' already exists")
        self._envs.append(env)

    def namespaces(self) -> list[str]:
        return sorted(self._namespaces)

    async def list_namespaces(self) -> list[str]:
        if not self._account or self._connection is not Connection.CONNECTED:
            return self.namespaces()  # the account may not list them: the local ones
        return sorted({*self.server_namespaces, self._namespace})

    def set_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            self._namespaces.append(namespace)
        self._namespace = namespace

    def set_connected(self, connected: bool) -> None:
        """Start or stop the server at the current env's address."""
        if connected:
            self.servers.add(self._env.address)
        else:
            self.servers.discard(self._env.address)
        self._connection = Connection.CONNECTED if connected else Connection.DISCONNECTED

    async def ping(self) -> Connection:
        self.pings += 1
        up = self._env.address in self.servers
        self._connection = Connection.CONNECTED if up else Connection.DISCONNECTED
        return self._connection

    async def ensure_server(self) -> str:
        return ""

    def check(self) -> None:
        """No server at this env's address: 503. (Without a login the server's default rules
        still answer lists and calls, as the real one's do.)"""
        from micro import errors

        if self._env.address not in self.servers:
            self._connection = Connection.DISCONNECTED
            raise errors.Unavailable(f"failed to connect to micro server at {self._env.address}")
        self._connection = Connection.CONNECTED


class FakeRegistry:
    """The core services and ``greeter``; ``register`` / ``deregister`` feed the watch."""

    def __init__(self, session: FakeSession, *, extra_services: int = 0) -> None:
        self._session = session
        self.services: dict[str, ServiceVersion] = {s.name: s for s in (_core_service(n) for n in _CORE)}
        self.services["greeter"] = greeter_service()
        for i in range(extra_services):
            name = f"svc-{i:04d}"
            self.services[name] = _core_service(name)
        self.changes: asyncio.Queue[ServiceChange] = asyncio.Queue()
        self._cache: dict[tuple[str, str], list[str]] = {}
        self.list_calls = 0  # how often the workspace listed the services
        self.get_calls = 0  # how often it asked for one service's details

    def cached_services(self) -> list[str]:
        return list(self._cache.get((self._session.address, self._session.namespace), []))

    async def list_services(self) -> list[str]:
        self.list_calls += 1
        self._session.check()
        names = sorted(self.services)
        self._cache[(self._session.address, self._session.namespace)] = names
        return names

    async def get_service(self, name: str) -> list[ServiceVersion]:
        from micro import errors

        self.get_calls += 1
        self._session.check()
        if name not in self.services:
            raise errors.NotFound("service not found")
        return [self.services[name]]

    async def watch_services(self) -> AsyncIterator[ServiceChange]:
        self._session.check()
        while True:
            yield await self.changes.get()

    def register(self, service: ServiceVersion) -> None:
        self.services[service.name] = service
        self.changes.put_nowait(ServiceChange("create", service.name))

    def deregister(self, name: str) -> None:
        self.services.pop(name, None)
        self.changes.put_nowait(ServiceChange("delete", name))


class FakeCalls:
    """``Greeter.Hello`` answers ``{"message": "Hello <name>"}`` (a 400 error for the name
    starting with ``error``); ``Greeter.Stream`` sends ``times`` replies, each after ``stream_step`` is set
    when a test wants to pace it; ``Greeter.Chat`` answers each message; ``Greeter.Cook``
    echoes its request. Records every request it receives."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.received: list[tuple[str, str, Any, dict[str, str]]] = []
        self.stream_step: asyncio.Event | None = None
        self.cancelled_streams = 0

    def _refused(self) -> CallResult | None:
        from micro import errors

        try:
            self._session.check()
        except errors.MicroError as exc:
            return CallResult(False, "", exc.code, exc.status, exc.detail, 1.0)
        return None

    async def call(
        self, service: str, endpoint: str, request: str, *, metadata: dict[str, str], timeout: float
    ) -> CallResult:
        refused = self._refused()
        if refused is not None:
            return refused
        data = json.loads(request or "{}")
        self.received.append((service, endpoint, data, dict(metadata)))
        headers = {"content-type": "application/grpc"}
        if endpoint == "Greeter.Hello":
            if str(data.get("name", "")).startswith("error"):
                detail = f"name must not be {data['name']!r}"
                trailers = {"micro-error": json.dumps({"id": "greeter", "code": 400, "detail": detail})}
                return CallResult(False, "", 400, "Bad Request", detail, 12.5, headers, trailers)
            return CallResult(
                True, json.dumps({"message": f"Hello {data.get('name', '')}"}), 0, "OK", "", 12.5, headers
            )
        if endpoint == "Greeter.Cook":
            return CallResult(True, json.dumps(data), 0, "OK", "", 3.0, headers)
        return CallResult(
            False, "", 501, "Not Implemented", f"{endpoint} is not implemented by the fake", 1.0
        )

    async def stream(
        self,
        service: str,
        endpoint: str,
        request: str,
        *,
        metadata: dict[str, str],
        timeout: float,
        requests: AsyncIterator[str] | None = None,
    ) -> AsyncIterator[StreamItem]:
        refused = self._refused()
        if refused is not None:
            yield StreamItem(0, result=refused)
            return
        if requests is not None:  # Greeter.Chat: one reply per message, until the send side closes
            sent = 0
            async for text in requests:
                data = json.loads(text or "{}")
                self.received.append((service, endpoint, data, dict(metadata)))
                yield StreamItem(sent, json.dumps({"message": f"Hello {data.get('name', '')}"}))
                sent += 1
            yield StreamItem(sent, result=CallResult(True, "", 0, "OK", "", 20.0))
            return
        data = json.loads(request or "{}")
        self.received.append((service, endpoint, data, dict(metadata)))
        sent = 0
        try:
            for i in range(int(data.get("times", 3))):
                if self.stream_step is not None:
                    await self.stream_step.wait()
                    self.stream_step.clear()
                yield StreamItem(i, json.dumps({"message": f"Hello {data.get('name', '')} #{i + 1}"}))
                sent += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled_streams += 1
            raise
        yield StreamItem(sent, result=CallResult(True, "", 0, "OK", "", 20.0))


class FakeFacade:
    """The three fakes over one session: what a test sets on one, the others see."""

    def __init__(self, *, extra_services: int = 0, connected: bool = True, logged_in: bool = True) -> None:
        self.session = FakeSession(connected=connected, logged_in=logged_in)
        self.registry = FakeRegistry(self.session, extra_services=extra_services)
        self.calls = FakeCalls(self.session)

    @cached_property
    def logs(self) -> FakeLogs:
        from micro_tui.slices.logs_fake import FakeLogs

        return FakeLogs(self.session)

    @cached_property
    def events(self) -> FakeEvents:
        from micro_tui.slices.events_fake import FakeEvents

        return FakeEvents(self.session)

    @cached_property
    def store(self) -> FakeStore:
        from micro_tui.slices.store_fake import FakeStore

        return FakeStore(self.session)

    @cached_property
    def config(self) -> FakeConfig:
        from micro_tui.slices.config_fake import FakeConfig

        return FakeConfig(self.session)

    @cached_property
    def runtime(self) -> FakeRuntime:
        from micro_tui.slices.runtime_fake import FakeRuntime

        return FakeRuntime(self.session)

    @cached_property
    def auth(self) -> FakeAuth:
        from micro_tui.slices.auth_fake import FakeAuth

        return FakeAuth(self.session)
