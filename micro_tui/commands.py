"""The ``:`` command bar's grammar (UI-free): text in, a :class:`Command` out.

:svc [name]                      services area (optionally select a service)
:call <svc> <Handler.Method> [json]
:logs a,b   :events [topic]   :store [table] [prefix]   :config [path]   :status   :auth
:env [name]   :ns [name]   :theme [name]   :login   :saved   :help   :q
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "CommandError", "command_words", "complete", "parse", "word_to_complete"]


class CommandError(ValueError):
    """Text that is not a command; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical: a key of COMMANDS (svc, call, logs, store, status, auth, env, quit…)
    args: tuple[str, ...] = ()
    body: str = ""  # the JSON request of :call


# canonical name -> (aliases, usage, most positional words)
COMMANDS: dict[str, tuple[tuple[str, ...], str, int]] = {
    "svc": (("svc", "services", "service"), ":svc [name]", 1),
    "call": (("call",), ":call <service> <Handler.Method> [json]", 2),
    "logs": (("logs", "log"), ":logs <service>[,<service>…]", 1),
    "events": (("events", "event"), ":events [topic]", 1),
    "store": (("store",), ":store [table] [prefix]", 2),
    "config": (("config",), ":config [path]", 1),
    "status": (("status", "runtime"), ":status [service]", 1),
    "auth": (("auth", "accounts", "rules"), ":auth", 0),
    "env": (("env", "envs", "environment"), ":env [name]", 1),
    "ns": (("ns", "namespace", "namespaces"), ":ns [name]", 1),
    "theme": (("theme", "themes"), ":theme [name]", 1),
    "login": (("login",), ":login", 0),
    "saved": (("saved", "requests", "collections"), ":saved", 0),
    "help": (("help", "h", "?"), ":help", 0),
    "quit": (("q", "quit", "q!", "exit"), ":q", 0),
}
_BY_ALIAS = {alias: name for name, (aliases, _, _) in COMMANDS.items() for alias in aliases}
_ENDPOINT = re.compile(r"^[A-Za-z_][\w]*\.[A-Za-z_][\w]*$")


def parse(text: str) -> Command:
    """Parse one command line (the leading ``:`` is optional)."""
    line = text.strip().removeprefix(":").strip()
    if not line:
        raise CommandError("type a command, e.g. :svc, :call, :env, :ns, :theme or :q")
    word, _, rest = line.partition(" ")
    name = _BY_ALIAS.get(word.lower())
    if name is None:
        raise CommandError(f"unknown command {word!r}; try :help")
    if name == "call":
        return _call(rest.strip())
    try:
        args = tuple(shlex.split(rest))
    except ValueError as exc:
        raise CommandError(f"{exc}") from None
    usage, most = COMMANDS[name][1], COMMANDS[name][2]
    if len(args) > most:
        raise CommandError(f"too many words; usage: {usage}")
    return Command(name, args)


def _call(rest: str) -> Command:
    usage = COMMANDS["call"][1]
    parts = rest.split(None, 2)
    if len(parts) < 2:
        raise CommandError(f"usage: {usage}")
    service, endpoint = parts[0], parts[1]
    if not _ENDPOINT.match(endpoint):
        raise CommandError(f'Method name "{endpoint}" invalid format. Expecting service.endpoint')
    body = parts[2].strip() if len(parts) == 3 else "{}"
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "'\"":
        body = body[1:-1]
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise CommandError(f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(value, dict):
        raise CommandError("the request must be a JSON object")
    return Command("call", (service, endpoint), body)


def word_to_complete(text: str) -> tuple[str, int, tuple[str, ...], str] | None:
    """Where the cursor is in ``text`` (a line being typed): the command's canonical name
    (``""`` while the command itself is typed), the position of the word being typed among
    its arguments, the arguments before it and the word so far. ``None`` when the command
    is unknown."""
    body = text.removeprefix(":")
    parts = body.split(" ")
    if len(parts) == 1:
        return "", 0, (), parts[0]
    name = _BY_ALIAS.get(parts[0].lower())
    if name is None:
        return None
    args = tuple(p for p in parts[1:-1] if p)
    return name, len(args), args, parts[-1]


def complete(text: str, candidates: Iterable[str]) -> str | None:
    """``text`` with its last word completed to the first of ``candidates`` that extends
    it (``None`` when none does)."""
    found = word_to_complete(text)
    if found is None:
        return None
    word = found[3]
    if found[0] == "" and not word:
        return None
    for candidate in candidates:
        if candidate.startswith(word) and candidate != word:
            return text[: len(text) - len(word)] + candidate
    return None


def command_words() -> list[str]:
    """The commands to complete the first word from: canonical names, then the aliases."""
    names = [aliases[0] for aliases, _, _ in COMMANDS.values()]
    return names + sorted(a for a in _BY_ALIAS if a not in names)
