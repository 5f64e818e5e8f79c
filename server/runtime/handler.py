"""The runtime's gRPC servicers: protobuf ⇄ domain and input checks, nothing else.

Who may call: running, updating and killing a service (and uploading its source) need an
admin or a service account of the namespace; reading status and logs any account of it
(rules can only narrow this). ``Read`` and ``Logs`` are marked side-effect free.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.proto.runtime import runtime_pb2, runtime_pb2_grpc
from micro.runtime import Service
from micro.runtime._convert import batch_to_proto, service_to_proto
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import WATCHES
from server.runtime._git import Credentials
from server.runtime.local import LocalRuntime

__all__ = ["PERMISSIONS", "RuntimeHandler", "SourceHandler"]


def _options_namespace(request: Any) -> str:
    return str(request.options.namespace)


PERMISSIONS = {
    "/runtime.Runtime/Create": Permission(Policy.ADMIN_OR_SERVICE, _options_namespace),
    "/runtime.Runtime/Update": Permission(Policy.ADMIN_OR_SERVICE, _options_namespace),
    "/runtime.Runtime/Delete": Permission(Policy.ADMIN_OR_SERVICE, _options_namespace),
    "/runtime.Runtime/Read": Permission(Policy.ACCOUNT, _options_namespace),
    "/runtime.Runtime/Logs": Permission(Policy.ACCOUNT, _options_namespace),
    "/runtime.Source/Upload": Permission(Policy.ADMIN_OR_SERVICE),  # a stream: the call's namespace
}


def _credentials(secrets: Any) -> Credentials | None:
    """The clone's credentials among a request's secrets (``git.username``, ``git.password``)."""
    found = Credentials(secrets.get("git.username", ""), secrets.get("git.password", ""))
    return found or None


class RuntimeHandler(runtime_pb2_grpc.RuntimeServicer):
    """Serves a :class:`~server.runtime.local.LocalRuntime` as ``runtime.Runtime``."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    async def Create(self, request: runtime_pb2.CreateRequest, context: Any) -> runtime_pb2.CreateResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        account = ctx.account()
        svc = request.service
        created = await self.runtime.create(
            Service(name=svc.name, version=svc.version or "latest", source=svc.source),
            upload=request.options.upload,
            subfolder=request.options.subfolder,
            env=list(request.options.env),
            instances=request.options.instances or 1,
            namespace=namespace,
            owner=account.display_name if account is not None else "",
            command=list(request.options.command),
            args=list(request.options.args),
            credentials=_credentials(request.options.secrets),
        )
        return runtime_pb2.CreateResponse(service=service_to_proto(created))

    async def Read(self, request: runtime_pb2.ReadRequest, context: Any) -> runtime_pb2.ReadResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        found = await self.runtime.read(request.options.service, namespace=namespace)
        return runtime_pb2.ReadResponse(services=[service_to_proto(s) for s in found])

    async def Update(self, request: runtime_pb2.UpdateRequest, context: Any) -> runtime_pb2.UpdateResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        opts = request.options
        if opts.instances < 0:
            raise errors.BadRequest(f"--instances must be at least 1, not {opts.instances}")
        updated = await self.runtime.update(
            request.service.name,
            upload=opts.upload,
            subfolder=opts.subfolder if opts.upload else None,
            instances=opts.instances,
            env=list(opts.env) if opts.set_env else None,
            namespace=namespace,
            credentials=_credentials(opts.secrets),
        )
        return runtime_pb2.UpdateResponse(service=service_to_proto(updated))

    async def Delete(self, request: runtime_pb2.DeleteRequest, context: Any) -> runtime_pb2.DeleteResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        await self.runtime.delete(request.service.name, namespace=namespace)
        return runtime_pb2.DeleteResponse()

    async def Logs(
        self, request: runtime_pb2.LogsRequest, context: Any
    ) -> AsyncIterator[runtime_pb2.LogBatch]:
        namespace = ctx.namespace(context, request.options.namespace)
        count = int(request.count) if request.count else 15
        with WATCHES.hold(context) if request.stream else contextlib.nullcontext():
            async for batch in self.runtime.logs(
                request.service,
                count=count,
                follow=request.stream,
                since=float(request.since),
                namespace=namespace,
            ):
                yield batch_to_proto(batch)


class SourceHandler(runtime_pb2_grpc.SourceServicer):
    """``runtime.Source/Upload``: a packed source, streamed into the runtime's blob area."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    async def Upload(self, request_iterator: Any, context: Any) -> runtime_pb2.UploadResponse:
        first: list[runtime_pb2.UploadRequest] = []
        iterator = request_iterator.__aiter__()
        try:
            first.append(await iterator.__anext__())
        except StopAsyncIteration:
            raise errors.BadRequest("an upload needs at least one message") from None
        name = first[0].name
        namespace = ctx.namespace(context, first[0].namespace)
        if first[0].namespace and first[0].namespace != namespace:
            raise errors.Forbidden("cannot upload to another namespace")

        async def chunks() -> AsyncIterator[bytes]:
            yield first[0].data
            async for message in iterator:
                yield message.data

        upload = await self.runtime.upload(name, chunks(), namespace=namespace)
        return runtime_pb2.UploadResponse(id=upload)
