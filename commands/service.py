"""``micro service <name>``: run one core service alone, in this process (v3's form).

The service builds the backends it owns from the profile (under ``MICRO_HOME/server``) and
joins the server of the current environment for the rest: it registers there (in its own
registry when it is the registry) and checks its callers against that server's auth service
(its own when it is auth), with the login of the environment (``MICRO_TOKEN`` wins). The
runtime also makes its services' accounts with that server's auth and points them at it;
the server leaves it out with ``micro server --without runtime``, and its proxy forwards
``micro run`` and the rest here. Logs ``Listening on <addr>``; Ctrl-C or SIGTERM
deregisters it and stops it.
"""

import signal
import sys

import typer

from commands._output import Failure


def register(root: typer.Typer) -> None:
    root.command("service")(service)


def service(
    name: str = typer.Argument(
        ..., help="The core service: registry, store, config, events, auth, broker, runtime or network."
    ),
    address: str = typer.Option("127.0.0.1:0", "--address", help="gRPC address (port 0 = any free port)."),
    profile: str = typer.Option("", "--profile", help="Backend profile: local (default) or test."),
) -> None:
    """Run one core service alone, joining the current environment's server."""
    import asyncio
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from micro import settings
    from server.app import ServerError

    profile = profile or settings.server().profile
    try:
        asyncio.run(_serve(name, address, profile))
    except ServerError as exc:
        raise Failure(str(exc)) from exc


async def _serve(name: str, address: str, profile: str) -> None:
    import asyncio
    import logging

    from commands._client import context
    from micro import _paths, credentials
    from server.app import Server
    from server.upstream import Upstream

    ctx = context(login=False)

    async def token() -> str | None:
        # the login of the environment, refreshed (off the loop) when close to expiry
        return await asyncio.to_thread(credentials.access_token, ctx.env.name, ctx.namespace, ctx.address)

    upstream = Upstream(ctx.address, token)
    srv = Server(
        data_dir=_paths.server_dir(), address=address, profile=profile, service=name, upstream=upstream
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, srv.request_stop)
    logger = logging.getLogger("micro.server")
    try:
        bound = await srv.start()
        logger.info("Listening on %s", bound)
        await srv.wait()
        logger.info("Stopping")
    finally:
        await srv.stop()
        await upstream.close()
