"""The runtime core service: services built from source and supervised as local processes.

:class:`~server.runtime.local.LocalRuntime` is the backend (the ``runtime`` concern of the
profiles); :func:`core` serves it as ``runtime.Runtime`` and ``runtime.Source``. It creates
each service's account through the auth backend kept in the same store — or, run alone
(``micro service runtime``), through the auth service of the server it joined, whose
registry it finds nodes in and whose address its services are given as ``MICRO_PROXY``.
Alone, it keeps its records (the ``_runtime`` database) and the uploaded sources in its own
data folder (``MICRO_HOME/server``): they describe and rebuild processes of this machine,
beside the builds, venvs and logs it keeps there already, and a restarted runtime brings
its services back from them as the server's does. Nothing is imported
here at module level: importing one of its modules does not load the server's. What a
client checks in a source before uploading it (the entry point, git or folder) is the
framework's, :mod:`micro.runtime.source`, which the build and the clone here share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.core import CoreService
    from server.profiles import Backends

__all__ = ["core"]


def core(backends: Backends) -> CoreService:
    """The runtime service of the server, on ``backends.runtime``."""
    from micro.proto.runtime import runtime_pb2, runtime_pb2_grpc
    from server.auth.stored import StoredAuth
    from server.core import CoreService
    from server.runtime.handler import PERMISSIONS, RuntimeHandler, SourceHandler

    runtime = backends.runtime
    upstream = backends.upstream
    if upstream is not None:  # run alone: accounts are made by the joined server's auth
        runtime.attach(
            store=backends.store,
            registry=backends.registry,
            auth=upstream.auth,
            server=upstream.address,
            refresh=upstream.refresh,
        )
    else:
        # a view of the accounts kept in the store (the auth service's own instance is built
        # by its row; both read and write the same records)
        runtime.attach(
            store=backends.store,
            registry=backends.registry,
            auth=StoredAuth(backends.store, backends.data_dir),
        )
    handler, source = RuntimeHandler(runtime), SourceHandler(runtime)
    return CoreService(
        name="runtime",
        add=[
            lambda server: runtime_pb2_grpc.add_RuntimeServicer_to_server(handler, server),
            lambda server: runtime_pb2_grpc.add_SourceServicer_to_server(source, server),
        ],
        permissions=PERMISSIONS,
        descriptors=[runtime_pb2.DESCRIPTOR.services_by_name[n] for n in ("Runtime", "Source")],
        start=runtime.start,
    )
