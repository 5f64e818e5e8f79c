"""The auth check inside every service (the framework's side of the spec's "enforced inside
every service"), and the pieces the server's interceptor shares with it.

For each call to one of the service's own endpoints (everything but gRPC health, reflection
and ``debug.Debug/Health``) :class:`ServiceGuard` admits the call through the one call
boundary (:mod:`micro.auth.boundary`): it verifies ``authorization: Bearer <jwt>`` locally
(:class:`~micro.auth.jwt.TokenVerifier`, cached per token) and applies
:func:`micro.auth.verify` to ``service:<service name>:<Handler.Method>`` with the rules of the
service's namespace (read through the proxy with the service's own credentials, cached
:data:`RULES_SECONDS`). So a call made straight to a node's address is checked exactly as
the proxy checks it. Calls the proxy forwards carry a call token minted for this service
(audience ``<namespace>/<service>``, subject the caller), never the caller's own token, and
are checked again; a token minted for another service is refused. Whether a token was
revoked (account or namespace deleted, password changed) is asked of the auth service
(``Auth.Inspect``) at most every few seconds per token. A ``micro`` admin passes the rules
of every other namespace, as on the server.

Decisions:

* The rules applied are those of the service's namespace. A call whose ``micro-namespace``
  names another namespace is refused (403 ``access denied to namespace``): the proxy only
  routes calls of a namespace to services registered in it, so only a direct caller can
  send one, and it must not pick which namespace's rules protect the service.
* The public key is fetched once at start-up (``Auth.PublicKey`` through the proxy) and
  again when a token fails to verify, at most every :data:`KEY_RETRY_SECONDS`, so a server
  whose key changed is followed without a restart.
* When the auth service cannot be reached at start-up (a server without auth), the service
  keeps serving and checks nothing for the rest of its life, logging one warning: refusing
  every call would make the service useless on such a server, and there is nothing to
  check tokens against.
* When the rules cannot be re-read later (the server restarting), the last rules read stay
  in force and are retried every few seconds; with no rules read yet, calls get 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from micro import errors
from micro._grpc_client import GrpcClient
from micro.auth import Account, Resource, Rule
from micro.auth.boundary import bearer, is_micro_admin

if TYPE_CHECKING:
    from micro._grpc import Admit

__all__ = [
    "KEY_RETRY_SECONDS",
    "PUBLIC_PREFIXES",
    "RULES_SECONDS",
    "UNCHECKED_METHODS",
    "AuthSource",
    "PlatformAuth",
    "ServiceGuard",
    "admission",
    "bearer",
    "is_micro_admin",
    "resource_of",
]

log = logging.getLogger(__name__)

RULES_SECONDS = 30.0
KEY_RETRY_SECONDS = 10.0
RULES_RETRY_SECONDS = 5.0
SOURCE_TIMEOUT = 5.0

# never checked by any server: gRPC health checks and server reflection
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# never checked by a service besides those: liveness probes
UNCHECKED_METHODS = frozenset({"/debug.Debug/Health"})


def resource_of(method: str) -> Resource:
    """``/store.Store/Read`` → ``service:store:Store.Read`` (the service is the proto
    package, i.e. the part of the full service name before its last dot)."""
    full, _, name = method.lstrip("/").partition("/")
    package, _, handler = full.rpartition(".")
    return Resource("service", package or handler.lower(), f"{handler}.{name}")


class AuthSource(Protocol):
    """Where a guard reads the public key and its namespace's rules."""

    async def public_key(self) -> str: ...

    async def rules(self) -> list[Rule]: ...

    async def inspect(self, token: str) -> None:
        """Raise Unauthorized when the server no longer accepts ``token`` (revoked)."""
        ...

    async def close(self) -> None: ...


