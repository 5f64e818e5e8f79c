"""Area auth's facade slice (see :mod:`micro_tui.slices`): the accounts and rules of the
session's namespace, and the server's namespaces; with the UI-free checks of its forms and
the CLI commands its actions stand for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from micro_tui.actions import cli_line

__all__ = [
    "ACCESS",
    "PUBLIC",
    "AccountInfo",
    "AccountSpec",
    "AuthFacade",
    "FieldError",
    "RuleInfo",
    "account_cli",
    "check_namespace_name",
    "check_rule",
    "rule_cli",
    "scope_list",
]

PUBLIC = "<public>"
"""How the CLI's rule listing shows the empty (public) scope; ``--scope`` takes it too."""
ACCESS = ("granted", "denied")
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # micro.auth.NAMESPACE_RE
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    type: str = "user"
    name: str = ""
    scopes: tuple[str, ...] = ()
    service: str = ""
    """The service a service account is bound to ("" for none)."""
    metadata: dict[str, str] = field(default_factory=dict)
    secret: str = ""
    """Only right after creation (shown once)."""


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """A new account as the form fills it in (the server generates the secret)."""

    id: str
    type: str = "user"
    name: str = ""
    scopes: tuple[str, ...] = ()
    service: str = ""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    scope: str
    """"" public, ``*`` any account of the namespace, ``+`` any namespace, else a scope."""
    resource: str
    """``type:name:endpoint``."""
    access: str = "granted"
    priority: int = 0


class AuthFacade(Protocol):
    """What the auth area reads and does, in the session's namespace. The server decides
    who may: its refusals (401, 403) come through as :class:`micro.errors.MicroError`."""

    async def accounts(self) -> list[AccountInfo]: ...
    async def create_account(self, spec: AccountSpec) -> AccountInfo:
        """The new account, with its secret (the one time it is shown)."""
        ...

    async def delete_account(self, id: str) -> None: ...
    async def rules(self) -> list[RuleInfo]: ...
    async def create_rule(self, rule: RuleInfo) -> None: ...
    async def delete_rule(self, id: str) -> None: ...
    async def namespaces(self) -> list[str]:
        """The server's namespaces (a ``micro`` admin only; 403 for others)."""
        ...

    async def create_namespace(self, name: str) -> None: ...
    async def delete_namespace(self, name: str) -> None: ...


def scope_list(text: str) -> tuple[str, ...]:
    """``--scopes``: comma-separated, blanks dropped."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


class FieldError(ValueError):
    """A form field holds what the server would refuse: which one, and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_rule(id: str, resource: str, scope: str, access: str, priority: str) -> RuleInfo:
    """The rule the form describes (:class:`FieldError` naming the wrong field otherwise);
    the checks of ``micro auth create rule``."""
    if not id.strip():
        raise FieldError("id", "a rule needs an id")
    parts = resource.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise FieldError("resource", "Invalid resource, must be in the format type:name:endpoint")
    if access not in ACCESS:
        raise FieldError("access", "access is granted or denied")
    try:
        number = int(priority.strip() or "0")
    except ValueError:
        raise FieldError("priority", f"priority must be a whole number, not {priority!r}") from None
    if not _INT32[0] <= number <= _INT32[1]:
        raise FieldError("priority", f"priority must be between {_INT32[0]} and {_INT32[1]}")
    scope = "" if scope.strip() == PUBLIC else scope.strip()
    return RuleInfo(id.strip(), scope, resource.strip(), access, number)


def check_namespace_name(name: str) -> str:
    """Why ``name`` cannot be a namespace ("" when it can), in the server's words."""
    if _NAMESPACE.match(name):
        return ""
    return (
        f"invalid namespace {name!r}: lower-case letters, digits and dashes, starting with a letter or digit"
    )


def rule_cli(rule: RuleInfo) -> str:
    """``micro auth create rule …`` for ``rule``."""
    words = ["auth", "create", "rule", rule.id, "--resource", rule.resource]
    words += ["--scope", rule.scope or PUBLIC, "--access", rule.access, "--priority", str(rule.priority)]
    return cli_line(*words)


def account_cli(spec: AccountSpec) -> str:
    """``micro auth create account …`` for ``spec`` (the secret is generated, as the CLI
    does without ``--secret``)."""
    words = ["auth", "create", "account", spec.id, "--type", spec.type]
    if spec.name:
        words += ["--name", spec.name]
    if spec.scopes:
        words += ["--scopes", ",".join(spec.scopes)]
    if spec.service:
        words += ["--service", spec.service]
    return cli_line(*words)
