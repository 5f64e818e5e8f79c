"""``micro``: the command line. Global options go before the command, as in v3.

Startup is a feature: this module imports typer and the command modules only; each command
imports what it needs (grpc, the server, the workspace) inside its function.
"""

import dataclasses
import importlib
import os
import sys
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # before anything imports grpc

import typer
from typer import _click
from typer._click.parser import _OptionParser
from typer.core import TyperCommand, TyperGroup

from commands._output import Failure, err, globals_, out
from micro import settings

__all__ = ["COMMAND_MODULES", "LATER", "app", "dynamic_command", "main", "render_error", "run", "v3_forms"]

# Every top-level command: the module whose ``register(app)`` adds it, and the one-line help
# shown by ``micro --help`` (which therefore imports no command module; a test keeps these
# lines equal to the commands' own). Add one line per new command.
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("commands.server", "Run the micro server."),
    "service": ("commands.service", "Run one core service alone, joining the current environment's server."),
    "services": ("commands.services", "List registered services, sorted, one per line."),
    "get": ("commands.services_info", "Show one thing in detail."),
    "call": ("commands.call", "Call a service endpoint with a JSON request and print the JSON response."),
    "stream": ("commands.call", "Call a streaming endpoint and print each response as it arrives."),
    "health": ("commands.services_info", "Health of every node of a service: <node> <address> <status>."),
    "stats": ("commands.services_info", "Per node: started, uptime, memory, threads, requests and errors."),
    "network": ("commands.network", "Services, nodes and routes reachable in the namespace."),
    "new": ("commands.new", "Create a new service in a folder of its name."),
    "store": ("commands.store", "Read and write records in the store."),
    "config": ("commands.config", "Read, write and watch dynamic config."),
    "events": ("commands.events", "Publish, consume and read persistent event streams."),
    "env": ("commands.env", "Manage environments (named server addresses)."),
    "login": ("commands.user", "Log in to the current environment + namespace."),
    "logout": ("commands.user", "Forget the login of the current environment + namespace."),
    "user": ("commands.user", "The logged-in account."),
    "namespace": ("commands.namespace", "Show, switch and manage namespaces."),
    "auth": ("commands.auth", "Manage accounts and rules."),
    "broker": ("commands.broker", "Publish and subscribe to ephemeral messages."),
    "api": ("commands.api", "The HTTP API gateway's OpenAPI document."),
    "run": ("commands.runtime", "Run a service from a folder: built, started and supervised by the server."),
    "update": ("commands.runtime", "Rebuild a service from its (re-read) source and restart it."),
    "kill": ("commands.runtime", "Stop a service run by the server; its logs stay."),
    "status": ("commands.runtime", "Status of the services run by the server."),
    "logs": ("commands.runtime", "Print the logs of a service run by the server."),
    "help": ("commands.about", "Show the help of micro or of a command: micro help store."),
    "version": ("commands.about", "Print the version of micro."),
}
# Commands of the spec whose feature has not landed yet, with the issue that brings each: they
# say ``micro run is not available yet`` instead of "Unrecognized", and ``micro new`` refuses
# their names. Remove a line when its command lands (and add it to COMMANDS).
LATER: dict[str, int] = {}
COMMAND_MODULES: list[str] = list(dict.fromkeys(module for module, _ in COMMANDS.values()))


def dynamic_command(ctx: _click.Context, name: str) -> _click.Command | None:
    """Hook for "service as a command": a command for the registered service ``name``.

    Called when the first word is neither a builtin nor a ``micro-<word>`` on PATH; the
    global options are parsed (``ctx.params``) but not applied yet. None means unknown.
    """
    from commands.dynamic import command_for

    if ctx.params.get("timeout") is not None:  # the lookup has the deadline of the call
        from commands._client import parse_timeout

        globals_.timeout = parse_timeout(str(ctx.params["timeout"]))
    return command_for(ctx, name)


