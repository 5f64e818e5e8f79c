"""The one call boundary: for every call, the namespace it acts in, who calls, and whether
that namespace lets them.

The server's auth interceptor (core services and the proxy), the framework's service guard
and (later) the gateway all admit calls through :meth:`Boundary.admit`; core handlers read
the result (:class:`Caller`) instead of deciding again. The rules:

* **Namespace.** A request field that names one (``options.database`` of the store,
  ``options.domain`` of the registry…), else ``micro-namespace`` (exactly one value: a
  repeated key is 400), else the token's namespace, else ``micro``.
* **Caller.** ``authorization: Bearer <jwt>`` verified locally with the auth public key.
  Tokens minted for a hop by the proxy carry an audience (``<namespace>/<service>``): a
  boundary without an audience (the core services) refuses every such token; a service's
  boundary accepts its own audience and ordinary access tokens, nothing else. A token
  whose account or namespace was revoked after it was issued is refused
  (:meth:`AuthSource.check_valid`), whatever its expiry says.
* **Existence.** A namespace that does not exist is 404, never public.
* **Policy, then rules.** A core method names a :class:`Policy` — who may call it at all,
  in the namespace it acts in (the spec's permission matrix, v3's ``AuthorizeAdmin``) —
  and the namespace's rules can only narrow it. A ``micro`` admin passes every
  namespace's rules (policies still apply).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from micro import errors
from micro.auth import (
    ADMIN_SCOPE,
    DEFAULT_NAMESPACE,
    SERVICE_SCOPE,
    Account,
    Resource,
    Rule,
    verify,
)

__all__ = [
    "AUDIENCE_CLAIM",
    "AuthSource",
    "Boundary",
    "CallMetadata",
    "Caller",
    "Policy",
    "Verified",
    "audience_of",
    "bearer",
    "check_policy",
    "is_micro_admin",
    "is_service_account",
    "read_metadata",
]

AUTHORIZATION_KEY = "authorization"
NAMESPACE_KEY = "micro-namespace"
SERVICE_KEY = "micro-service"
AUDIENCE_CLAIM = "aud"
# how long a token found valid (not revoked) is trusted before it is checked again
VALID_SECONDS = 2.0
_CACHE_LIMIT = 4096
_UNREAD = object()  # an admission that read no rules


class Policy(enum.Enum):
    """Who may call a method at all, in the namespace it acts in (before the rules)."""

    PUBLIC = "public"  # no account, no rules: Token, Inspect, PublicKey, Revoke, health
    RULES = "rules"  # the namespace's rules alone decide (user services, debug)
    READ = "read"  # registry reads: anyone in micro, else any account of the namespace
    ACCOUNT = "account"  # any account of the namespace
    ADMIN_OR_SERVICE = "admin-or-service"  # an admin or a service account of the namespace
    ADMIN = "admin"  # an admin of the namespace
    MICRO_ADMIN = "micro-admin"  # an admin of micro (namespaces are managed server-wide)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a call and the namespace it acts in.

    ``token`` is the bearer token the call carried ("" for an anonymous call), ``issued``
    and ``expires`` when it was issued and expires (unix seconds): the proxy mints the next
    hop's token from them.
    """

    account: Account | None
    namespace: str
    token: str = ""
    issued: float = 0.0
    expires: float = 0.0


@dataclass(frozen=True, slots=True)
class Verified:
    """A bearer value already verified for the call at hand (:meth:`Boundary.verified`):
    the server's gateway verifies a request's token once to choose where to look the
    endpoint up, and the admission of the call it makes takes this instead of verifying
    the token again. ``token`` is the bearer value it is the verdict on."""

    token: str | None
    account: Account | None
    issued: float = 0.0
    expires: float = 0.0


class CallMetadata(NamedTuple):
    """The auth-relevant keys of a call's metadata (read on every call: a named tuple is
    built in half the time of a frozen dataclass)."""

    token: str | None
    namespace: str | None
    service: str | None


def read_metadata(metadata: Sequence[tuple[str, Any]] | None) -> CallMetadata:
    """The auth-relevant keys of a call's metadata.

    Raises:
        BadRequest: ``micro-namespace`` or ``authorization`` given more than once.
    """
    token = namespace = service = None
    for key, value in metadata or ():
        if key == AUTHORIZATION_KEY:
            if token is not None:
                raise errors.BadRequest("authorization given more than once")
            token = value.decode() if isinstance(value, bytes) else value
        elif key == NAMESPACE_KEY:
            if namespace is not None:
                raise errors.BadRequest("micro-namespace given more than once")
            namespace = value.decode() if isinstance(value, bytes) else value
        elif key == SERVICE_KEY:
            service = value.decode() if isinstance(value, bytes) else value
    return CallMetadata(token, namespace, service)


