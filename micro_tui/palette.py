"""``ctrl+p`` palette providers: commands, services/endpoints, saved requests and history,
environments, namespaces and themes.

Every title and help line is user or server text (a history request holding ``"[/]"``, a
service name): hits carry :class:`~textual.content.Content`, never markup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from micro_tui._markup import literal
from micro_tui.areas import AREAS

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = [
    "ConfigPaths",
    "EndpointCommands",
    "EventTopicCommands",
    "LogsCommands",
    "RequestCommands",
    "RuntimeServiceCommands",
    "WorkspaceCommands",
]

Item = tuple[str, str, Callable[[], Any]]

DETAILS_PER_QUERY = 20
"""The most services whose endpoints one query looks up (those named in it)."""


def _highlight(matcher: Matcher, title: str) -> Content:
    """``title`` with the matched letters styled (``Matcher.highlight`` parses it as markup)."""
    content = Content(title)
    _, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class _Listed(Provider):
    """A provider over a fixed list of (title, help, callback), fuzzy-matched."""

    items: list[Item]

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        for title, help_text, callback in self.items:
            yield DiscoveryHit(Content(title), callback, text=title, help=literal(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.items:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _highlight(matcher, title), callback, text=title, help=literal(help_text))


class WorkspaceCommands(_Listed):
    """Areas, environments, namespaces, themes, quit."""

    async def startup(self) -> None:
        app = self.micro
        items: list[Item] = []
        for area in AREAS:
            items.append((f"go to {area.key}", f"area {area.number}", partial(app.switch_area, area.key)))
        for env in app.facade.session.envs():
            items.append((f"env {env.name}", f"switch to {env.address}", partial(app.switch_env, env.name)))
        for ns in app.facade.session.namespaces():
            items.append((f"namespace {ns}", "switch namespace", partial(app.switch_namespace, ns)))
        for name in sorted(app.available_themes):
            items.append((f"theme {name}", "change the theme", partial(app.set_theme, name)))
        items.append(
            ("log in", f"to {app.session.env.name} · {app.session.namespace} (:login)", app.action_login)
        )
        items.append(("saved requests", "browse, rename, delete (f4, :saved)", app.action_saved))
        items.append(("help", "keys of this screen", app.action_help))
        items.append(("quit", "leave the workspace (the local server keeps running)", app.exit))
        self.items = items


class EndpointCommands(_Listed):
    """Every known service (``service greeter``) and the endpoints of those named in the query
    (``invoke greeter Greeter.Hello``).

    The names are the services area's last listing (no call when the palette opens); a
    service's endpoints are looked up when a word of the query is part of its name, at most
    :data:`DETAILS_PER_QUERY` services a query, and kept while the palette is open."""

    async def startup(self) -> None:
        app = self.micro
        self.items = [
            (f"service {name}", "show in services", partial(app.select_service, name))
            for name in app.known_services
        ]
        self._details: dict[str, list[Any]] = {}

    async def _versions(self, name: str) -> list[Any]:
        if name not in self._details:
            try:
                self._details[name] = await self.micro.facade.registry.get_service(name)
            except Exception:
                self._details[name] = []
        return self._details[name]

    def _named(self, query: str) -> list[str]:
        """The services a word of ``query`` is part of, the longest word's first."""
        words = sorted({w.lower() for w in query.split() if len(w) > 1}, key=len, reverse=True)
        named: list[str] = []
        for word in words:
            named += [n for n in self.micro.known_services if word in n.lower() and n not in named]
            if len(named) >= DETAILS_PER_QUERY:
                break
        return named[:DETAILS_PER_QUERY]

    async def search(self, query: str) -> Hits:
        async for hit in super().search(query):
            yield hit
        app, matcher = self.micro, self.matcher(query)
        names = self._named(query)
        found = await asyncio.gather(*(self._versions(n) for n in names))
        for name, versions in zip(names, found, strict=True):
            for version in versions:
                for ep in version.endpoints:
                    title = f"invoke {name} {ep.name}"
                    score = matcher.match(title)
                    if score > 0:
                        help_text = literal(f"{ep.streaming} · {ep.request_type}")
                        callback = partial(app.open_invoke, version, ep)
                        yield Hit(score, _highlight(matcher, title), callback, text=title, help=help_text)


