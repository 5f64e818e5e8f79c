"""Who is calling: the caller and namespace of the current RPC, as the one call boundary
decided them, and the permission each core method declares.

The auth interceptor admits every call through :class:`micro.auth.boundary.Boundary` and
sets the resulting :class:`Caller` as the current call inside the handler's task (the one
"current call" context, :mod:`micro._context`, which framework services use too); handlers read
the namespace they act in with :func:`namespace` and never decide it again. Each core
service declares a :class:`Permission` per method (its policy and the request field that
names a namespace). When no interceptor runs (a server started with auth off, used by unit
tests of single services) there is no caller: the namespace is resolved the same way
without a token, and nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from micro import _context
from micro.auth import DEFAULT_NAMESPACE, Account
from micro.auth.boundary import Caller, Policy, check_policy, is_micro_admin, read_metadata

__all__ = [
    "Caller",
    "Permission",
    "Policy",
    "account",
    "authorize",
    "current",
    "is_micro_admin",
    "namespace",
    "set_caller",
]


@dataclass(frozen=True, slots=True)
class Permission:
    """Who may call a core method (``policy``) and which request field, if any, names the
    namespace it acts in (``field`` returns "" when the request names none). ``creates``:
    a ``micro`` admin's call brings a missing namespace into being (creating an account)."""

    policy: Policy
    field: Callable[[Any], str] | None = None
    creates: bool = False


def current() -> Caller | None:
    """The caller of the current RPC (None when auth is not enforced)."""
    call = _context.current()
    return call.caller if call is not None else None


def set_caller(caller: Caller) -> object:
    """Make ``caller`` the current call's (``micro.auth.account()`` reads it too)."""
    return _context.enter(_context.Call(caller.account, caller.namespace, None, "", caller))


def account() -> Account | None:
    caller = current()
    return caller.account if caller is not None else None


def namespace(context: Any, field: str = "") -> str:
    """The namespace the current call acts in, as the boundary decided it; without a
    boundary (auth off) ``field``, else ``micro-namespace``, else ``micro``."""
    caller = current()
    if caller is not None:
        return caller.namespace
    return field or read_metadata(context.invocation_metadata()).namespace or DEFAULT_NAMESPACE


def authorize(policy: Policy, namespace: str) -> Account | None:
    """Apply ``policy`` to the current caller in ``namespace`` (for handlers whose rule
    depends on the request, e.g. changing one's own secret); returns the account.

    Raises:
        Unauthorized, Forbidden: as :func:`micro.auth.boundary.check_policy`.
    """
    caller = current()
    if caller is None:
        return None
    check_policy(policy, caller.account, namespace)
    return caller.account
