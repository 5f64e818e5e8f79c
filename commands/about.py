"""``micro help [command]`` and ``micro version``: v3's forms of ``--help`` and ``--version``.

``micro help store`` is rewritten to ``micro store --help`` before parsing
(:func:`commands.main.v3_forms`); the ``help`` command here is what ``micro --help`` lists.
"""

import typer

from commands._output import out


def register(root: typer.Typer) -> None:
    root.command(
        "help",
        help="Show the help of micro or of a command: micro help store.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(help_)
    root.command("version", help="Print the version of micro.")(version)


def help_(ctx: typer.Context) -> None:
    # reached only when the rewrite did not apply (``micro help`` is ``micro --help``)
    out(ctx.find_root().get_help())


def version() -> None:
    from commands.main import version_line

    out(version_line())
