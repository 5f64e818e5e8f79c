"""Mutating actions of the workspace's areas (UI-free): what each one is, in the CLI's words.

Every action that changes state on the server (a key written, a config path deleted, an
account created, a service killed…) is described by a :class:`Mutation` before it runs. The
app's one gate (:meth:`MicroApp.perform <micro_tui.app.MicroApp.perform>`) then refuses it in
a read-only environment with the CLI's words, asks for a confirm when it deletes or kills,
runs it, shows the equivalent CLI command and keeps it in the log of commands run (lazygit's
habit: every action shows the command it ran; ``c`` copies it).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = ["Mutation", "cli_line"]


def cli_line(*words: str) -> str:
    """``micro`` and ``words`` as one shell line, each word quoted when the shell needs it."""
    return shlex.join(("micro", *words))


@dataclass(frozen=True, slots=True)
class Mutation:
    """One mutating action, described before it runs."""

    summary: str
    """What it does, as a short phrase: ``delete key "user:1" from table users``."""
    cli: str
    """The equivalent CLI command (:func:`cli_line`)."""
    destructive: bool = False
    """Deletes or kills something: confirmed before it runs."""
