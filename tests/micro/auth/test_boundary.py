"""The call boundary reuses an admission only while nothing it was decided on has changed:
the token (its expiry and revocation are checked on every call) and the namespace's rules."""

from __future__ import annotations

import time

import pytest

from micro import errors
from micro.auth import Access, Account, Resource, Rule, parse_resource
from micro.auth.boundary import Boundary, Policy

ALICE = Account("alice", issuer="micro", scopes=["user"])
STORE_READ = Resource("service", "store", "Store.Read")
METADATA = (("authorization", "Bearer alice-token"),)

# the revocation and admission caches keep time.monotonic() stamps: run as on a machine
# booted a moment ago, where it reads near 0
pytestmark = pytest.mark.usefixtures("just_booted")


def rule(access: Access) -> Rule:
    return Rule("r", "user", parse_resource("service:store:*"), access)


class Source:
    """An AuthSource whose rules, namespaces and revocations a test changes, counting reads."""

    def __init__(self) -> None:
        self.rules_list = [rule(Access.GRANTED)]
        self.namespaces = {"micro"}
        self.revoked = False
        self.expired = False
        self.expires = time.time() + 3600
        self.validity_checks = 0
        self.verifications = 0

    def verify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        self.verifications += 1
        if token != "alice-token":
            raise errors.Unauthorized("invalid token")
        if self.expired:
            raise errors.Unauthorized("token has expired")
        return ALICE, 1.0, self.expires

    async def reverify(self, token: str, *, audience: str | None) -> tuple[Account, float, float]:
        return self.verify(token, audience=audience)

    async def rules(self, namespace: str) -> list[Rule]:
        if namespace not in self.namespaces:
            raise errors.NotFound(f"namespace {namespace} not found")
        return self.rules_list

    async def check_valid(self, token: str, account: Account, issued_at: float) -> None:
        self.validity_checks += 1
        if self.revoked:
            raise errors.Unauthorized("token has been revoked")


async def admit(boundary: Boundary) -> object:
    return await boundary.admit(METADATA, STORE_READ, policy=Policy.RULES)


async def test_a_second_identical_call_gets_the_same_admission() -> None:
    boundary = Boundary(Source())
    first = await admit(boundary)
    assert await admit(boundary) is first


async def test_new_rules_are_applied_to_the_next_call() -> None:
    source = Source()
    boundary = Boundary(source)
    await admit(boundary)
    source.rules_list = [rule(Access.DENIED)]  # as the auth service replaces them
    with pytest.raises(errors.Forbidden):
        await admit(boundary)


async def test_a_deleted_namespace_refuses_the_next_call() -> None:
    source = Source()
    boundary = Boundary(source)
    await admit(boundary)
    source.namespaces.clear()
    with pytest.raises(errors.NotFound):
        await admit(boundary)


async def test_a_repeated_call_is_not_verified_again_while_its_checks_are_fresh() -> None:
    source = Source()
    boundary = Boundary(source)
    first = await admit(boundary)
    assert await admit(boundary) is first
    assert (source.verifications, source.validity_checks) == (1, 1)
    boundary._valid.clear()  # the last revocation check is stale: verified and checked again
    assert await admit(boundary) is first
    assert (source.verifications, source.validity_checks) == (2, 2)


async def test_an_expired_token_is_refused_on_the_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Source()
    boundary = Boundary(source)
    await admit(boundary)
    later = source.expires + 1
    monkeypatch.setattr(time, "time", lambda: later)
    source.expired = True  # as the verifier finds it by then
    with pytest.raises(errors.Unauthorized, match="expired"):
        await admit(boundary)


async def test_revocation_is_still_checked_once_the_last_check_is_stale() -> None:
    source = Source()
    boundary = Boundary(source)
    await admit(boundary)
    assert source.validity_checks == 1
    source.revoked = True
    boundary._valid.clear()  # the last check is stale (as VALID_SECONDS later)
    with pytest.raises(errors.Unauthorized, match="revoked"):
        await admit(boundary)
