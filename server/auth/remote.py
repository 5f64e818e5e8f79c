"""The call boundary's source in a core service run alone (``micro service store``).

The boundary is the server's (:class:`~server.auth.interceptor.AuthInterceptor`, the same
permissions and policies); only where it reads keys, rules and revocation records differs:
from the auth service of the server the process joins (:class:`~server.upstream.Upstream`),
as a user service's guard does.

Decisions (the guard's, for the same reasons: :mod:`micro.auth.guard`):

* Tokens are verified locally with the public key read at start; a token that fails to
  verify has the key read again, at most every :data:`KEY_RETRY_SECONDS`.
* Rules are cached per namespace for :data:`RULES_SECONDS` — shorter than a user service's,
  because core services hold every namespace's data. When they cannot be re-read (the server
  restarting) the last ones read stay in force; with none read yet the call gets 503.
* Revocation is asked of the auth service (``Auth.Inspect``) once per token every
  :data:`~micro.auth.boundary.VALID_SECONDS`; when it cannot be reached the signature stands.
"""

from __future__ import annotations

import asyncio
import logging
import time

from micro import errors
from micro.auth import Account, Rule
from micro.auth.guard import KEY_RETRY_SECONDS
from micro.auth.jwt import TokenVerifier
from server.upstream import Upstream

__all__ = ["KEY_RETRY_SECONDS", "RULES_SECONDS", "RemoteAuthSource"]

log = logging.getLogger(__name__)

RULES_SECONDS = 5.0
_CACHE_LIMIT = 4096


class RemoteAuthSource:
    """The boundary's :class:`~micro.auth.boundary.AuthSource` over ``upstream``'s auth service.

    Args:
        upstream: the server joined.
        verifier: checks tokens against the auth service's public key.
    """

    def __init__(self, upstream: Upstream, verifier: TokenVerifier, public_key: str) -> None:
        self.upstream = upstream
        self.verifier = verifier
        self._public_key = public_key
        self._key_fetched = time.monotonic()
        self._key_lock = asyncio.Lock()
        self._rules: dict[str, tuple[list[Rule], float]] = {}  # namespace → (rules, until)

    @classmethod
    async def create(cls, upstream: Upstream) -> RemoteAuthSource:
        """Read the public key.

        Raises:
            MicroError: the auth service cannot be reached, or has no key.
        """
        pem = await upstream.auth.public_key()
        if not pem:
            raise errors.NotFound("the auth service has no public key")
        return cls(upstream, TokenVerifier(pem), pem)

    def verify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        return self.verifier.check(token, audience=audience)

    async def reverify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        # the server's key may have changed: read it again, at most every few seconds
        async with self._key_lock:
            now = time.monotonic()
            if now - self._key_fetched >= KEY_RETRY_SECONDS:
                self._key_fetched = now
                try:
                    pem = await self.upstream.auth.public_key()
                except errors.MicroError as exc:
                    log.warning("cannot read the auth public key again: %s", exc.detail)
                else:
                    if pem and pem != self._public_key:
                        self.verifier, self._public_key = TokenVerifier(pem), pem
                        log.info("the auth public key changed: verifying tokens with the new one")
        return self.verifier.check(token, audience=audience)

    async def rules(self, namespace: str) -> list[Rule]:
        now = time.monotonic()
        hit = self._rules.get(namespace)
        if hit is not None and now < hit[1]:
            return hit[0]
        try:
            await self.upstream.refresh()
            found = await self.upstream.auth.rules(namespace=namespace)
        except errors.NotFound:
            self._rules.pop(namespace, None)
            raise
        except errors.MicroError as exc:
            if hit is None:
                raise errors.Unavailable(
                    f"cannot read the rules of namespace {namespace}: {exc.detail}"
                ) from exc
            log.warning("cannot re-read the rules of %s (keeping the last): %s", namespace, exc.detail)
            self._rules[namespace] = (hit[0], now + RULES_SECONDS)
            return hit[0]
        if len(self._rules) >= _CACHE_LIMIT:
            self._rules.clear()
        self._rules[namespace] = (found, now + RULES_SECONDS)
        return found

    async def check_valid(self, token: str, account: Account, issued_at: float) -> None:
        try:
            await self.upstream.auth.inspect(token)
        except errors.Unavailable as exc:
            # the server restarting must not stop the service: the signature still holds
            log.warning("cannot ask the auth service whether a token was revoked: %s", exc.detail)
