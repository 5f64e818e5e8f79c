"""Verify access tokens locally with the auth service's public key (EdDSA / Ed25519).

Only ``EdDSA`` is accepted: ``alg: none``, HMAC tricks and tokens signed with any other key
fail. Verified tokens are cached until they expire, so the check costs a dict lookup on the
hot path.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from micro import errors
from micro.auth import Account

__all__ = ["ALGORITHM", "ANY_AUDIENCE", "TokenVerifier", "account_from_claims", "claims_for"]

ALGORITHM = "EdDSA"
ANY_AUDIENCE = "*"  # check(audience=ANY_AUDIENCE): tokens of every audience (Auth.Inspect)
_CACHE_LIMIT = 4096


def claims_for(account: Account, *, now: int, ttl: int) -> dict[str, Any]:
    """The claims of an access token for ``account``."""
    return {
        "sub": account.id,
        "iss": account.issuer,
        "iat": now,
        "exp": now + ttl,
        "type": account.type,
        "scopes": list(account.scopes),
        "name": account.name,
        "metadata": dict(account.metadata),
        "service": account.service,
    }


def account_from_claims(claims: dict[str, Any]) -> Account:
    scopes = claims.get("scopes") or []
    metadata = claims.get("metadata") or {}
    return Account(
        id=str(claims["sub"]),
        type=str(claims.get("type", "user")),
        issuer=str(claims["iss"]),
        name=str(claims.get("name", "")),
        scopes=[str(s) for s in scopes] if isinstance(scopes, list) else [],
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        service=str(claims.get("service") or ""),
    )


class TokenVerifier:
    """Turns an access token into the :class:`Account` it was issued to.

    A token with an audience (``aud``: minted by the proxy for one hop) is valid only where
    that audience is expected; ordinary access tokens carry none.

    Args:
        public_key: the PEM of the Ed25519 public key (``Auth.PublicKey``).
    """

    def __init__(self, public_key: str | bytes) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        pem = public_key.encode() if isinstance(public_key, str) else public_key
        self._key = load_pem_public_key(pem)
        # token → (account, issued at, expires, audience)
        self._cache: dict[str, tuple[Account, float, float, str | None]] = {}

    def verify(self, token: str, *, audience: str | None = None) -> Account:
        """The token's account; :class:`~micro.errors.Unauthorized` when it is not valid
        (``audience``: the one audience accepted besides none)."""
        return self.check(token, audience=audience)[0]

    def check(self, token: str, *, audience: str | None = None) -> tuple[Account, float, float]:
        """(account, issued at, expires) of a valid token; see :meth:`verify`."""
        hit = self._cache.get(token)
        if hit is None:
            hit = self._decode(token)
        account, issued, exp, aud = hit
        if time.time() >= exp:
            self._cache.pop(token, None)
            raise errors.Unauthorized("token has expired")
        if aud is not None and aud != audience and audience != ANY_AUDIENCE:
            raise errors.Unauthorized("invalid token: it was issued for another service")
        return account, issued, exp

    def _decode(self, token: str) -> tuple[Account, float, float, str | None]:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.Unauthorized("token has expired") from exc
        except jwt.PyJWTError as exc:
            raise errors.Unauthorized("invalid token") from exc
        aud = claims.get("aud")
        if aud is not None and not isinstance(aud, str):
            raise errors.Unauthorized("invalid token")
        hit = (account_from_claims(claims), _issued_at(claims), float(claims["exp"]), aud)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = hit
        return hit


def _issued_at(claims: dict[str, Any]) -> float:
    """When a token was issued, as precisely as it says (``iat_ms`` when present)."""
    ms = claims.get("iat_ms")
    if isinstance(ms, int):
        return ms / 1000.0
    iat = claims.get("iat")
    return float(iat) if isinstance(iat, int | float) else 0.0
