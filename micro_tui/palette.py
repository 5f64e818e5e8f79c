"""``ctrl+p`` palette providers: commands, services/endpoints, saved requests and history,
environments, namespaces and themes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from micro_tui.areas import AREAS

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = ["EndpointCommands", "RequestCommands", "WorkspaceCommands"]

Item = tuple[str, str, Callable[[], Any]]


class _Listed(Provider):
    """A provider over a fixed list of (title, help, callback), fuzzy-matched."""

    items: list[Item]

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        for title, help_text, callback in self.items:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.items:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


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
        items.append(("help", "keys of this screen", app.action_help))
        items.append(("quit", "leave the workspace (the local server keeps running)", app.exit))
        self.items = items


class EndpointCommands(_Listed):
    """Every endpoint of every known service: ``invoke greeter Greeter.Hello``."""

    async def startup(self) -> None:
        app = self.micro
        registry = app.facade.registry

        async def versions(name: str) -> list[Any]:
            try:
                return await registry.get_service(name)
            except Exception:
                return []

        names = app.known_services[:200]
        found = await asyncio.gather(*(versions(n) for n in names))
        items: list[Item] = []
        for name, vs in zip(names, found, strict=True):
            items.append((f"service {name}", "show in services", partial(app.select_service, name)))
            for version in vs:
                for ep in version.endpoints:
                    items.append(
                        (
                            f"invoke {name} {ep.name}",
                            f"{ep.streaming} · {ep.request_type}",
                            partial(app.open_invoke, version, ep),
                        )
                    )
        self.items = items


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
