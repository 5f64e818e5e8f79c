"""The auth service's gRPC servicers: protobuf ⇄ domain and the permission matrix.

``Auth.Token``, ``Auth.Inspect``, ``Auth.Revoke`` and ``Auth.PublicKey`` are public;
``Rules.List`` needs any account of the namespace; everything else on accounts and rules
needs an admin of the namespace; namespaces are managed by ``micro`` admins. A ``micro``
admin may act in every namespace. A request's namespace is ``options.namespace``, else the
caller's ``micro-namespace``. Creating an account in a namespace that does not exist
(re)creates it, which only a ``micro`` admin may do.
"""

from __future__ import annotations

from typing import Any

from micro import errors
from micro.auth import Auth
from micro.auth._convert import account_to_proto, rule_from_proto, rule_to_proto, token_to_proto
from micro.proto.auth import auth_pb2, auth_pb2_grpc
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.auth.keys import SigningKey
from server.limits import check_length, check_metadata

__all__ = ["PERMISSIONS", "AccountsHandler", "AuthHandler", "NamespacesHandler", "RulesHandler"]


def _options_namespace(request: Any) -> str:
    return str(request.options.namespace)


_PUBLIC = Permission(Policy.PUBLIC, _options_namespace)
_ADMIN = Permission(Policy.ADMIN, _options_namespace)
_ACCOUNT = Permission(Policy.ACCOUNT, _options_namespace)
_MICRO_ADMIN = Permission(Policy.MICRO_ADMIN)

# Token, Inspect, PublicKey and Revoke are public; Rules.List any account of the namespace
# (and ChangeSecret, which the handler holds to your own account unless you are an admin);
# everything else on accounts and rules an admin of the namespace; namespaces micro admins
PERMISSIONS = {
    "/auth.Auth/Generate": Permission(Policy.ADMIN, _options_namespace, creates=True),
    "/auth.Auth/Token": _PUBLIC,
    "/auth.Auth/Inspect": Permission(Policy.PUBLIC),
    "/auth.Auth/PublicKey": Permission(Policy.PUBLIC),
    "/auth.Auth/Revoke": Permission(Policy.PUBLIC),  # a session call: the refresh token is the proof
    "/auth.Accounts/List": _ADMIN,
    "/auth.Accounts/Delete": _ADMIN,
    "/auth.Accounts/ChangeSecret": _ACCOUNT,
    "/auth.Rules/Create": _ADMIN,
    "/auth.Rules/Delete": _ADMIN,
    "/auth.Rules/List": _ACCOUNT,
    "/auth.Namespaces/Create": _MICRO_ADMIN,
    "/auth.Namespaces/Delete": _MICRO_ADMIN,
    "/auth.Namespaces/List": _MICRO_ADMIN,
}


def _namespace(context: Any, options: auth_pb2.Options | None = None) -> str:
    if options is not None:
        check_length("namespace", options.namespace)
    return ctx.namespace(context, options.namespace if options is not None else "")


