"""Auth: accounts, tokens, rules and namespaces, and the rule check every service applies.

Domain types and the :class:`Auth` interface live here; :func:`verify` is the exact rule
check of the spec, pure and cheap, shared by the server's interceptor, the proxy, the
gateway and the framework. Backends: :mod:`micro.auth.grpc` (the auth service); the server
adds a store-backed one. Tokens are verified locally with :mod:`micro.auth.jwt`.
"""

from __future__ import annotations

import builtins
import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from micro import errors

__all__ = [
    "ADMIN_SCOPE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_RULE",
    "NAMESPACE_RE",
    "SCOPE_ACCOUNT",
    "SCOPE_ANY_NAMESPACE",
    "SCOPE_PUBLIC",
    "SERVICE_SCOPE",
    "Access",
    "Account",
    "Auth",
    "Namespace",
    "Resource",
    "Rule",
    "Token",
    "account",
    "call_namespace",
    "check_namespace",
    "parse_resource",
    "verify",
]

DEFAULT_NAMESPACE = "micro"
ADMIN_SCOPE = "admin"
SERVICE_SCOPE = "service"
SCOPE_PUBLIC = ""
SCOPE_ACCOUNT = "*"  # any account of the namespace
SCOPE_ANY_NAMESPACE = "+"  # any account of any namespace
NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_namespace(name: str) -> str:
    """``name`` when it is a valid namespace name, else :class:`~micro.errors.BadRequest`."""
    if not NAMESPACE_RE.match(name):
        raise errors.BadRequest(
            f"invalid namespace {name!r}: lower-case letters, digits and dashes,"
            " starting with a letter or digit"
        )
    return name


class Access(enum.Enum):
    GRANTED = "granted"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Resource:
    """What a rule protects: ``type:name:endpoint`` (``service:store:Store.Read``)."""

    type: str
    name: str
    endpoint: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{self.endpoint}"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    scope: str
    resource: Resource
    access: Access = Access.GRANTED
    priority: int = 0


DEFAULT_RULE = Rule("default", SCOPE_PUBLIC, Resource("*", "*", "*"), Access.GRANTED, 0)


@dataclass(slots=True)
class Account:
    """A user or service account; ``issuer`` is its namespace. ``secret`` is only ever
    filled right after creation (it is stored hashed). ``service`` binds a service account
    to the one service whose nodes it may register ("" for none)."""

    id: str
    type: str = "user"
    issuer: str = DEFAULT_NAMESPACE
    name: str = ""
    scopes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    secret: str = ""
    service: str = ""

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    refresh_token: str
    created: int  # unix seconds
    expiry: int  # unix seconds at which the access token expires


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    created: int = 0


def account() -> Account | None:
    """The account calling the handler of a :class:`micro.Service` that runs now.

    Set per call by the service (after it verified the caller's token against its
    namespace's rules) and visible in the handler's task, including in tasks it starts::

        async def Call(self, request, context):
            caller = micro.auth.account()
            name = caller.display_name if caller else "stranger"

    None for an anonymous call, outside a handler, and on a service that checks nothing
    (a server without an auth service).
    """
    from micro import _context

    call = _context.current()
    return call.account if call is not None else None


def call_namespace() -> str:
    """The namespace of the call a handler serves (its ``micro-namespace``, else the
    service's); the service's namespace outside a handler. See :func:`account`."""
    from micro import _context, _platform

    call = _context.current()
    return call.namespace if call is not None else _platform.namespace()


