"""Area 6: ``micro status`` as a live table; run a source, update, scale, kill; ``l`` opens a
service's logs.

The table is read every :data:`POLL_SECONDS` while the area shows and changes in place
(:class:`~micro_tui.widgets.runtime_table.RuntimeTable`). Every action goes through
:meth:`MicroApp.perform <micro_tui.app.MicroApp.perform>` with its real CLI line (``micro
run``, ``micro update``, ``micro kill``); a run or an update then shows the build's progress
(the runtime's own lines and each status) in the progress pane until the service runs or
fails.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Log, Static

from micro_tui.actions import Mutation, cli_line
from micro_tui.slices.runtime import kill_words, update_words
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.runtime_table import RuntimeTable

if TYPE_CHECKING:
    from micro.runtime import Service
    from micro_tui.app import MicroApp
    from micro_tui.dialogs.runtime_run import RunRequest
    from micro_tui.session import Session

__all__ = ["RuntimeScreen"]

POLL_SECONDS = 2.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)


class RuntimeScreen(Screen[None]):
    """Runtime: ``n`` runs a source, ``u`` updates, ``s`` scales, ``delete`` kills (confirmed),
    ``l`` opens the logs, ``c`` copies the row's ``micro status`` line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "run", "Run", id="runtime.run"),
        Binding("u", "update", "Update", id="runtime.update"),
        Binding("s", "scale", "Scale", id="runtime.scale"),
        Binding("delete,ctrl+k", "kill", "Kill", id="runtime.kill"),
        Binding("l", "logs", "Logs", id="runtime.logs"),
        Binding("r", "refresh", "Refresh", id="runtime.refresh"),
        Binding("c", "copy_cli", "Copy as CLI", id="runtime.copy_cli"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._wanted = ""  # `:status name` before the table held it

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MicroHeader("runtime")
        table = RuntimeTable(id="runtime-table")
        table.border_title = "services run by the server"
        yield table
        yield Static("", id="runtime-detail")
        progress = Log(id="runtime-progress", max_lines=1000)
        progress.border_title = "progress"
        yield progress
        yield MicroFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._session_changed, init=False)
        self.query_one("#runtime-detail", Static).update(Text("Loading…", style="italic"))
        self.query_one("#runtime-progress", Log).write_line("A run or an update shows its build here.")
        self._poll()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:
            self.query_one(RuntimeTable).show([])
            self._poll()

    @property
    def table(self) -> RuntimeTable:
        return self.query_one(RuntimeTable)

    # --- the live table --------------------------------------------------------------------

    @work(exclusive=True, group="runtime-poll")
    async def _poll(self) -> None:
        await self.micro.painted.wait()
        runtime = self.micro.facade.runtime
        attempt = 0
        while True:
            try:
                services = await runtime.status()
            except Exception as exc:
                self._detail(Text(f"{exc}", style="italic"))
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            attempt = 0
            self._show(services)
            await asyncio.sleep(POLL_SECONDS)

    def _show(self, services: list[Service]) -> None:
        table = self.table
        table.show(services)
        if self._wanted and table.select(self._wanted):
            self._wanted = ""
        self._describe()

    def _detail(self, text: Text) -> None:
        self.query_one("#runtime-detail", Static).update(text)

    def _describe(self) -> None:
        service = self.table.highlighted
        if service is None:
            self._detail(Text("No services run here yet: n runs a folder or a git URL.", style="italic"))
            return
        text = Text()
        text.append(service.name, style="bold")
        text.append(f" · build {service.build or '-'} · owner {service.metadata.get('owner') or '-'}")
        text.append(f" · {service.source}")
        if service.error:
            text.append(f"\n{service.error}", style=self.app.current_theme.error or "")
        self._detail(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._describe()

    def open_with(self, args: tuple[str, ...]) -> None:
        """``:status name``: highlight it (once the table holds it)."""
        if args and not self.table.select(args[0]):
            self._wanted = args[0]
        self.table.focus()

    # --- progress --------------------------------------------------------------------------

    def _progress(self, name: str, line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.query_one("#runtime-progress", Log).write_line(f"{stamp} {name}: {line}", scroll_end=True)

    @work(group="runtime-progress")
    async def _follow(self, name: str, since: float) -> None:
        runtime = self.micro.facade.runtime
        try:
            async for line in runtime.progress(name, since=since):
                self._progress(name, line)
                self._poll()  # the table shows the new status now, not at the next poll
        except Exception as exc:
            self._progress(name, f"progress not available: {exc}")

    # --- actions ---------------------------------------------------------------------------

    def _chosen(self) -> Service | None:
        service = self.table.highlighted
        if service is None:
            self.notify("Select a service first", severity="warning")
        return service

    def action_run(self) -> None:
        from micro_tui.dialogs.runtime_run import RunDialog

        def chosen(request: RunRequest | None) -> None:
            if request is None:
                return
            runtime, since = self.micro.facade.runtime, time.time()
            who = request.name or request.source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
            git = "://" in request.source or request.source.startswith("git@")

            async def do() -> Service:
                self._progress(who, "asking the server to clone" if git else "packing and uploading")
                return await runtime.run(request.source, name=request.name, instances=request.instances)

            self.micro.perform(
                Mutation(f"run {request.source}", request.cli),
                do,
                done=lambda service: self._started(service, since),
                failed=lambda exc: self._failed(who, exc),
            )

        self.app.push_screen(RunDialog(), chosen)

    def _started(self, service: Service, since: float) -> None:
        self._wanted = service.name
        self._started_again(service.name, since)

    def _started_again(self, name: str, since: float) -> None:
        self._follow(name, since)

    def _failed(self, name: str, exc: Exception) -> None:
        detail = str(getattr(exc, "detail", "") or exc)
        self._progress(name, f"failed: {detail}")
        self.notify(detail, title="Run failed", severity="error", markup=False)

    def action_update(self) -> None:
        service = self._chosen()
        if service is None:
            return
        self._update(service.name, 0)

    def _update(self, name: str, instances: int) -> None:
        runtime, since = self.micro.facade.runtime, time.time()
        what = f"scale {name} to {instances}" if instances else f"update {name}"
        self.micro.perform(
            Mutation(what, cli_line(*update_words(name, instances=instances))),
            lambda: runtime.update(name, instances=instances),
            done=lambda _: self._started_again(name, since),
        )

    def action_scale(self) -> None:
        from micro_tui.dialogs.runtime_scale import ScaleDialog

        service = self._chosen()
        if service is None:
            return
        name = service.name

        def chosen(instances: int | None) -> None:
            if instances is not None:
                self._update(name, instances)

        self.app.push_screen(ScaleDialog(name, service.instances), chosen)

    def action_kill(self) -> None:
        service = self._chosen()
        if service is None:
            return
        name, runtime = service.name, self.micro.facade.runtime

        def done(_: Any) -> None:
            self._progress(name, "killed")
            self._poll()

        self.micro.perform(
            Mutation(f"kill {name}", cli_line(*kill_words(name)), destructive=True),
            lambda: runtime.kill(name),
            done=done,
        )

    def action_logs(self) -> None:
        service = self._chosen()
        if service is not None:
            self.micro.open_area("logs", (service.name,))

    def action_refresh(self) -> None:
        self._poll()

    def action_copy_cli(self) -> None:
        service = self._chosen()
        if service is not None:
            self.micro.copy_cli(cli_line("status", service.name))
