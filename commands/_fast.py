"""Cheap coercion of plain parameters, so that running a command does not import pydantic.

typer 0.29 coerces every parameter value through a pydantic ``TypeAdapter``; the first one
imports pydantic (~100 ms, more than the rest of ``micro env``). Parameters of the plain
kinds our commands use (str, int, float, bool, StrEnum, optionals and lists of those) get
a small coercer here instead; anything else keeps typer's. Startup is a feature.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from typer import _click
from typer._coercion import RuntimeParam

__all__ = ["speed_up"]

_PLAIN = (str, int, float, bool)


def _plain(annotation: Any) -> tuple[type, bool] | None:
    """``(leaf type, is a list)`` when the annotation is one we coerce here."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _plain(args[0]) if len(args) == 1 else None
    if origin is list:
        items = get_args(annotation)
        leaf = _plain(items[0]) if len(items) == 1 else None
        return (leaf[0], True) if leaf and not leaf[1] else None
    if annotation in _PLAIN:
        return annotation, False
    if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum):
        return annotation, False
    return None


@dataclass(frozen=True)
class _Fast(RuntimeParam):
    leaf: type
    is_list: bool

    def _coerce_value(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        if self.is_list:
            return [self._one(item, param, ctx) for item in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        leaf = self.leaf
        result: Any
        if isinstance(value, leaf) and not (leaf is int and isinstance(value, bool)):
            result = value
        elif issubclass(leaf, enum.StrEnum):
            try:
                result = leaf(value)
            except ValueError:
                choices = ", ".join(f"'{m.value}'" for m in leaf)
                raise _click.exceptions.BadParameter(
                    f"'{value}' is not one of {choices}.", ctx=ctx, param=param
                ) from None
        elif leaf is bool:
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "y", "on", "0", "false", "no", "n", "off"):
                raise _click.exceptions.BadParameter(
                    f"'{value}' is not a valid boolean.", ctx=ctx, param=param
                )
            result = text in ("1", "true", "yes", "y", "on")
        else:
            try:
                result = leaf(value)  # type: ignore[call-arg]
            except (TypeError, ValueError):
                raise _click.exceptions.BadParameter(
                    f"'{value}' is not a valid {leaf.__name__}.", ctx=ctx, param=param
                ) from None
        info = self.parameter_info
        if leaf in (int, float):
            if info.min is not None and result < info.min:
                raise _click.exceptions.BadParameter(
                    f"{result} is smaller than the minimum {info.min}.", ctx=ctx, param=param
                )
            if info.max is not None and result > info.max:
                raise _click.exceptions.BadParameter(
                    f"{result} is larger than the maximum {info.max}.", ctx=ctx, param=param
                )
        return result


def _speed_up_param(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.file_annotation is not None or descriptor.parameter_info.clamp:
        return
    plain = _plain(descriptor.annotation)
    if plain is not None and hasattr(param, "_runtime_param"):
        param._runtime_param = _Fast(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            leaf=plain[0],
            is_list=plain[1],
        )


def speed_up(command: Any) -> None:
    """Give every plain parameter of ``command`` and its subcommands the cheap coercer."""
    for param in getattr(command, "params", ()):
        _speed_up_param(param)
    original = getattr(command, "get_help_option", None)
    if original is not None:
        # typer makes the --help option per command, lazily, as a typed parameter too

        def get_help_option(ctx: _click.Context, _original: Any = original) -> Any:
            option = _original(ctx)
            if option is not None:
                _speed_up_param(option)
            return option

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        speed_up(sub)