def parse_resource(text: str) -> Resource:
    """``type:name:endpoint`` → :class:`Resource` (the endpoint may contain ``:``)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise errors.BadRequest("Invalid resource, must be in the format type:name:endpoint")
    return Resource(parts[0], parts[1], parts[2])


def _endpoints(endpoint: str) -> set[str]:
    """The rule endpoints that match ``endpoint``: itself, ``*`` and ``/a/*`` path prefixes."""
    valid = {"*", endpoint}
    comps = endpoint.split("/")
    for i in range(1, len(comps) + 1):
        valid.add("/".join(comps[:i]) + "/*")
    return valid


def verify(
    rules: Iterable[Rule],
    account: Account | None,
    resource: Resource,
    *,
    namespace: str = DEFAULT_NAMESPACE,
) -> None:
    """Decide whether ``account`` (None = anonymous) may reach ``resource`` in ``namespace``.

    Keep the rules matching the resource's type, name and endpoint (``*`` wildcards, path
    prefixes ``/a/*``), highest priority first (stable). A public rule decides; without an
    account the other rules are skipped; an account from another namespace only matches
    ``+`` rules; ``*``/``+`` decide; a rule whose scope the account holds decides. Nothing
    matched → forbidden.

    Raises:
        Unauthorized: no account and no public rule granted access.
        Forbidden: the account is not allowed (or a public rule denies everyone).
    """
    endpoints = _endpoints(resource.endpoint) if "/" in resource.endpoint else None
    matching = [
        rule
        for rule in rules
        if rule.resource.type in ("*", resource.type)
        and rule.resource.name in ("*", resource.name)
        and (
            rule.resource.endpoint in endpoints
            if endpoints is not None
            else rule.resource.endpoint in ("*", resource.endpoint)
        )
    ]
    matching.sort(key=lambda rule: rule.priority, reverse=True)
    for rule in matching:
        granted = rule.access is Access.GRANTED
        if rule.scope == SCOPE_PUBLIC:
            if granted:
                return
            break
        if account is None:
            continue
        foreign = account.issuer != namespace
        if rule.scope == SCOPE_ANY_NAMESPACE or (rule.scope == SCOPE_ACCOUNT and not foreign):
            if granted:
                return
            break
        if not foreign and rule.scope in account.scopes:
            if granted:
                return
            break
    target = f"{resource.name}:{resource.endpoint}"
    if account is None:
        raise errors.Unauthorized(f"Unauthorized call made to {target}")
    raise errors.Forbidden(f"Forbidden call made to {target} by {account.id}")


class Auth(ABC):
    """Accounts, tokens, rules and namespaces. Empty ``namespace`` means ``micro``."""

    @abstractmethod
    async def generate(
        self,
        id: str,
        *,
        secret: str = "",
        name: str = "",
        type: str = "user",
        scopes: builtins.list[str] | None = None,
        metadata: dict[str, str] | None = None,
        namespace: str = "",
        service: str = "",
    ) -> Account:
        """Create an account (and its namespace if needed); the result carries the secret.
        ``service`` binds a service account to the service whose nodes it may register."""

    @abstractmethod
    async def token(
        self,
        *,
        id: str = "",
        secret: str = "",
        refresh_token: str = "",
        expiry: int = 0,
        namespace: str = "",
        client: str = "",
    ) -> Token:
        """A token pair for ``id`` (or name) + ``secret``, or for a refresh token (rotated:
        using a rotated one again ends the whole session it belongs to).

        ``client``: the caller's network address, which failed logins are throttled by
        (set by the auth service from the connection; clients leave it empty). Raises
        Unauthorized (``invalid credentials``, the same for an account that does not exist)
        or TooManyRequests after repeated failures.
        """

    @abstractmethod
    async def revoke(self, refresh_token: str) -> None:
        """End the session of ``refresh_token`` (every token rotated from the same login);
        an unknown or already revoked token is not an error (it gives nothing away)."""

    @abstractmethod
    async def inspect(self, token: str) -> Account:
        """The account an access token stands for; Unauthorized when it is not valid,
        expired, or revoked (issued before :meth:`valid_after` of its account)."""

    @abstractmethod
    async def accounts(self, *, namespace: str = "") -> builtins.list[Account]: ...

    @abstractmethod
    async def delete_account(self, id: str, *, namespace: str = "") -> None: ...

    @abstractmethod
    async def change_secret(self, id: str, old: str | None, new: str, *, namespace: str = "") -> None:
        """Change ``id``'s secret; ``old`` must match unless it is None (an admin's reset)."""

    @abstractmethod
    async def rules(self, *, namespace: str = "") -> builtins.list[Rule]: ...

    @abstractmethod
    async def create_rule(self, rule: Rule, *, namespace: str = "") -> None: ...

    @abstractmethod
    async def delete_rule(self, id: str, *, namespace: str = "") -> None:
        """Remove a rule; a missing one is not an error."""

    @abstractmethod
    async def public_key(self) -> str:
        """The PEM of the key access tokens are verified with."""

    async def valid_after(self, namespace: str, account_id: str) -> float | None:
        """The unix time before which tokens of ``account_id`` in ``namespace`` are dead
        (revoked: deleted, password changed…; 0 when never), or None when the namespace
        does not exist (deleted, or never created): the later of the account's and the
        namespace's records, cached briefly (at most 2 s).

        The rule, exact to the millisecond: a token is dead when its issue time — its
        ``iat_ms`` claim / 1000 (every token the auth service signs has it; ``iat`` for
        others) — is < this. The auth service records a revocation as the millisecond
        *after* it happened (and after any earlier record), and never dates a token before
        its account's records: a token issued before a password change, even within the
        same millisecond, is dead; a login right after it works.
        """
        raise errors.NotImplementedError_("revocation records are kept by the auth service")

    @abstractmethod
    async def namespaces(self) -> builtins.list[Namespace]: ...

    @abstractmethod
    async def create_namespace(self, name: str) -> None: ...

    @abstractmethod
    async def delete_namespace(self, name: str) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
