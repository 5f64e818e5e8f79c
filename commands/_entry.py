"""The ``micro`` executable: the workspace when run bare in a terminal, else the CLI.

``micro`` with no arguments opens the workspace without importing the CLI (typer and
:mod:`commands.main` cost the first paint ~40 ms), as the CLI would (``_no_command``);
anything else, and a bare ``micro`` whose environment cannot be resolved or that has
``MICRO_TIMEOUT`` to parse (the CLI says what is wrong in one line), goes to
:func:`commands.main.main`.
"""

import os
import sys

DEFAULT_TIMEOUT = 10.0
"""The CLI's default ``--timeout`` (``commands._output``), for the workspace's unary calls."""


def main() -> None:
    # MICRO_TIMEOUT is parsed (and a bad one reported) by the CLI
    if (
        len(sys.argv) == 1
        and sys.stdin.isatty()
        and sys.stdout.isatty()
        and "MICRO_TIMEOUT" not in os.environ
    ):
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # before anything imports grpc
        from micro import _platform, environment, errors

        try:
            context = environment.resolve()
        except errors.MicroError:
            pass  # the CLI reports it
        else:
            from micro_tui.app import run

            _platform.set_call_deadline(DEFAULT_TIMEOUT)

            run(context)
            return
    from commands.main import main as cli

    cli()
