"""``micro auth``: create, list and delete accounts and rules."""

import json
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from commands import _client
from commands._output import OutputOption, emit_json, out, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.auth import Account, Rule

app = typer.Typer(help="Manage accounts and rules.", no_args_is_help=True)
create_app = typer.Typer(help="Create an account or a rule.", no_args_is_help=True)
list_app = typer.Typer(help="List accounts or rules.", no_args_is_help=True)
delete_app = typer.Typer(help="Delete an account or a rule.", no_args_is_help=True)
app.add_typer(create_app, name="create")
app.add_typer(list_app, name="list")
app.add_typer(delete_app, name="delete")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="auth")


PUBLIC = "<public>"  # how the rule listing shows the empty (public) scope


class AccessOption(StrEnum):
    granted = "granted"
    denied = "denied"


class TypeOption(StrEnum):
    user = "user"
    service = "service"


def account_json(account: "Account", *, secret: bool = True) -> dict[str, object]:
    """An account as JSON; with its secret only where it was just created (the listing never
    shows a ``secret`` field, not even an empty one)."""
    shown: dict[str, object] = {
        "id": account.id,
        "type": account.type,
        "metadata": account.metadata,
        "scopes": account.scopes,
        "issuer": account.issuer,
        "secret": account.secret,
        "name": account.name,
    }
    if not secret:
        del shown["secret"]
    if account.service:
        shown["service"] = account.service
    return shown


NONE = "n/a"  # an empty cell of the account listing, as v3


def _cell(text: str) -> str:
    return text or NONE


@create_app.command("account")
def create_account(
    id: str = typer.Argument(..., help="Account id."),
    name: str = typer.Option("", "--name", help="A name to log in with (unique)."),
    secret: str = typer.Option("", "--secret", help="The secret (generated when empty)."),
    scopes: str = typer.Option("", "--scopes", help="Comma-separated scopes, e.g. admin (default: none)."),
    namespace: str = typer.Option("", "--namespace", help="Namespace (created if needed)."),
    type: TypeOption = typer.Option(TypeOption.user, "--type", help="Account type."),
    service: str = typer.Option(
        "", "--service", help="Bind a service account to this service (it may register its nodes)."
    ),
) -> None:
    """Create an account; prints it, with its secret."""
    ctx = _client.context()
    ctx.require_writable()
    scope_list = [s.strip() for s in scopes.split(",") if s.strip()]

    account = _client.using(
        _client.auth,
        ctx,
        lambda auth: auth.generate(
            id,
            secret=secret,
            name=name,
            type=type.value,
            scopes=scope_list,
            namespace=namespace or ctx.namespace,
            service=service,
        ),
    )
    out(f"Account created: {json.dumps(account_json(account), separators=(',', ':'))}")


@create_app.command("rule")
def create_rule(
    id: str = typer.Argument(..., help="Rule id."),
    resource: str = typer.Option(..., "--resource", help="type:name:endpoint, e.g. service:store:*"),
    scope: str = typer.Option(
        "", "--scope", help="'' (or <public>) public, * any account, + any namespace, or a scope."
    ),
    access: AccessOption = typer.Option(AccessOption.granted, "--access", help="granted or denied."),
    priority: int = typer.Option(
        0, "--priority", min=-(2**31), max=2**31 - 1, help="Higher is checked first."
    ),
) -> None:
    """Create a rule."""
    from micro.auth import Access, Rule, parse_resource
    from micro.errors import BadRequest

    if resource.count(":") != 2:  # exactly type:name:endpoint, as v3
        raise BadRequest("Invalid resource, must be in the format type:name:endpoint")
    ctx = _client.context()
    ctx.require_writable()
    if scope == PUBLIC:  # as the listing shows it
        scope = ""
    rule = Rule(id, scope, parse_resource(resource), Access(access.value), priority)

    _client.using(_client.auth, ctx, lambda auth: auth.create_rule(rule, namespace=ctx.namespace))
    out("Rule created")


@list_app.command("accounts")
def list_accounts(output: OutputOption | None = output_option()) -> None:
    """Accounts of the namespace: ID, Name, Scopes, Metadata."""
    ctx = _client.context()

    accounts = _client.using(_client.auth, ctx, lambda auth: auth.accounts(namespace=ctx.namespace))
    if wants_json(output and output.value):
        emit_json([account_json(a, secret=False) for a in accounts])
        return
    rows = [
        [
            _cell(a.id),
            _cell(a.name),
            _cell(", ".join(a.scopes)),
            _cell(", ".join(f"{k}={v}" for k, v in sorted(a.metadata.items()))),
        ]
        for a in accounts
    ]
    table(["ID", "Name", "Scopes", "Metadata"], rows)


def rule_json(rule: "Rule") -> dict[str, object]:
    return {
        "id": rule.id,
        "scope": rule.scope,
        "resource": {
            "name": rule.resource.name,
            "type": rule.resource.type,
            "endpoint": rule.resource.endpoint,
        },
        "access": rule.access.value.upper(),
        "priority": rule.priority,
    }


@list_app.command("rules")
def list_rules(output: OutputOption | None = output_option()) -> None:
    """Rules of the namespace: ID, Scope, Access, Resource, Priority."""
    ctx = _client.context()

    rules = _client.using(_client.auth, ctx, lambda auth: auth.rules(namespace=ctx.namespace))
    if wants_json(output and output.value):
        emit_json([rule_json(r) for r in rules])
        return
    rows = [[r.id, r.scope or PUBLIC, r.access.value, str(r.resource), str(r.priority)] for r in rules]
    table(["ID", "Scope", "Access", "Resource", "Priority"], rows)


@delete_app.command("account")
def delete_account(id: str = typer.Argument(..., help="Account id.")) -> None:
    """Delete an account (not your own); prints nothing."""
    ctx = _client.context()
    ctx.require_writable()

    _client.using(_client.auth, ctx, lambda auth: auth.delete_account(id, namespace=ctx.namespace))


@delete_app.command("rule")
def delete_rule(id: str = typer.Argument(..., help="Rule id.")) -> None:
    """Delete a rule (a rule that does not exist is not an error)."""
    ctx = _client.context()
    ctx.require_writable()

    _client.using(_client.auth, ctx, lambda auth: auth.delete_rule(id, namespace=ctx.namespace))
    out("Rule deleted")
