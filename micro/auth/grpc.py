"""The auth service over gRPC: the CLI's and the services' client.

Imports only grpc, the generated auth code and micro's small modules (no keyring, no
cryptography until a token is verified locally).
"""

from __future__ import annotations

import builtins
import time

import grpc

from micro._grpc_client import GrpcClient
from micro.auth import Account, Auth, Namespace, Rule, Token
from micro.auth._convert import (
    account_from_proto,
    namespace_from_proto,
    rule_from_proto,
    rule_to_proto,
    token_from_proto,
)
from micro.proto.auth import auth_pb2, auth_pb2_grpc

__all__ = ["GrpcAuth"]

_AUTH = auth_pb2_grpc.AuthStub
_ACCOUNTS = auth_pb2_grpc.AccountsStub
_RULES = auth_pb2_grpc.RulesStub
_NAMESPACES = auth_pb2_grpc.NamespacesStub


class GrpcAuth(GrpcClient, Auth):
    """:class:`~micro.auth.Auth` served by the auth service at ``address``.

    Args:
        address: ``host:port`` of the server (or proxy).
        namespace: sent as ``micro-namespace`` (the namespace calls act in by default).
        token: an access token, sent as ``authorization: Bearer …``.
        channel: an existing ``grpc.aio`` channel (not closed by :meth:`close`).
        rule_cache_seconds: how long :meth:`rules` answers from its cache (0 = never).
    """

    def __init__(
        self,
        address: str,
        *,
        namespace: str = "",
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
        rule_cache_seconds: float = 0.0,
    ) -> None:
        super().__init__(address, namespace=namespace, token=token, channel=channel)
        self._rule_cache_seconds = rule_cache_seconds
        self._rules: dict[str, tuple[builtins.list[Rule], float]] = {}

    @staticmethod
    def _options(namespace: str) -> auth_pb2.Options:
        return auth_pb2.Options(namespace=namespace)

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
        request = auth_pb2.GenerateRequest(
            id=id,
            service=service,
            secret=secret,
            name=name,
            type=type,
            scopes=scopes or [],
            metadata=metadata or {},
            options=self._options(namespace),
        )
        response = await self._call(_AUTH, "Generate", request)
        return account_from_proto(response.account)

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
        # ``client`` is what the server sees of this connection, never what a client says
        request = auth_pb2.TokenRequest(
            id=id,
            secret=secret,
            refresh_token=refresh_token,
            token_expiry=expiry,
            options=self._options(namespace),
        )
        response = await self._call(_AUTH, "Token", request)
        return token_from_proto(response.token)

    async def revoke(self, refresh_token: str) -> None:
        await self._call(_AUTH, "Revoke", auth_pb2.RevokeRequest(refresh_token=refresh_token))

    async def inspect(self, token: str) -> Account:
        """Asked of the auth service, which also checks the revocation records."""
        response = await self._call(_AUTH, "Inspect", auth_pb2.InspectRequest(token=token))
        return account_from_proto(response.account)

    async def public_key(self) -> str:
        """The PEM of the key that verifies access tokens."""
        response = await self._call(_AUTH, "PublicKey", auth_pb2.PublicKeyRequest())
        return str(response.public_key)

    async def accounts(self, *, namespace: str = "") -> builtins.list[Account]:
        request = auth_pb2.ListAccountsRequest(options=self._options(namespace))
        response = await self._call(_ACCOUNTS, "List", request)
        return [account_from_proto(a) for a in response.accounts]

    async def delete_account(self, id: str, *, namespace: str = "") -> None:
        request = auth_pb2.DeleteAccountRequest(id=id, options=self._options(namespace))
        await self._call(_ACCOUNTS, "Delete", request)

    async def change_secret(self, id: str, old: str | None, new: str, *, namespace: str = "") -> None:
        request = auth_pb2.ChangeSecretRequest(
            id=id, old_secret=old or "", new_secret=new, options=self._options(namespace)
        )
        await self._call(_ACCOUNTS, "ChangeSecret", request)

    async def rules(self, *, namespace: str = "") -> builtins.list[Rule]:
        now = time.monotonic()
        hit = self._rules.get(namespace)
        if hit is not None and now - hit[1] < self._rule_cache_seconds:
            return hit[0]
        response = await self._call(_RULES, "List", auth_pb2.ListRequest(options=self._options(namespace)))
        found = [rule_from_proto(r) for r in response.rules]
        if self._rule_cache_seconds:
            self._rules[namespace] = (found, now)
        return found

    async def create_rule(self, rule: Rule, *, namespace: str = "") -> None:
        request = auth_pb2.CreateRequest(rule=rule_to_proto(rule), options=self._options(namespace))
        await self._call(_RULES, "Create", request)

    async def delete_rule(self, id: str, *, namespace: str = "") -> None:
        await self._call(_RULES, "Delete", auth_pb2.DeleteRequest(id=id, options=self._options(namespace)))

    async def namespaces(self) -> builtins.list[Namespace]:
        response = await self._call(_NAMESPACES, "List", auth_pb2.ListNamespacesRequest())
        return [namespace_from_proto(n) for n in response.namespaces]

    async def create_namespace(self, name: str) -> None:
        await self._call(_NAMESPACES, "Create", auth_pb2.CreateNamespaceRequest(name=name))

    async def delete_namespace(self, name: str) -> None:
        await self._call(_NAMESPACES, "Delete", auth_pb2.DeleteNamespaceRequest(name=name))
