"""Who is calling: the account and namespace of the current RPC, and the handler-level
checks of the spec's permission matrix.

The auth interceptor sets the caller in a contextvar inside the handler's task; handlers
call :func:`authorize_admin` / :func:`authorize_account` with the namespace they are about
to touch. When no interceptor runs (a server started with auth off, used by unit tests of
single services) there is no caller and the checks pass.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from micro import errors
from micro.auth import ADMIN_SCOPE, DEFAULT_NAMESPACE, SERVICE_SCOPE, Account
from micro.auth.guard import is_micro_admin

__all__ = [
    "Caller",
    "authorize_account",
    "authorize_admin",
    "current",
    "is_micro_admin",
    "require_micro_admin",
    "reset",
    "set_caller",
]


@dataclass(frozen=True, slots=True)
class Caller:
    account: Account | None
    namespace: str


_caller: ContextVar[Caller | None] = ContextVar("micro_caller", default=None)


def current() -> Caller | None:
    """The caller of the current RPC (None when auth is not enforced)."""
    return _caller.get()


def set_caller(caller: Caller) -> object:
    return _caller.set(caller)


def reset(token: object) -> None:
    _caller.reset(token)  # type: ignore[arg-type]


def require_micro_admin() -> None:
    """Only a ``micro`` admin (namespaces are managed across the server)."""
    caller = _caller.get()
    if caller is None:
        return
    if caller.account is None:
        raise errors.Unauthorized("an account is required")
    if not is_micro_admin(caller.account):
        raise errors.Forbidden("access denied to namespace")


def _check(namespace: str, *, admin: bool, services: bool = True) -> Account | None:
    caller = _caller.get()
    if caller is None:
        return None
    account = caller.account
    if account is None:
        raise errors.Unauthorized("an account is required")
    if namespace.startswith("_"):
        raise errors.Forbidden("access denied to namespace")
    if is_micro_admin(account):
        return account
    if account.issuer != (namespace or DEFAULT_NAMESPACE):
        raise errors.Forbidden("access denied to namespace")
    service = SERVICE_SCOPE in account.scopes or account.type == "service"
    if admin and not (ADMIN_SCOPE in account.scopes or (services and service)):
        raise errors.Forbidden("access denied to namespace")
    return account


def authorize_account(namespace: str) -> Account | None:
    """Any account of ``namespace`` (or a ``micro`` admin); returns it."""
    return _check(namespace, admin=False)


def authorize_admin(namespace: str, *, services: bool = True) -> Account | None:
    """An admin or (unless ``services`` is false) service account of ``namespace``, or a
    ``micro`` admin; v3's ``AuthorizeAdmin``. Namespaces starting with ``_`` (the server's own databases) are
    refused to everyone."""
    return _check(namespace, admin=True, services=services)
