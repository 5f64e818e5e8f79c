"""The one auth boundary of every gRPC server micro runs (core services, proxy, gateway).

For each call: read ``authorization: Bearer <jwt>`` and ``micro-namespace``, verify the
token locally with the public key, check the namespace's rules for
``service:<svc>:<Handler.Method>`` and expose the caller to handlers through
:mod:`server.auth.context`. Public methods (token issue/inspection, public key, gRPC health
and reflection) always pass. Errors are raised as MicroError inside the handler wrapper, so
the ErrorInterceptor (placed before this one) turns them into gRPC status.

The namespace of a call is ``micro-namespace``, else the token's issuer, else ``micro``.
A ``micro`` admin passes the rules of every namespace (handlers still check).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from micro._grpc import NAMESPACE_KEY, SERVICE_KEY, map_handler
from micro.auth import DEFAULT_NAMESPACE, Resource, Rule, verify
from micro.auth.guard import PUBLIC_PREFIXES, bearer, resource_of
from micro.auth.jwt import TokenVerifier
from server.auth.context import Caller, is_micro_admin, set_caller

__all__ = ["PUBLIC_METHODS", "PUBLIC_PREFIXES", "AuthInterceptor", "resource_of"]

PUBLIC_METHODS = frozenset({"/auth.Auth/Token", "/auth.Auth/Inspect", "/auth.Auth/PublicKey"})
_CACHE_LIMIT = 4096


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Verifies callers and applies rules; see the module docstring.

    Args:
        verifier: checks access tokens (built from the auth service's public key).
        rules: the rules of a namespace (cached by the provider).
        local: says whether a method is served by this server; other methods are forwarded
            by the proxy and checked against their ``micro-service`` target (None: all local).
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        rules: Callable[[str], Awaitable[list[Rule]]],
        *,
        local: Callable[[str], bool] | None = None,
    ) -> None:
        self.verifier = verifier
        self.rules = rules
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
        if len(self._wrapped) >= _CACHE_LIMIT:
            self._wrapped.clear()
        self._wrapped[method] = wrapped
        return wrapped

    async def authenticate(
        self, context: Any, method: str, resource: Resource | None, *, forwarded: bool = False
    ) -> Caller:
        """The caller of this RPC, after the rule check (``resource`` None = public)."""
        token = namespace = service = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                token = value
            elif key == NAMESPACE_KEY:
                namespace = value
            elif key == SERVICE_KEY:
                service = value
        if forwarded and service and resource is not None:
            resource = Resource(resource.type, service, resource.endpoint)
        account = None
        if token:
            account = self.verifier.verify(bearer(token))
        ns = namespace or (account.issuer if account is not None else DEFAULT_NAMESPACE)
        caller = Caller(account, ns)
        if resource is not None and not (is_micro_admin(account) and ns != DEFAULT_NAMESPACE):
            verify(await self.rules(ns), account, resource, namespace=ns)
        set_caller(caller)
        return caller

    def _wrap(self, handler: Any, method: str, *, forwarded: bool = False) -> Any:
        public = not forwarded and (method in PUBLIC_METHODS or method.startswith(PUBLIC_PREFIXES))
        resource = None if public else resource_of(method)
        authenticate = self.authenticate

        async def check(context: Any, method: str, resource: Resource | None) -> Caller:
            return await authenticate(context, method, resource, forwarded=forwarded)

        def unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def wrapper(request: Any, context: Any) -> Any:
                await check(context, method, resource)
                return await behavior(request, context)

            return wrapper

        def stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
                await check(context, method, resource)
                async for item in behavior(request, context):
                    yield item

            return wrapper

        return map_handler(handler, unary, stream)
