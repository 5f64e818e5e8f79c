"""A core service run alone checks its callers at the server's boundary, against the auth
service of the server it joined (server.auth.remote): accounts, namespaces, revocation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.auth.grpc import GrpcAuth
from micro.store import Record
from micro.store.grpc import GrpcStore


@dataclass
class Joined:
    server: Any  # the server joined
    alone: Any  # the store run alone
    admin: GrpcAuth  # the server's auth, as its admin
    admin_token: str


@pytest.fixture
async def joined(micro_home: Path) -> AsyncIterator[Joined]:
    from server.app import Server
    from server.upstream import Upstream

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test")
    await srv.start()
    login = GrpcAuth(srv.bound_address)
    token = (await login.token(id="admin", secret="micro")).access_token
    await login.close()

    async def admin_token() -> str | None:
        return token

    upstream = Upstream(srv.bound_address, admin_token)
    alone = Server(
        data_dir=micro_home / "alone",
        address="127.0.0.1:0",
        profile="test",
        service="store",
        upstream=upstream,
    )
    admin = GrpcAuth(srv.bound_address, token=token)
    try:
        await alone.start()
        yield Joined(srv, alone, admin, token)
    finally:
        await admin.close()
        await alone.stop(grace=0)
        await upstream.close()
        await srv.stop(grace=0)


async def _token(joined: Joined, id: str, namespace: str = "") -> str:
    login = GrpcAuth(joined.server.bound_address)
    try:
        return (await login.token(id=id, secret="pw", namespace=namespace)).access_token
    finally:
        await login.close()


async def _write(joined: Joined, token: str, database: str = "") -> None:
    store = GrpcStore(joined.alone.bound_address, token=token)
    try:
        await store.write(Record("k", b"v"), database=database)
    finally:
        await store.close()


async def test_the_servers_accounts_are_checked_with_their_namespaces(joined: Joined) -> None:
    await joined.admin.generate("ops", secret="pw", scopes=["admin"], namespace="team")
    ops = await _token(joined, "ops", "team")
    await _write(joined, ops, database="team")  # an admin of team, in team
    with pytest.raises(errors.Forbidden, match="access denied to namespace"):
        await _write(joined, ops, database="micro")


async def test_a_token_revoked_on_the_server_is_refused(joined: Joined) -> None:
    await joined.admin.generate("carol", secret="pw", scopes=["admin"])
    before = await _token(joined, "carol")
    await joined.admin.change_secret("carol", None, "new")  # every earlier token is dead
    with pytest.raises(errors.Unauthorized, match="token has been revoked"):
        await _write(joined, before)


async def test_a_namespace_the_server_does_not_know_is_not_found(joined: Joined) -> None:
    with pytest.raises(errors.NotFound):
        await _write(joined, joined.admin_token, database="nowhere")
