"""The auth slice over a real server (the framework's auth client)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from micro_tui.real import RealSession, new_client
from micro_tui.slices.auth import AccountInfo, AccountSpec, RuleInfo

__all__ = ["RealAuth"]

T = TypeVar("T")


def _account(account: Any) -> AccountInfo:
    return AccountInfo(
        account.id,
        account.type,
        account.name,
        tuple(account.scopes),
        account.service,
        dict(account.metadata),
        account.secret,
    )


class RealAuth:
    """One auth client per call, in the session's env, namespace and login at that time."""

    def __init__(self, session: RealSession) -> None:
        self._session = session

    async def _call(self, do: Callable[[Any], Awaitable[T]]) -> T:
        client = await new_client(self._session, "micro.auth.grpc", "GrpcAuth")
        try:
            return await do(client)
        finally:
            await client.close()

    @property
    def _ns(self) -> str:
        return self._session.namespace

    async def accounts(self) -> list[AccountInfo]:
        found = await self._call(lambda a: a.accounts(namespace=self._ns))
        return sorted((_account(a) for a in found), key=lambda a: a.id)

    async def create_account(self, spec: AccountSpec) -> AccountInfo:
        created = await self._call(
            lambda a: a.generate(
                spec.id,
                name=spec.name,
                type=spec.type,
                scopes=list(spec.scopes),
                namespace=self._ns,
                service=spec.service,
            )
        )
        return _account(created)

    async def delete_account(self, id: str) -> None:
        await self._call(lambda a: a.delete_account(id, namespace=self._ns))

    async def rules(self) -> list[RuleInfo]:
        found = await self._call(lambda a: a.rules(namespace=self._ns))
        rules = [RuleInfo(r.id, r.scope, str(r.resource), r.access.value, r.priority) for r in found]
        return sorted(rules, key=lambda r: r.id)

    async def create_rule(self, rule: RuleInfo) -> None:
        from micro.auth import Access, Rule, parse_resource

        made = Rule(rule.id, rule.scope, parse_resource(rule.resource), Access(rule.access), rule.priority)
        await self._call(lambda a: a.create_rule(made, namespace=self._ns))

    async def delete_rule(self, id: str) -> None:
        await self._call(lambda a: a.delete_rule(id, namespace=self._ns))

    async def namespaces(self) -> list[str]:
        found = await self._call(lambda a: a.namespaces())
        return sorted(n.name for n in found)

    async def create_namespace(self, name: str) -> None:
        await self._call(lambda a: a.create_namespace(name))

    async def delete_namespace(self, name: str) -> None:
        await self._call(lambda a: a.delete_namespace(name))
