"""micro: the framework for writing services on the micro platform.

``import micro`` stays cheap: submodules (store, registry, errors, …) import what they need
when they are used.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
