"""The auth core service: accounts, tokens, rules and namespaces, kept in the store.

:func:`build` makes the backend (signing key in the data folder, default admin and the
``micro`` namespace on :meth:`~server.auth.stored.StoredAuth.start`); :func:`core` serves
it as four gRPC services; :func:`interceptor` is the auth boundary every server installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from micro.auth import Auth
from micro.auth.boundary import AuthSource, Boundary
from micro.proto.auth import auth_pb2, auth_pb2_grpc
from server.auth.calls import CallTokens, core_audience
from server.auth.handler import (
    PERMISSIONS,
    AccountsHandler,
    AuthHandler,
    NamespacesHandler,
    RulesHandler,
)
from server.auth.interceptor import AuthInterceptor, ServerAuthSource
from server.auth.stored import StoredAuth

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = [
    "AuthInterceptor",
    "CallTokens",
    "ServerAuthSource",
    "StoredAuth",
    "build",
    "core",
    "core_audience",
    "interceptor",
]

# served by the server itself besides the core services
_LOCAL_PREFIXES = ("/grpc.", "/debug.Debug/")


def build(backends: Backends, *, disable_admin: bool | None = None) -> StoredAuth:
    """The auth backend on ``backends.store``; namespaces with registered services (other
    than ``micro``) cannot be deleted; deleting one drops it from every backend."""

    async def busy(namespace: str) -> bool:
        return bool(await backends.registry.list_services(domain=namespace))

    return StoredAuth(
        backends.store,
        backends.data_dir,
        disable_admin=disable_admin,
        busy=busy,
        deleted=backends.drop_namespace,
    )


def core(auth: StoredAuth) -> CoreService:
    """The auth service of the server: ``auth.Auth``, ``auth.Accounts``, ``auth.Rules`` and
    ``auth.Namespaces``."""
    from server.core import CoreService

    handlers = (
        (AuthHandler(auth, auth.key), auth_pb2_grpc.add_AuthServicer_to_server),
        (AccountsHandler(auth), auth_pb2_grpc.add_AccountsServicer_to_server),
        (RulesHandler(auth), auth_pb2_grpc.add_RulesServicer_to_server),
        (NamespacesHandler(auth), auth_pb2_grpc.add_NamespacesServicer_to_server),
    )
    return CoreService(
        name="auth",
        add=[lambda server, h=h, add=add: add(h, server) for h, add in handlers],  # type: ignore[misc]
        descriptors=[
            auth_pb2.DESCRIPTOR.services_by_name[name] for name in ("Auth", "Accounts", "Rules", "Namespaces")
        ],
        permissions=PERMISSIONS,
        start=auth.start,
        auth=auth,
    )


async def interceptor(
    auth: Auth | AuthSource, services: list[CoreService], *, audience: str | None = None
) -> AuthInterceptor:
    """The auth interceptor of a server hosting ``services``; any other method is one the
    proxy forwards. The boundary reads keys, rules and revocation records through ``auth``
    (the auth service in this process), or from ``auth`` itself when it is a boundary source
    already (the auth service of the server a core service run alone joins). ``audience``:
    the call tokens accepted besides access tokens (a core service run alone: those the
    server's proxy mints for it)."""
    local = {
        f"/{svc.full_name}/{method.name}"
        for core in services
        for svc in core.descriptors
        for method in svc.methods
    }
    permissions = {method: p for core in services for method, p in core.permissions.items()}

    def is_local(method: str) -> bool:
        return method in local or method.startswith(_LOCAL_PREFIXES)

    source = await ServerAuthSource.create(auth) if isinstance(auth, Auth) else auth
    boundary = Boundary(source, audience=audience)
    return AuthInterceptor(boundary, permissions, local=is_local)
