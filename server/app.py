"""``micro server``: every core service in one asyncio process; ``micro service <name>``:
one of them alone, in a process of its own.

One ``grpc.aio`` server hosts the core services; the core services register themselves in
the registry (and keep re-registering, so a restart is seen within one heartbeat), answer
health and stats, exactly as a :class:`micro.Service` does (:mod:`micro._node`). Every call
passes the same auth boundary (:mod:`server.auth.interceptor`).

A core service run alone builds only the backends it owns (:data:`server.core.CORE_SERVICES`)
from the profile, and joins a running server (:class:`~server.upstream.Upstream`) for the
rest: it registers in that server's registry (its own, when it is the registry) and checks
its callers against that server's auth service (its own, when it is auth). There is no proxy
in such a process.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from micro import errors, settings
from micro._node import NodeServices, Registrar
from server import core, profiles, serving

if TYPE_CHECKING:
    from micro.registry import Registry
    from server.auth.remote import RemoteAuthSource
    from server.upstream import Upstream

log = logging.getLogger("micro.server")

CORE_TTL = 90.0


class ServerError(Exception):
    """The server cannot start; the message is the one line to show."""


def _lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ServerError(
            f"Another micro server is already running with MICRO_HOME {path.parent.parent}"
        ) from None
    return fd


class Server:
    def __init__(
        self,
        *,
        data_dir: Path,
        address: str = "127.0.0.1:8081",
        api_address: str | None = None,
        profile: str = "local",
        auth: bool = True,
        tls: tuple[str, str] | None = None,
        service: str | None = None,
        upstream: Upstream | None = None,
        api_cors_origins: frozenset[str] = frozenset(),
        api_required: bool = True,
        without: frozenset[str] = frozenset(),
    ) -> None:
        self.data_dir = data_dir
        # auth=False serves without the auth interceptor (unit tests of single services only)
        self.auth_enabled = auth
        self.auth: Any = None  # server.auth.StoredAuth, once started
        self.address = _normalise(address)
        # the HTTP gateway's address (None: no gateway); its origins allowed with credentials
        self.api_address = api_address
        self.api_cors_origins = api_cors_origins
        # False: an address that cannot be bound is a warning (the default one), not a failure
        self.api_required = api_required
        self.api_bound_address = ""
        self._api: Any = None  # server.api.Served, once started
        self.profile = profile
        # (certificate, private key) PEM files: serve gRPC over TLS; checked before anything starts
        self.tls = tls
        self._credentials = _server_credentials(*tls) if tls else None
        # one core service run alone (None: all of them and the proxy), joining ``upstream``
        self.service = service
        self.upstream = upstream
        # core services this server leaves to processes of their own (``micro service``):
        # they register in its registry and its proxy forwards their calls there
        self.without = without
        if service is not None and upstream is None:
            raise ServerError(f"A core service run alone needs a server to join: {service} has none")
        self.bound_address = ""
        self._grpc: grpc.aio.Server | None = None
        self._backends: profiles.Backends | None = None
        self._lock_fd: int | None = None
        self._registrar: Registrar | None = None
        self._stopped = asyncio.Event()
        self.services: list[core.CoreService] = []
        self.proxy: Any = None  # server.proxy.Forwarder, once started

    @property
    def backends(self) -> profiles.Backends:
        assert self._backends is not None, "server not started"
        return self._backends

    async def start(self) -> str:
        """Bind, start serving and register the core services; returns the bound address."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = _lock(self.data_dir / "server.lock")
        try:
            for section in (settings.server, settings.auth, settings.limits):
                section()  # a bad MICRO_* stops the server here, not on some request
            names = self._served()
            self._backends = profiles.build(
                self.profile, self.data_dir, given=self._joined(), upstream=self.upstream
            )
        except errors.MicroError as exc:
            raise ServerError(exc.detail[:1].upper() + exc.detail[1:]) from exc
        from server import auth as auth_service

        node = NodeServices()  # debug.Debug/Health, Stats and gRPC health
        self.services = core.build(self._backends, names)
        try:
            for svc in self.services:
                if svc.start is not None:
                    await svc.start()
        except errors.MicroError as exc:
            raise ServerError(exc.detail[:1].upper() + exc.detail[1:]) from exc
        self.auth = next((svc.auth for svc in self.services if svc.auth is not None), None)
        admission = None
        if self.auth_enabled:
            source = self.auth if self.auth is not None else await self._remote_auth()
            # alone, the calls the server's proxy forwards here carry a token minted for it
            audience = None if self.service is None else auth_service.core_audience(self.service)
            admission = await auth_service.interceptor(source, self.services, audience=audience)
        server = serving.grpc_server(node.counters, admission)
        node.add_to(server)
        for svc in self.services:
            for add in svc.add:
                add(server)
        if self.service is None:
            # the proxy: every method not served above goes to a service's node (so it comes last)
            from server.proxy import Forwarder

            mint = auth_service.CallTokens(self.auth.key).mint if self.auth_enabled else None
            self.proxy = Forwarder(self._backends.registry, mint=mint, core=self.without)
            server.add_generic_rpc_handlers((self.proxy,))
            for svc in self.services:
                if svc.proxy is not None:
                    svc.proxy(self.proxy)
        try:
            if self._credentials is not None:
                port = server.add_secure_port(self.address, self._credentials)
            else:
                port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            port = 0
            cause: Exception | None = exc
        else:
            cause = None
        if not port:
            raise ServerError(f"Cannot listen on {self.address}: {_bind_error(self.address)}") from cause
        await server.start()
        self._grpc = server
        host = self.address.rsplit(":", 1)[0]
        self.bound_address = f"{host}:{port}"
        if self._credentials is None and not _loopback(self.address):
            log.warning(
                "Warning: serving %s without TLS: access tokens, passwords and secrets travel in "
                "clear text to anyone on the network; use --tls-cert and --tls-key",
                self.bound_address,
            )
        await node.serving(svc.name for svc in self.services)
        await self._register()
        if self.api_address and self.service is None:
            await self._start_gateway(server, admission)
        return self.bound_address

    async def _start_gateway(self, server: Any, admission: Any) -> None:
        """The HTTP gateway, in this loop, calling the handlers gRPC calls reach."""
        from micro.auth.boundary import Verified
        from server.api import Gateway, Limits, serve

        boundary = admission.boundary if admission is not None else None

        async def identify(token: str | None) -> Verified | None:
            return None if boundary is None else await boundary.verified(token)

        allowed = settings.limits()
        limits = Limits(max_body=allowed.api_body_bytes, read_seconds=allowed.api_read_seconds)
        gateway = Gateway(
            self.backends.registry,
            server.handler,
            identify,
            cors_origins=self.api_cors_origins,
            limits=limits,
        )
        try:
            self._api = await serve(gateway, self.api_address or "", tls=self.tls)
        except errors.MicroError as exc:
            if self.api_required:
                raise ServerError(exc.detail[:1].upper() + exc.detail[1:]) from exc
            log.warning("Warning: no HTTP gateway: %s (choose one with --api-address)", exc.detail)
            return
        self.api_bound_address = self._api.address

    def _served(self) -> tuple[str, ...] | None:
        """The core services served here (None: all of them).

        Raises:
            NotFound: a name is no core service's.
            BadRequest: the server is asked to leave out one its proxy cannot do without.
        """
        if self.service is not None:
            return (core.spec(self.service).name,)
        if not self.without:
            return None
        for name in sorted(self.without):
            core.spec(name)
            if name in core.ALWAYS_SERVED:
                raise errors.BadRequest(f"the server cannot leave out {name}: its proxy relies on it")
        return tuple(row.name for row in core.CORE_SERVICES if row.name not in self.without)

    def _joined(self) -> dict[str, Any]:
        """The backends a core service run alone reaches through the server it joins."""
        if self.service is None:
            return {}
        assert self.upstream is not None
        owned = core.spec(self.service).backends
        return {c: self.upstream.backend(c) for c in profiles.BACKENDS if c not in owned}

    async def _remote_auth(self) -> RemoteAuthSource:
        """The boundary's source when the auth service runs elsewhere."""
        from server.auth.remote import RemoteAuthSource

        assert self.upstream is not None
        try:
            await self.upstream.refresh()
            return await RemoteAuthSource.create(self.upstream)
        except errors.MicroError as exc:
            where = self.upstream.address
            raise ServerError(f"Cannot reach the micro server at {where}: {exc.detail}") from exc

    async def _register(self) -> None:
        """Register the core services served here, and keep them registered."""
        from micro.registry.schema import describe

        # one node per process: the server's are known by name, a service run alone's by a
        # fresh id (several may run side by side)
        suffix = "core" if self.service is None else uuid.uuid4().hex[:8]
        entries = [
            describe(svc.name, svc.descriptors, address=self.bound_address, node_id=f"{svc.name}-{suffix}")
            for svc in self.services
        ]
        upstream = self.upstream
        registry: Registry | Callable[[], Awaitable[Registry]] = self.backends.registry
        if upstream is not None and registry is upstream.registry:

            async def joined() -> Registry:
                await upstream.refresh()  # a login refreshed meanwhile
                return upstream.registry

            registry = joined
        self._registrar = Registrar(entries, registry, ttl=CORE_TTL)
        try:
            await self._registrar.start()
        except errors.MicroError as exc:
            self._registrar = None
            where = f" with the micro server at {upstream.address}" if upstream is not None else ""
            what = self.service or "the core services"
            raise ServerError(f"Cannot register {what}{where}: {exc.detail}") from exc

    async def wait(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        self._stopped.set()

    async def stop(self, grace: float = 2.0) -> None:
        if self._api is not None:
            await self._api.stop()
            self._api = None
        if self._registrar is not None:
            # a server's registry is its own and goes with it; a service run alone leaves
            # the registry of the server it joined
            await self._registrar.stop(deregister=self.service is not None)
            self._registrar = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        if self.proxy is not None:
            await self.proxy.close()
            self.proxy = None
        if self._backends is not None:
            await self._backends.close()
            self._backends = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._stopped.set()


def _server_credentials(cert: str, key: str) -> grpc.ServerCredentials:
    """gRPC's credentials for the PEM pair; a missing, unreadable or mismatched file is a
    one-line :class:`ServerError` now (grpc would only fail each handshake later)."""
    import ssl

    pair: list[bytes] = []
    for what, path in (("certificate", cert), ("private key", key)):
        try:
            with open(path, "rb") as f:
                pair.append(f.read())
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise ServerError(f"Cannot read the TLS {what} {path}: {reason}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pair[0]:
        raise ServerError(f"The TLS certificate {cert} holds no PEM certificate")
    if b"PRIVATE KEY-----" not in pair[1]:
        raise ServerError(f"The TLS private key {key} holds no PEM private key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")  # never a prompt on the terminal
    except (ssl.SSLError, OSError, ValueError) as exc:  # mismatched, corrupt, with a passphrase
        code = getattr(exc, "reason", None)  # OpenSSL's, e.g. KEY_VALUES_MISMATCH
        why = str(code).replace("_", " ").lower() if code and code != "PEM_LIB" else "invalid PEM"
        raise ServerError(f"Cannot use the TLS certificate {cert} with the key {key}: {why}") from None
    return grpc.ssl_server_credentials([(pair[1], pair[0])])


def _loopback(address: str) -> bool:
    """Whether ``address`` (host:port) is reachable from this machine only."""
    import ipaddress

    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def _normalise(address: str) -> str:
    """``:8081`` means every interface; a bare port means loopback. Anything but host:port with
    a port from 0 to 65535 is refused (grpc would pick a port of its own for 99999)."""
    if address.startswith(":"):
        address = f"0.0.0.0{address}"
    elif address.isdigit():
        address = f"127.0.0.1:{address}"
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ServerError(f"Invalid address {address!r}: expected host:port (port 0 picks a free port)")
    return address


def _bind_error(address: str) -> str:
    """Why ``address`` cannot be bound, in the operating system's words (grpc does not say)."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except OSError:
        return f"cannot resolve {host}"
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return "cannot bind"
