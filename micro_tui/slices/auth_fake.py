"""The fake auth slice (tests and snapshots): accounts, rules and namespaces in memory, with
the server's answers to an admin and to a caller without a login."""

from __future__ import annotations

import secrets
from dataclasses import replace

from micro_tui.fake import FakeSession
from micro_tui.slices.auth import AccountInfo, AccountSpec, RuleInfo

__all__ = ["FakeAuth"]


def _fixture_accounts() -> dict[str, AccountInfo]:
    found = [
        AccountInfo("admin", "user", "", ("admin",)),
        AccountInfo("billing-latest", "service", "", ("service",), "billing", {"owner": "payments"}),
        AccountInfo("dana", "user", "Dana [b]Scully[/b]", ("ops", "read")),
    ]
    return {a.id: a for a in found}


def _fixture_rules() -> dict[str, RuleInfo]:
    found = [
        RuleInfo("default", "", "*:*:*", "granted", 0),
        RuleInfo("ops-store", "ops", "service:store:*", "granted", 10),
        RuleInfo("no-public-config", "", "service:config:*", "denied", 100),
    ]
    return {r.id: r for r in found}


class FakeAuth:
    """The session's ``admin`` may do everything; without a login everything is 401 (the
    server's "an account is required")."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self._accounts: dict[str, dict[str, AccountInfo]] = {"micro": _fixture_accounts()}
        self._rules: dict[str, dict[str, RuleInfo]] = {"micro": _fixture_rules()}

    def _check(self) -> str:
        from micro import errors

        self._session.check()
        if self._session.login_required:
            raise errors.Unauthorized("an account is required")
        return self._session.namespace

    async def accounts(self) -> list[AccountInfo]:
        ns = self._check()
        return [self._accounts.get(ns, {})[k] for k in sorted(self._accounts.get(ns, {}))]

    async def create_account(self, spec: AccountSpec) -> AccountInfo:
        from micro import errors

        ns = self._check()
        found = self._accounts.setdefault(ns, {})
        if spec.id in found:
            raise errors.Conflict(f"account {spec.id} already exists")
        self._namespace(ns)
        account = AccountInfo(spec.id, spec.type, spec.name, spec.scopes, spec.service)
        found[spec.id] = account
        return replace(account, secret=secrets.token_hex(16))

    async def delete_account(self, id: str) -> None:
        from micro import errors

        ns = self._check()
        if id == self._session.account:
            raise errors.BadRequest("cannot delete your own account")
        if self._accounts.get(ns, {}).pop(id, None) is None:
            raise errors.NotFound(f"account {id} not found")

    async def rules(self) -> list[RuleInfo]:
        ns = self._check()
        found = self._rules.setdefault(ns, {"default": RuleInfo("default", "", "*:*:*")})
        return sorted(found.values(), key=lambda r: r.id)

    async def create_rule(self, rule: RuleInfo) -> None:
        from micro import errors

        ns = self._check()
        found = self._rules.setdefault(ns, {"default": RuleInfo("default", "", "*:*:*")})
        if rule.id in found:
            raise errors.Conflict(f"rule {rule.id} already exists")
        found[rule.id] = rule

    async def delete_rule(self, id: str) -> None:
        ns = self._check()
        self._rules.get(ns, {}).pop(id, None)

    async def namespaces(self) -> list[str]:
        self._check()
        return sorted(self._session.server_namespaces)

    def _namespace(self, name: str) -> None:
        if name not in self._session.server_namespaces:
            self._session.server_namespaces.append(name)

    async def create_namespace(self, name: str) -> None:
        from micro import errors

        self._check()
        if name in self._session.server_namespaces:
            raise errors.Conflict(f"namespace {name} already exists")
        self._namespace(name)

    async def delete_namespace(self, name: str) -> None:
        from micro import errors

        self._check()
        if name not in self._session.server_namespaces:
            raise errors.NotFound(f"namespace {name} not found")
        self._session.server_namespaces.remove(name)
        self._accounts.pop(name, None)
        self._rules.pop(name, None)
