"""A config value as people type it (``micro config set PATH VALUE``, the workspace's "set a
config path" dialog): JSON when it is JSON, else the text itself."""

from __future__ import annotations

import json
import math
from typing import Any

from micro import errors

__all__ = ["parse_value"]


def parse_value(text: str) -> Any:
    """``text`` as JSON when it is JSON, else the text itself (``NaN``, ``Infinity`` and
    numbers beyond a double are not JSON: they stay text).

    Raises:
        BadRequest: JSON nested hundreds of levels deep (said as the server says a value too
            deep, instead of Python's RecursionError).
    """
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except ValueError:
        return text
    except RecursionError:
        from micro.settings import limits

        raise errors.BadRequest(f"value nested too deeply (limit {limits().config_depth} levels)") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(number: str) -> float:
    value = float(number)
    if math.isinf(value):
        raise ValueError(f"{number} is out of range")
    return value
