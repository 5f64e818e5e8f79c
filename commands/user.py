"""``micro login``, ``micro logout`` and ``micro user``: who you are on the current env +
namespace, your token, your password and local user settings."""

import json
from typing import Any

import typer

from commands import _client
from commands._output import Failure, OutputOption, ask, emit_json, err, out, output_option, wants_json
from micro import settings

app = typer.Typer(help="The logged-in account.", invoke_without_command=True)
config_app = typer.Typer(help="Local user settings (in MICRO_HOME/config.json).", invoke_without_command=True)
set_app = typer.Typer(help="Change your account.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(set_app, name="set")

NOT_LOGGED_IN = "You are not logged in"
DEFAULT_PASSWORD = "The admin password is still the default: change it with micro user set password"


def register(root: typer.Typer) -> None:
    from commands.namespace import app as namespace_app

    if not any(group.name == "namespace" for group in app.registered_groups):
        app.add_typer(namespace_app, name="namespace")  # the alias `micro user namespace`
    root.command("login")(login)
    root.command("logout")(logout)
    root.add_typer(app, name="user")


def login(
    username: str = typer.Option(None, "--username", "--email", help="Account id, name or email."),
    password: str = typer.Option(None, "--password", help="Prompted (hidden) when not given."),
) -> None:
    """Log in to the current environment + namespace.

    A failed login ends the previous login of this environment + namespace.
    """
    from micro import credentials

    ctx = _client.context(login=False)
    if not username:
        username = ask("Enter username", missing="Missing --username (no terminal to ask)")
    if password is None:
        password = ask("Enter password", hidden=True, missing="Missing --password (no terminal to ask)")

    # no token: Auth.Token is public, and a stale MICRO_TOKEN must not block a login
    try:
        token = _client.run(
            lambda: credentials.login(ctx.env.name, ctx.namespace, ctx.address, username, password)
        )
    except Exception as exc:
        # whoever was logged in here before is logged out: a failed attempt to become someone
        # else must not leave the next commands running as the old account. The session ends
        # on the server too when it answered (one that did not would only make us wait again)
        from micro import errors

        if isinstance(exc, errors.MicroError) and not isinstance(exc, errors.Unavailable | errors.Timeout):
            credentials.logout(ctx.env.name, ctx.namespace, ctx.address)
        else:
            credentials.forget(ctx.env.name, ctx.namespace)
        raise
    out("Successfully logged in.")
    claims = credentials.claims(token.access_token)
    if password == "micro" and (claims.get("sub"), claims.get("iss")) == ("admin", "micro"):
        err(DEFAULT_PASSWORD)  # it worked, so it still is the default


def logout() -> None:
    """Forget the login of the current environment + namespace."""
    from micro import credentials

    ctx = _client.context(login=False)
    if not credentials.logout(ctx.env.name, ctx.namespace, ctx.address):
        err(f"Logged out here, but the server at {ctx.address} could not end the session")


def _claims() -> dict[str, Any]:
    from micro import credentials, errors

    ctx = _client.context()
    if not ctx.token:
        raise Failure(NOT_LOGGED_IN)
    try:
        return credentials.claims(ctx.token)
    except errors.Unauthorized:
        if settings.client().token:  # nothing stored is at fault
            raise Failure("MICRO_TOKEN is not a valid access token", 2) from None
        raise


@app.callback()
def user(ctx: typer.Context, output: OutputOption | None = output_option()) -> None:
    """Print the logged-in account's name."""
    if ctx.invoked_subcommand is not None:
        return
    claims = _claims()
    if wants_json(output and output.value):
        emit_json(
            {
                "id": claims["sub"],
                "type": claims.get("type", ""),
                "issuer": claims.get("iss", ""),
                "name": claims.get("name", ""),
                "scopes": claims.get("scopes", []),
            }
        )
        return
    out(str(claims.get("name") or claims["sub"]))


@app.command("token")
def user_token() -> None:
    """Print your access token (refreshed when close to expiry)."""
    ctx = _client.context()
    if not ctx.token:
        raise Failure(NOT_LOGGED_IN)
    out(ctx.token)


@set_app.command("password")
def set_password(
    old_password: str = typer.Option(None, "--old-password", help="Prompted when not given."),
    new_password: str = typer.Option(None, "--new-password", help="Prompted when not given."),
) -> None:
    """Change your password."""
    ctx = _client.context()
    if not ctx.token:
        raise Failure(NOT_LOGGED_IN)
    ctx.require_writable()
    from micro import credentials

    claims = credentials.claims(ctx.token)
    account_id = str(claims["sub"])
    if old_password is None:
        old_password = ask(
            "Enter current password", hidden=True, missing="Missing --old-password (no terminal to ask)"
        )
    if new_password is None:
        new_password = ask(
            "Enter new password",
            hidden=True,
            twice=True,
            missing="Missing --new-password (no terminal to ask)",
        )

    _client.using(
        _client.auth,
        ctx,
        lambda auth: auth.change_secret(account_id, old_password, new_password, namespace=ctx.namespace),
    )
    # the change ended every session of the account, this one too: log in again with it
    if not settings.client().token and str(claims.get("iss")) == ctx.namespace:
        _client.run(
            lambda: credentials.login(ctx.env.name, ctx.namespace, ctx.address, account_id, new_password)
        )


def _settings() -> tuple[dict[str, Any], dict[str, Any]]:
    from micro import _paths

    path = _paths.config_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        raise Failure(f"Cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        data = {}
    user = data.get("user")
    if not isinstance(user, dict):
        user = data["user"] = {}
    return data, user


def _save(data: dict[str, Any]) -> None:
    from micro import _paths

    _paths.write_private(_paths.config_file(), json.dumps(data, indent=2, sort_keys=True) + "\n")


@config_app.callback()
def config_summary(ctx: typer.Context) -> None:
    """Local user settings (in MICRO_HOME/config.json); alone, who and where you are, as v3:
    user, namespace, environment and git.baseurl."""
    if ctx.invoked_subcommand is not None:
        return
    from micro import credentials

    where = _client.context()
    name = ""
    if where.token:
        try:
            claims = credentials.claims(where.token)
        except Exception:  # an unreadable token: not logged in, as far as this shows
            claims = {}
        name = str(claims.get("name") or claims.get("sub") or "")
    _, user = _settings()
    out(f"user: {name}")
    out(f"namespace: {where.namespace}")
    out(f"environment: {where.env.name}")
    out(f"git.baseurl: {user.get('git.baseurl', '')}")


#: keys whose values are secrets: kept in the keyring (else the 0600 fallback file), never in
#: config.json; ``git.credentials`` for any git host, ``git.credentials.<host>`` (or
#: ``<host>:<port>``) for one
GIT_CREDENTIALS = "git.credentials"


def is_secret(key: str) -> bool:
    return key == GIT_CREDENTIALS or key.startswith(GIT_CREDENTIALS + ".")


def _masked(value: str) -> str:
    """A stored credential as ``get`` shows it: the user name, never the secret."""
    user, sep, _ = value.partition(":")
    return f"{user}:********" if sep else "********"


@config_app.command("get")
def config_get(key: str = typer.Argument(..., help="Setting name.")) -> None:
    """Print a local user setting (git credentials: the user name only)."""
    if is_secret(key):
        from micro import credentials

        found = credentials.load_secret(key)
        if found is None:
            raise Failure("Not found")
        out(_masked(found))
        return
    _, user = _settings()
    if key not in user:
        raise Failure("Not found")
    out(str(user[key]))


@config_app.command("set")
def config_set(
    key: str = typer.Argument(...),
    value: str | None = typer.Argument(
        None, help="The value; for git.credentials[.<host>], USER:TOKEN or TOKEN (asked when left out)."
    ),
) -> None:
    """Set a local user setting. ``git.credentials.<host>`` (or ``git.credentials`` for every
    host) is what ``micro run`` sends for the server's clone of an https git source, kept in
    the keyring; leave the value out to type it hidden (or pipe it): it then stays out of
    your shell history and ``ps``."""
    if is_secret(key):
        from micro import credentials

        secret = value or ask(
            f"{key} (USER:TOKEN or TOKEN)", missing=f"Missing the value of {key}", hidden=True
        )
        if credentials.save_secret(key, secret) == "file":
            err("No keyring: the credentials are in MICRO_HOME/credentials.json (0600)")
        return
    if value is None:
        raise Failure(f"Missing the value of {key}")
    data, user = _settings()
    user[key] = value
    _save(data)


@config_app.command("delete")
def config_delete(key: str = typer.Argument(...)) -> None:
    """Delete a local user setting."""
    if is_secret(key):
        from micro import credentials

        credentials.forget_secret(key)
        return
    data, user = _settings()
    if user.pop(key, None) is not None:
        _save(data)
