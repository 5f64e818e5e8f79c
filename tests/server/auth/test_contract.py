"""The Auth contract, over the stored backend (StoredAuth on a memory store) and the gRPC
client (GrpcAuth against an in-process auth service on the same backend): sessions that
end, revocation records, namespaces that stay deleted, the login throttle and safe
defaults. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest

from micro import errors
from micro._grpc import SERVER_OPTIONS, ErrorInterceptor
from micro.auth import Auth
from micro.auth.grpc import GrpcAuth
from micro.auth.jwt import ALGORITHM, TokenVerifier, claims_for
from micro.store.memory import MemoryStore
from server.auth import core
from server.auth import stored as stored_module
from server.auth.handler import client_address
from server.auth.stored import StoredAuth


class Clock:
    """Unix time that moves only when told (starts at the real time, so the tokens it
    dates pass PyJWT's own checks)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    auth: Auth  # the implementation under test
    stored: StoredAuth  # the backend behind it
    clock: Clock


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt is not what these tests are about (and costs ~50 ms a call)."""
    monkeypatch.setattr(
        stored_module, "_hash", lambda secret, salt: hashlib.sha256(salt + secret.encode()).digest()
    )


async def _stored(tmp_path: Path, clock: Clock) -> StoredAuth:
    auth = StoredAuth(MemoryStore(clock=clock), tmp_path / "server", clock=clock, disable_admin=False)
    await auth.start()
    return auth


@pytest.fixture(params=["stored", "grpc"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    (tmp_path / "server").mkdir()
    clock = Clock()
    stored = await _stored(tmp_path, clock)
    if request.param == "stored":
        yield Backend(stored, stored, clock)
        return
    server = grpc.aio.server(interceptors=[ErrorInterceptor()], options=SERVER_OPTIONS)
    for add in core(stored).add:
        add(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = GrpcAuth(f"127.0.0.1:{port}")
    try:
        yield Backend(client, stored, clock)
    finally:
        await client.close()
        await server.stop(0)


async def refused(call: Any, detail: str = "invalid refresh token") -> None:
    with pytest.raises(errors.Unauthorized) as caught:
        await call
    assert caught.value.detail == detail


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# -- sessions ---------------------------------------------------------------------------------


async def test_refresh_rotates_and_a_reused_token_ends_its_whole_session(backend: Backend) -> None:
    auth = backend.auth
    await auth.generate("alice", secret="pw")
    first = await auth.token(id="alice", secret="pw")
    other = await auth.token(id="alice", secret="pw")  # another login: another session
    second = await auth.token(refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    third = await auth.token(refresh_token=second.refresh_token)
    # the stolen first token comes back: its whole chain ends, the legit holder's next refresh is 401
    await refused(auth.token(refresh_token=first.refresh_token))
    await refused(auth.token(refresh_token=third.refresh_token))
    await refused(auth.token(refresh_token=second.refresh_token))
    # the other session lives on
    assert (await auth.token(refresh_token=other.refresh_token)).access_token


async def test_revoke_ends_a_session_and_an_unknown_token_is_no_error(backend: Backend) -> None:
    auth = backend.auth
    await auth.generate("bob", secret="pw")
    pair = await auth.token(id="bob", secret="pw")
    rotated = await auth.token(refresh_token=pair.refresh_token)
    await auth.revoke(rotated.refresh_token)
    await refused(auth.token(refresh_token=rotated.refresh_token))
    await auth.revoke(rotated.refresh_token)  # again
    await auth.revoke("not-a-token")
    await auth.revoke("")


async def test_a_password_change_ends_every_session_and_a_login_in_the_same_millisecond_works(
    backend: Backend,
) -> None:
    auth = backend.auth
    await auth.generate("carol", secret="old")
    sessions = [await auth.token(id="carol", secret="old") for _ in range(2)]
    assert (await auth.inspect(sessions[0].access_token)).id == "carol"
    await auth.change_secret("carol", "old", "new")  # the clock does not move: same millisecond
    for pair in sessions:
        await refused(auth.token(refresh_token=pair.refresh_token))
        await refused(auth.inspect(pair.access_token), "token has been revoked")
    fresh = await auth.token(id="carol", secret="new")
    assert (await auth.inspect(fresh.access_token)).id == "carol"
    # the record a call boundary compares with (iat_ms / 1000 < valid_after: dead)
    after = await backend.stored.valid_after("micro", "carol")
    assert after is not None
    assert claims(sessions[0].access_token)["iat_ms"] / 1000 < after
    assert claims(fresh.access_token)["iat_ms"] / 1000 >= after
    # an admin's reset (no old secret) does the same
    await auth.change_secret("carol", None, "reset")
    await refused(auth.token(refresh_token=fresh.refresh_token))
    await refused(auth.inspect(fresh.access_token), "token has been revoked")


async def test_a_deleted_account_dies_and_a_recreated_one_inherits_nothing(backend: Backend) -> None:
    auth = backend.auth
    await auth.generate("dave", secret="pw", scopes=["admin"])
    old = await auth.token(id="dave", secret="pw")
    assert await backend.stored.valid_after("micro", "dave") == 0
    await auth.delete_account("dave")
    await refused(auth.inspect(old.access_token), "token has been revoked")
    await auth.generate("dave", secret="pw")  # the same id again, no scopes
    await refused(auth.token(refresh_token=old.refresh_token))
    await refused(auth.inspect(old.access_token), "token has been revoked")
    new = await auth.token(id="dave", secret="pw")
    account = await auth.inspect(new.access_token)
    assert account.id == "dave" and account.scopes == []


async def test_a_session_stored_in_the_store_dies_with_a_recreated_account(backend: Backend) -> None:
    """Even a session the deletion missed (a server sharing the store wrote it meanwhile)
    does not carry over: sessions carry the account's generation."""
    auth, stored = backend.auth, backend.stored
    await auth.generate("erin", secret="pw")
    pair = await auth.token(id="erin", secret="pw")
    saved = await stored.store.read("micro/erin/", database="_auth", table="sessions", prefix=True)
    await auth.delete_account("erin")
    await auth.generate("erin", secret="pw")
    for record in saved:
        await stored.store.write(record, database="_auth", table="sessions")
    await refused(auth.token(refresh_token=pair.refresh_token))


async def test_a_deleted_namespace_stays_deleted_and_comes_back_empty(backend: Backend) -> None:
    from micro.auth import DEFAULT_RULE, Access, Resource, Rule

    auth = backend.auth
    await auth.generate("boss", secret="pw", scopes=["admin"], namespace="team")
    await auth.create_rule(Rule("mine", "*", Resource("*", "*", "*"), Access.GRANTED), namespace="team")
    old = await auth.token(id="boss", secret="pw", namespace="team")
    assert await backend.stored.valid_after("team", "boss") == 0
    await auth.delete_namespace("team")
    assert await backend.stored.valid_after("team", "boss") is None
    assert await backend.stored.valid_after("never-made", "") is None
    await refused(auth.inspect(old.access_token), "token has been revoked")
    await refused(auth.token(id="boss", secret="pw", namespace="team"), "invalid credentials")
    # no write brings it back
    with pytest.raises(errors.NotFound):
        await auth.create_rule(Rule("x", "", Resource("*", "*", "*")), namespace="team")
    with pytest.raises(errors.NotFound):
        await auth.delete_rule("mine", namespace="team")
    assert "team" not in [n.name for n in await auth.namespaces()]
    await auth.create_namespace("team")
    assert await auth.accounts(namespace="team") == []
    assert await auth.rules(namespace="team") == [DEFAULT_RULE]
    assert (await backend.stored.valid_after("team", "boss") or 0) > 0
    await refused(auth.inspect(old.access_token), "token has been revoked")
    await refused(auth.token(refresh_token=old.refresh_token))
    await auth.generate("boss", secret="pw", namespace="team")
    new = await auth.token(id="boss", secret="pw", namespace="team")
    assert (await auth.inspect(new.access_token)).issuer == "team"


async def test_revocations_reach_another_process_within_the_cache_time(
    backend: Backend, tmp_path: Path
) -> None:
    """A second backend on the same store (another server) sees a deletion once its brief
    cache of the record runs out."""
    other = StoredAuth(backend.stored.store, tmp_path / "server", clock=backend.clock, disable_admin=True)
    await backend.auth.generate("fred", secret="pw")
    pair = await backend.auth.token(id="fred", secret="pw")
    assert (await other.inspect(pair.access_token)).id == "fred"
    await backend.auth.delete_account("fred")
    backend.clock.advance(stored_module.VALID_AFTER_CACHE_SECONDS + 0.01)
    await refused(other.inspect(pair.access_token), "token has been revoked")


# -- tokens -----------------------------------------------------------------------------------


async def test_a_cached_token_expires(backend: Backend) -> None:
    auth = backend.auth
    await auth.generate("gina", secret="pw")
    pair = await auth.token(id="gina", secret="pw", expiry=60)
    assert (await auth.inspect(pair.access_token)).id == "gina"  # now cached by the verifier
    backend.clock.advance(61)
    await refused(auth.inspect(pair.access_token), "token has expired")


def test_the_verifier_cache_expires_a_token(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from micro.auth import Account
    from micro.auth import jwt as micro_jwt

    now = int(time.time())
    token = jwt.encode(
        claims_for(Account("u"), now=now, ttl=30), backend.stored.key._private, algorithm=ALGORITHM
    )
    verifier = TokenVerifier(backend.stored.key.public_pem)
    assert verifier.verify(token).id == "u"

    class Later:
        @staticmethod
        def time() -> float:
            return now + 31.0

    monkeypatch.setattr(micro_jwt, "time", Later)
    with pytest.raises(errors.Unauthorized, match="token has expired"):
        verifier.verify(token)


@pytest.mark.parametrize("change", ["no exp", "other key"])
async def test_tokens_the_service_did_not_issue_as_is_are_refused(backend: Backend, change: str) -> None:
    """Regression: a token without ``exp`` never passes Inspect, nor one signed by another key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from micro.auth import Account

    body = claims_for(Account("admin", scopes=["admin"]), now=int(time.time()), ttl=600)
    key: Any = backend.stored.key._private
    if change == "no exp":
        del body["exp"]
    else:
        key = Ed25519PrivateKey.generate()
    await refused(backend.auth.inspect(jwt.encode(body, key, algorithm=ALGORITHM)), "invalid token")


def test_a_token_with_a_foreign_audience_is_refused(backend: Backend) -> None:
    """Regression: a token minted for one service (an audience) is refused where no audience
    or another one is expected."""
    from micro.auth import Account

    body = claims_for(Account("admin", scopes=["admin"]), now=int(time.time()), ttl=600)
    body["aud"] = "micro/helloworld"
    token = jwt.encode(body, backend.stored.key._private, algorithm=ALGORITHM)
    verifier = TokenVerifier(backend.stored.key.public_pem)
    for audience in (None, "micro/other"):
        with pytest.raises(errors.Unauthorized, match="invalid token"):
            verifier.verify(token, audience=audience)
    assert verifier.verify(token, audience="micro/helloworld").id == "admin"


async def test_every_access_token_carries_iat_and_a_millisecond_iat(backend: Backend) -> None:
    await backend.auth.generate("hank", secret="pw", type="service", service="helloworld")
    pair = await backend.auth.token(id="hank", secret="pw")
    body = claims(pair.access_token)
    assert isinstance(body["iat"], int) and isinstance(body["iat_ms"], int)
    assert body["iat"] == body["iat_ms"] // 1000 and body["service"] == "helloworld"
    account = await backend.auth.inspect(pair.access_token)
    assert (account.type, account.service) == ("service", "helloworld")
    listed = {a.id: a for a in await backend.auth.accounts()}
    assert listed["hank"].service == "helloworld"


async def test_only_a_service_account_is_bound_to_a_service(backend: Backend) -> None:
    with pytest.raises(errors.BadRequest):
        await backend.auth.generate("ivy", type="user", service="helloworld")


# -- defaults ---------------------------------------------------------------------------------


async def test_an_account_without_scopes_has_none(backend: Backend) -> None:
    account = await backend.auth.generate("plain", secret="pw")
    assert account.scopes == []
    assert (
        await backend.auth.inspect((await backend.auth.token(id="plain", secret="pw")).access_token)
    ).scopes == []


async def test_the_default_admin_is_created_once(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    clock = Clock()
    first = await _stored(tmp_path, clock)
    assert [a.id for a in await first.accounts()] == ["admin"]
    assert await first.default_password()
    await first.change_secret("admin", "micro", "better")
    assert not await first.default_password()
    await first.delete_account("admin")
    again = StoredAuth(first.store, tmp_path / "server", clock=clock, disable_admin=False)
    await again.start()  # a restart: no user account left, yet no admin/micro comes back
    assert await again.accounts() == []
    assert not await again.default_password()
    with pytest.raises(errors.Unauthorized):
        await again.token(id="admin", secret="micro")


async def test_a_server_from_before_the_record_keeps_its_accounts(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    clock = Clock()
    old = StoredAuth(MemoryStore(clock=clock), tmp_path / "server", clock=clock, disable_admin=True)
    await old.start()
    await old.generate("root", secret="pw", scopes=["admin"])
    upgraded = StoredAuth(old.store, tmp_path / "server", clock=clock, disable_admin=False)
    await upgraded.start()
    assert [a.id for a in await upgraded.accounts()] == ["root"]


# -- the login throttle -----------------------------------------------------------------------


async def attempt(auth: Auth, id: str, secret: str, **kwargs: Any) -> str:
    """The answer to one login: ``ok``, or the error's code and detail."""
    try:
        await auth.token(id=id, secret=secret, **kwargs)
    except errors.MicroError as exc:
        return f"{exc.code} {exc.detail}"
    return "ok"


async def test_failed_logins_back_off_exponentially(backend: Backend) -> None:
    auth, clock = backend.auth, backend.clock
    answers = [await attempt(auth, "admin", "wrong") for _ in range(5)]
    assert answers == ["401 invalid credentials"] * 5
    # the fifth failure costs a second; the right password gets the same answer meanwhile
    assert await attempt(auth, "admin", "micro") == "429 Too many attempts, try again in 1s"
    clock.advance(1)
    assert await attempt(auth, "admin", "wrong") == "401 invalid credentials"
    assert await attempt(auth, "admin", "wrong") == "429 Too many attempts, try again in 2s"
    clock.advance(2)
    assert await attempt(auth, "admin", "wrong") == "401 invalid credentials"
    assert await attempt(auth, "admin", "micro") == "429 Too many attempts, try again in 4s"
    clock.advance(3.5)
    assert await attempt(auth, "admin", "micro") == "429 Too many attempts, try again in 1s"
    clock.advance(0.5)
    assert await attempt(auth, "admin", "micro") == "ok"
    # a good login starts the count again
    assert [await attempt(auth, "admin", "wrong") for _ in range(5)] == ["401 invalid credentials"] * 5
    assert (await attempt(auth, "admin", "micro")).startswith("429")
    # and the state is forgotten a while after the last failure
    clock.advance(1 + 900)
    assert [await attempt(auth, "admin", "wrong") for _ in range(5)] == ["401 invalid credentials"] * 5


async def test_one_address_cannot_lock_the_admin_out(backend: Backend) -> None:
    stored, clock = backend.stored, backend.clock
    for _ in range(12):  # an attacker at one address, waiting out each delay
        clock.advance(float(2**7))
        assert await attempt(stored, "admin", "guess", client="10.0.0.66") == "401 invalid credentials"
    assert (
        await attempt(stored, "admin", "guess", client="10.0.0.66")
        == "429 Too many attempts, try again in 128s"
    )
    assert await attempt(stored, "admin", "micro", client="10.0.0.7") == "ok"


async def test_many_addresses_meet_the_looser_per_account_cap(backend: Backend) -> None:
    stored, clock = backend.stored, backend.clock
    for i in range(30):
        assert await attempt(stored, "admin", "guess", client=f"10.0.1.{i}") == "401 invalid credentials"
    assert (
        await attempt(stored, "admin", "micro", client="10.0.0.7") == "429 Too many attempts, try again in 1s"
    )
    for i in range(20):  # the per-account delay stops growing at a minute
        clock.advance(60)
        assert await attempt(stored, "admin", "guess", client=f"10.0.2.{i}") == "401 invalid credentials"
    assert (
        await attempt(stored, "admin", "micro", client="10.0.0.7")
        == "429 Too many attempts, try again in 60s"
    )
    clock.advance(60)
    assert await attempt(stored, "admin", "micro", client="10.0.0.7") == "ok"


async def test_an_unknown_account_gets_exactly_the_answers_of_a_known_one(backend: Backend) -> None:
    auth, clock = backend.auth, backend.clock
    await auth.generate("known", secret="pw", namespace="team")

    async def script(id: str, namespace: str) -> list[str]:
        answers = []
        for step in range(9):
            answers.append(await attempt(auth, id, "wrong", namespace=namespace))
            if step == 6:
                clock.advance(1)
        clock.advance(1000)  # forgotten before the next script
        return answers

    known = await script("known", "team")
    assert known[-1].startswith("429") and known[0] == "401 invalid credentials"
    assert await script("nobody", "team") == known
    assert await script("known", "no-such-namespace") == known
    assert await script("known", "Bad_Namespace") == known


async def test_the_throttle_state_is_bounded(backend: Backend) -> None:
    """Callers choose the keys: they land in a fixed number of slots."""
    stored = backend.stored
    for i in range(50):
        await attempt(stored, f"user{i}", "x", client=f"10.9.{i}.1")
    keys = await stored.store.list(database="_auth", table="throttle")
    assert 0 < len(keys) <= 100
    assert all(len(k) <= len("account/00000") for k in keys)
    from server.auth.throttle import SLOTS

    assert SLOTS <= 1 << 16


def test_client_address_drops_the_port() -> None:
    assert client_address("ipv4:127.0.0.1:54321") == "127.0.0.1"
    assert client_address("ipv6:[::1]:54321") == "::1"
    assert client_address("unix:/tmp/sock") == "unix"
    assert client_address("") == ""


async def test_a_refresh_token_stored_before_sessions_still_works_once(backend: Backend) -> None:
    """A server upgraded in place keeps its users logged in; the token still rotates."""
    from micro.store import Record

    await backend.auth.generate("old-timer", secret="pw")
    legacy = "a-refresh-token-of-the-old-format"
    value = json.dumps({"namespace": "micro", "account": "old-timer"}).encode()
    key = hashlib.sha256(legacy.encode()).hexdigest()
    await backend.stored.store.write(Record(key, value), database="_auth", table="refresh")
    pair = await backend.auth.token(refresh_token=legacy)
    assert (await backend.auth.inspect(pair.access_token)).id == "old-timer"
    await refused(backend.auth.token(refresh_token=legacy))
    await refused(backend.auth.token(refresh_token=pair.refresh_token))  # reuse ended the session
