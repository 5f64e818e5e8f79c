"""``micro namespace`` (alias ``micro user namespace``): the current namespace, and the
namespaces a ``micro`` admin manages on the server."""

import typer

from commands import _client
from commands._output import OutputOption, confirm, emit_json, globals_, out, output_option, wants_json

app = typer.Typer(help="Show, switch and manage namespaces.", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="namespace")


@app.callback()
def namespace(ctx: typer.Context, output: OutputOption | None = output_option()) -> None:
    """Print the current namespace."""
    if ctx.invoked_subcommand is not None:
        return
    current = _client.context(login=False).namespace
    if wants_json(output and output.value):
        emit_json({"name": current})
        return
    out(current)


@app.command("list")
def namespace_list(output: OutputOption | None = output_option()) -> None:
    """Namespaces: every one the server knows (for a micro admin), else the ones you
    logged into; `*` marks the current one."""
    from micro import credentials, errors

    ctx = _client.context()

    async def body() -> list[str]:
        auth = _client.auth(ctx)
        try:
            return [n.name for n in await auth.namespaces()]
        finally:
            await auth.close()

    try:
        names = set(_client.run(body))
    except (errors.Unauthorized, errors.Forbidden):
        names = set(credentials.logged_in(ctx.env.name))
    names.add(ctx.namespace)
    ordered = sorted(names)
    if wants_json(output and output.value):
        emit_json([{"name": n, "current": n == ctx.namespace} for n in ordered])
        return
    for name in ordered:
        out(f"{'*' if name == ctx.namespace else ' '} {name}")


@app.command("set")
def namespace_set(name: str = typer.Argument(..., help="Namespace to make current.")) -> None:
    """Make NAME the current namespace of the environment (the server judges later calls)."""
    from micro import environment
    from micro.auth import check_namespace

    check_namespace(name)  # the server refuses any other name
    env = environment.resolve(globals_.env).env
    environment.set_namespace(env.name, name)


@app.command("create")
def namespace_create(name: str = typer.Argument(..., help="Namespace to create.")) -> None:
    """Create a namespace (a micro admin)."""
    ctx = _client.context()
    ctx.require_writable()

    _client.using(_client.auth, ctx, lambda auth: auth.create_namespace(name))


@app.command("delete")
def namespace_delete(
    name: str = typer.Argument(..., help="Namespace to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a namespace with its store, config, accounts and rules (a micro admin)."""
    ctx = _client.context()
    ctx.require_writable()
    if not yes:
        confirm(
            f"Delete namespace {name} and everything in it?",
            refuse=f"Refusing to delete namespace {name} without --yes (no terminal to ask)",
        )

    _client.using(_client.auth, ctx, lambda auth: auth.delete_namespace(name))
