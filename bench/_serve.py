"""Run a micro server for the benchmarks: ``python bench/_serve.py DATA_DIR [--store-only]``.

Prints ``Listening on <addr> (grpc)`` on stdout once it serves, then runs until killed.
The full server runs without its auth interceptor (the bench has no account).
``--store-only`` hosts just the store service (its handler on SQLite, behind the same error
interceptor), to tell the store's own cost from the rest of the server.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path


async def _full(data_dir: Path) -> None:
    from server.app import Server

    try:
        # the store's path without the per-call token check (this bench has no account)
        srv = Server(data_dir=data_dir, address="127.0.0.1:0", profile="local", auth=False)
    except TypeError:  # a server without auth
        srv = Server(data_dir=data_dir, address="127.0.0.1:0", profile="local")
    await srv.start()
    print(f"Listening on {srv.bound_address} (grpc)", flush=True)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, srv.request_stop)
    try:
        await srv.wait()
    finally:
        await srv.stop(grace=0)


async def _store_only(data_dir: Path) -> None:
    import grpc

    from micro._grpc import SERVER_OPTIONS, ErrorInterceptor
    from micro.proto.store import store_pb2_grpc
    from server.store.handler import StoreHandler
    from server.store.sqlite import SqliteStore

    store = SqliteStore(data_dir / "store.db")
    server = grpc.aio.server(interceptors=[ErrorInterceptor()], options=SERVER_OPTIONS)
    store_pb2_grpc.add_StoreServicer_to_server(StoreHandler(store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"Listening on 127.0.0.1:{port} (grpc)", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop(0)
        await store.close()


def main() -> None:
    data_dir = Path(sys.argv[1])
    run = _store_only if "--store-only" in sys.argv[2:] else _full
    asyncio.run(run(data_dir))


if __name__ == "__main__":
    main()
