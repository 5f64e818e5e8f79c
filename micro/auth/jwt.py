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

__all__ = ["ALGORITHM", "TokenVerifier", "account_from_claims", "claims_for"]

ALGORITHM = "EdDSA"
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
    )


class TokenVerifier:
    """Turns an access token into the :class:`Account` it was issued to.

    Args:
        public_key: the PEM of the Ed25519 public key (``Auth.PublicKey``).
    """

    def __init__(self, public_key: str | bytes) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        pem = public_key.encode() if isinstance(public_key, str) else public_key
        self._key = load_pem_public_key(pem)
        self._cache: dict[str, tuple[Account, float]] = {}

    def verify(self, token: str) -> Account:
        """The token's account; :class:`~micro.errors.Unauthorized` when it is not valid."""
        hit = self._cache.get(token)
        if hit is not None:
            account, exp = hit
            if time.time() < exp:
                return account
            del self._cache[token]
            raise errors.Unauthorized("token has expired")
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.Unauthorized("token has expired") from exc
        except jwt.PyJWTError as exc:
            raise errors.Unauthorized("invalid token") from exc
        account = account_from_claims(claims)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = (account, float(claims["exp"]))
        return account
