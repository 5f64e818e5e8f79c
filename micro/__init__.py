"""micro: the framework for writing services on the micro platform.

``import micro`` stays cheap: submodules (store, registry, errors, …) import what they need
when they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from micro.service import Service

__all__ = ["Service", "__version__"]

__version__ = "0.1.0"

_SUBMODULES = frozenset(
    {"auth", "broker", "client", "config", "errors", "events", "registry", "store", "testing"}
)


def __getattr__(name: str) -> Any:
    """``micro.Service`` and ``micro.store``/``micro.client``/… imported on first use."""
    import importlib

    if name == "Service":
        from micro.service import Service

        return Service
    if name in _SUBMODULES:
        return importlib.import_module(f"micro.{name}")
    raise AttributeError(f"module 'micro' has no attribute {name!r}")
