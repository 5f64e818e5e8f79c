"""Auth domain types ⇄ protobuf, shared by the handler and the gRPC client."""

from __future__ import annotations

from micro import errors
from micro.auth import Access, Account, Namespace, Resource, Rule, Token
from micro.proto.auth import auth_pb2

__all__ = [
    "account_from_proto",
    "account_to_proto",
    "namespace_from_proto",
    "rule_from_proto",
    "rule_to_proto",
    "token_from_proto",
    "token_to_proto",
]

_ACCESS_TO_PROTO = {Access.GRANTED: auth_pb2.GRANTED, Access.DENIED: auth_pb2.DENIED}
_ACCESS_FROM_PROTO = {v: k for k, v in _ACCESS_TO_PROTO.items()}


def account_to_proto(account: Account) -> auth_pb2.Account:
    return auth_pb2.Account(
        id=account.id,
        type=account.type,
        issuer=account.issuer,
        name=account.name,
        scopes=account.scopes,
        metadata=account.metadata,
        secret=account.secret,
        service=account.service,
    )


def account_from_proto(pb: auth_pb2.Account) -> Account:
    return Account(
        id=pb.id,
        type=pb.type or "user",
        issuer=pb.issuer,
        name=pb.name,
        scopes=list(pb.scopes),
        metadata=dict(pb.metadata),
        secret=pb.secret,
        service=pb.service,
    )


def token_to_proto(token: Token) -> auth_pb2.Token:
    return auth_pb2.Token(
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        created=token.created,
        expiry=token.expiry,
    )


def token_from_proto(pb: auth_pb2.Token) -> Token:
    return Token(pb.access_token, pb.refresh_token, pb.created, pb.expiry)


def rule_to_proto(rule: Rule) -> auth_pb2.Rule:
    res = rule.resource
    return auth_pb2.Rule(
        id=rule.id,
        scope=rule.scope,
        resource=auth_pb2.Resource(type=res.type, name=res.name, endpoint=res.endpoint),
        access=_ACCESS_TO_PROTO[rule.access],
        priority=rule.priority,
    )


def rule_from_proto(pb: auth_pb2.Rule) -> Rule:
    """A rule from the wire; a missing resource part or access is a bad request."""
    res = pb.resource
    if not (res.type and res.name and res.endpoint):
        raise errors.BadRequest("Invalid resource, must be in the format type:name:endpoint")
    access = _ACCESS_FROM_PROTO.get(pb.access)
    if access is None:
        raise errors.BadRequest("invalid access: must be granted or denied")
    return Rule(pb.id, pb.scope, Resource(res.type, res.name, res.endpoint), access, pb.priority)


def namespace_from_proto(pb: auth_pb2.Namespace) -> Namespace:
    return Namespace(pb.name, pb.created)