def client_address(peer: str) -> str:
    """The host of a gRPC peer (``ipv4:1.2.3.4:5678`` → ``1.2.3.4``, ``ipv6:[::1]:5678`` →
    ``::1``): failed logins are throttled per address, whatever port a client opens."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1:].partition("]")[0]
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    return kind  # unix sockets and the like: one local client


class AuthHandler(auth_pb2_grpc.AuthServicer):
    def __init__(self, auth: Auth, key: SigningKey) -> None:
        self.auth = auth
        self.key = key

    async def Generate(self, request: auth_pb2.GenerateRequest, context: Any) -> auth_pb2.GenerateResponse:
        namespace = _namespace(context, request.options)
        for field, value in (("id", request.id), ("name", request.name), ("type", request.type)):
            check_length(field, value)
        for scope in request.scopes:
            check_length("scope", scope)
        check_metadata("account metadata", request.metadata)
        account = await self.auth.generate(
            request.id,
            secret=request.secret,
            name=request.name,
            type=request.type or "user",
            scopes=list(request.scopes),
            metadata=dict(request.metadata),
            namespace=namespace,
            service=request.service,
        )
        return auth_pb2.GenerateResponse(account=account_to_proto(account))

    async def Token(self, request: auth_pb2.TokenRequest, context: Any) -> auth_pb2.TokenResponse:
        if not request.refresh_token and not request.id:
            raise errors.BadRequest("an id (or name) and secret, or a refresh token, are required")
        check_length("id", request.id)
        token = await self.auth.token(
            id=request.id,
            secret=request.secret,
            refresh_token=request.refresh_token,
            expiry=request.token_expiry,
            namespace=_namespace(context, request.options),
            client=client_address(str(context.peer() or "")),
        )
        return auth_pb2.TokenResponse(token=token_to_proto(token))

    async def Revoke(self, request: auth_pb2.RevokeRequest, context: Any) -> auth_pb2.RevokeResponse:
        await self.auth.revoke(request.refresh_token)
        return auth_pb2.RevokeResponse()

    async def Inspect(self, request: auth_pb2.InspectRequest, context: Any) -> auth_pb2.InspectResponse:
        account = await self.auth.inspect(request.token)
        return auth_pb2.InspectResponse(account=account_to_proto(account))

    async def PublicKey(self, request: auth_pb2.PublicKeyRequest, context: Any) -> auth_pb2.PublicKeyResponse:
        return auth_pb2.PublicKeyResponse(algorithm="EdDSA", public_key=self.key.public_pem)


class AccountsHandler(auth_pb2_grpc.AccountsServicer):
    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    async def List(
        self, request: auth_pb2.ListAccountsRequest, context: Any
    ) -> auth_pb2.ListAccountsResponse:
        namespace = _namespace(context, request.options)
        accounts = await self.auth.accounts(namespace=namespace)
        return auth_pb2.ListAccountsResponse(accounts=[account_to_proto(a) for a in accounts])

    async def Delete(
        self, request: auth_pb2.DeleteAccountRequest, context: Any
    ) -> auth_pb2.DeleteAccountResponse:
        namespace = _namespace(context, request.options)
        me = ctx.account()
        check_length("id", request.id)
        if me is not None and me.id == request.id and me.issuer == namespace:
            raise errors.BadRequest("cannot delete your own account")
        await self.auth.delete_account(request.id, namespace=namespace)
        return auth_pb2.DeleteAccountResponse()

    async def ChangeSecret(
        self, request: auth_pb2.ChangeSecretRequest, context: Any
    ) -> auth_pb2.ChangeSecretResponse:
        namespace = _namespace(context, request.options)
        me = ctx.account()
        check_length("id", request.id)
        self_service = me is not None and me.id == request.id and me.issuer == namespace
        if not self_service:
            ctx.authorize(Policy.ADMIN, namespace)
        # your own secret needs the old one; an admin may reset someone else's without it
        old: str | None = request.old_secret if (self_service or request.old_secret) else None
        await self.auth.change_secret(request.id, old, request.new_secret, namespace=namespace)
        return auth_pb2.ChangeSecretResponse()


class RulesHandler(auth_pb2_grpc.RulesServicer):
    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    async def Create(self, request: auth_pb2.CreateRequest, context: Any) -> auth_pb2.CreateResponse:
        namespace = _namespace(context, request.options)
        rule = request.rule
        for field, value in (
            ("rule id", rule.id),
            ("scope", rule.scope),
            ("resource type", rule.resource.type),
            ("resource name", rule.resource.name),
            ("resource endpoint", rule.resource.endpoint),
        ):
            check_length(field, value)
        await self.auth.create_rule(rule_from_proto(request.rule), namespace=namespace)
        return auth_pb2.CreateResponse()

    async def Delete(self, request: auth_pb2.DeleteRequest, context: Any) -> auth_pb2.DeleteResponse:
        namespace = _namespace(context, request.options)
        check_length("rule id", request.id)
        await self.auth.delete_rule(request.id, namespace=namespace)
        return auth_pb2.DeleteResponse()

    async def List(self, request: auth_pb2.ListRequest, context: Any) -> auth_pb2.ListResponse:
        namespace = _namespace(context, request.options)
        rules = await self.auth.rules(namespace=namespace)
        return auth_pb2.ListResponse(rules=[rule_to_proto(r) for r in sorted(rules, key=lambda r: r.id)])


class NamespacesHandler(auth_pb2_grpc.NamespacesServicer):
    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    async def Create(
        self, request: auth_pb2.CreateNamespaceRequest, context: Any
    ) -> auth_pb2.CreateNamespaceResponse:
        check_length("namespace", request.name)
        await self.auth.create_namespace(request.name)
        return auth_pb2.CreateNamespaceResponse()

    async def Delete(
        self, request: auth_pb2.DeleteNamespaceRequest, context: Any
    ) -> auth_pb2.DeleteNamespaceResponse:
        check_length("namespace", request.name)
        await self.auth.delete_namespace(request.name)
        return auth_pb2.DeleteNamespaceResponse()

    async def List(
        self, request: auth_pb2.ListNamespacesRequest, context: Any
    ) -> auth_pb2.ListNamespacesResponse:
        found = await self.auth.namespaces()
        return auth_pb2.ListNamespacesResponse(
            namespaces=[auth_pb2.Namespace(name=n.name, created=n.created) for n in found]
        )
