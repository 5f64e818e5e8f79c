"""Auth inside every service: a micro.Service checks direct and forwarded calls against the
caller's token and its namespace's rules (micro.auth.guard), on a server with auth on."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from micro import _platform, errors
from micro._grpc import call_metadata, rpc_errors
from micro.auth import Access, Account, Resource, Rule
from micro.auth.grpc import GrpcAuth
from micro.auth.guard import ServiceGuard
from micro.auth.jwt import ALGORITHM, claims_for
from micro.service import Service
from tests.conftest import BootClock
from tests.micro.framework.routeguide import RouteGuideModules, routeguide

GET_FEATURE = Resource("service", "routeguide", "RouteGuide.GetFeature")
# every test here runs as on a machine booted a moment ago (time.monotonic() near 0)
pytestmark = pytest.mark.usefixtures("just_booted")

LOCKDOWN = Rule("lockdown", "*", Resource("*", "*", "*"), Access.GRANTED, 0)


class Platform:
    """A server with auth on, an admin session and the route guide's service account."""

    def __init__(self, server: Any, admin: GrpcAuth, token: str, rg: RouteGuideModules) -> None:
        self.server = server
        self.admin = admin
        self.token = token
        self.rg = rg
        self.services: list[Service] = []

    async def start_service(self) -> Service:
        service = Service("routeguide")
        service.handle(self.rg.service.RouteGuide("a"))
        await service.start()
        self.services.append(service)
        return service

    async def lockdown(self) -> None:
        """Grant-all to accounts (``--scope '*'``), then drop the public ``default`` rule."""
        await self.admin.create_rule(LOCKDOWN, namespace="micro")
        await self.admin.delete_rule("default", namespace="micro")

    async def get_feature(self, address: str, *, token: str | None = None, namespace: str = "micro") -> Any:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = self.rg.pb_grpc.RouteGuideStub(channel)
            with rpc_errors(address):
                return await stub.GetFeature(
                    self.rg.pb.Point(latitude=7), metadata=call_metadata(namespace=namespace, token=token)
                )


@pytest.fixture
async def platform(micro_home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="local", auth=True)
    await srv.start()
    admin_login = GrpcAuth(srv.bound_address, namespace="micro")
    pair = await admin_login.token(id="admin", secret="micro", namespace="micro")
    await admin_login.close()
    admin = GrpcAuth(srv.bound_address, namespace="micro", token=pair.access_token)
    await admin.generate(
        "routeguide-svc", secret="svc-secret", type="service", scopes=["service"], service="routeguide"
    )
    monkeypatch.setenv("MICRO_PROXY", srv.bound_address)
    monkeypatch.setenv("MICRO_AUTH_ID", "routeguide-svc")
    monkeypatch.setenv("MICRO_AUTH_SECRET", "svc-secret")
    monkeypatch.setattr(_platform, "_session", _platform._Session())  # no token of an earlier server
    platform = Platform(srv, admin, pair.access_token, routeguide())
    try:
        yield platform
    finally:
        for service in platform.services:
            await service.stop(grace=0)
        await admin.close()
        await srv.stop(grace=0)


async def test_default_rule_lets_a_direct_call_without_token_through(platform: Platform) -> None:
    service = await platform.start_service()
    reply = await platform.get_feature(service.address)
    assert reply.location.latitude == 7


async def test_lockdown_refuses_anonymous_direct_calls_and_passes_the_admin(platform: Platform) -> None:
    await platform.lockdown()
    service = await platform.start_service()
    with pytest.raises(errors.Unauthorized) as caught:
        await platform.get_feature(service.address)
    assert caught.value.detail == "Unauthorized call made to routeguide:RouteGuide.GetFeature"
    assert (await platform.get_feature(service.address, token=platform.token)).location.latitude == 7
    # liveness probes stay open
    from micro.proto.debug import debug_pb2, debug_pb2_grpc

    async with grpc.aio.insecure_channel(service.address) as channel:
        health = await debug_pb2_grpc.DebugStub(channel).Health(debug_pb2.HealthRequest())
    assert health.status == "ok"


async def test_forwarded_calls_carry_the_token_and_are_checked_again(platform: Platform) -> None:
    await platform.lockdown()
    await platform.start_service()
    proxy = platform.server.bound_address
    assert (await platform.get_feature(proxy, token=platform.token)).location.latitude == 7
    with pytest.raises(errors.Unauthorized):
        await platform.get_feature(proxy)


