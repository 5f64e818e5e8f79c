"""The auth service's Ed25519 signing key: generated on first start, kept 0600 in the
server's data folder, and the signer/verifier built from it."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from micro import errors
from micro._paths import write_private
from micro.auth import Account
from micro.auth.jwt import ALGORITHM, TokenVerifier, claims_for

__all__ = ["KEY_FILE", "SigningKey"]

log = logging.getLogger(__name__)

KEY_FILE = "auth.key"


class SigningKey:
    """Signs access tokens; ``public_pem`` lets anyone verify them."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_pem = (
            private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self.verifier = TokenVerifier(self.public_pem)

    @classmethod
    def load(cls, data_dir: Path) -> SigningKey:
        """The key in ``data_dir/auth.key``, generated on first use (0600)."""
        path = data_dir / KEY_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_private(path, pem)
            log.info("generated the auth signing key in %s", path)
            return cls(key)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        try:
            loaded = serialization.load_pem_private_key(raw, password=None)
        except ValueError as exc:
            raise errors.InternalServerError(f"cannot read the auth key {path}: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise errors.InternalServerError(f"the auth key {path} is not an Ed25519 key")
        return cls(loaded)

    def sign_claims(self, claims: dict[str, Any]) -> str:
        """A token carrying ``claims`` as they are (call tokens: see server.auth.calls)."""
        return jwt.encode(claims, self._private, algorithm=ALGORITHM)

    def sign(
        self, account: Account, *, ttl: int, now: float | None = None, issued_ms: int = 0
    ) -> tuple[str, int, int]:
        """An access token for ``account``: (token, created, expiry) in unix seconds.

        ``iat_ms`` (what revocation records are compared with, see
        :meth:`micro.auth.Auth.valid_after`) is ``now`` in milliseconds, or ``issued_ms`` when later
        (the issuer never dates a token before its account's last revocation).
        """
        moment = time.time() if now is None else now
        seconds = int(moment)
        claims = claims_for(account, now=seconds, ttl=ttl)
        claims["iat_ms"] = max(int(moment * 1000), issued_ms)
        token = jwt.encode(claims, self._private, algorithm=ALGORITHM)
        return token, seconds, seconds + ttl
