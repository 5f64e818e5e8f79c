"""A route-guide style test service (unary, server, client and bidi streaming), compiled once
per test session into a temporary folder that is put on ``sys.path``.

The folder also holds ``routeguide_service.py`` (the servicer plus a ``__main__`` that runs it
as a micro service), so end-to-end tests can start it as a real process.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PROTO = """
syntax = "proto3";
package routeguide;

service RouteGuide {
  rpc GetFeature(Point) returns (Feature) {}
  rpc ListFeatures(Rectangle) returns (stream Feature) {}
  rpc RecordRoute(stream Point) returns (RouteSummary) {}
  rpc RouteChat(stream RouteNote) returns (stream RouteNote) {}
  rpc Echo(Feature) returns (Feature) {}
}

message Point { int32 latitude = 1; int32 longitude = 2; }
message Rectangle { Point lo = 1; Point hi = 2; }
message Feature {
  string name = 1;
  Point location = 2;
  bytes blob = 3;
  string service = 4;    // the micro-service metadata the node saw
  string namespace = 5;  // the micro-namespace metadata the node saw
}
message RouteSummary { int32 point_count = 1; }
message RouteNote { Point location = 1; string message = 2; }
"""

SERVICE = '''
"""The route guide as a micro service: NODE_LABEL names the node in replies."""

import os

import micro
from micro import errors

import routeguide_pb2 as pb
import routeguide_pb2_grpc as pb_grpc


class RouteGuide(pb_grpc.RouteGuideServicer):
    def __init__(self, label="node"):
        self.label = label

    async def GetFeature(self, request, context):
        if request.latitude == 404:
            raise errors.NotFound("no feature at 404")
        if request.latitude == 500:
            raise RuntimeError("boom")
        if request.latitude == 204:
            return None  # a handler that forgot its return
        if request.latitude == 999:
            raise SystemExit(3)  # sys.exit() in a handler
        if request.latitude == 7:  # response headers and trailers of its own
            await context.send_initial_metadata((("x-node", self.label),))
            context.set_trailing_metadata((("x-done", "yes"),))
        md = dict(context.invocation_metadata())
        return pb.Feature(
            name=self.label,
            location=request,
            service=md.get("micro-service", ""),
            namespace=md.get("micro-namespace", ""),
        )

    async def ListFeatures(self, request, context):
        await context.send_initial_metadata((("x-node", self.label),))
        for i in range(request.lo.latitude, request.hi.latitude):
            yield pb.Feature(name=f"{self.label}:{i}", location=pb.Point(latitude=i))

    async def RecordRoute(self, request_iterator, context):
        count = 0
        async for _ in request_iterator:
            count += 1
        return pb.RouteSummary(point_count=count)

    async def RouteChat(self, request_iterator, context):
        async for note in request_iterator:
            yield pb.RouteNote(location=note.location, message=note.message.upper())

    async def Echo(self, request, context):
        return request


if __name__ == "__main__":
    service = micro.Service(os.environ.get("SERVICE", "routeguide"))
    service.handle(RouteGuide(os.environ.get("NODE_LABEL", "node")))
    service.run()
'''


@dataclass(frozen=True)
class RouteGuideModules:
    folder: Path
    pb: ModuleType
    pb_grpc: ModuleType
    service: ModuleType


@functools.cache
def routeguide() -> RouteGuideModules:
    """Compile and import the route guide (once per process)."""
    from grpc_tools import protoc

    folder = Path(tempfile.mkdtemp(prefix="routeguide-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "routeguide.proto").write_text(PROTO)
    (folder / "routeguide_service.py").write_text(SERVICE)
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(
        [
            "protoc",
            f"-I{folder}",
            f"-I{include}",
            f"--python_out={folder}",
            f"--grpc_python_out={folder}",
            str(folder / "routeguide.proto"),
        ]
    )
    assert code == 0, "protoc failed"
    sys.path.insert(0, str(folder))
    return RouteGuideModules(
        folder=folder,
        pb=importlib.import_module("routeguide_pb2"),
        pb_grpc=importlib.import_module("routeguide_pb2_grpc"),
        service=importlib.import_module("routeguide_service"),
    )
