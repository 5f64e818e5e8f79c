"""The auth interceptor of every gRPC server micro runs: the server's side of the one call
boundary (:mod:`micro.auth.boundary`).

For each call it admits the caller through :class:`~micro.auth.boundary.Boundary` — the
namespace the call acts in, the verified account, the method's :class:`Permission` and the
namespace's rules — and exposes the result to handlers through :mod:`server.auth.context`.
Core methods declare their permission (policy and the request field naming a namespace);
methods the proxy forwards are checked as ``service:<micro-service>:<Handler.Method>`` under
the rules alone; gRPC health and reflection are public. Errors are raised as MicroError
inside the handler wrapper, so the ErrorInterceptor (placed before this one) turns them into
gRPC status.

:class:`ServerAuthSource` is the boundary's source on the server: the key, rules and
revocation records, all through the :class:`~micro.auth.Auth` interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from micro import errors
from micro._grpc import map_handler
from micro.auth import Account, Auth, Resource, Rule
from micro.auth.boundary import Boundary, Caller, Policy, read_metadata
from micro.auth.guard import PUBLIC_PREFIXES, resource_of
from micro.auth.jwt import TokenVerifier
from server.auth.context import Permission, set_caller

__all__ = ["PUBLIC_PREFIXES", "AuthInterceptor", "ServerAuthSource", "resource_of"]

_CACHE_LIMIT = 4096
_RULES_ONLY = Permission(Policy.RULES)
_PUBLIC = Permission(Policy.PUBLIC)


class ServerAuthSource:
    """The call boundary's :class:`~micro.auth.boundary.AuthSource` inside the server.

    Args:
        auth: the auth service (its rules and revocation records are cached by it).
        verifier: checks tokens against the auth service's public key.
    """

    def __init__(self, auth: Auth, verifier: TokenVerifier) -> None:
        self.auth = auth
        self.verifier = verifier

    @classmethod
    async def create(cls, auth: Auth) -> ServerAuthSource:
        return cls(auth, TokenVerifier(await auth.public_key()))

    def verify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        return self.verifier.check(token, audience=audience)

    async def reverify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        return self.verifier.check(token, audience=audience)  # one key for the server's life

    async def rules(self, namespace: str) -> list[Rule]:
        return await self.auth.rules(namespace=namespace)

    async def check_valid(self, token: str, account: Account, issued_at: float) -> None:
        after = await self.auth.valid_after(account.issuer, account.id)
        if after is None or issued_at < after:
            raise errors.Unauthorized("token has been revoked")


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Admits every call through the boundary; see the module docstring.

    Args:
        boundary: the call boundary (no audience: core services refuse call tokens).
        permissions: each local method's permission (methods not listed: rules only).
        local: says whether a method is served by this server; other methods are forwarded
            by the proxy and checked against their ``micro-service`` target (None: all local).
    """

    def __init__(
        self,
        boundary: Boundary,
        permissions: Mapping[str, Permission],
        *,
        local: Callable[[str], bool] | None = None,
    ) -> None:
        self.boundary = boundary
        self.permissions = permissions
        self._local = local
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(self, continuation: Callable[..., Awaitable[Any]], details: Any) -> Any:
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(details)
        if handler is None:
            return None
        if self._local is not None and not self._local(method):
            # forwarded by the proxy: the target is micro-service (else the path), per call
            return self._wrap(handler, method, forwarded=True)
        wrapped = self._wrap(handler, method)
        if len(self._wrapped) >= _CACHE_LIMIT:  # local methods only: a fixed set
            self._wrapped.clear()
        self._wrapped[method] = wrapped
        return wrapped

    def _permission(self, method: str) -> Permission:
        if method.startswith(PUBLIC_PREFIXES):
            return _PUBLIC
        return self.permissions.get(method, _RULES_ONLY)

    def _wrap(self, handler: Any, method: str, *, forwarded: bool = False) -> Any:
        permission = _RULES_ONLY if forwarded else self._permission(method)
        resource = None if permission.policy is Policy.PUBLIC else resource_of(method)
        boundary = self.boundary

        async def admit(context: Any, request: Any) -> Caller:
            metadata = context.invocation_metadata()
            checked = resource
            if forwarded and checked is not None:
                target = read_metadata(metadata).service
                if target:
                    checked = Resource(checked.type, target, checked.endpoint)
            field = permission.field(request) if permission.field is not None and request is not None else ""
            caller = await boundary.admit(
                metadata, checked, policy=permission.policy, field=field, creates=permission.creates
            )
            set_caller(caller)
            return caller

        def unary(behavior: Callable[..., Awaitable[Any]], *, streamed_request: bool) -> Any:
            async def wrapper(request: Any, context: Any) -> Any:
                await admit(context, None if streamed_request else request)
                return await behavior(request, context)

            return wrapper

        def stream(behavior: Callable[..., AsyncIterator[Any]], *, streamed_request: bool) -> Any:
            async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
                await admit(context, None if streamed_request else request)
                async for item in behavior(request, context):
                    yield item

            return wrapper

        return map_handler(
            handler,
            lambda b: unary(b, streamed_request=handler.request_streaming),
            lambda b: stream(b, streamed_request=handler.request_streaming),
        )