async def test_a_token_signed_by_another_key_is_401(platform: Platform) -> None:
    await platform.lockdown()
    service = await platform.start_service()
    forged_claims = claims_for(
        Account("admin", issuer="micro", scopes=["admin"]), now=int(time.time()), ttl=600
    )
    forged = jwt.encode(forged_claims, Ed25519PrivateKey.generate(), algorithm=ALGORITHM)
    with pytest.raises(errors.Unauthorized) as caught:
        await platform.get_feature(service.address, token=forged)
    assert caught.value.detail == "invalid token"
    with pytest.raises(errors.Unauthorized):
        await platform.get_feature(service.address, token="not-a-jwt")


async def test_a_denied_rule_for_the_endpoint_is_403(platform: Platform) -> None:
    await platform.lockdown()
    await platform.admin.create_rule(
        Rule("no-features", "*", GET_FEATURE, Access.DENIED, 10), namespace="micro"
    )
    service = await platform.start_service()
    with pytest.raises(errors.Forbidden) as caught:
        await platform.get_feature(service.address, token=platform.token)
    assert caught.value.detail == "Forbidden call made to routeguide:RouteGuide.GetFeature by admin"


async def test_another_namespace_named_by_a_direct_caller_is_403(platform: Platform) -> None:
    service = await platform.start_service()
    with pytest.raises(errors.Forbidden) as caught:
        await platform.get_feature(service.address, token=platform.token, namespace="other")
    assert caught.value.detail == "access denied to namespace"


async def test_rules_are_read_again_once_the_cache_expires(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("micro.auth.guard.RULES_SECONDS", 0.0)
    service = await platform.start_service()
    assert (await platform.get_feature(service.address)).location.latitude == 7
    await platform.lockdown()
    with pytest.raises(errors.Unauthorized):
        await platform.get_feature(service.address)


class _Source:
    """A fake auth source: counts fetches of the key; ``key`` None = unreachable."""

    def __init__(self, key: str | None, rules: list[Rule]) -> None:
        self.key = key
        self.rule_list = rules
        self.key_fetches = 0

    async def public_key(self) -> str:
        self.key_fetches += 1
        if self.key is None:
            raise errors.Unavailable("no auth here")
        return self.key

    async def rules(self) -> list[Rule]:
        return self.rule_list

    async def inspect(self, token: str) -> None:
        pass

    async def close(self) -> None:
        pass


def _pem(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_without_an_auth_service_the_guard_checks_nothing_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = ServiceGuard("routeguide", "micro", source=_Source(None, []))
    with caplog.at_level(logging.WARNING, logger="micro.auth.guard"):
        assert await guard.start() is False
        for _ in range(3):
            assert await guard.check([("authorization", "Bearer junk")], GET_FEATURE) is None
    assert len([r for r in caplog.records if "without checking callers" in r.getMessage()]) == 1


async def test_the_public_key_is_read_again_on_a_bad_token_at_most_every_few_seconds(
    just_booted: BootClock,
) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    source = _Source(_pem(old), [LOCKDOWN])
    guard = ServiceGuard("routeguide", "micro", source=source, key_retry_seconds=5)
    assert await guard.start() is True
    source.key = _pem(new)  # the server's key changed
    claims = claims_for(Account("u1", issuer="micro"), now=int(time.time()), ttl=600)
    bearer_new = [("authorization", f"Bearer {jwt.encode(claims, new, algorithm=ALGORITHM)}")]
    forged = [
        ("authorization", f"Bearer {jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm=ALGORITHM)}")
    ]
    with pytest.raises(errors.Unauthorized):  # the key was read a moment ago: not again yet
        await guard.check(bearer_new, GET_FEATURE)
    assert source.key_fetches == 1
    just_booted.advance(5)
    account = await guard.check(bearer_new, GET_FEATURE)
    assert account is not None and account.id == "u1" and source.key_fetches == 2
    for _ in range(3):
        with pytest.raises(errors.Unauthorized):
            await guard.check(forged, GET_FEATURE)
    assert source.key_fetches == 2  # within the retry interval: no more fetches
    just_booted.advance(5)
    with pytest.raises(errors.Unauthorized):
        await guard.check(forged, GET_FEATURE)
    assert source.key_fetches == 3  # the interval passed: read once more
