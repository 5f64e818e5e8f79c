"""Area 1: the live service list and the selected service's versions, nodes and endpoints."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, TextArea

from micro_tui._markup import literal
from micro_tui.facade import ServiceChange
from micro_tui.widgets.filter_input import FilterInput
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.service_detail import ServiceDetail
from micro_tui.widgets.service_list import ServiceList

if TYPE_CHECKING:
    from micro_tui.app import MicroApp
    from micro_tui.facade import EndpointInfo, ServiceVersion
    from micro_tui.session import Session

__all__ = ["ServicesScreen"]

RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)
BATCH_SECONDS = 0.05
"""How long a watch event waits for the ones that follow it (applied together)."""


class ServicesScreen(Screen[None]):
    """Services: ``/`` filters (regex, ``!`` inverts), ``enter`` on an endpoint invokes it.

    Reads the registry slice of the app's facade; starts over when the app's
    :attr:`~micro_tui.app.MicroApp.session` moves to another context. Tells the app what
    happened with the messages below (the app keeps the palette's service names and the
    connection state, and opens the invoke screen).
    """

    class Listed(Message):
        """The registry answered with these service names (also after each watch change)."""

        def __init__(self, names: list[str]) -> None:
            super().__init__()
            self.names = names

    class ListFailed(Message):
        """The registry did not answer (no server, no login); the screen retries by itself."""

        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

    class EndpointSelected(Message):
        """The user chose an endpoint to invoke (``enter`` on it, or ``i``)."""

        def __init__(self, version: ServiceVersion, endpoint: EndpointInfo) -> None:
            super().__init__()
            self.version = version
            self.endpoint = endpoint

    BINDINGS = [
        # priority: handled in order with the keys after it, so that a burst ("/zzz" from
        # tmux send-keys or typing ahead) lands in the filter (tab does the same)
        Binding("slash", "filter", "Filter", priority=True, id="services.filter"),
        # k9s / vim habits: enter or → into a service's endpoints, ← or escape back out
        Binding("right", "endpoints", "Endpoints", show=False, priority=True, id="services.into"),
        Binding("left", "out", "Back", show=False, priority=True, id="services.out"),
        Binding("escape", "back", "Back / clear filter", show=False, id="services.back"),
        Binding("j", "move('down')", "Down", show=False, id="services.down"),
        Binding("k", "move('up')", "Up", show=False, id="services.up"),
        Binding("g", "move('first')", "First", show=False, id="services.first"),
        Binding("G", "move('last')", "Last", show=False, id="services.last"),
        Binding("r", "refresh", "Refresh", id="services.refresh"),
        Binding("i", "invoke", "Invoke", id="services.invoke"),
        Binding("l", "logs", "Logs", show=False, id="services.logs"),
        Binding("c", "copy_cli", "Copy as CLI", id="services.copy_cli"),
    ]

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MicroHeader("services")
        with Horizontal(id="services-body"):
            with Vertical(id="list-pane"):
                yield ServiceList(id="services")
                yield FilterInput(placeholder="filter: regex, !x inverts", id="filter", back_to="#services")
            yield ServiceDetail(id="detail")
        yield MicroFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=False)
        self.reload()

    def _session_changed(self, old: Session, new: Session) -> None:
        """Another env, namespace or login: start over from that context's snapshot."""
        if old.context != new.context:
            self.query_one(ServiceList).set_names([])
            self.reload()

    def reload(self) -> None:
        """Show the cached snapshot, then the registry's answer, then follow the watch."""
        self.query_one(ServiceDetail).show_message("Loading…")
        self._load()

    @work(exclusive=True, group="services-load")
    async def _load(self) -> None:
        registry, session = self.micro.facade.registry, self.micro.facade.session
        services = self.query_one(ServiceList)
        cached = await asyncio.to_thread(registry.cached_services)
        if cached and not services.names:
            services.set_names(cached)
        await self.micro.painted.wait()  # the cached snapshot first, then the network
        attempt = 0
        while True:
            try:
                names = await registry.list_services()
            except Exception as exc:
                self.post_message(self.ListFailed(exc))
                if not services.names:
                    if session.connection.value == "connecting":
                        message = "Starting the local server…"
                    elif session.login_required and session.connection.value != "disconnected":
                        message = "Not logged in: log in with :login (or ctrl+p › log in)."
                    else:
                        message = f"Disconnected: {exc}"
                    self.query_one(ServiceDetail).show_message(message)
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            attempt = 0
            services.set_names(names)
            self.post_message(self.Listed(names))
            if not names:
                self.query_one(ServiceDetail).show_message("No services registered in this namespace.")
            try:
                await self._follow(services)
            except Exception as exc:
                self.post_message(self.ListFailed(exc))
            # the watch ended (server lost): poll until it answers again
            await asyncio.sleep(RETRY_SECONDS[0])

    async def _follow(self, services: ServiceList) -> None:
        """Apply the registry's watch events to the list until the watch ends.

        Events are applied in batches (those that arrive within :data:`BATCH_SECONDS` of the
        first): 500 services deregistered at once re-render the list a few times, not 500.
        A delete may leave other versions of the service registered, so a batch holding
        deletes asks for the list once; creations need no call."""
        registry = self.micro.facade.registry
        queue: asyncio.Queue[ServiceChange | Exception | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for change in registry.watch_services():
                    queue.put_nowait(change)
            except Exception as exc:
                queue.put_nowait(exc)
            else:
                queue.put_nowait(None)

        pumping = asyncio.create_task(pump())
        try:
            while True:
                batch = [await queue.get()]
                await asyncio.sleep(BATCH_SECONDS)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                changes = [c for c in batch if isinstance(c, ServiceChange)]
                if changes:
                    await self._apply(services, changes)
                for item in batch:
                    if isinstance(item, Exception):
                        raise item
                if None in batch:
                    return
        finally:
            pumping.cancel()

    async def _apply(self, services: ServiceList, changes: list[ServiceChange]) -> None:
        if any(c.action == "delete" for c in changes):
            names = await self.micro.facade.registry.list_services()
        else:
            names = sorted({*services.names, *(c.name for c in changes)})
        if names != services.names:
            services.set_names(names)
            self.post_message(self.Listed(services.names))
        if services.highlighted_name in {c.name for c in changes}:
            self.describe(services.highlighted_name)

    @on(ServiceList.Highlighted)
    def _highlighted(self, event: ServiceList.Highlighted) -> None:
        self.describe(event.name)

    @on(ServiceList.NoMatch)
    def _no_match(self, event: ServiceList.NoMatch) -> None:
        # a describe still in flight would bring the filtered-out service back
        self.workers.cancel_group(self, "services-describe")
        self.query_one(ServiceDetail).show_message(f"No service matches '{event.filter_text}'")

    @work(exclusive=True, group="services-describe")
    async def describe(self, name: str) -> None:
        detail = self.query_one(ServiceDetail)
        try:
            versions = await self.micro.facade.registry.get_service(name)
        except Exception as exc:
            detail.show_message(f"{name}: {exc}")
            return
        try:
            if name != self.query_one(ServiceList).highlighted_name:
                return  # filtered out (or another one chosen) while the registry answered
            detail.show(versions)
        except NoMatches:  # the app closed while the registry answered
            return

    @on(ServiceDetail.Invoked)
    def _invoked(self, event: ServiceDetail.Invoked) -> None:
        event.stop()
        self.post_message(self.EndpointSelected(event.version, event.endpoint))

    def _chosen(self) -> tuple[ServiceVersion, EndpointInfo] | None:
        """The selected endpoint, or ``None`` after saying why there is none."""
        chosen = self.query_one(ServiceDetail).selected
        if chosen is None:
            services = self.query_one(ServiceList)
            if services.filter_text and not services.option_count:
                self.notify(
                    literal(f"Nothing selected: no service matches '{services.filter_text}'"),
                    severity="warning",
                )
            else:
                self.notify("Select an endpoint first", severity="warning")
        return chosen

    def action_invoke(self) -> None:
        chosen = self._chosen()
        if chosen is not None:
            self.post_message(self.EndpointSelected(*chosen))

    def action_logs(self) -> None:
        """``l``: the highlighted service's logs (area 2)."""
        name = self.query_one(ServiceList).highlighted_name
        if name is None:
            self.notify("Select a service first", severity="warning")
            return
        self.micro.open_area("logs", (name,))

    def action_copy_cli(self) -> None:
        from micro_tui.history import cli_line

        chosen = self._chosen()
        if chosen is None:
            return
        version, endpoint = chosen
        line = cli_line(version.name, endpoint.name, "{}", stream=endpoint.streaming != "unary")
        self.app.copy_to_clipboard(line)
        self.notify(literal(line), title="Copied")

    def action_refresh(self) -> None:
        self.reload()

    def action_filter(self) -> None:
        if isinstance(self.focused, (Input, TextArea)):
            raise SkipAction()  # "/" is text there (a regex in the filter itself)
        box = self.query_one("#filter", Input)
        box.add_class("-visible")
        self.set_focus(box)  # now, not after a refresh like focus(): the burst's next keys

    def action_endpoints(self) -> None:
        """From the list into the endpoints of its service (``enter`` or ``→``)."""
        if not isinstance(self.focused, ServiceList):
            raise SkipAction()
        self._into_endpoints()

    def _into_endpoints(self) -> None:
        table = self.query_one("#endpoints", DataTable)
        if self.query_one(ServiceList).highlighted_name is not None:
            table.focus()

    def action_out(self) -> None:
        """Out of the endpoints into the list (``←``)."""
        if not isinstance(self.focused, DataTable):
            raise SkipAction()
        self.query_one(ServiceList).focus()

    def action_back(self) -> None:
        """``escape``: out of the endpoints into the list; in the list, clear the filter."""
        if isinstance(self.focused, DataTable):
            self.query_one(ServiceList).focus()
        else:
            self.action_clear_filter()

    def action_move(self, where: str) -> None:
        """``j``/``k``/``g``/``G`` in the list and the endpoints."""
        focused = self.focused
        if isinstance(focused, ServiceList):
            {"down": focused.action_cursor_down, "up": focused.action_cursor_up,
             "first": focused.action_first, "last": focused.action_last}[where]()  # fmt: skip
        elif isinstance(focused, DataTable):
            {"down": focused.action_cursor_down, "up": focused.action_cursor_up,
             "first": focused.action_scroll_top, "last": focused.action_scroll_bottom}[where]()  # fmt: skip
        else:
            raise SkipAction()

    @on(ServiceList.OptionSelected)
    def _service_chosen(self, event: ServiceList.OptionSelected) -> None:
        event.stop()
        self._into_endpoints()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-visible")
        self.query_one(ServiceList).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ServiceList).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        # the focus is back on the list already (FilterInput)
        if not event.value:
            self.query_one("#filter", Input).remove_class("-visible")

    def select(self, name: str) -> None:
        """Highlight ``name`` (``:svc name``)."""
        services = self.query_one(ServiceList)
        if name in services.shown_names():
            services.highlighted = services.shown_names().index(name)
            services.focus()
        else:
            self.notify(literal(f"Service {name} not found"), severity="warning")
