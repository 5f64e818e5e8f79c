"""The auth slice's contract, over the fake and the real facade (see
test_facade_contract.py): accounts and rules of the namespace made and removed, the secret
given once, namespaces for a ``micro`` admin, and the server's refusals."""

from __future__ import annotations

import pytest

from micro import errors
from micro_tui.slices.auth import AccountSpec, RuleInfo
from tests.micro_tui.contract import Harness, logged_in


async def test_accounts_are_created_with_their_secret_once_and_deleted(harness: Harness) -> None:
    auth = harness.facade.auth
    for read in (auth.accounts, auth.rules, auth.namespaces):  # not logged in: the server's 401
        with pytest.raises(errors.MicroError) as refused:
            await read()
        assert refused.value.code == 401
    await logged_in(harness)
    before = await auth.accounts()
    assert "admin" in {a.id for a in before}
    assert all(not a.secret for a in before)  # never listed
    spec = AccountSpec("ci-bot", "service", "", ("service", "deploy"), "billing")
    made = await auth.create_account(spec)
    assert (made.id, made.type, made.service) == ("ci-bot", "service", "billing")
    assert made.scopes == ("service", "deploy")
    assert len(made.secret) >= 16
    listed = {a.id: a for a in await auth.accounts()}
    assert listed["ci-bot"].service == "billing" and not listed["ci-bot"].secret
    with pytest.raises(errors.Conflict):
        await auth.create_account(spec)
    with pytest.raises(errors.BadRequest):
        await auth.delete_account("admin")  # not your own
    await auth.delete_account("ci-bot")
    assert "ci-bot" not in {a.id for a in await auth.accounts()}


async def test_rules_are_created_and_deleted(harness: Harness) -> None:
    auth = (await logged_in(harness)).auth
    assert "default" in {r.id for r in await auth.rules()}
    rule = RuleInfo("deny-store", "", "service:store:Store.Read", "denied", 5)
    await auth.create_rule(rule)
    assert rule in await auth.rules()
    with pytest.raises(errors.Conflict):
        await auth.create_rule(rule)
    await auth.delete_rule("deny-store")
    await auth.delete_rule("deny-store")  # a missing rule is not an error
    assert "deny-store" not in {r.id for r in await auth.rules()}


async def test_a_micro_admin_lists_creates_and_deletes_namespaces(harness: Harness) -> None:
    auth = (await logged_in(harness)).auth
    assert "micro" in await auth.namespaces()
    await auth.create_namespace("tca-team")
    assert "tca-team" in await auth.namespaces()
    with pytest.raises(errors.Conflict):
        await auth.create_namespace("tca-team")
    await auth.delete_namespace("tca-team")
    assert "tca-team" not in await auth.namespaces()
