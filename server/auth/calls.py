"""Call tokens: what a forwarded call carries to the node instead of the caller's token.

The proxy (and later the gateway) never hands a caller's own access token to a service node
— a node could replay it anywhere. It forwards a token minted for the hop: signed by the
server, audience ``<namespace>/<service>`` (only that service accepts it; core services
refuse every token with an audience), subject and claims of the caller (so
``micro.auth.account()`` in the handler is still the caller), issued-at of the caller's
token (a revocation after that kills it too), and a lifetime of at most
:data:`CALL_TOKEN_SECONDS`, never past the caller's own token. A minted token is reused for
the same caller token and target while more than :data:`REUSE_MARGIN` seconds remain, so
signing (and the node's verification, cached per token) is paid about once a minute per
caller and service, not per call.

A core service run alone (``micro service runtime``) that the server's proxy forwards to
gets tokens of the audience :func:`core_audience` — a form no namespace's service can have
(namespaces have no ``:``), so a service's call token is never one a core service accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from micro.auth.boundary import Caller, audience_of
from micro.auth.jwt import claims_for
from server.auth.keys import SigningKey

__all__ = ["CALL_TOKEN_SECONDS", "REUSE_MARGIN", "CallTokens", "core_audience"]

CALL_TOKEN_SECONDS = 60
REUSE_MARGIN = 10.0
CACHE_LIMIT = 10_000


def core_audience(name: str) -> str:
    """The audience of tokens the proxy mints for core service ``name`` run alone."""
    return f"core:{name}"


class CallTokens:
    """Mints (and reuses) call tokens; see the module docstring.

    Args:
        key: the server's signing key.
        clock: unix time (tests inject one).
    """

    def __init__(self, key: SigningKey, *, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock
        self._minted: dict[tuple[str, str], tuple[str, float]] = {}

    def mint(
        self, caller: Caller, namespace: str, service: str, *, audience: str | None = None
    ) -> str | None:
        """The token to forward for ``caller``'s call to ``service`` in ``namespace``, for
        ``audience`` (None: that service's in that namespace); None for an anonymous caller:
        nothing is forwarded."""
        if caller.account is None or not caller.token:
            return None
        audience = audience or audience_of(namespace, service)
        key = (caller.token, audience)
        now = self.clock()
        hit = self._minted.get(key)
        if hit is not None and hit[1] - now > REUSE_MARGIN:
            return hit[0]
        expires = min(now + CALL_TOKEN_SECONDS, caller.expires)
        claims = claims_for(caller.account, now=int(now), ttl=0)
        issued = caller.issued
        claims.update(iat=int(issued), iat_ms=int(issued * 1000), exp=int(expires), aud=audience)
        token = self.key.sign_claims(claims)
        if len(self._minted) >= CACHE_LIMIT:
            self._minted = {k: v for k, v in self._minted.items() if v[1] - now > REUSE_MARGIN}
            if len(self._minted) >= CACHE_LIMIT:
                self._minted.clear()
        self._minted[key] = (token, expires)
        return token