class RootGroup(TyperGroup):
    """``micro``: builtin commands are built from their module on first use (only the one
    that runs); unknown words go to ``micro-<word>`` on PATH, then :func:`dynamic_command`."""

    _built: dict[str, _click.Command]
    _help_only = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: _click.Context, name: str) -> _click.Command | None:
        if name not in COMMANDS:
            return None
        if self._help_only:
            # ``micro --help`` lists names and one-line helps: no module needs importing
            help_text = COMMANDS[name][1]
            return TyperCommand(name, help=help_text, short_help=help_text)
        built: dict[str, _click.Command] = self.__dict__.setdefault("_built", {})
        if name not in built:
            built.update(build_module(COMMANDS[name][0]))
        return built.get(name)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._help_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._help_only = False

    def shell_complete(self, ctx: _click.Context, incomplete: str) -> list[Any]:
        """Builtin commands, then registered services (each is a command too)."""
        items: list[Any] = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            return items
        from typer._click.shell_completion import CompletionItem

        from commands.call import complete_service

        services = [name for name in complete_service(incomplete) if name not in COMMANDS]
        return items + [CompletionItem(name) for name in services]

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name = args[0]
        if ctx.resilient_parsing and self.get_command(ctx, name) is None and not name.startswith("-"):
            # shell completion after a service's name: its endpoints and flags, never a failure
            try:
                command = dynamic_command(ctx, name)
            except Exception:
                command = None
            if command is None:  # an unknown word: nothing follows it (not the builtins)
                command = TyperCommand(name, context_settings={"ignore_unknown_options": True})
            return name, command, args[1:]
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            import shutil

            plugin = shutil.which(f"micro-{name}")
            if plugin:
                sys.stdout.flush()
                os.execv(plugin, [plugin, *args[1:]])
            if name in LATER:  # before the registry: no server needed to say so
                raise Failure(f"micro {name} is not available yet")
            command = dynamic_command(ctx, name)
            if command is not None:
                return name, command, args[1:]
            raise Failure(f"Unrecognized micro command: {name}. Please refer to 'micro --help'")
        return super().resolve_command(ctx, args)


class SubGroup(TyperGroup):
    """A command group whose unknown subcommand gets v3's line."""

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            path = ctx.command_path
            raise Failure(f"Unrecognized subcommand for {path}: {name}. Please refer to '{path} --help'")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=RootGroup,
    name="micro",
    help="micro: a cloud operating system for microservices.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_line() -> str:
    """``micro version X``, as v3 prints it for ``micro --version`` and ``micro version``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("micro-platform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown"
    return f"micro version {number}"


def _print_version(value: bool) -> None:
    if value:
        out(version_line())
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    env: str | None = typer.Option(
        None, "-e", "--env", envvar=settings.Client.variable("env"), help="Environment for this command only."
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        envvar=settings.Client.variable("namespace"),
        help="Namespace for this command only.",
    ),
    profile: str | None = typer.Option(
        None, "--profile", envvar=settings.Server.variable("profile"), help="Backend profile (server side)."
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        envvar=settings.Cli.variable("output"),
        metavar="text|json",
        help="Output format: text or json.",
    ),
    home: str | None = typer.Option(
        None, "--home", envvar=settings.Paths.variable("home"), help="State folder (default ~/.micro)."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar=settings.Cli.variable("debug"), help="Show tracebacks."
    ),
    timeout: str | None = typer.Option(
        None,
        "--timeout",
        "--request_timeout",
        envvar=settings.Cli.variable("timeout"),
        metavar="DURATION",
        help="Deadline of each call to the server: 15s, 2m, plain seconds; 0 for none (default 10s).",
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """micro: a cloud operating system for microservices.

    Without a command it opens the workspace (in a terminal).
    """
    settings.cli()  # a bad MICRO_OUTPUT or MICRO_TIMEOUT is one line naming the variable
    globals_.env = env or None
    globals_.namespace = namespace or None
    if output not in (None, "text", "json"):
        raise typer.BadParameter(f"'{output}' is not one of 'text', 'json'.", param_hint="'--output'")
    globals_.output = output or "text"
    globals_.debug = bool(debug)
    if timeout is not None:
        from commands._client import parse_timeout

        globals_.timeout = parse_timeout(timeout)
    if home:
        settings.use(dataclasses.replace(settings.paths(), home=home))
    if profile:
        settings.use(dataclasses.replace(settings.server(), profile=profile))
    if ctx.invoked_subcommand is None:
        _no_command()


def _no_command() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise Failure("No command provided to micro. Please refer to 'micro --help'")
    from micro import environment

    context = environment.resolve(globals_.env, globals_.namespace)
    from micro import _platform

    _platform.set_call_deadline(globals_.timeout)  # the workspace's unary calls, as the CLI's
    try:
        tui = importlib.import_module("micro_tui.app")
    except ImportError as exc:
        raise Failure(f"The workspace is not available: {exc}") from exc
    launch = getattr(tui, "run", None)
    if launch is None:
        raise Failure("The workspace is not available yet; see 'micro --help'")
    launch(context)


def build_module(module: str) -> dict[str, _click.Command]:
    """The click commands that ``module``'s ``register(app)`` adds, by name."""
    holder = typer.Typer()
    holder.callback()(_nothing)  # a callback makes typer build a group even for one command
    importlib.import_module(module).register(holder)
    group = typer.main.get_command(holder)
    _adopt(group)
    from commands._fast import speed_up

    speed_up(group)
    return dict(getattr(group, "commands", {}))


def _nothing() -> None:
    """A placeholder callback."""


_root: list[_click.Command] = []


