"""A warm interpreter (see :mod:`server.runtime._warm`): ``python <this file>``.

Run as a file, not with ``-m``: no ``server`` package is imported into what becomes the
service's process (a service may have a package of that name), and its own folder leaves
the import path before anything is imported.

It imports what every service imports before its own code runs, then waits for one JSON
line on stdin — ``{"cwd", "env", "argv"}`` — and becomes that instance: stdin from
``/dev/null``, the environment replaced, the working folder and import path set, the entry
point run as ``__main__`` exactly as ``python main.py`` (or ``python -m pkg``) would run it,
so an error in the service's code shows and exits as a cold start's would. Only the
standard library is imported at module level: what the preload cannot import (a venv
without it) is imported later by the service, as in a cold start.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

#: what every service imports before its own code runs
PRELOAD = (
    "micro.service",
    "micro.auth.jwt",
    "micro.auth._convert",
    "micro.registry.grpc",
    "micro.registry.schema",
    "micro.proto.auth.auth_pb2_grpc",
    "micro.proto.debug.debug_pb2_grpc",
    "micro.proto.registry.registry_pb2_grpc",
    "grpc_health.v1.health",
    "grpc_reflection.v1alpha.reflection",
)


def main() -> None:
    sys.path.pop(0)  # this file's folder: the runtime's modules are not the service's
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # the service imports it itself, as a cold start would
            continue
    line = sys.stdin.readline()
    if not line:
        return  # the runtime let it go
    request = json.loads(line)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    settings = sys.modules.get("micro.settings")
    if settings is not None:
        settings.reload()  # read on first use: nothing was, but the preload must not decide
    argv: list[str] = request["argv"]
    if argv[0] == "-m":
        sys.argv = argv[1:]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
