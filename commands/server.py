"""``micro server``: run the server in the foreground, or detached with ``status`` / ``stop``.

A running server (either way) records its pid and bound address in
``MICRO_HOME/server/server.pid`` and ``server.addr``; a detached one logs to
``MICRO_HOME/logs/server.log``.
"""

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

import typer

from commands._output import Failure, out
from micro import settings

app = typer.Typer(help="Run the micro server.", invoke_without_command=True)

START_SECONDS = 10.0
STOP_SECONDS = 10.0


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="server")


def _pid_file() -> Path:
    from micro import _paths

    return _paths.server_dir() / "server.pid"


def _addr_file() -> Path:
    from micro import _paths

    return _paths.server_dir() / "server.addr"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _locked() -> bool:
    """Whether a server holds this MICRO_HOME's lock (every running server does, until it
    exits, however it exits)."""
    import fcntl

    from micro import _paths

    try:
        fd = os.open(_paths.server_dir() / "server.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def running() -> tuple[int, str] | None:
    """The pid and address of the server running on this MICRO_HOME, if any.

    The pid file alone is not trusted: a server killed with ``kill -9`` leaves it behind, and
    its pid may since belong to another process (which ``stop`` would then signal).
    """
    try:
        pid = int(_pid_file().read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid) or not _locked():
        return None
    try:
        address = _addr_file().read_text().strip()
    except OSError:
        address = ""
    return pid, address or "unknown address"


def _write_state(address: str) -> None:
    from micro import _paths

    _paths.write_private(_pid_file(), f"{os.getpid()}\n")
    _paths.write_private(_addr_file(), f"{address}\n")


def _clear_state(pid: int) -> None:
    try:
        if int(_pid_file().read_text().strip()) != pid:
            return
    except (OSError, ValueError):
        return
    _addr_file().unlink(missing_ok=True)
    _pid_file().unlink(missing_ok=True)


@app.callback()
def server(
    ctx: typer.Context,
    address: str = typer.Option(
        settings.Server.address,
        "--address",
        envvar=settings.Server.variable("address"),
        help="gRPC address (port 0 = any free port).",
    ),
    api_address: str = typer.Option(
        None,
        "--api-address",
        envvar=settings.Server.variable("api_address"),
        help="HTTP gateway address (default 127.0.0.1:8080; port 0 = any free port; off = none).",
        show_default=False,
    ),
    profile: str = typer.Option("", "--profile", help="Backend profile: local (default) or test."),
    detach: bool = typer.Option(False, "--detach", help="Start in the background and return."),
    disable_admin: bool = typer.Option(
        False, "--disable-admin", help="Do not create the default admin account (admin/micro)."
    ),
    tls_cert: str = typer.Option(
        "",
        "--tls-cert",
        envvar=settings.Server.variable("tls_cert"),
        help="Serve gRPC over TLS: the certificate (PEM).",
    ),
    tls_key: str = typer.Option(
        "",
        "--tls-key",
        envvar=settings.Server.variable("tls_key"),
        help="The private key (PEM) of --tls-cert.",
    ),
    without: str = typer.Option(
        "",
        "--without",
        envvar=settings.Server.variable("without"),
        help="Core services (comma-separated) not served here: each runs alone (micro service NAME).",
    ),
) -> None:
    """Run the micro server in the foreground (Ctrl-C stops it), or in the background with --detach."""
    from typer._click.core import ParameterSource

    if ctx.find_root().get_parameter_source("env") is ParameterSource.COMMANDLINE:
        # MICRO_ENV exported for other commands is not an error; `micro -e x server stop` is
        what = f"micro server {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "micro server"
        raise Failure(f"-e/--env does not apply to {what}: it acts on the server of MICRO_HOME")
    if ctx.invoked_subcommand is not None:
        return
    profile = profile or settings.server().profile
    if disable_admin:  # read by the auth service; passed on by --detach
        settings.use(dataclasses.replace(settings.auth(), disable_admin=True))
    if bool(tls_cert) != bool(tls_key):
        raise Failure("--tls-cert and --tls-key go together: give both, or neither")
    if tls_cert:
        # absolute, and passed on by --detach (whose working directory may differ)
        tls_cert, tls_key = os.path.abspath(tls_cert), os.path.abspath(tls_key)
        settings.use(dataclasses.replace(settings.server(), tls_cert=tls_cert, tls_key=tls_key))
    if without:  # passed on by --detach
        settings.use(dataclasses.replace(settings.server(), without=without))
    if detach:
        _detach(address, api_address, profile)
    else:
        _foreground(address, api_address, profile, (tls_cert, tls_key) if tls_cert else None)


#: the gateway's address when none is given; a given one that cannot be bound stops the
#: server, this one only warns (the gRPC side is what the CLI and the workspace need)
DEFAULT_API_ADDRESS = settings.Server.api_address


def _foreground(address: str, api_address: str | None, profile: str, tls: tuple[str, str] | None) -> None:
    import asyncio
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from server.app import ServerError

    try:
        asyncio.run(_serve(address, api_address, profile, tls))
    except ServerError as exc:
        raise Failure(str(exc)) from exc


async def _serve(address: str, api_address: str | None, profile: str, tls: tuple[str, str] | None) -> None:
    import asyncio
    import logging

    from micro import _paths
    from server.app import Server

    origins = settings.server().api_cors_origins
    srv = Server(
        data_dir=_paths.server_dir(),
        address=address,
        api_address=None if api_address == "off" else (api_address or DEFAULT_API_ADDRESS),
        api_required=api_address is not None,
        api_cors_origins=frozenset(o.strip() for o in origins.split(",") if o.strip()),
        profile=profile,
        tls=tls,
        without=frozenset(n.strip() for n in settings.server().without.split(",") if n.strip()),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, srv.request_stop)
    try:
        bound = await srv.start()
        default_password = srv.auth is not None and await srv.auth.default_password()
        _write_state(bound)
        # announced only once the state files exist: whoever waits for this line may read them
        logger = logging.getLogger("micro.server")
        if tls:
            logger.info("Serving TLS with the certificate %s", tls[0])
        if default_password:
            logger.warning("The admin password is still the default: change it with micro user set password")
        if srv.api_bound_address:  # first: whoever waits for the grpc line has this one too
            logger.info("Listening on %s (http)", srv.api_bound_address)
        logger.info("Listening on %s (grpc)", bound)
        import gc

        # what start-up made lives as long as the server: out of the collector's sight, a full
        # collection walks the requests' objects only (tens of ms less at a busy gateway's p99)
        gc.freeze()
        await srv.wait()
        logger.info("Stopping")
    finally:
        await srv.stop()
        _clear_state(os.getpid())


def _detach(address: str, api_address: str | None, profile: str) -> None:
    import subprocess

    from micro import _paths

    found = running()
    if found:
        raise Failure(f"A micro server is already running at {found[1]} (pid {found[0]})")
    # a stale pid file (kill -9) goes now, so the wait below never probes the lock the
    # starting server is about to take
    _addr_file().unlink(missing_ok=True)
    _pid_file().unlink(missing_ok=True)
    log_path = _paths.logs_dir() / "server.log"
    with log_path.open("ab") as log:
        start_offset = log.tell()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "commands.main",
                "server",
                "--address",
                address,
                *(("--api-address", api_address) if api_address is not None else ()),
                "--profile",
                profile,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=settings.child_env(dataclasses.replace(settings.paths(), home=str(_paths.home()))),
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        found = running()
        if found and found[0] == proc.pid and found[1] != "unknown address":
            out(f"Server started at {found[1]} (pid {proc.pid})")
            _point_the_cli(found[1])
            return
        if proc.poll() is not None:
            raise Failure(
                _last_line(log_path, start_offset) or f"The server exited with code {proc.returncode}"
            )
        time.sleep(0.05)
    raise Failure(f"The server did not start within {START_SECONDS:.0f}s; see {log_path}")


def _point_the_cli(bound: str) -> None:
    """The commands that point the CLI at a server started elsewhere than the ``local`` env's
    address (an env that already has that address is only switched to)."""
    from micro import environment

    host, _, port = bound.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):  # every interface: dial loopback
        host = "127.0.0.1"
    address = f"{host}:{port}"
    same = [env.name for env in environment.environments() if env.address == address]
    current = environment.current().name
    if current in same:
        return
    out("To use it from the CLI:")
    if same:
        out(f"  micro env set {same[0]}")
        return
    name = f"local-{port}"
    out(f"  micro env add {name} {address}")
    out(f"  micro env set {name}")


def _last_line(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


@app.command("status")
def status() -> None:
    """Say whether a server runs on this MICRO_HOME, and where."""
    found = running()
    if not found:
        raise Failure("No micro server is running")
    out(f"Server running at {found[1]} (pid {found[0]})")


@app.command("stop")
def stop() -> None:
    """Stop the server running on this MICRO_HOME (SIGTERM, then SIGKILL after a grace)."""
    found = running()
    if not found:
        raise Failure("No micro server is running")
    pid = found[0]
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, STOP_SECONDS):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 2.0)
    _clear_state(pid)
    out("Server stopped")


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise Failure(f"Not allowed to stop the micro server (pid {pid})") from exc


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)