def _register() -> _click.Command:
    """The root command (global options); its subcommands are built lazily."""
    if not _root:
        command = typer.main.get_command(app)
        from commands._fast import speed_up

        speed_up(command)
        _root.append(command)
    return _root[0]


class _ValueParser(_OptionParser):
    """Reads a word that starts with one dash and names no option of the command as a
    positional value (``micro config set x -5``, ``micro store write k -5``), as v3 did;
    ``--nosuch`` stays an unknown option."""

    def _process_opts(self, arg: str, state: Any) -> None:
        single = arg[:2] not in self._opt_prefixes
        if single and arg.split("=", 1)[0] not in self._long_opt and arg[:2] not in self._short_opt:
            state.largs.append(arg)
            return
        super()._process_opts(arg, state)


class ValueCommand(TyperCommand):
    """A command with positional arguments: their values may start with a dash."""

    def make_parser(self, ctx: _click.Context) -> _OptionParser:
        parser = _ValueParser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser


def _adopt(group: Any) -> None:
    """Give every nested group the unknown-subcommand behaviour, and every command with
    positional arguments values that start with a dash."""
    for sub in getattr(group, "commands", {}).values():
        if type(sub) is TyperGroup:
            sub.__class__ = SubGroup
        elif type(sub) is TyperCommand and any(p.param_type_name == "argument" for p in sub.params):
            sub.__class__ = ValueCommand
        _adopt(sub)


def render_error(exc: BaseException) -> tuple[str, int]:
    """The line and exit code for a MicroError, per the table in the CLI spec."""
    from micro.errors import MicroError

    if not isinstance(exc, MicroError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 127
    detail = exc.detail or exc.status
    line = detail[:1].upper() + detail[1:]
    if exc.code == 401:
        return f"Not authorized to perform this request: {detail}", 2
    if exc.code == 403:
        return f"Forbidden: {detail}", 2
    if exc.code == 408:
        return "Request timed out", 1
    if exc.code in (501, 503):
        return line, 4
    if exc.code in (400, 404, 409, 413, 429):
        return line, 1
    return line, 127


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _global_options(root: _click.Command) -> tuple[set[str], set[str]]:
    """The root's options that take a value, and its long option names (read from the root
    command itself, so a new global option needs no second list)."""
    takes_value: set[str] = set()
    long: set[str] = {"--help"}
    for param in root.params:
        if param.param_type_name != "option":
            continue
        names = [*param.opts, *param.secondary_opts]
        long.update(name for name in names if name.startswith("--"))
        if not getattr(param, "is_flag", False):
            takes_value.update(names)
    return takes_value, long


def v3_forms(argv: list[str], root: _click.Command | None = None) -> list[str]:
    """v3's spellings of the words before the command, in ours.

    Go's flag package reads ``-e=NAME`` as ``-e NAME`` and takes long names after one dash
    (``-env staging``, ``-env=staging``); click would read them as the env ``=NAME`` and
    ``nv=staging``. ``micro help [command…]`` is ``micro [command…] --help``.
    """
    takes_value, long = _global_options(root or _register())
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            break
        name, eq, value = arg.partition("=")
        if name[:2] != "--" and "-" + name in long:
            name = "-" + name  # -env → --env
        if name == "-e" and eq:
            name = "--env"
        args[i] = f"{name}={value}" if eq else name
        i += 2 if name in takes_value and not eq else 1
    if i < len(args) and args[i] == "help":
        args = [*args[:i], *args[i + 1 :], "--help"]
    return args


def run(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    try:
        command = _register()
        argv = v3_forms(sys.argv[1:] if argv is None else argv, command)
        result = command.main(args=argv, prog_name="micro", standalone_mode=False)
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    except _click.exceptions.NoArgsIsHelpError as exc:
        if exc.format_message().strip():
            out(exc.format_message())
        return 0
    except _click.exceptions.ClickException as exc:
        err(_one_line(exc.format_message()))
        return 1
    except Failure as exc:
        _debug_traceback()
        err(exc.line)
        return exc.code
    except (KeyboardInterrupt, typer.Abort):
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        return 1
    except Exception as exc:  # MicroError (imported only when one happens) and the unexpected
        _debug_traceback()
        line, code = render_error(exc)
        err(line)
        return code


def _debug_traceback(*, always: bool = False) -> None:
    if always or globals_.debug or _debug_variable():
        import traceback

        traceback.print_exc()


def _debug_variable() -> bool:
    """``MICRO_DEBUG`` for a failure before the global options were applied (a bad value is
    reported as the failure itself, without a traceback)."""
    from micro import errors

    try:
        return settings.cli().debug
    except errors.MicroError:
        return False


def main() -> None:
    """The console entry point."""
    code = run(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = code or 1
    sys.exit(code)


if __name__ == "__main__":
    main()