class PlatformAuth(GrpcClient):
    """:class:`AuthSource` of a service: the auth service through the proxy
    (``MICRO_PROXY`` unless ``address`` is given), rules read with the service's own
    credentials (current at each read: they are refreshed while the service runs).

    Args:
        namespace: the service's namespace (whose rules are read).
        address: the server's address (default: the proxy's).
    """

    def __init__(self, namespace: str, *, address: str | None = None) -> None:
        from micro import _platform

        super().__init__(address or _platform.proxy_address(), timeout=SOURCE_TIMEOUT)
        self.namespace = namespace

    async def public_key(self) -> str:
        from micro.proto.auth import auth_pb2, auth_pb2_grpc

        reply = await self._call(auth_pb2_grpc.AuthStub, "PublicKey", auth_pb2.PublicKeyRequest())
        if not reply.public_key:
            raise errors.NotFound("the auth service has no public key")
        return str(reply.public_key)

    async def rules(self) -> list[Rule]:
        from micro import _platform
        from micro._grpc import call_metadata
        from micro.auth._convert import rule_from_proto
        from micro.proto.auth import auth_pb2, auth_pb2_grpc

        await _platform.authenticate()
        request = auth_pb2.ListRequest(options=auth_pb2.Options(namespace=self.namespace))
        metadata = call_metadata(namespace=self.namespace, token=_platform.token())
        reply = await self._call(auth_pb2_grpc.RulesStub, "List", request, metadata=metadata)
        return [rule_from_proto(r) for r in reply.rules]

    async def inspect(self, token: str) -> None:
        from micro.proto.auth import auth_pb2, auth_pb2_grpc

        await self._call(auth_pb2_grpc.AuthStub, "Inspect", auth_pb2.InspectRequest(token=token))