def bearer(value: str) -> str:
    """The token of an ``authorization`` value ``Bearer <token>``.

    Raises:
        Unauthorized: another scheme, or no token.
    """
    scheme, _, raw = value.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise errors.Unauthorized("invalid token")
    return raw.strip()


def audience_of(namespace: str, service: str) -> str:
    """The audience of tokens minted for calls to ``service`` in ``namespace``."""
    return f"{namespace}/{service}"


def is_micro_admin(account: Account | None) -> bool:
    """An admin of ``micro`` may act in every namespace."""
    return account is not None and account.issuer == DEFAULT_NAMESPACE and ADMIN_SCOPE in account.scopes


def is_service_account(account: Account) -> bool:
    return account.type == "service" or SERVICE_SCOPE in account.scopes


def check_policy(policy: Policy, account: Account | None, namespace: str) -> None:
    """Whether ``account`` may call a method of ``policy`` in ``namespace`` at all.

    Raises:
        Unauthorized: an account is required and the call has none.
        Forbidden: the account may not act in ``namespace`` (or not this way).
    """
    if policy in (Policy.PUBLIC, Policy.RULES):
        return
    if policy is Policy.READ and namespace == DEFAULT_NAMESPACE:
        return
    if account is None:
        raise errors.Unauthorized("an account is required")
    if is_micro_admin(account):
        return
    if policy is Policy.MICRO_ADMIN or account.issuer != namespace:
        raise errors.Forbidden("access denied to namespace")
    if policy is Policy.ADMIN and not account.is_admin:
        raise errors.Forbidden("access denied to namespace")
    if policy is Policy.ADMIN_OR_SERVICE and not (account.is_admin or is_service_account(account)):
        raise errors.Forbidden("access denied to namespace")


class AuthSource(Protocol):
    """What a boundary needs from the auth service (in-process on the server, over gRPC in a
    service): token verification, rules, and revocation records."""

    def verify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        """(account, issued at, expires) of a token signed by the auth key.

        Raises:
            Unauthorized: not a valid token, or not for ``audience`` (None: no audience).
        """
        ...

    async def reverify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        """:meth:`verify` after making sure the key is current (it may have changed)."""
        ...

    async def rules(self, namespace: str) -> list[Rule]:
        """The rules of ``namespace``.

        Raises:
            NotFound: the namespace does not exist.
        """
        ...

    async def check_valid(self, token: str, account: Account, issued_at: float) -> None:
        """Raise Unauthorized when the token's account or namespace was revoked after
        ``issued_at`` (deleted, password changed…)."""
        ...


