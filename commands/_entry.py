"""The ``micro`` executable: the workspace when run bare in a terminal, else the CLI.

``micro`` with no arguments opens the workspace without importing the CLI (typer and
:mod:`commands.main` cost the first paint ~40 ms), as the CLI would (``_no_command``);
anything else, and a bare ``micro`` whose environment cannot be resolved or whose settings
are bad (the CLI says what is wrong in one line), goes to :func:`commands.main.main`.
"""

import os
import sys


def main() -> None:
    if len(sys.argv) == 1 and sys.stdin.isatty() and sys.stdout.isatty():
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # before anything imports grpc
        from micro import _platform, environment, errors, settings

        try:
            timeout = settings.cli().timeout  # MICRO_TIMEOUT, as the CLI's --timeout
            context = environment.resolve()
        except errors.MicroError:
            pass  # the CLI reports it
        else:
            from micro_tui.app import run

            _platform.set_call_deadline(timeout)

            run(context)
            return
    from commands.main import main as cli

    cli()