class ServiceGuard:
    """Checks the callers of one service through the one call boundary
    (:class:`~micro.auth.boundary.Boundary`); see the module docstring.

    It is the boundary's :class:`~micro.auth.boundary.AuthSource` in a service: the public
    key (read again on a bad token, at most every ``key_retry_seconds``), the namespace's
    rules (cached ``rule_seconds``) and revocation checks (``Auth.Inspect``), all read
    through ``source``.

    Args:
        service: the registered name (the ``name`` of checked resources).
        namespace: the service's namespace (whose rules apply).
        source: the public key and rules (default: :class:`PlatformAuth`).
        rule_seconds: how long rules are cached (default :data:`RULES_SECONDS`).
        key_retry_seconds: least time between two fetches of the public key
            (default :data:`KEY_RETRY_SECONDS`).
    """

    def __init__(
        self,
        service: str,
        namespace: str,
        *,
        source: AuthSource | None = None,
        rule_seconds: float | None = None,
        key_retry_seconds: float | None = None,
    ) -> None:
        from micro.auth.boundary import Boundary, audience_of

        self.service = service
        self.namespace = namespace
        self.source: AuthSource = source if source is not None else PlatformAuth(namespace)
        self.rule_seconds = RULES_SECONDS if rule_seconds is None else rule_seconds
        self.key_retry_seconds = KEY_RETRY_SECONDS if key_retry_seconds is None else key_retry_seconds
        self.enforcing = False
        self.boundary = Boundary(self, audience=audience_of(namespace, service), namespace=namespace)
        self._verifier: Any = None  # micro.auth.jwt.TokenVerifier once the key is known
        self._public_key = ""
        self._key_fetched: float | None = None  # time.monotonic() of the last fetch
        self._key_lock = asyncio.Lock()
        self._rules: list[Rule] | None = None
        self._rules_expiry = 0.0
        self._rules_lock = asyncio.Lock()
        self._started = asyncio.Event()
        self._ready = False
        self._resources: dict[str, Resource | None] = {}

    async def start(self) -> bool:
        """Fetch the public key (and the rules); returns whether callers are checked."""
        try:
            await self._load_key(await self.source.public_key())
        except errors.MicroError as exc:
            log.warning(
                "cannot read the auth public key (%s): %s serves without checking callers",
                exc.detail,
                self.service,
            )
            self.enforcing = False
        else:
            self.enforcing = True
            try:
                await self.rules(self.namespace)
            except errors.MicroError as exc:  # retried on the first call
                log.warning("cannot read the rules of %s yet: %s", self.namespace, exc.detail)
        self._ready = True
        self._started.set()
        return self.enforcing

    async def close(self) -> None:
        await self.source.close()

    def resource(self, method: str) -> Resource | None:
        """What a call of ``method`` reaches (None: not checked)."""
        if method in self._resources:
            return self._resources[method]
        found: Resource | None = None
        if method not in UNCHECKED_METHODS and not method.startswith(PUBLIC_PREFIXES):
            found = Resource("service", self.service, resource_of(method).endpoint)
        if len(self._resources) < 4096:
            self._resources[method] = found
        return found

    async def check(self, metadata: Sequence[tuple[str, Any]] | None, resource: Resource) -> Account | None:
        """The caller of a call reaching ``resource`` (None: anonymous, or not checked).

        Raises:
            Unauthorized: a bad token, or none where the rules want an account.
            Forbidden: the rules refuse the caller, or the call names another namespace.
            Unavailable: the rules were never read.
        """
        if not self._ready:
            await self._started.wait()
        if not self.enforcing:
            return None
        caller = await self.boundary.admit(metadata, resource)
        return caller.account

    # -- the boundary's AuthSource --------------------------------------------------------

    def verify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        checked: tuple[Account, float, float] = self._verifier.check(token, audience=audience)
        return checked

    async def reverify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        # the server's key may have changed: read it again, at most every few seconds (with
        # the same key, this fails again with the first answer: expired, invalid…)
        await self._refetch_key()
        return self.verify(token, audience=audience)

    async def check_valid(self, token: str, account: Account, issued_at: float) -> None:
        try:
            await self.source.inspect(token)
        except errors.Unavailable as exc:
            # the server restarting must not stop every service: the signature still holds
            log.warning("cannot ask the auth service whether a token was revoked: %s", exc.detail)

    async def _refetch_key(self) -> bool:
        """Whether a new public key was loaded."""
        async with self._key_lock:
            now = time.monotonic()
            if self._key_fetched is not None and now - self._key_fetched < self.key_retry_seconds:
                return False
            self._key_fetched = now
            try:
                pem = await self.source.public_key()
            except errors.MicroError as exc:
                log.warning("cannot read the auth public key again: %s", exc.detail)
                return False
            if pem == self._public_key:
                return False
            await self._load_key(pem)
            log.info("the auth public key changed: verifying tokens with the new one")
            return True

    async def _load_key(self, pem: str) -> None:
        from micro.auth.jwt import TokenVerifier

        try:
            self._verifier = TokenVerifier(pem)
        except ValueError as exc:
            raise errors.InternalServerError(f"the auth public key cannot be read: {exc}") from exc
        self._public_key = pem
        self._key_fetched = time.monotonic()

    async def rules(self, namespace: str) -> list[Rule]:
        if self._rules is not None and time.monotonic() < self._rules_expiry:
            return self._rules
        async with self._rules_lock:
            now = time.monotonic()
            if self._rules is not None and now < self._rules_expiry:
                return self._rules
            try:
                self._rules = await self.source.rules()
                self._rules_expiry = now + self.rule_seconds
            except errors.MicroError as exc:
                if self._rules is None:
                    raise errors.Unavailable(
                        f"cannot read the rules of namespace {self.namespace}: {exc.detail}"
                    ) from exc
                log.warning(
                    "cannot re-read the rules of %s (keeping the last): %s", self.namespace, exc.detail
                )
                self._rules_expiry = now + min(self.rule_seconds, RULES_RETRY_SECONDS)
            return self._rules


def admission(method: str, guard: ServiceGuard) -> Admit | None:
    """What every call of ``method`` runs before its handler: the caller checked with
    ``guard`` and known to :func:`micro.auth.account` (None for methods that are not checked)."""
    from micro._context import admission as call_admission

    resource = guard.resource(method)
    if resource is None:
        return None
    checked: Resource = resource

    async def check(context: Any) -> Account | None:
        return await guard.check(context.invocation_metadata(), checked)

    return call_admission(check, namespace=guard.namespace, service=guard.service)