class RequestCommands(_Listed):
    """Saved requests (collections) and this env's history, newest first."""

    async def startup(self) -> None:
        from micro_tui import history

        app = self.micro
        items: list[Item] = []
        for collection in history.collection_names():
            for entry in history.load_collection(collection):
                items.append(
                    (
                        f"saved {collection}/{entry.name}",
                        f"{entry.service} {entry.endpoint}",
                        partial(app.open_request, entry),
                    )
                )
        for entry in reversed(history.load_history(app.session.env.name)[-100:]):
            items.append(
                (
                    f"history {entry.service} {entry.endpoint} {entry.request}",
                    entry.status,
                    partial(app.open_request, entry),
                )
            )
        self.items = items


CONFIG_PATHS_SECONDS = 2.0
"""How long the palette waits for the config document before it offers no paths."""


class ConfigPaths(_Listed):
    """The paths of the namespace's config document (``config db.host``): each opens the
    config area there. Read once when the palette opens; none when the server does not
    answer in time or does not let this account read the config."""

    async def startup(self) -> None:
        from micro_tui.slices.config import nodes

        app = self.micro
        try:
            document = await asyncio.wait_for(app.facade.config.document(), CONFIG_PATHS_SECONDS)
        except Exception:
            document = {}
        self.items = [
            (
                f"config {node.path}",
                "open in config (:config)",
                partial(app.open_area, "config", (node.path,)),
            )
            for node in nodes(document)
        ]


# --- area 4: store ------------------------------------------------------------------------

KEYS_PER_QUERY = 20
"""The most store keys one palette query lists (one bounded listing per query)."""


class StoreKeyCommands(Provider):
    """Keys of the store area's table (``micro`` until it opens) that start with the query
    (``user:00`` or ``key user:00``); choosing one opens the area on it."""

    async def search(self, query: str) -> Hits:
        from micro_tui.screens.store import selection

        app: MicroApp = self.app  # type: ignore[assignment]
        prefix = query.strip().removeprefix("key ").strip()
        if not prefix:
            return
        database, table = selection(app)
        try:
            page = await app.facade.store.list_keys(
                database=database, table=table, prefix=prefix, limit=KEYS_PER_QUERY
            )
        except Exception:  # no login, no server, a table refused: no hits
            return
        matcher = self.matcher(query)
        for key in page.keys:
            title = f"key {key}"
            score = max(matcher.match(title), 0.5)
            callback = partial(app.open_area, "store", (table, key))
            yield Hit(
                score, _highlight(matcher, title), callback, text=title, help=literal(f"store › {table}")
            )


LOOKUP_SECONDS = 1.0
"""How long the palette waits for the server's topics or services (it opens without them)."""


class EventTopicCommands(_Listed):
    """Every topic of the namespace (``topic orders``): follows it in the events area."""

    async def startup(self) -> None:
        app = self.micro
        try:
            topics = await asyncio.wait_for(app.facade.events.topics(), LOOKUP_SECONDS)
        except Exception:
            topics = []
        self.items = [
            (
                f"topic {t.name}",
                f"{t.events:,} events · follow it in events",
                partial(app.open_area, "events", (t.name,)),
            )
            for t in topics
        ]


class RuntimeServiceCommands(_Listed):
    """Every service the runtime runs (``running helloworld``): shows it in the runtime area."""

    async def startup(self) -> None:
        app = self.micro
        try:
            services = await asyncio.wait_for(app.facade.runtime.status(), LOOKUP_SECONDS)
        except Exception:
            services = []
        self.items = [
            (
                f"running {s.name}",
                f"{s.status} · {s.instances} instance(s) · :status",
                partial(app.open_area, "runtime", (s.name,)),
            )
            for s in services
        ]


# --- area 2: logs -------------------------------------------------------------------------


class LogsCommands(_Listed):
    """``logs greeter``: every service the runtime runs (or ran: its logs stay), asked when
    the palette opens; choosing one follows its logs in area 2."""

    async def startup(self) -> None:
        app = self.micro
        try:
            sources = await asyncio.wait_for(app.facade.logs.sources(), LOOKUP_SECONDS)
        except Exception:  # no runtime answers: nothing to offer, the palette still opens
            sources = []
        self.items = [
            (f"logs {s.name}", f"follow its logs ({s.status})", partial(app.open_area, "logs", (s.name,)))
            for s in sources
        ]
