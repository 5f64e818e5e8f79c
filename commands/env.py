"""``micro env``: named server addresses and the current one."""

from typing import TYPE_CHECKING

import typer

from commands._output import Failure, OutputOption, emit_json, globals_, out, output_option, wants_json

if TYPE_CHECKING:
    from micro.environment import Environment

app = typer.Typer(help="Manage environments (named server addresses).", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="env")


@app.callback()
def env_list(ctx: typer.Context, output: OutputOption | None = output_option()) -> None:
    """List environments; `*` marks the current one (or the one given with -e)."""
    if ctx.invoked_subcommand is not None:
        return
    from micro import environment

    current = environment.resolve(globals_.env).env.name
    envs = environment.environments()
    if wants_json(output):
        emit_json([_json(e, current=e.name == current) for e in envs])
        return
    name_width = max(len(e.name) for e in envs)
    addr_width = max(len(_where(e)) for e in envs)
    for e in envs:
        mark = "*" if e.name == current else " "
        line = f"{mark} {e.name.ljust(name_width)}  {_where(e).ljust(addr_width)}  {e.description}"
        out(line.rstrip())


def _where(env: "Environment") -> str:
    """The address, marked when the server is reached over TLS."""
    return f"{env.address} (tls)" if env.tls else env.address


def _json(env: "Environment", *, current: bool) -> dict[str, object]:
    return {
        "name": env.name,
        "address": env.address,
        "description": env.description,
        "read_only": env.read_only,
        "color": env.color,
        "tls": env.tls,
        "ca": env.ca,
        "current": current,
    }


@app.command("get")
def env_get(output: OutputOption | None = output_option()) -> None:
    """Print the current environment's name (all of it with --output json)."""
    from micro import environment

    env = environment.resolve(globals_.env).env
    if wants_json(output):
        emit_json(_json(env, current=True))
    else:
        out(env.name)


@app.command("set")
def env_set(name: str = typer.Argument(..., help="Environment to make current.")) -> None:
    """Make NAME the current environment."""
    from micro import environment

    environment.set_current(name)


@app.command("add")
def env_add(
    name: str = typer.Argument(..., help="Name of the new environment."),
    address: str = typer.Argument(..., help="Its server address, host:port."),
    description: str = typer.Option("", "--description", help="A short description."),
    read_only: bool = typer.Option(False, "--read-only", help="Refuse mutating commands."),
    color: str = typer.Option("", "--color", help="Colour of the workspace header."),
    tls: bool = typer.Option(False, "--tls", help="The server serves TLS (micro server --tls-cert)."),
    ca: str = typer.Option(
        "", "--ca", help="PEM file of the CA to trust for --tls (default: the system's); implies --tls."
    ),
) -> None:
    """Add an environment."""
    from micro import environment

    if color:
        # the colour the workspace tints its header with (and the way it parses it)
        from textual.color import Color, ColorParseError

        try:
            Color.parse(color)
        except ColorParseError:
            raise Failure(f"Not a colour: {color} (e.g. red, #ff0000, rgb(255,0,0))") from None

    environment.add(
        environment.Environment(
            name,
            address,
            description=description,
            read_only=read_only,
            color=color,
            tls=tls or bool(ca),
            ca=ca,
        )
    )


@app.command("del")
def env_del(name: str = typer.Argument(..., help="Environment to delete.")) -> None:
    """Delete an environment."""
    from micro import environment

    environment.delete(name)
