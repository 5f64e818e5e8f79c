"""The facade slices (:mod:`micro_tui.facade`) over a real micro server.

Environments and namespaces come from :mod:`micro.environment`; services from the registry
(:class:`~micro.registry.grpc.GrpcRegistry`); calls from the framework's dynamic client
(JSON ⇄ protobuf through the proxy). grpc and protobuf are imported on first use, inside
workers, never on the path to the first paint.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from micro_tui import cache
from micro_tui.facade import (
    CallResult,
    Connection,
    EnvInfo,
    ServiceChange,
    ServiceVersion,
    StreamItem,
    Unsupported,
)

if TYPE_CHECKING:
    from micro_tui.slices.auth_real import RealAuth
    from micro_tui.slices.config_real import RealConfig
    from micro_tui.slices.events_real import RealEvents
    from micro_tui.slices.logs_real import RealLogs
    from micro_tui.slices.runtime_real import RealRuntime
    from micro_tui.slices.store_real import RealStore

__all__ = ["RealCalls", "RealFacade", "RealRegistry", "RealSession", "SessionClient", "new_client"]

log = logging.getLogger(__name__)

PING_SECONDS = 1.5
SERVER_START_SECONDS = 30.0
_GRPC_REGISTRY = "micro.registry.grpc"


def _env_info(env: Any) -> EnvInfo:
    return EnvInfo(env.name, env.address, env.description, env.read_only, env.color)


def _version(service: Any) -> ServiceVersion:
    from micro_tui.facade import EndpointInfo, NodeInfo

    endpoints = tuple(
        EndpointInfo(e.name, e.method, e.request_type, e.response_type, e.streaming.value)
        for e in sorted(service.endpoints, key=lambda e: e.name)
    )
    nodes = tuple(NodeInfo(n.id, n.address, dict(n.metadata)) for n in service.nodes)
    return ServiceVersion(
        service.name, service.version, endpoints, nodes, dict(service.metadata), service.descriptor_set
    )


def _account_of(token: str) -> str:
    """The account a token names, for the header (its name, else its id)."""
    from micro import credentials

    try:
        found = credentials.claims(token)
    except Exception:
        return "?"
    return str(found.get("name") or found.get("sub", ""))


def _error_result(exc: Exception, elapsed_ms: float) -> CallResult:
    from micro import errors

    if isinstance(exc, errors.MicroError):
        return CallResult(False, "", exc.code, exc.status, exc.detail, elapsed_ms)
    return CallResult(False, "", 500, "Internal Server Error", str(exc) or type(exc).__name__, elapsed_ms)


C = TypeVar("C")


async def new_client(session: RealSession, module: str, name: str) -> Any:
    """A new client (class ``name`` of ``module``, a framework gRPC client) in the session's
    env, namespace and login. The first import of the module (grpc and protobuf, ~150 ms)
    happens in a thread, so the event loop keeps painting."""
    if module not in sys.modules:
        await asyncio.to_thread(importlib.import_module, module)
    client_class = getattr(sys.modules[module], name)
    return client_class(session.address, namespace=session.namespace, token=session.token)


class SessionClient(Generic[C]):
    """One client per env + namespace + login for a slice, made again (the old one closed)
    when one of them changes."""

    def __init__(self, session: RealSession, module: str, name: str) -> None:
        self._session, self._module, self._name = session, module, name
        self._client: C | None = None
        self._made_for: tuple[str, str, str | None] | None = None

    async def get(self) -> C:
        session = self._session
        where = (session.address, session.namespace, session.token)
        if self._client is None or self._made_for != where:
            old = self._client
            self._client = cast(C, await new_client(session, self._module, self._name))
            self._made_for = where
            if old is not None:
                await cast(Any, old).close()
        return self._client


class RealSession:
    """The current environment's server: its login, and one registry client that also tells
    whether the server answers (the registry slice reads through it)."""

    def __init__(self, context: Any = None) -> None:
        from micro import environment

        self._context = context if context is not None else environment.resolve()
        self._connection = Connection.UNKNOWN
        self._registry: Any = None
        self._token: str | None = self._context.token
        self._account = ""
        self._needs_login = False
        self._starting = False  # the local server is being started (ensure_server)

    @property
    def env(self) -> EnvInfo:
        return _env_info(self._context.env)

    @property
    def address(self) -> str:
        return str(self._context.address)

    @property
    def namespace(self) -> str:
        return str(self._context.namespace)

    @property
    def account(self) -> str:
        return self._account or ("not logged in" if self._connection is Connection.CONNECTED else "")

    async def _load_token(self) -> None:
        """The access token of this env + namespace (refreshed silently when due)."""
        if self._context.token:
            self._token = self._context.token
        else:
            try:
                from micro import credentials

                self._token = await asyncio.to_thread(
                    credentials.access_token, self.env.name, self.namespace, self.address
                )
            except Exception:
                log.debug("no usable login", exc_info=True)
                self._token = None
        self._account = ""
        self._needs_login = self._token is None
        if self._token:
            self._account = _account_of(self._token)

    @property
    def login_required(self) -> bool:
        return self._needs_login

    async def login(self, username: str, password: str) -> str:
        from micro import credentials

        token = await credentials.login(self.env.name, self.namespace, self.address, username, password)
        self._token = token.access_token
        self._account = _account_of(token.access_token)
        self._needs_login = False
        self.reset_registry()
        return self._account

    @property
    def connection(self) -> Connection:
        # while the local server starts, the failures on the way are not "disconnected"
        return Connection.CONNECTING if self._starting else self._connection

    def envs(self) -> list[EnvInfo]:
        from micro import environment

        return [_env_info(e) for e in environment.environments()]

    def _reset(self) -> None:
        registry, self._registry = self._registry, None
        self._connection = Connection.UNKNOWN
        # another env or namespace: its own login, loaded by the next ping
        self._token, self._account, self._needs_login = self._context.token, "", False
        if registry is not None:
            try:
                asyncio.get_running_loop().create_task(registry.close())
            except RuntimeError:
                pass

    def set_env(self, name: str) -> EnvInfo:
        from micro import environment

        environment.set_current(name)
        self._context = environment.resolve(name)
        self._reset()
        return self.env

    def add_env(self, env: EnvInfo) -> None:
        from micro import environment

        environment.add(
            environment.Environment(env.name, env.address, env.description, env.read_only, env.color)
        )

    def namespaces(self) -> list[str]:
        known = cache.known_namespaces(self.env.name)
        return sorted({"micro", self.namespace, *known})

    async def list_namespaces(self) -> list[str]:
        from micro.auth.grpc import GrpcAuth

        auth = GrpcAuth(self.address, namespace=self.namespace, token=self._token)
        try:
            found = await asyncio.wait_for(auth.namespaces(), PING_SECONDS)
        except Exception as exc:  # not allowed to list them (or no server): the local ones
            log.debug("namespaces from the server: %s", exc)
            return self.namespaces()
        finally:
            await auth.close()
        return sorted({n.name for n in found} | {self.namespace})

    def set_namespace(self, namespace: str) -> None:
        from dataclasses import replace

        from micro import environment

        environment.set_namespace(self.env.name, namespace)
        cache.remember_namespace(self.env.name, namespace)
        self._context = replace(self._context, namespace=namespace)
        self._reset()

    async def registry_client(self) -> Any:
        """The registry client of this env + namespace + login (made on first use).

        The first one imports grpc and protobuf (~150 ms) in a thread, so that the event loop
        keeps painting meanwhile."""
        if self._registry is None:
            if _GRPC_REGISTRY not in sys.modules:
                await asyncio.to_thread(importlib.import_module, _GRPC_REGISTRY)
            from micro.registry.grpc import GrpcRegistry

            if self._registry is None:
                self._registry = GrpcRegistry(self.address, namespace=self.namespace, token=self._token)
        return self._registry

    async def ping(self) -> Connection:
        if self._token is None or not self._context.token:
            # every ping: an access token close to expiry is refreshed (a workspace outlives
            # it), a login made meanwhile with `micro login` is picked up
            before = self._token
            await self._load_token()
            if before is not None and self._token != before:
                self.reset_registry()
        from micro import errors

        try:
            await asyncio.wait_for((await self.registry_client()).list_services(), PING_SECONDS)
        except errors.Unauthorized:  # the server answers: it wants a (valid) login
            self.answered(login=False)
        except Exception:
            self.lost()
        else:
            self.answered()
        return self._connection

    @property
    def token(self) -> str | None:
        """The access token calls carry (None without a login)."""
        return self._token

    @property
    def context(self) -> Any:
        """The :class:`micro.environment.Context` in use (env, namespace, address)."""
        return self._context

    def answered(self, *, login: bool = True) -> None:
        """The server answered; with ``login`` False, it refused our login (or its lack)."""
        self._connection = Connection.CONNECTED
        if not login:
            self._needs_login = True

    def lost(self) -> None:
        """The server did not answer: disconnected, and the next try makes a new client."""
        self._connection = Connection.DISCONNECTED
        self.reset_registry()

    def reset_registry(self) -> None:
        """Drop the registry client (a lost server, a new login): the next use makes one."""
        registry, self._registry = self._registry, None
        if registry is not None:
            asyncio.get_running_loop().create_task(registry.close())

    async def ensure_server(self) -> str:
        if self.env.name != "local" or await self.ping() is Connection.CONNECTED:
            return ""
        self._starting = True
        try:
            return await self._start_local()
        finally:
            self._starting = False

    async def _start_local(self) -> str:
        from micro import errors, settings

        try:  # the workspace's settings (--home …), not only the variables it was started with
            env = {**settings.child_env(), "GRPC_VERBOSITY": "NONE"}
        except errors.MicroError as exc:
            return exc.detail
        script = Path(sys.executable).with_name("micro")
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "commands.main"]
        proc = await asyncio.create_subprocess_exec(
            *argv, "server", "--detach",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), SERVER_START_SECONDS)
        except TimeoutError:
            proc.kill()
            self._connection = Connection.DISCONNECTED
            return "the local server did not start in time (see MICRO_HOME/logs/server.log)"
        if proc.returncode != 0:
            self._connection = Connection.DISCONNECTED
            return (
                (err or out).decode(errors="replace").strip().splitlines()[-1:][0]
                if (err or out)
                else ("the local server failed to start")
            )
        # the detached server can take a moment to answer: wait for it, so that the header
        # does not say "disconnected" right after "started the local server"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVER_START_SECONDS
        while await self.ping() is not Connection.CONNECTED:
            if loop.time() > deadline:
                return "started the local server, but it does not answer (see MICRO_HOME/logs/server.log)"
            await asyncio.sleep(0.2)
        return "started the local server in the background (micro server --detach)"


class RealRegistry:
    """Services from the server's registry; the names are cached on disk for the next start."""

    def __init__(self, session: RealSession) -> None:
        self._session = session

    def cached_services(self) -> list[str]:
        return cache.services(self._session.address, self._session.namespace)

    async def list_services(self) -> list[str]:
        from micro import errors

        session = self._session
        try:
            found = await (await session.registry_client()).list_services()
        except errors.Unauthorized:
            session.answered(login=False)
            raise
        except Exception:
            session.lost()
            raise
        session.answered()
        names = sorted({s.name for s in found})
        cache.store_services(session.address, session.namespace, names)
        return names

    async def get_service(self, name: str) -> list[ServiceVersion]:
        return [_version(s) for s in await (await self._session.registry_client()).get_service(name)]

    async def watch_services(self) -> AsyncIterator[ServiceChange]:
        watcher = (await self._session.registry_client()).watch()
        try:
            async for result in watcher:
                yield ServiceChange(result.action, result.service.name)
        except asyncio.CancelledError:
            # grpc cancels the read when the registry client is closed under it (a renewed
            # login, a failed ping): the watch ends and the caller watches again; the
            # caller's own cancellation still propagates
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
        finally:
            await watcher.aclose()