class Boundary:
    """Admits calls; see the module docstring.

    Every call has its token's expiry and revocation checked and its namespace's rules read
    (both cached by the source); an identical call of the same caller (same token, namespace
    and resource) under the same rules gets the admission decided before, without deciding
    again — nor verifying the token again while it has not expired and its last revocation
    check is fresh (a few µs a call).

    Args:
        source: keys, rules and revocation records.
        audience: the audience this boundary accepts besides plain access tokens (a
            service's own); None accepts none (core services).
        namespace: the only namespace calls may act in (a service's own); None: any.
    """

    def __init__(
        self, source: AuthSource, *, audience: str | None = None, namespace: str | None = None
    ) -> None:
        self.source = source
        self.audience = audience
        self.namespace = namespace
        self._valid: dict[str, float] = {}  # token → until when it is known not revoked
        # (bearer value, micro-namespace, field, resource, policy, creates) → the caller
        # admitted and the rules it was admitted under (_UNREAD: none were read)
        self._admitted: dict[tuple[Any, ...], tuple[Caller, object]] = {}

    async def caller(self, token: str | None) -> tuple[Account | None, float, float]:
        """The account of a bearer value (None: anonymous), when its token was issued and
        when it expires."""
        if not token:
            return None, 0.0, 0.0
        raw = bearer(token)
        try:
            account, issued, expires = self.source.verify(raw, audience=self.audience)
        except errors.Unauthorized:
            account, issued, expires = await self.source.reverify(raw, audience=self.audience)
        now = time.monotonic()
        until = self._valid.get(raw)  # None: never checked (0.0 would be "fresh" at boot)
        if until is None or until < now:
            await self.source.check_valid(raw, account, issued)
            if len(self._valid) >= _CACHE_LIMIT:
                self._valid = {k: v for k, v in self._valid.items() if v >= now}
                if len(self._valid) >= _CACHE_LIMIT:
                    self._valid.clear()
            self._valid[raw] = now + VALID_SECONDS
        return account, issued, expires

    async def verified(self, token: str | None) -> Verified:
        """:meth:`caller` as a :class:`Verified` that :meth:`admit` can be handed."""
        return Verified(token, *await self.caller(token))

    async def admit(
        self,
        metadata: Sequence[tuple[str, Any]] | None,
        resource: Resource | None,
        *,
        policy: Policy = Policy.RULES,
        field: str = "",
        creates: bool = False,
        verified: Verified | None = None,
    ) -> Caller:
        """The caller of a call reaching ``resource`` (None: not checked), after every check.

        Args:
            metadata: the call's invocation metadata.
            policy: who may call the method at all (core methods name theirs).
            field: the namespace a request field names ("" when none).
            creates: the method brings a missing namespace into being when a ``micro``
                admin calls it (creating an account there), so it may name one.
            verified: the verdict on the call's token made for this call already (used
                only when it is on the token the metadata carries).

        Raises:
            BadRequest: repeated ``micro-namespace``.
            Unauthorized, Forbidden: refused.
            NotFound: the namespace does not exist.
        """
        meta = read_metadata(metadata)
        if policy is Policy.PUBLIC or resource is None:
            # nobody is checked here (logins, health): a stale token must not get in the way
            return Caller(None, field or meta.namespace or DEFAULT_NAMESPACE)
        key = (meta.token, meta.namespace, field, resource, policy, creates)
        hit = self._admitted.get(key)
        if hit is not None and self._fresh(hit[0]):
            # the same token for the same call as before, not expired, not revoked as far
            # as the last check knows: verifying it again would give the same account
            admitted, seen = hit
            if seen is _UNREAD or await self.source.rules(admitted.namespace) is seen:
                return admitted
        if verified is not None and verified.token == meta.token:
            account, issued, expires = verified.account, verified.issued, verified.expires
        else:
            account, issued, expires = await self.caller(meta.token)  # expiry and revocation: always
        if hit is not None and hit[0].account is account:
            # the same caller for the same call as before: the decision stands while the
            # rules it was made under are still the namespace's (a change is a new list)
            admitted, seen = hit
            if seen is _UNREAD or await self.source.rules(admitted.namespace) is seen:
                return admitted
        caller, seen = await self._decide(meta, resource, account, issued, expires, policy, field, creates)
        if len(self._admitted) >= _CACHE_LIMIT:
            self._admitted.clear()
        self._admitted[key] = (caller, seen)
        return caller

    def _fresh(self, admitted: Caller) -> bool:
        """Whether :meth:`caller` would find ``admitted``'s token as it did: not expired, and
        checked for revocation less than ``VALID_SECONDS`` ago (anonymous: nothing to check)."""
        if admitted.account is None:
            return True
        until = self._valid.get(admitted.token)
        return until is not None and until >= time.monotonic() and time.time() < admitted.expires

    async def _decide(
        self,
        meta: CallMetadata,
        resource: Resource,
        account: Account | None,
        issued: float,
        expires: float,
        policy: Policy,
        field: str,
        creates: bool,
    ) -> tuple[Caller, object]:
        """:meth:`admit`'s decision for a caller: the :class:`Caller` and the rules read
        (``_UNREAD``: none), or the refusal raised."""
        token = bearer(meta.token) if meta.token else ""
        if self.namespace is not None:
            # a service serves its own namespace: the proxy routes no other one to it
            if (field and field != self.namespace) or (meta.namespace and meta.namespace != self.namespace):
                raise errors.Forbidden("access denied to namespace")
            namespace = self.namespace
        else:
            namespace = field or meta.namespace or (account.issuer if account else DEFAULT_NAMESPACE)
        check_policy(policy, account, namespace)
        seen: object = _UNREAD
        if is_micro_admin(account) and namespace != DEFAULT_NAMESPACE:
            # a micro admin passes the rules of other namespaces, not their existence
            if not creates:
                seen = await self.source.rules(namespace)
        else:
            rules = seen = await self.source.rules(namespace)  # NotFound: no such namespace
            verify(rules, account, resource, namespace=namespace)
        return Caller(account, namespace, token, issued, expires), seen
