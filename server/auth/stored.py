"""The auth service's backend, kept in the store.

Layout: database ``_auth`` (never a namespace: namespace names cannot start with ``_``, and
the store handler refuses ``_`` databases to callers), one table per kind:

- ``accounts``   key ``<namespace>/<id>``: the account with ``salt`` and scrypt ``hash``
- ``rules``      key ``<namespace>/<id>``
- ``namespaces`` key ``<namespace>``: ``{"created": …}`` — a namespace with a record has its
  ``default`` rule persisted once (deleting it afterwards really locks the namespace down);
  a namespace without one behaves as if it held only the ``default`` rule
- ``refresh``    key ``sha256(refresh token)``: ``{"namespace", "account"}``, expiring with
  the token; rotated on use

Secrets: ``hashlib.scrypt`` with a per-account salt, compared in constant time, computed off
the event loop. Rules are cached per namespace and invalidated on every change.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from micro import errors
from micro.auth import (
    ADMIN_SCOPE,
    DEFAULT_NAMESPACE,
    DEFAULT_RULE,
    NAMESPACE_RE,
    Access,
    Account,
    Auth,
    Namespace,
    Resource,
    Rule,
    Token,
    check_namespace,
)
from micro.auth.jwt import ANY_AUDIENCE
from micro.store import Record, Store
from server.auth.keys import SigningKey

__all__ = ["DATABASE", "StoredAuth", "check_namespace"]

log = logging.getLogger(__name__)

DATABASE = "_auth"
RULE_CACHE_SECONDS = 5.0


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def _env_seconds(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        log.warning("ignoring %s=%r: not a whole number of seconds", name, raw)
        return default
    return value if value > 0 else default


def _rule_to_json(rule: Rule) -> str:
    res = rule.resource
    return json.dumps(
        {
            "id": rule.id,
            "scope": rule.scope,
            "resource": [res.type, res.name, res.endpoint],
            "access": rule.access.value,
            "priority": rule.priority,
        }
    )


def _rule_from_json(raw: bytes) -> Rule:
    data = json.loads(raw)
    return Rule(
        data["id"], data["scope"], Resource(*data["resource"]), Access(data["access"]), int(data["priority"])
    )


class StoredAuth(Auth):
    """Accounts, rules, namespaces and refresh tokens in ``store``; tokens signed with the
    key in ``data_dir``.

    Args:
        busy: says whether services run in a namespace (deleting it is then refused).
    """

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        *,
        disable_admin: bool | None = None,
        busy: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.key = SigningKey.load(data_dir)
        self.token_ttl = _env_seconds("MICRO_AUTH_TOKEN_TTL", 900)
        self.refresh_ttl = _env_seconds("MICRO_AUTH_REFRESH_TTL", 30 * 24 * 3600)
        if disable_admin is None:
            disable_admin = os.environ.get("MICRO_AUTH_DISABLE_ADMIN", "").lower() in ("1", "true", "yes")
        self.disable_admin = disable_admin
        self._busy = busy
        self._rules: dict[str, tuple[list[Rule] | None, float]] = {}
        self._lock = asyncio.Lock()

    # -- helpers ---------------------------------------------------------------------------

    async def _get(self, table: str, key: str) -> dict[str, Any] | None:
        try:
            records = await self.store.read(key, database=DATABASE, table=table)
        except errors.NotFound:
            return None
        data = json.loads(records[0].value)
        return data if isinstance(data, dict) else None

    async def _put(self, table: str, key: str, data: dict[str, Any], *, ttl: float | None = None) -> None:
        await self.store.write(Record(key, json.dumps(data).encode(), ttl), database=DATABASE, table=table)

    async def _scan(self, table: str, prefix: str) -> builtins.list[Record]:
        return await self.store.read(prefix, database=DATABASE, table=table, prefix=True)

    async def _stored_accounts(self, namespace: str) -> builtins.list[dict[str, Any]]:
        return [json.loads(r.value) for r in await self._scan("accounts", f"{namespace}/")]

    async def _ensure_namespace(self, namespace: str) -> None:
        """Record the namespace and persist its ``default`` rule, once."""
        check_namespace(namespace)
        if await self._get("namespaces", namespace) is not None:
            return
        await self._put("rules", f"{namespace}/{DEFAULT_RULE.id}", json.loads(_rule_to_json(DEFAULT_RULE)))
        await self._put("namespaces", namespace, {"created": int(time.time())})
        self._rules.pop(namespace, None)
        log.info("created namespace %s", namespace)

    async def start(self) -> None:
        """Record ``micro`` and create the default admin when it has no user account."""
        await self._ensure_namespace(DEFAULT_NAMESPACE)
        if self.disable_admin:
            return
        stored = await self._stored_accounts(DEFAULT_NAMESPACE)
        if not any(a.get("type") == "user" for a in stored):
            await self.generate("admin", secret="micro", scopes=[ADMIN_SCOPE], namespace=DEFAULT_NAMESPACE)
            log.info("created the default admin account in namespace micro")

    @staticmethod
    def _account(data: dict[str, Any]) -> Account:
        return Account(
            id=data["id"],
            type=data.get("type", "user"),
            issuer=data["issuer"],
            name=data.get("name", ""),
            scopes=list(data.get("scopes", [])),
            metadata=dict(data.get("metadata", {})),
            service=data.get("service", ""),
        )

    async def _find(self, namespace: str, id_or_name: str) -> dict[str, Any] | None:
        found = await self._get("accounts", f"{namespace}/{id_or_name}")
        if found is not None:
            return found
        for data in await self._stored_accounts(namespace):
            if data.get("name") == id_or_name:
                return data
        return None

    async def _issue(self, account: Account, ttl: int) -> Token:
        access, created, expiry = self.key.sign(account, ttl=ttl)
        refresh = secrets.token_urlsafe(32)
        await self._put(
            "refresh",
            hashlib.sha256(refresh.encode()).hexdigest(),
            {"namespace": account.issuer, "account": account.id},
            ttl=self.refresh_ttl,
        )
        return Token(access, refresh, created, expiry)

    # -- accounts and tokens ---------------------------------------------------------------

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
        namespace = namespace or DEFAULT_NAMESPACE
        check_namespace(namespace)
        if not id or "/" in id:
            raise errors.BadRequest("an account needs an id without '/'")
        if type not in ("user", "service"):
            raise errors.BadRequest(f"invalid account type {type!r}: user or service")
        if service and type != "service":
            raise errors.BadRequest("only a service account can be bound to a service")
        secret = secret or secrets.token_urlsafe(24)
        salt = os.urandom(16)
        digest = await asyncio.to_thread(_hash, secret, salt)
        async with self._lock:
            await self._ensure_namespace(namespace)
            stored = await self._stored_accounts(namespace)
            for other in stored:
                if other["id"] == id or (other.get("name") and other["name"] == id):
                    raise errors.Conflict(f"account {id} already exists")
                if name and (other.get("name") == name or other["id"] == name):
                    raise errors.Conflict(f"an account named {name} already exists")
            account = Account(
                id, type, namespace, name, list(scopes or []), dict(metadata or {}), service=service
            )
            data = {
                "id": id,
                "type": type,
                "issuer": namespace,
                "name": name,
                "scopes": account.scopes,
                "metadata": account.metadata,
                "service": service,
                "salt": salt.hex(),
                "hash": digest.hex(),
                "created": int(time.time()),
            }
            await self._put("accounts", f"{namespace}/{id}", data)
        account.secret = secret
        return account

    async def token(
        self,
        *,
        id: str = "",
        secret: str = "",
        refresh_token: str = "",
        expiry: int = 0,
        namespace: str = "",
    ) -> Token:
        ttl = expiry if 0 < expiry <= self.token_ttl else self.token_ttl
        if refresh_token:
            key = hashlib.sha256(refresh_token.encode()).hexdigest()
            found = await self._get("refresh", key)
            data = (
                None
                if found is None
                else await self._get("accounts", f"{found['namespace']}/{found['account']}")
            )
            await self.store.delete(key, database=DATABASE, table="refresh")  # rotated: one use only
            if data is None:
                raise errors.Unauthorized("invalid refresh token")
            return await self._issue(self._account(data), ttl)
        namespace = namespace or DEFAULT_NAMESPACE
        data = await self._find(namespace, id) if id and NAMESPACE_RE.match(namespace) else None
        if data is None:
            await asyncio.to_thread(_hash, secret, b"0" * 16)  # same cost whether or not it exists
            raise errors.Unauthorized("invalid credentials")
        digest = await asyncio.to_thread(_hash, secret, bytes.fromhex(data["salt"]))
        if not hmac.compare_digest(digest, bytes.fromhex(data["hash"])):
            raise errors.Unauthorized("invalid credentials")
        return await self._issue(self._account(data), ttl)

    async def inspect(self, token: str) -> Account:
        # a service asks whether a call token minted for it still holds: any audience
        return self.key.verifier.verify(token, audience=ANY_AUDIENCE)

    async def public_key(self) -> str:
        return self.key.public_pem

    async def valid_after(self, namespace: str, account_id: str) -> float | None:
        if await self._get("namespaces", namespace) is None:
            return None
        return 0.0

    async def accounts(self, *, namespace: str = "") -> builtins.list[Account]:
        stored = await self._stored_accounts(namespace or DEFAULT_NAMESPACE)
        return sorted((self._account(d) for d in stored), key=lambda a: a.id)

    async def delete_account(self, id: str, *, namespace: str = "") -> None:
        namespace = namespace or DEFAULT_NAMESPACE
        if await self._get("accounts", f"{namespace}/{id}") is None:
            raise errors.NotFound(f"account {id} not found")
        await self.store.delete(f"{namespace}/{id}", database=DATABASE, table="accounts")

    async def change_secret(self, id: str, old: str | None, new: str, *, namespace: str = "") -> None:
        """Change ``id``'s secret; ``old`` must match unless it is None (an admin's reset)."""
        namespace = namespace or DEFAULT_NAMESPACE
        if not new:
            raise errors.BadRequest("the new secret must not be empty")
        data = await self._get("accounts", f"{namespace}/{id}")
        if data is None:
            raise errors.NotFound(f"account {id} not found")
        if old is not None:
            digest = await asyncio.to_thread(_hash, old, bytes.fromhex(data["salt"]))
            if not hmac.compare_digest(digest, bytes.fromhex(data["hash"])):
                raise errors.BadRequest("the old secret is not correct")
        salt = os.urandom(16)
        data["salt"] = salt.hex()
        data["hash"] = (await asyncio.to_thread(_hash, new, salt)).hex()
        await self._put("accounts", f"{namespace}/{id}", data)

    # -- rules -----------------------------------------------------------------------------

    async def rules(self, *, namespace: str = "") -> builtins.list[Rule]:
        """The rules of ``namespace`` (cached briefly).

        Raises:
            NotFound: the namespace does not exist (it is never "public").
        """
        namespace = namespace or DEFAULT_NAMESPACE
        hit = self._rules.get(namespace)
        now = time.monotonic()
        if hit is not None and now - hit[1] < RULE_CACHE_SECONDS:
            if hit[0] is None:
                raise errors.NotFound(f"namespace {namespace} not found")
            return hit[0]
        found: builtins.list[Rule] | None = None
        if await self._get("namespaces", namespace) is not None:
            found = [_rule_from_json(r.value) for r in await self._scan("rules", f"{namespace}/")]
        if len(self._rules) > 1024:
            self._rules.clear()
        self._rules[namespace] = (found, now)
        if found is None:
            raise errors.NotFound(f"namespace {namespace} not found")
        return found

    async def create_rule(self, rule: Rule, *, namespace: str = "") -> None:
        namespace = namespace or DEFAULT_NAMESPACE
        if not rule.id or "/" in rule.id:
            raise errors.BadRequest("a rule needs an id without '/'")
        async with self._lock:
            await self._ensure_namespace(namespace)
            if await self._get("rules", f"{namespace}/{rule.id}") is not None:
                raise errors.Conflict(f"rule {rule.id} already exists")
            await self._put("rules", f"{namespace}/{rule.id}", json.loads(_rule_to_json(rule)))
            self._rules.pop(namespace, None)

    async def delete_rule(self, id: str, *, namespace: str = "") -> None:
        namespace = namespace or DEFAULT_NAMESPACE
        async with self._lock:
            await self._ensure_namespace(namespace)
            await self.store.delete(f"{namespace}/{id}", database=DATABASE, table="rules")
            self._rules.pop(namespace, None)

    # -- namespaces ------------------------------------------------------------------------

    async def namespaces(self) -> builtins.list[Namespace]:
        records = await self._scan("namespaces", "")
        return [Namespace(r.key, int(json.loads(r.value).get("created", 0))) for r in records]

    async def create_namespace(self, name: str) -> None:
        check_namespace(name)
        async with self._lock:
            if await self._get("namespaces", name) is not None:
                raise errors.Conflict(f"namespace {name} already exists")
            await self._ensure_namespace(name)

    async def delete_namespace(self, name: str) -> None:
        """Remove the namespace's store database (config included), accounts, rules and
        refresh tokens. ``micro`` cannot be deleted, nor a namespace where services run."""
        check_namespace(name)
        if name == DEFAULT_NAMESPACE:
            raise errors.BadRequest("the micro namespace cannot be deleted")
        if await self._get("namespaces", name) is None:
            raise errors.NotFound(f"namespace {name} not found")
        if self._busy is not None and await self._busy(name):
            raise errors.Conflict(f"namespace {name} has running services; stop them first")
        async with self._lock:
            for table in await self.store.tables(name):
                for key in await self.store.list(database=name, table=table):
                    await self.store.delete(key, database=name, table=table)
            for table in ("accounts", "rules"):
                for key in await self.store.list(database=DATABASE, table=table, prefix=f"{name}/"):
                    await self.store.delete(key, database=DATABASE, table=table)
            for record in await self._scan("refresh", ""):
                if json.loads(record.value).get("namespace") == name:
                    await self.store.delete(record.key, database=DATABASE, table="refresh")
            await self.store.delete(name, database=DATABASE, table="namespaces")
            self._rules.pop(name, None)
        log.info("deleted namespace %s", name)
