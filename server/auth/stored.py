"""The auth service's backend, kept in the store.

Layout: database ``_auth`` (never a namespace: namespace names cannot start with ``_``, and
the store handler refuses ``_`` databases to callers), one table per kind:

- ``accounts``   key ``<namespace>/<id>``: the account with ``salt`` and scrypt ``hash``
- ``rules``      key ``<namespace>/<id>``
- ``namespaces`` key ``<namespace>``: ``{"created": …}`` — a namespace with a record has its
  ``default`` rule persisted once (deleting it afterwards really locks the namespace down);
  a namespace without one behaves as if it held only the ``default`` rule
- ``sessions``   key ``<namespace>/<id>/<session>``: one per login, ``{"generation"}`` (the
  account's, so a re-created account id never inherits a session), expiring with its
  newest refresh token. Ending a session (logout, password change, deletion, reuse) deletes
  it, which kills every refresh token of its chain at once
- ``refresh``    key ``sha256(refresh token)``: ``{"session", "used"}``, expiring with the
  token. Rotated on use: the old one stays, marked used; presenting a used one again means
  it was stolen (or the legitimate copy was), so its whole session ends (reuse detection)
- ``revoked``    key ``ns:<namespace>`` or ``account:<namespace>/<id>``: ``{"after_ms"}``,
  the millisecond from which access tokens of the namespace / account are good again
  (written on namespace deletion, account deletion, password change; see
  :func:`micro.auth.revoked`)
- ``throttle``   failed logins (:mod:`server.auth.throttle`)
- ``meta``       ``default-admin``: the default admin was created once (never again)

Secrets: ``hashlib.scrypt`` with a per-account salt (a salted SHA-256 for secrets the server
generated, see :data:`GENERATED`), compared in constant time, computed off
the event loop. Rules are cached per namespace and revocation records per account, briefly,
and invalidated on every local change. A deleted namespace stays deleted: only
:meth:`StoredAuth.create_namespace` or creating an account there (a ``micro`` admin) brings
it back, empty, and its old tokens stay dead.
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

from micro import errors, settings
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
from server.auth.throttle import LoginThrottle

__all__ = ["DATABASE", "DEFAULT_ADMIN", "DEFAULT_SECRET", "StoredAuth", "check_namespace"]

log = logging.getLogger(__name__)

DATABASE = "_auth"
RULE_CACHE_SECONDS = 5.0
VALID_AFTER_CACHE_SECONDS = 1.0  # how stale a revocation may look to this process
CACHE_LIMIT = 4096
DEFAULT_ADMIN = "admin"
DEFAULT_SECRET = "micro"
# revocation records outlive every access token issued before them (lifetimes are at most
# MICRO_AUTH_TOKEN_TTL; a day covers any sane setting)
REVOCATION_TTL = 24 * 3600.0


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


GENERATED = "sha256"
"""The ``kdf`` of an account whose secret the server generated (192 random bits): a slow
hash guards secrets people choose against guessing; one nobody chose cannot be guessed, so
a plain salted SHA-256 serves, and the runtime's per-run service accounts cost no ~50 ms
of scrypt each. Every secret a person sets (generate with a secret, change secret) is scrypt."""


def _fast_hash(secret: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


async def _digest(secret: str, data: dict[str, Any] | None) -> bytes:
    """``secret`` hashed the way ``data``'s was (scrypt off the loop, for no account too:
    a login for one that does not exist takes the same steps)."""
    if data is not None and data.get("kdf") == GENERATED:
        return _fast_hash(secret, bytes.fromhex(data["salt"]))
    salt = bytes.fromhex(data["salt"]) if data is not None else b"0" * 16
    return await asyncio.to_thread(_hash, secret, salt)


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
    """Accounts, rules, namespaces and sessions in ``store``; tokens signed with the key in
    ``data_dir``.

    Args:
        busy: says whether services run in a namespace (deleting it is then refused).
        deleted: called with a namespace once it is deleted, to drop what other services
            keep for it (the broker's subscriptions, the events' topics).
        clock: unix seconds (``time.time``); tests inject one to step through the login
            throttle and revocations without sleeping.
    """

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        *,
        disable_admin: bool | None = None,
        busy: Callable[[str], Awaitable[bool]] | None = None,
        deleted: Callable[[str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.key = SigningKey.load(data_dir)
        told = settings.auth()
        self.token_ttl = told.token_ttl
        self.refresh_ttl = told.refresh_ttl
        self.disable_admin = told.disable_admin if disable_admin is None else disable_admin
        self.clock = clock
        self.throttle = LoginThrottle(store, clock, database=DATABASE)
        self._busy = busy
        self._deleted = deleted
        self._rules: dict[str, tuple[list[Rule] | None, float]] = {}
        self._valid_after: dict[tuple[str, str], tuple[float | None, float]] = {}
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

    async def _delete(self, table: str, key: str) -> None:
        await self.store.delete(key, database=DATABASE, table=table)

    async def _scan(self, table: str, prefix: str) -> builtins.list[Record]:
        return await self.store.read(prefix, database=DATABASE, table=table, prefix=True)

    async def _stored_accounts(self, namespace: str) -> builtins.list[dict[str, Any]]:
        return [json.loads(r.value) for r in await self._scan("accounts", f"{namespace}/")]

    async def _exists(self, namespace: str) -> bool:
        return await self._get("namespaces", namespace) is not None

    async def _require_namespace(self, namespace: str) -> None:
        if not await self._exists(namespace):
            raise errors.NotFound(f"namespace {namespace} not found")

    async def _ensure_namespace(self, namespace: str) -> None:
        """Record the namespace and persist its ``default`` rule, once."""
        check_namespace(namespace)
        if await self._exists(namespace):
            return
        await self._put("rules", f"{namespace}/{DEFAULT_RULE.id}", json.loads(_rule_to_json(DEFAULT_RULE)))
        await self._put("namespaces", namespace, {"created": int(self.clock())})
        self._rules.pop(namespace, None)
        self._forget_valid_after(namespace)
        log.info("created namespace %s", namespace)

    async def start(self) -> None:
        """Record ``micro`` and, on the first start of a new server, create the default admin
        (recorded, so it is never created again, even after it was deleted)."""
        await self._ensure_namespace(DEFAULT_NAMESPACE)
        if self.disable_admin or await self._get("meta", "default-admin") is not None:
            return
        stored = await self._stored_accounts(DEFAULT_NAMESPACE)
        if not any(a.get("type") == "user" for a in stored):  # else: a server from before the record
            await self.generate(
                DEFAULT_ADMIN, secret=DEFAULT_SECRET, scopes=[ADMIN_SCOPE], namespace=DEFAULT_NAMESPACE
            )
            log.info("created the default admin account in namespace micro")
        await self._put("meta", "default-admin", {"created": int(self.clock())})

    async def default_password(self) -> bool:
        """Whether ``admin`` of ``micro`` still has the default password (``micro``)."""
        data = await self._get("accounts", f"{DEFAULT_NAMESPACE}/{DEFAULT_ADMIN}")
        if data is None:
            return False
        digest = await _digest(DEFAULT_SECRET, data)
        return hmac.compare_digest(digest, bytes.fromhex(data["hash"]))

    @staticmethod
    def _account(data: dict[str, Any]) -> Account:
        return Account(
            id=data["id"],
            type=data.get("type", "user"),
            issuer=data["issuer"],
            name=data.get("name", ""),
            scopes=list(data.get("scopes", [])),
            metadata=dict(data.get("metadata", {})),
            service=str(data.get("service", "")),
        )

    async def _find(self, namespace: str, id_or_name: str) -> dict[str, Any] | None:
        found = await self._get("accounts", f"{namespace}/{id_or_name}")
        if found is not None:
            return found
        for data in await self._stored_accounts(namespace):
            if data.get("name") == id_or_name:
                return data
        return None

    # -- sessions and revocation records ---------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _revoke_tokens(self, namespace: str, id: str = "") -> None:
        """Access tokens of the account (``id``) or namespace issued until now are dead.

        The record is the millisecond after the latest of now and every record a token of
        it may have been dated by (tokens are never dated before them, see :meth:`_issue`):
        a token issued in this very millisecond, or right after an earlier revocation in it,
        is dead too, and a login after this one is dated at the record itself.
        """
        latest = max(self._now_ms(), await self._after_ms(namespace, id))
        if not id:  # the accounts' own records count as well
            for record in await self._scan("revoked", f"account:{namespace}/"):
                latest = max(latest, int(json.loads(record.value).get("after_ms", 0)))
        key = f"account:{namespace}/{id}" if id else f"ns:{namespace}"
        await self._put("revoked", key, {"after_ms": latest + 1}, ttl=REVOCATION_TTL + self.token_ttl)
        self._forget_valid_after(namespace, id)

    async def _after_ms(self, namespace: str, id: str) -> int:
        records = [await self._get("revoked", f"ns:{namespace}")]
        if id:
            records.append(await self._get("revoked", f"account:{namespace}/{id}"))
        return max((int(r.get("after_ms", 0)) for r in records if r is not None), default=0)

    def _forget_valid_after(self, namespace: str, id: str = "") -> None:
        if id:
            self._valid_after.pop((namespace, id), None)
            return
        for key in [k for k in self._valid_after if k[0] == namespace]:
            del self._valid_after[key]

    async def valid_after(self, namespace: str, account_id: str) -> float | None:
        namespace = namespace or DEFAULT_NAMESPACE
        now = self.clock()
        hit = self._valid_after.get((namespace, account_id))
        if hit is not None and 0 <= now - hit[1] < VALID_AFTER_CACHE_SECONDS:
            return hit[0]
        found: float | None = None
        if NAMESPACE_RE.match(namespace) and await self._exists(namespace):
            found = await self._after_ms(namespace, account_id) / 1000
        if len(self._valid_after) >= CACHE_LIMIT:
            self._valid_after.clear()
        self._valid_after[(namespace, account_id)] = (found, now)
        return found

    async def _end_sessions(self, prefix: str) -> None:
        """Delete the sessions under ``<namespace>/`` or ``<namespace>/<id>/``: every refresh
        token of them stops working."""
        for key in await self.store.list(database=DATABASE, table="sessions", prefix=prefix):
            await self._delete("sessions", key)

    async def _issue(self, data: dict[str, Any], ttl: int, session: str = "") -> Token:
        """A token pair for the stored account ``data``, in ``session`` (a new one when
        empty). The access token is never dated before the account's revocation records."""
        account = self._account(data)
        floor = await self._after_ms(account.issuer, account.id)
        access, created, expiry = self.key.sign(account, ttl=ttl, now=self.clock(), issued_ms=floor)
        if not session:
            session = f"{account.issuer}/{account.id}/{secrets.token_hex(12)}"
        await self._put("sessions", session, {"generation": data.get("generation", "")}, ttl=self.refresh_ttl)
        refresh = secrets.token_urlsafe(32)
        await self._put(
            "refresh",
            hashlib.sha256(refresh.encode()).hexdigest(),
            {"session": session, "used": False},
            ttl=self.refresh_ttl,
        )
        return Token(access, refresh, created, expiry)

    async def _rotate(self, refresh_token: str, ttl: int) -> Token:
        """A new pair for a refresh token, which is used up; a used one ends its session."""
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        async with self._lock:  # one rotation at a time: a token is used once
            found = await self._get("refresh", key)
            if found is None:
                raise errors.Unauthorized("invalid refresh token")
            session = found.get("session")
            if not isinstance(session, str):  # stored before sessions existed: a session of its own
                session = f"{found.get('namespace')}/{found.get('account')}/{secrets.token_hex(12)}"
                account = await self._get("accounts", f"{found.get('namespace')}/{found.get('account')}")
                if account is not None:
                    generation = {"generation": account.get("generation", "")}
                    await self._put("sessions", session, generation, ttl=self.refresh_ttl)
            namespace, id, _ = session.split("/", 2)
            if found.get("used"):
                await self._delete("sessions", session)
                log.warning("a used refresh token of %s/%s came back: ended its session", namespace, id)
                raise errors.Unauthorized("invalid refresh token")
            state = await self._get("sessions", session)
            data = await self._get("accounts", f"{namespace}/{id}")
            if state is None or data is None or state.get("generation", "") != data.get("generation", ""):
                raise errors.Unauthorized("invalid refresh token")
            await self._put("refresh", key, {"session": session, "used": True}, ttl=self.refresh_ttl)
            return await self._issue(data, ttl, session)

    async def revoke(self, refresh_token: str) -> None:
        if not refresh_token:
            return
        found = await self._get("refresh", hashlib.sha256(refresh_token.encode()).hexdigest())
        session = found.get("session") if found is not None else None
        if isinstance(session, str):
            await self._delete("sessions", session)

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
        chosen = bool(secret)
        secret = secret or secrets.token_urlsafe(24)
        salt = os.urandom(16)
        digest = await asyncio.to_thread(_hash, secret, salt) if chosen else _fast_hash(secret, salt)
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
                **({} if chosen else {"kdf": GENERATED}),
                "created": int(self.clock()),
                "generation": secrets.token_hex(8),  # sessions of an earlier account of this id are not its
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
        client: str = "",
    ) -> Token:
        ttl = expiry if 0 < expiry <= self.token_ttl else self.token_ttl
        if refresh_token:
            return await self._rotate(refresh_token, ttl)
        namespace = namespace or DEFAULT_NAMESPACE
        # the same steps whether or not the account (or namespace) exists: nothing tells
        await self.throttle.check(namespace, id, client)
        data = await self._find(namespace, id) if id and NAMESPACE_RE.match(namespace) else None
        digest = await _digest(secret, data)
        if data is None or not hmac.compare_digest(digest, bytes.fromhex(data["hash"])):
            await self.throttle.failed(namespace, id, client)
            raise errors.Unauthorized("invalid credentials")
        await self.throttle.succeeded(namespace, id, client)
        # the secret may have changed (or the account gone) while it was being hashed
        current = await self._get("accounts", f"{namespace}/{data['id']}")
        if current is None or current.get("hash") != data["hash"]:
            raise errors.Unauthorized("invalid credentials")
        return await self._issue(current, ttl)

    async def inspect(self, token: str) -> Account:
        # a service asks whether a call token minted for it still holds: any audience
        account, issued, expires = self.key.verifier.check(token, audience=ANY_AUDIENCE)
        if expires <= self.clock():
            raise errors.Unauthorized("token has expired")
        after = await self.valid_after(account.issuer, account.id)
        if after is None or issued < after:
            raise errors.Unauthorized("token has been revoked")
        return account

    async def public_key(self) -> str:
        return self.key.public_pem

    async def accounts(self, *, namespace: str = "") -> builtins.list[Account]:
        stored = await self._stored_accounts(namespace or DEFAULT_NAMESPACE)
        return sorted((self._account(d) for d in stored), key=lambda a: a.id)

    async def delete_account(self, id: str, *, namespace: str = "") -> None:
        """Delete the account: its sessions end and its access tokens die (a later account
        of the same id inherits neither)."""
        namespace = namespace or DEFAULT_NAMESPACE
        if not id or "/" in id or await self._get("accounts", f"{namespace}/{id}") is None:
            raise errors.NotFound(f"account {id} not found")
        async with self._lock:
            await self._delete("accounts", f"{namespace}/{id}")
            await self._revoke_tokens(namespace, id)
            await self._end_sessions(f"{namespace}/{id}/")

    async def change_secret(self, id: str, old: str | None, new: str, *, namespace: str = "") -> None:
        """Change ``id``'s secret; ``old`` must match unless it is None (an admin's reset).
        Every session of the account ends and its access tokens die."""
        namespace = namespace or DEFAULT_NAMESPACE
        if not new:
            raise errors.BadRequest("the new secret must not be empty")
        if not id or "/" in id:
            raise errors.NotFound(f"account {id} not found")
        data = await self._get("accounts", f"{namespace}/{id}")
        if data is None:
            raise errors.NotFound(f"account {id} not found")
        if old is not None:
            digest = await _digest(old, data)
            if not hmac.compare_digest(digest, bytes.fromhex(data["hash"])):
                raise errors.BadRequest("the old secret is not correct")
        salt = os.urandom(16)
        data.pop("kdf", None)  # a secret someone chose: scrypt
        data["salt"] = salt.hex()
        data["hash"] = (await asyncio.to_thread(_hash, new, salt)).hex()
        async with self._lock:
            await self._put("accounts", f"{namespace}/{id}", data)
            await self._revoke_tokens(namespace, id)
            await self._end_sessions(f"{namespace}/{id}/")

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
        if await self._exists(namespace):
            found = [_rule_from_json(r.value) for r in await self._scan("rules", f"{namespace}/")]
        if len(self._rules) > CACHE_LIMIT:
            self._rules.clear()
        self._rules[namespace] = (found, now)
        if found is None:
            raise errors.NotFound(f"namespace {namespace} not found")
        return found

    async def create_rule(self, rule: Rule, *, namespace: str = "") -> None:
        """Add a rule to an existing namespace (NotFound for one that does not exist: rules
        never bring a deleted namespace back)."""
        namespace = namespace or DEFAULT_NAMESPACE
        if not rule.id or "/" in rule.id:
            raise errors.BadRequest("a rule needs an id without '/'")
        async with self._lock:
            await self._require_namespace(namespace)
            if await self._get("rules", f"{namespace}/{rule.id}") is not None:
                raise errors.Conflict(f"rule {rule.id} already exists")
            await self._put("rules", f"{namespace}/{rule.id}", json.loads(_rule_to_json(rule)))
            self._rules.pop(namespace, None)

    async def delete_rule(self, id: str, *, namespace: str = "") -> None:
        namespace = namespace or DEFAULT_NAMESPACE
        async with self._lock:
            await self._require_namespace(namespace)
            await self._delete("rules", f"{namespace}/{id}")
            self._rules.pop(namespace, None)

    # -- namespaces ------------------------------------------------------------------------

    async def namespaces(self) -> builtins.list[Namespace]:
        records = await self._scan("namespaces", "")
        return [Namespace(r.key, int(json.loads(r.value).get("created", 0))) for r in records]

    async def create_namespace(self, name: str) -> None:
        check_namespace(name)
        async with self._lock:
            if await self._exists(name):
                raise errors.Conflict(f"namespace {name} already exists")
            await self._ensure_namespace(name)

    async def delete_namespace(self, name: str) -> None:
        """Remove the namespace's store database (config included), accounts, rules and
        sessions; its access tokens die, even if it is created again. ``micro`` cannot be
        deleted, nor a namespace where services run."""
        check_namespace(name)
        if name == DEFAULT_NAMESPACE:
            raise errors.BadRequest("the micro namespace cannot be deleted")
        if not await self._exists(name):
            raise errors.NotFound(f"namespace {name} not found")
        if self._busy is not None and await self._busy(name):
            raise errors.Conflict(f"namespace {name} has running services; stop them first")
        async with self._lock:
            await self._revoke_tokens(name)  # first: from here on no token of it works
            for table in await self.store.tables(name):
                for key in await self.store.list(database=name, table=table):
                    await self.store.delete(key, database=name, table=table)
            for table in ("accounts", "rules"):
                for key in await self.store.list(database=DATABASE, table=table, prefix=f"{name}/"):
                    await self._delete(table, key)
            await self._end_sessions(f"{name}/")
            await self._delete("namespaces", name)
            self._rules.pop(name, None)
            self._forget_valid_after(name)
            if self._deleted is not None:
                await self._deleted(name)
        log.info("deleted namespace %s", name)