class RealCalls:
    """Calls through the framework's dynamic client (JSON ⇄ protobuf through the proxy)."""

    def __init__(self, session: RealSession) -> None:
        self._session = session

    def _dynamic(self) -> Any:
        import importlib

        for name in ("micro.client.dynamic", "micro._dynamic"):
            try:
                return importlib.import_module(name)
            except ImportError:
                continue
        raise Unsupported("calls need the framework (not yet available)")

    def _guard(self) -> Any:
        """A read-only env refuses, before anything is sent, every call whose endpoint is not
        marked side-effect free (as the CLI does): ``Environment 'X' is read-only``."""
        from functools import partial

        from micro.environment import refuse_unless_side_effect_free

        return partial(refuse_unless_side_effect_free, self._session.context)

    async def call(
        self, service: str, endpoint: str, request: str, *, metadata: dict[str, str], timeout: float
    ) -> CallResult:
        dynamic, session = self._dynamic(), self._session
        started = time.perf_counter()
        replied = dynamic.ReplyMetadata()  # the Headers pane's
        try:
            reply = await dynamic.call(
                session.address, service, endpoint, request or "{}", namespace=session.namespace,
                token=session.token, metadata=metadata, timeout=timeout or None, guard=self._guard(),
                reply_metadata=replied,
            )  # fmt: skip
        except Exception as exc:
            result = _error_result(exc, (time.perf_counter() - started) * 1000)
        else:
            elapsed = (time.perf_counter() - started) * 1000
            result = CallResult(True, json.dumps(reply, indent=2), 0, "OK", "", elapsed)
        result.headers, result.trailers = replied.headers, replied.trailers
        return result

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
        dynamic, session = self._dynamic(), self._session
        started = time.perf_counter()
        count = 0
        replied = dynamic.ReplyMetadata()
        try:
            async for reply in dynamic.stream(
                session.address, service, endpoint, request or "{}", namespace=session.namespace,
                token=session.token, metadata=metadata, timeout=timeout or None, requests=requests,
                guard=self._guard(), reply_metadata=replied,
            ):  # fmt: skip
                yield StreamItem(count, json.dumps(reply, indent=2))
                count += 1
        except Exception as exc:
            result = _error_result(exc, (time.perf_counter() - started) * 1000)
        else:
            result = CallResult(True, "", 0, "OK", "", (time.perf_counter() - started) * 1000)
        result.headers, result.trailers = replied.headers, replied.trailers
        yield StreamItem(count, result=result)


class RealFacade:
    """The slices over the server of ``context`` (default: the current env + namespace)."""

    def __init__(self, context: Any = None) -> None:
        self.session = RealSession(context)
        self.registry = RealRegistry(self.session)
        self.calls = RealCalls(self.session)

    @cached_property
    def logs(self) -> RealLogs:
        from micro_tui.slices.logs_real import RealLogs

        return RealLogs(self.session)

    @cached_property
    def events(self) -> RealEvents:
        from micro_tui.slices.events_real import RealEvents

        return RealEvents(self.session)

    @cached_property
    def store(self) -> RealStore:
        from micro_tui.slices.store_real import RealStore

        return RealStore(self.session)

    @cached_property
    def config(self) -> RealConfig:
        from micro_tui.slices.config_real import RealConfig

        return RealConfig(self.session)

    @cached_property
    def runtime(self) -> RealRuntime:
        from micro_tui.slices.runtime_real import RealRuntime

        return RealRuntime(self.session)

    @cached_property
    def auth(self) -> RealAuth:
        from micro_tui.slices.auth_real import RealAuth

        return RealAuth(self.session)
