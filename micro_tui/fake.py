"""A deterministic in-memory :class:`~micro_tui.facade.Facade` for tests, snapshots and demos."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

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

__all__ = ["FakeFacade", "greeter_service"]

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


class FakeFacade:
    """Fixed envs, namespaces and services; records every call it receives.

    ``Greeter.Hello`` answers ``{"message": "Hello <name>"}`` (a 400 error naming the name
    for a name starting with ``error``); ``Greeter.Stream`` sends ``times`` replies, each
    after ``stream_step`` is set when a test wants to pace it; ``Greeter.Cook`` echoes its
    request.
    """

    def __init__(self, *, extra_services: int = 0, connected: bool = True, logged_in: bool = True) -> None:
        self._envs = [
            EnvInfo("local", "127.0.0.1:8081", "the bundled server"),
            EnvInfo("staging", "staging.example.com:8081", "shared staging", color="yellow"),
            EnvInfo("prod", "prod.example.com:8081", "production", read_only=True, color="red"),
        ]
        self._env = self._envs[0]
        self._namespace = "micro"
        self._namespaces = ["micro", "dev", "team-a"]
        self.server_namespaces: list[str] | None = None  # what Namespaces.List answers (None: refused)
        self._account = "admin" if logged_in else ""
        self.logins: list[tuple[str, str]] = []
        self.pings = 0  # how often the workspace checked the connection
        self._connection = Connection.CONNECTED if connected else Connection.DISCONNECTED
        self.services: dict[str, ServiceVersion] = {s.name: s for s in (_core_service(n) for n in _CORE)}
        self.services["greeter"] = greeter_service()
        for i in range(extra_services):
            name = f"svc-{i:04d}"
            self.services[name] = _core_service(name)
        self.received: list[tuple[str, str, Any, dict[str, str]]] = []
        self.changes: asyncio.Queue[ServiceChange] = asyncio.Queue()
        self.stream_step: asyncio.Event | None = None
        self.cancelled_streams = 0
        self.started_server = False

    # context
    @property
    def env(self) -> EnvInfo:
        return self._env

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def account(self) -> str:
        return self._account

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
        for env in self._envs:
            if env.name == name:
                self._env = env
                return env
        raise KeyError(f"Environment '{name}' does not exist")

    def add_env(self, env: EnvInfo) -> None:
        self._envs = [e for e in self._envs if e.name != env.name] + [env]

    def namespaces(self) -> list[str]:
        return list(self._namespaces)

    async def list_namespaces(self) -> list[str]:
        if self.server_namespaces is None:
            return self.namespaces()
        return sorted({*self.server_namespaces, self._namespace})

    def set_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            self._namespaces.append(namespace)
        self._namespace = namespace

    # server
    def set_connected(self, connected: bool) -> None:
        self._connection = Connection.CONNECTED if connected else Connection.DISCONNECTED

    async def ping(self) -> Connection:
        self.pings += 1
        return self._connection

    async def ensure_server(self) -> str:
        return ""

    # registry
    def cached_services(self) -> list[str]:
        return []

    def _check(self) -> None:
        from micro import errors

        if self._connection is not Connection.CONNECTED:
            raise errors.Unavailable(f"failed to connect to micro server at {self._env.address}")

    async def list_services(self) -> list[str]:
        self._check()
        return sorted(self.services)

    async def get_service(self, name: str) -> list[ServiceVersion]:
        from micro import errors

        self._check()
        if name not in self.services:
            raise errors.NotFound("service not found")
        return [self.services[name]]

    async def watch_services(self) -> AsyncIterator[ServiceChange]:
        while True:
            yield await self.changes.get()

    def register(self, service: ServiceVersion) -> None:
        self.services[service.name] = service
        self.changes.put_nowait(ServiceChange("create", service.name))

    def deregister(self, name: str) -> None:
        self.services.pop(name, None)
        self.changes.put_nowait(ServiceChange("delete", name))

    # calls
    async def call(
        self, service: str, endpoint: str, request: str, *, metadata: dict[str, str], timeout: float
    ) -> CallResult:
        self._check()
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
        self._check()
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
