"""The auth interceptor of every gRPC server micro runs: the server's side of the one call
boundary (:mod:`micro.auth.boundary`).

For each call it admits the caller through :class:`~micro.auth.boundary.Boundary` — the
namespace the call acts in, the verified account, the method's :class:`Permission` and the
namespace's rules — and exposes the result to handlers through :mod:`server.auth.context`.
Core methods declare their permission (policy and the request field naming a namespace);
methods the proxy forwards are checked as ``service:<micro-service>:<Handler.Method>`` under
the rules alone; gRPC health and reflection are public. Errors are raised as MicroError
inside the handler wrapper (:func:`micro._grpc.wrap_handler`), which turns them into gRPC
status.

:class:`ServerAuthSource` is the boundary's source on the server: the key, rules and
revocation records, all through the :class:`~micro.auth.Auth` interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from micro import errors
from micro._grpc import Admit
from micro.auth import Account, Auth, Resource, Rule
from micro.auth.boundary import Boundary, Policy, read_metadata
from micro.auth.guard import PUBLIC_PREFIXES, resource_of
from micro.auth.jwt import TokenVerifier
from server.auth.context import Permission, set_caller

__all__ = ["PUBLIC_PREFIXES", "AuthInterceptor", "ServerAuthSource", "resource_of"]

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


class AuthInterceptor:
    """Admits every call through the boundary; see the module docstring.

    Not a grpc interceptor (those run on every call): the server asks it once per method,
    when the method's handler is added (:class:`micro._grpc.WrappingServer`), for the
    :meth:`admit` function of that method, which the handler's wrapper awaits per call.

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

    def _permission(self, method: str) -> Permission:
        if method.startswith(PUBLIC_PREFIXES):
            return _PUBLIC
        return self.permissions.get(method, _RULES_ONLY)

    def admit(self, method: str) -> Admit:
        """The check of every call of ``method``: admits the caller through the boundary
        and makes it the current call's (raises MicroError to refuse). A context with a
        ``verified`` attribute (the gateway's, :class:`~micro.auth.boundary.Verified`)
        has had its token verified for this call already."""
        admit_call = self.boundary.admit
        if self._local is not None and not self._local(method):
            # forwarded by the proxy: the target is micro-service (else the path), per call
            path = resource_of(method)

            async def admit_forwarded(context: Any, request: Any) -> None:
                metadata = context.invocation_metadata()
                target = read_metadata(metadata).service
                checked = Resource(path.type, target, path.endpoint) if target else path
                verified = getattr(context, "verified", None)
                set_caller(await admit_call(metadata, checked, policy=Policy.RULES, verified=verified))

            return admit_forwarded

        permission = self._permission(method)
        resource = None if permission.policy is Policy.PUBLIC else resource_of(method)
        policy, field, creates = permission.policy, permission.field, permission.creates

        async def admit(context: Any, request: Any) -> None:
            named = field(request) if field is not None and request is not None else ""
            set_caller(
                await admit_call(
                    context.invocation_metadata(),
                    resource,
                    policy=policy,
                    field=named,
                    creates=creates,
                    verified=getattr(context, "verified", None),
                )
            )

        return admit
