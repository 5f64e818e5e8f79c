"""The ``micro`` workspace: a Textual app with one mode per area (:mod:`micro_tui.areas`).

``run(context)`` is what ``micro`` (no arguments) calls. Nothing here imports grpc or
protobuf: the first paint comes from the cache, the network answers in workers once it is
on the screen. The app owns the :class:`~micro_tui.facade.Facade` and the reactive
:attr:`MicroApp.session` that screens watch; screens tell it what happened with messages
(``ServicesScreen.Listed``, ``ServicesScreen.EndpointSelected``,
``NamespacePicker.PinsChanged``…) rather than calling it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from micro_tui import settings
from micro_tui._markup import literal
from micro_tui.areas import AREAS, screen_factory
from micro_tui.facade import Connection, EndpointInfo, EnvInfo, Facade, ServiceVersion
from micro_tui.session import Session
from micro_tui.themes import DEFAULT_THEME, load_themes, stylesheet

if TYPE_CHECKING:
    from textual.timer import Timer

    from micro_tui.actions import Mutation
    from micro_tui.commands import Command
    from micro_tui.dialogs.namespace_picker import NamespacePicker
    from micro_tui.screens.services import ServicesScreen

__all__ = ["MicroApp", "run"]

PING_SECONDS = 3.0


def _provider(name: str) -> Any:
    """A palette provider loaded on first use (textual.command costs ~30 ms at start)."""

    def load() -> Any:
        from micro_tui import palette

        return getattr(palette, name)

    return load


def _styled(factory: Any) -> Any:
    """``factory``'s screen, marked as styled by the app's current stylesheet.

    Textual refreshes the whole stylesheet (a full parse and restyle, ~30 ms) when a mode's
    screen is new, in case the screen brings CSS of its own; ours bring none (everything is
    in app.tcss), and their widgets are styled as they mount."""

    def make() -> Any:
        from textual._context import active_app

        screen = factory()
        screen._css_update_count = active_app.get()._css_update_count
        return screen

    return make


def _binding_tables() -> dict[str, list[Binding]]:
    """The bindings of the workspace with an id, per class that declares them (its screens,
    dialogs and widgets; ``""`` for the app's own, which apply everywhere)."""
    import importlib
    import pkgutil

    tables = {"": [b for b in MicroApp.BINDINGS if b.id]}
    for package in ("screens", "dialogs", "widgets"):
        path = importlib.import_module(f"micro_tui.{package}").__path__
        for info in pkgutil.iter_modules(path):
            module = importlib.import_module(f"micro_tui.{package}.{info.name}")
            for name, value in vars(module).items():
                found = [
                    b
                    for b in getattr(value, "BINDINGS", None) or ()
                    if isinstance(b, Binding) and b.id and getattr(value, "__module__", "") == module.__name__
                ]
                if found:
                    tables[name] = found
    return tables


def _binding_ids() -> set[str]:
    """The id of every binding of the workspace (its screens, dialogs and widgets)."""
    return {b.id for bindings in _binding_tables().values() for b in bindings if b.id}


def _keys(text: str) -> set[str]:
    from textual.keys import _character_to_key

    return {_character_to_key(k) if len(k) == 1 else k for k in (k.strip() for k in text.split(",")) if k}


def keymap_conflicts(keymap: dict[str, str]) -> str:
    """What to say when ``keymap`` gives a key to two bindings of one screen (or to one of
    the app's, which apply on every screen): only one of them would work. "" when none."""
    if not keymap:
        return ""
    tables = _binding_tables()
    app_keys = {b.id: _keys(keymap.get(b.id or "", b.key)) for b in tables[""]}
    clashes: list[str] = []
    for owner, bindings in tables.items():
        keys = dict(app_keys)
        if owner:
            keys.update({b.id: _keys(keymap.get(b.id or "", b.key)) for b in bindings})
        ids = sorted(i for i in keys if i)
        for n, first in enumerate(ids):
            for second in ids[n + 1 :]:
                if first not in keymap and second not in keymap:
                    continue  # as shipped
                for key in sorted(keys[first] & keys[second]):
                    clash = f"{key} is both {first} and {second}"
                    if clash not in clashes:
                        clashes.append(clash)
    return f"keymap.toml: {'; '.join(clashes)} (only one works)" if clashes else ""


class MicroApp(App[None]):
    """Areas 1–7 as modes; ``:`` commands, ``ctrl+p`` palette, ``f2`` envs, ``f3`` namespaces."""

    TITLE = "micro"
    CSS_PATH = str(stylesheet())
    MODES: ClassVar[dict[str, Any]] = {area.key: _styled(screen_factory(area)) for area in AREAS}
    DEFAULT_MODE = "services"
    COMMANDS = App.COMMANDS | {
        _provider(n) for n in ("WorkspaceCommands", "EndpointCommands", "RequestCommands")
    }
    COMMANDS |= {_provider("ConfigPaths")}  # area 5: config paths
    COMMANDS |= {_provider("StoreKeyCommands")}  # area 4: store keys
    COMMANDS |= {_provider("EventTopicCommands"), _provider("RuntimeServiceCommands")}  # areas 3, 6
    COMMANDS |= {_provider("LogsCommands")}  # area 2: the runtime's services, for their logs
    BINDINGS: ClassVar[list[Any]] = [
        # priority: an area key is taken in order with the keys after it ("23" typed ahead
        # ends in area 3; one that bubbled up from the focused widget came after a ":" or a
        # "2" that had a shorter way to go); not while typing (an Input or TextArea takes
        # the digit: Textual leaves the binding out then), nor in a dialog (see action_area)
        *(
            Binding(
                str(a.number), f"area('{a.key}')", a.title, show=False, priority=True, id=f"app.area.{a.key}"
            )
            for a in AREAS
        ),
        # tab moves focus before the next key is routed (priority: the app handles it in
        # order), so a burst of keys (paste, auto-type) lands as typed; no widget here
        # consumes tab (no TextArea uses tab_behavior="indent")
        Binding("tab", "focus_next", "Focus next", show=False, priority=True, id="app.focus_next"),
        Binding(
            "shift+tab",
            "focus_previous",
            "Focus previous",
            show=False,
            priority=True,
            id="app.focus_previous",
        ),
        # in footer order: help before the pickers, so a narrow footer cuts those first
        # priority: handled in order with the keys after it (a pasted ":call …" line); the
        # keys that follow wait for the bar (see on_event)
        Binding("colon", "command_bar", "Command", priority=True, id="app.command"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("f2", "envs", "Envs", id="app.envs"),
        Binding("f3", "namespaces", "Namespaces", id="app.namespaces"),
        Binding("f4", "saved", "Saved requests", show=False, id="app.saved"),
        Binding("ctrl+o", "jump", "Jump", show=False, id="app.jump"),
        # k9s habits: q leaves from the top of an area (a dialog or a pushed screen takes
        # it as "back" or text), ctrl+c anywhere that does not copy (Input, TextArea)
        Binding("q", "quit_top", "Quit", show=False, id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, id="app.quit_now"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    """Screens narrower than 100 columns get ``-narrow`` (see app.tcss)."""

    session: reactive[Session] = reactive(Session(EnvInfo("", ""), "", ""), init=False)
    """Env, namespace, account and connection, replaced whenever one of them changes (see
    :mod:`micro_tui.session`): headers re-render, areas reload when its context changes."""

    def __init__(self, facade: Facade | None = None, *, context: Any = None) -> None:
        super().__init__()
        if facade is None:
            from micro_tui.real import RealFacade

            facade = RealFacade(context)
        self.facade: Facade = facade
        self.set_reactive(MicroApp.session, Session.of(facade.session))
        self.known_services: list[str] = []
        self.commands_run: list[str] = []
        """The CLI commands of the mutating actions done here, oldest first."""
        """The service names the services area listed last (the palette offers them)."""
        self._login_offered: tuple[str, str] | None = None
        self._starting = False  # the local server is being started: the monitor waits
        self._typeahead: list[events.Event] | None = None
        self._typeahead_timer: Timer | None = None
        """Keys (and pastes) that came after ``:`` before the command bar could take them."""
        self.painted = asyncio.Event()
        """Set once the first frame is on the screen: areas wait for it before the network
        (importing grpc meanwhile would hold the first paint back)."""
        for theme in load_themes():
            self.register_theme(theme)
        saved = settings.load().get("theme")
        chosen = saved if isinstance(saved, str) and saved in self.available_themes else DEFAULT_THEME
        if chosen in self.available_themes:
            self._initial_theme(chosen)
        self._user_keymap, self._keymap_problem = settings.keymap()
        self.set_keymap(self._user_keymap)

    async def on_event(self, event: events.Event) -> None:
        """Hold keys back while the command bar opens (see :meth:`action_command_bar`)."""
        held = isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
        if held and self._typeahead is not None:
            self._typeahead.append(event)
            return
        await super().on_event(event)

    def release_typeahead(self) -> None:
        """Hand the keys typed after ``:`` to what has the focus now (the command bar), in
        the order they came."""
        held, self._typeahead = self._typeahead, None
        if self._typeahead_timer is not None:
            self._typeahead_timer.stop()
            self._typeahead_timer = None
        for event in held or ():
            if isinstance(event, events.Key):
                self.post_message(events.Key(event.key, event.character))
            elif isinstance(event, events.Paste):
                self.post_message(events.Paste(event.text))

    def _initial_theme(self, name: str) -> None:
        """Start in theme ``name`` without the stylesheet refresh that setting ``theme``
        queues: nothing is parsed yet (the start parses once, with these variables), and a
        second full refresh cost the first paint ~30 ms."""
        self.set_reactive(App.theme, name)
        self.stylesheet.set_variables(self.get_css_variables())
        dark = self.current_theme.dark
        self.update_classes(
            {f"-theme-{name}": True, "-dark-mode": dark, "-light-mode": not dark}, update=False
        )
        self._refresh_truecolor_filter(self.ansi_theme)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_ready(self) -> None:
        # Ready comes once the DOM is laid out, which can still be before Textual writes the
        # first frame (it holds output back while the app starts): the frame after it
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        """The first frame is on the screen (from the cache): now the network."""
        if self._user_keymap or self._keymap_problem:
            self._check_keymap()
        self.painted.set()
        self._startup()

    def _check_keymap(self) -> None:
        """Say once what is wrong with ``keymap.toml`` (a broken file, an unknown id)."""
        unknown = settings.unknown_bindings(self._user_keymap, _binding_ids())
        for problem in (self._keymap_problem, unknown, keymap_conflicts(self._user_keymap)):
            if problem:
                self.notify(literal(problem), title="keymap.toml", severity="warning", timeout=15)

    def _theme_changed(self, theme: Any) -> None:
        settings.save(theme=theme.name)

    # --- session -------------------------------------------------------------------------

    def sync_session(self, note: str = "") -> None:
        """Read the facade's session slice into :attr:`session` (watchers run if it changed)."""
        if not note and self.facade.session.connection is Connection.CONNECTING:
            note = "starting the local server…"
        self.session = Session.of(self.facade.session, note)

    def _startup(self) -> None:
        self.run_worker(self._start_server(), group="startup", exclusive=True)
        self.run_worker(self._monitor(), group="monitor", exclusive=True)

    async def _start_server(self) -> None:
        session = self.facade.session
        if session.env.name == "local":
            self.sync_session("checking local server…")
        self._starting = True
        try:
            message = await session.ensure_server()
        except Exception as exc:
            message = f"could not start the local server: {exc}"
        finally:
            self._starting = False
        if message:
            self.notify(literal(message), title="local server")
        await session.ping()
        self.sync_session()
        self.offer_login()

    async def _monitor(self) -> None:
        session = self.facade.session
        before = session.connection
        while True:
            await asyncio.sleep(PING_SECONDS)
            if self._starting:  # not "disconnected" while the local server comes up
                continue
            now = await session.ping()
            self.sync_session()
            self.offer_login()
            if now is not before:
                if now.value == "connected":
                    if before.value == "disconnected":
                        self.notify("Reconnected", title=session.env.name)
                elif now.value == "disconnected":
                    lost = "Lost the server" if before.value == "connected" else "No server answers"
                    self.notify(literal(f"{lost} at {session.address}"), severity="warning")
                before = now

    def switch_env(self, name: str) -> None:
        try:
            env = self.facade.session.set_env(name)
        except Exception as exc:
            self.notify(literal(exc), severity="error")
            return
        self.notify(literal(f"{env.name} · {env.address}"), title="Environment")
        self._context_switched()
        self._startup()

    def switch_namespace(self, namespace: str) -> None:
        try:
            self.facade.session.set_namespace(namespace)
        except Exception as exc:
            self.notify(literal(exc), severity="error")
            return
        self.notify(literal(namespace), title="Namespace")
        self._context_switched()
        self.run_worker(self._start_server(), group="startup", exclusive=True)

    def _context_switched(self) -> None:
        self.known_services = []
        self.sync_session()

    def require_writable(self, action: str = "") -> bool:
        """The one gate of every mutating action: False (and says why) in a read-only env."""
        refusal = self.session.refusal(action)
        if refusal:
            self.notify(literal(refusal), title="Read-only", severity="error")
        return not refusal

    # --- messages from the screens -------------------------------------------------------

    def on_services_screen_listed(self, event: ServicesScreen.Listed) -> None:
        self.known_services = event.names
        self.sync_session()

    def on_services_screen_list_failed(self, event: ServicesScreen.ListFailed) -> None:
        self.sync_session()
        self.offer_login()  # a 401: the login is gone

    def on_services_screen_endpoint_selected(self, event: ServicesScreen.EndpointSelected) -> None:
        self.open_invoke(event.version, event.endpoint)

    def on_namespace_picker_pins_changed(self, event: NamespacePicker.PinsChanged) -> None:
        self.save_pins(event.pins)

    # --- login ---------------------------------------------------------------------------

    def offer_login(self) -> None:
        """Open the login dialog when the server wants a login (a server that does not answer
        cannot take one): once per env + namespace, and again after a login that worked
        stops working (a 401 mid-session)."""
        session = self.facade.session
        where = (session.env.name, session.namespace)
        connected = session.connection.value == "connected"
        if connected and not session.login_required:
            # logged in: a later 401 (a revoked or expired login) offers the dialog again
            self._login_offered = None
        if connected and session.login_required and self._login_offered != where:
            self._login_offered = where
            self.action_login()

    def action_login(self) -> None:
        from micro_tui.dialogs.login_dialog import LoginDialog

        if isinstance(self.screen, LoginDialog):
            return

        def done(account: str | None) -> None:
            if account:
                self.notify(literal(f"Logged in as {account}"), title=self.session.env.name)
                self._context_switched()

        session = self.session
        self.push_screen(LoginDialog(session.env.name, session.namespace, session.address), done)

    def save_pins(self, pins: list[str]) -> None:
        all_pins = settings.load().get("pins", {})
        all_pins = all_pins if isinstance(all_pins, dict) else {}
        all_pins[self.session.env.name] = pins
        settings.save(pins=all_pins)

    def pins(self) -> list[str]:
        all_pins = settings.load().get("pins", {})
        found = all_pins.get(self.session.env.name, []) if isinstance(all_pins, dict) else []
        return [str(p) for p in found]

    # --- navigation ----------------------------------------------------------------------

    def action_focus_next(self) -> None:
        """``tab``: takes the command bar's completion when it shows one."""
        complete = getattr(self.screen, "complete", None)
        if complete is not None and complete():
            return
        super().action_focus_next()

    def action_quit_top(self) -> None:
        if len(self.screen_stack) > 1:
            raise SkipAction()
        self.exit()

    def action_area(self, area: str) -> None:
        from textual.screen import ModalScreen

        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # a dialog keeps its keys (the namespace picker's pins)
        self.switch_area(area)

    def switch_area(self, area: str) -> None:
        if area in self.MODES and self.current_mode != area:
            self.switch_mode(area)

    def open_area(self, key: str, args: tuple[str, ...] = ()) -> None:
        """Switch to area ``key`` and hand it ``args`` (a ``:store users user:`` command's
        table and prefix): its screen's ``open_with(args)`` runs once it is mounted."""
        self.switch_area(key)
        if args:
            self.call_after_refresh(self._open_with, key, args)

    def _open_with(self, key: str, args: tuple[str, ...]) -> None:
        opener = getattr(self.screen, "open_with", None)
        if self.current_mode == key and opener is not None:
            opener(args)

    # --- mutating actions: one gate (read-only, confirm, the CLI line) ------------------

    def perform(
        self,
        mutation: Mutation,
        do: Callable[[], Awaitable[Any]],
        *,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[Exception], None] | None = None,
    ) -> bool:
        """Run a mutating action the one way: refused in a read-only env (False, with the
        CLI's words), confirmed first when it deletes or kills, then ``do()`` in a worker;
        on success the equivalent CLI command is shown and logged (:attr:`commands_run`) and
        ``done(result)`` runs; on failure ``failed(exc)`` (default: an error toast)."""
        if not self.require_writable(mutation.summary):
            return False

        def go() -> None:
            self.run_worker(self._perform(mutation, do, done, failed), group="mutations")

        if mutation.destructive:
            from micro_tui.dialogs.confirm import ConfirmDialog

            self.push_screen(ConfirmDialog(mutation), lambda ok: go() if ok else None)
        else:
            go()
        return True

    async def _perform(
        self,
        mutation: Mutation,
        do: Callable[[], Awaitable[Any]],
        done: Callable[[Any], None] | None,
        failed: Callable[[Exception], None] | None,
    ) -> None:
        try:
            result = await do()
        except Exception as exc:
            if failed is not None:
                failed(exc)
            else:
                detail = str(getattr(exc, "detail", "") or exc)
                self.notify(detail, title=f"{mutation.summary} failed", severity="error", markup=False)
            return
        self.commands_run.append(mutation.cli)
        self.notify(mutation.cli, title="Ran", markup=False)
        if done is not None:
            done(result)

    def copy_cli(self, line: str) -> None:
        """``c`` on a row: copy its equivalent CLI command and say so."""
        self.copy_to_clipboard(line)
        self.notify(line, title="Copied", markup=False)

    def select_service(self, name: str) -> None:
        from micro_tui.screens.services import ServicesScreen

        self.switch_area("services")
        while len(self.screen_stack) > 1:
            self.pop_screen()
        screen = self.screen
        if isinstance(screen, ServicesScreen):
            screen.select(name)

    def open_invoke(
        self,
        version: ServiceVersion,
        endpoint: EndpointInfo,
        request: str = "",
        *,
        metadata: dict[str, str] | None = None,
    ) -> None:
        from micro_tui.screens.invoke import InvokeScreen

        self.switch_area("services")
        self.push_screen(InvokeScreen(version, endpoint, request, metadata=metadata))

    def open_request(self, entry: Any) -> None:
        """Open a saved or past request in the invoke screen."""
        self.run_worker(self._open_request(entry), group="open-request", exclusive=True)

    async def _open_request(self, entry: Any) -> None:
        # a saved or past request is made again where it was made, with its metadata (a
        # `:call` line has neither)
        namespace, metadata = getattr(entry, "namespace", ""), getattr(entry, "metadata", None)
        if namespace and namespace != self.facade.session.namespace:
            self.switch_namespace(namespace)
        try:
            versions = await self.facade.registry.get_service(entry.service)
        except Exception as exc:
            self.notify(literal(f"{entry.service}: {exc}"), severity="error")
            return
        for version in versions:
            for endpoint in version.endpoints:
                if endpoint.name == entry.endpoint:
                    self.open_invoke(version, endpoint, entry.request, metadata=metadata)
                    return
        self.notify(literal(f"{entry.service} has no endpoint {entry.endpoint}"), severity="error")

    def set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(literal(f"No theme {name!r}"), severity="error")
            return
        self.theme = name

    # --- dialogs -------------------------------------------------------------------------

    def action_envs(self) -> None:
        from micro_tui.dialogs.env_picker import EnvPicker

        def chosen(name: str | None) -> None:
            if name:
                self.switch_env(name)

        self.push_screen(EnvPicker(self.facade.session.envs(), self.session.env.name), chosen)

    def action_namespaces(self) -> None:
        from micro_tui.dialogs.namespace_picker import NamespacePicker

        def chosen(ns: str | None) -> None:
            if ns and ns != self.session.namespace:
                self.switch_namespace(ns)

        namespaces = self.facade.session.namespaces()
        self.push_screen(NamespacePicker(namespaces, self.session.namespace, self.pins()), chosen)

    def action_saved(self) -> None:
        from micro_tui.dialogs.saved_requests import SavedRequests

        def chosen(entry: Any) -> None:
            if entry is not None:
                self.open_request(entry)

        if not isinstance(self.screen, SavedRequests):
            self.push_screen(SavedRequests(), chosen)

    def action_jump(self) -> None:
        """Jump mode: a key on each widget of this screen; its key focuses it."""
        from micro_tui.dialogs.jump_overlay import JumpOverlay

        if isinstance(self.screen, JumpOverlay):
            return
        under = self.screen

        def chosen(widget: Any) -> None:
            if widget is not None:
                under.set_focus(widget)

        self.push_screen(JumpOverlay(under), chosen)

    def action_help(self) -> None:
        from micro_tui.dialogs.help_screen import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_command_bar(self) -> None:
        from textual.screen import ModalScreen
        from textual.widgets import Input, TextArea

        from micro_tui.dialogs.command_bar import CommandBar

        if isinstance(self.focused, (Input, TextArea)) or isinstance(self.screen, ModalScreen):
            raise SkipAction()  # ":" is text there (a JSON request, a filter); dialogs keep it
        # the keys after ":" arrive before the bar is mounted: held until it has the focus
        # (it releases them), so that a pasted ":call …" line does not land on the screen
        # underneath, where c, i and r are live
        self.hold_typeahead()
        self.push_screen(CommandBar(), self.run_command)

    def hold_typeahead(self) -> None:
        """Hold the keys (and pastes) that come from now on until :meth:`release_typeahead`
        (at most 2 s): what they are for (the command bar, the area a command opens) is not
        ready to take them yet."""
        if self._typeahead is None:
            self._typeahead = []
        if self._typeahead_timer is not None:
            self._typeahead_timer.stop()
        self._typeahead_timer = self.set_timer(2.0, self.release_typeahead)  # never for good

    def run_command(self, command: Command | None) -> None:
        """Carry out a parsed ``:`` command, then hand on the keys typed after its ``enter``
        (the command bar held them): they go where the command left the focus."""
        try:
            if command is not None:
                self._run_command(command)
        finally:
            self.release_typeahead()

    def _run_command(self, command: Command) -> None:
        name, args = command.name, command.args
        if name == "quit":
            self.exit()
        elif name == "help":
            self.action_help()
        elif name == "svc":
            if args:
                self.select_service(args[0])
            else:
                self.switch_area("services")
        elif name in self.MODES or name == "status":
            self.open_area("runtime" if name == "status" else name, args)
        elif name == "env":
            self.switch_env(args[0]) if args else self.action_envs()
        elif name == "ns":
            self.switch_namespace(args[0]) if args else self.action_namespaces()
        elif name == "login":
            self.action_login()
        elif name == "saved":
            self.action_saved()
        elif name == "theme":
            self.set_theme(args[0]) if args else self.search_themes()
        elif name == "call":
            self.open_request(_Request(args[0], args[1], command.body))


class _Request:
    def __init__(self, service: str, endpoint: str, request: str) -> None:
        self.service, self.endpoint, self.request = service, endpoint, request


def run(context: Any = None) -> None:
    """Open the workspace on ``context`` (a :class:`micro.environment.Context`; default: the
    current environment and namespace)."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    MicroApp(context=context).run()
