"""The invoke screen: a request from a form / JSON / metadata, the reply, its status, a stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker

from micro_tui.facade import CallResult, EndpointInfo, ServiceVersion, Unsupported
from micro_tui.forms import FormError, FormModel, JsonSyntaxError
from micro_tui.history import Entry, cli_line, record
from micro_tui.reply import pretty, render
from micro_tui.widgets.form_view import FormView
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.reply_view import ReplyView
from micro_tui.widgets.send_box import SendBox
from micro_tui.widgets.stream_view import StreamView

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = ["InvokeScreen"]

DEFAULT_TIMEOUT = 10.0
"""The deadline of a unary call until the user sets another (the CLI's default); streams have
none unless the user sets one (a tail or a watch lasts as long as it is wanted)."""

_RESPONSE_SECONDS = 0.25

# alt + a letter shows a tab (and focuses it), even while typing in a field
_REQUEST_TABS = {"form": ("f", "Form"), "json": ("j", "JSON"), "metadata": ("m", "Metadata")}
_REPLY_TABS = {
    "response": ("r", "Response"),
    "headers": ("h", "Headers"),
    "status": ("t", "Status"),
    "stream": ("s", "Stream"),
}
_TAB_BINDINGS = [
    Binding(f"alt+{key}", f"{side}_tab('{tab}')", label, id=f"invoke.tab_{tab}", show=False, priority=True)
    for side, tabs in (("request", _REQUEST_TABS), ("reply", _REPLY_TABS))
    for tab, (key, label) in tabs.items()
]


class InvokeScreen(Screen[None]):
    """Calls one endpoint; ``ctrl+j`` sends, ``ctrl+s`` saves, ``escape`` cancels a stream.

    Client and bidi streams stay open after the first ``ctrl+j``: each further ``ctrl+j``
    (the form or JSON tab) or ``enter`` in the send box (JSON; empty sends the form) sends one
    more message on the same stream, "Close send" ends the sending side.

    The deadline on the target line applies to the next call (empty: none); it is remembered
    per endpoint. ``alt`` + a letter shows a tab and focuses it: ``f`` Form, ``j`` JSON, ``m``
    Metadata, ``r`` Response, ``h`` Headers, ``t`` Status, ``s`` Stream.
    """

    BINDINGS = [
        Binding("ctrl+j", "send", "Send", id="invoke.send", priority=True),
        Binding("ctrl+s", "save", "Save", id="invoke.save"),
        Binding("f8", "copy_cli", "Copy as CLI", id="invoke.copy_cli"),
        Binding("f9", "copy_grpcurl", "Copy as grpcurl", id="invoke.copy_grpcurl", show=False),
        Binding("escape", "back", "Back / cancel", id="invoke.back"),
        *_TAB_BINDINGS,
    ]
    # the first field of the form; a request whose form has nothing to type into (only
    # presence toggles, or no fields) focuses its first toggle, else Send. Focusing the JSON
    # editor would switch the tabs to JSON (a TabbedContent follows focus).
    AUTO_FOCUS = "#form-view Input, #form-view Select, #form-view Checkbox, #form-view Button, #send"

    def __init__(
        self,
        version: ServiceVersion,
        endpoint: EndpointInfo,
        request: str = "",
        *,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.version = version
        self.endpoint = endpoint
        self.model: FormModel | None = None
        self._initial = request
        self._initial_metadata = dict(metadata or {})
        self.last: CallResult | None = None
        # the tab that holds the request ("form" or "json"): the Metadata tab in front
        # changes nothing, and a refused switch puts this tab back
        self._source = "form"
        if version.descriptor_set and endpoint.request_type:
            from micro_tui.forms import field_comments, pool_from_descriptor_set

            try:
                pool = pool_from_descriptor_set(version.descriptor_set)
                self.model = FormModel(
                    pool.FindMessageTypeByName(endpoint.request_type),
                    pool,
                    comments=field_comments(version.descriptor_set),  # the fields' help
                )
            except Exception:  # no usable schema: the JSON tab still works
                self.model = None
        if self.model is None:
            self._source = "json"
        if request and self.model is not None:
            try:
                self.model.from_json(request)
            except ValueError:
                pass

    def on_mount(self) -> None:
        if self.model is None:
            self.query_one("#json-editor", TextArea).focus()

    @property
    def default_deadline(self) -> float:
        """What the CLI would use for this call: 10 s for a unary call, none (0) for a stream."""
        return 0.0 if self.streaming else DEFAULT_TIMEOUT

    def deadline(self) -> float | None:
        """The deadline field in seconds (0: none), or None after saying what is wrong."""
        text = self.query_one("#deadline", Input).value.strip()
        if not text or text in ("0", "none"):
            return 0.0
        from micro._duration import parse_duration

        try:
            return parse_duration(text)
        except ValueError:
            self.notify(
                f"deadline {text!r}: seconds or a duration like 30s, 2m; empty for none",
                title="Invalid deadline",
                severity="error",
                markup=False,
            )
            self.query_one("#deadline", Input).focus()
            return None

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    @property
    def streaming(self) -> bool:
        return self.endpoint.streaming != "unary"

    @property
    def sends_stream(self) -> bool:
        """A client or bidi stream: the request side is a stream of messages too."""
        return self.endpoint.streaming in ("client", "bidi")

    def compose(self) -> ComposeResult:
        ep, v = self.endpoint, self.version
        yield MicroHeader(f"services › {v.name} › {ep.name}")
        node = v.nodes[0].address if v.nodes else "any node"
        from micro_tui import cache

        remembered = cache.deadline(v.name, ep.name)
        seconds = self.default_deadline if remembered is None else remembered
        with Horizontal(id="target"):
            yield Static(
                Text(
                    f"{v.name} · {ep.name} · {ep.streaming} · {ep.request_type or '?'} → "
                    f"{ep.response_type or '?'} · node {node}"
                ),
                id="target-text",
            )
            yield Label("deadline", id="deadline-label")
            yield Input(
                f"{seconds:g}s" if seconds else "",
                placeholder="none",
                id="deadline",
                compact=True,
                tooltip="the call's deadline (30s, 2m; empty: none), remembered for this endpoint",
            )
        with Horizontal(id="invoke-body"):
            with Vertical(id="request", classes="pane") as request:
                request.border_title = "request"
                with TabbedContent(id="request-tabs", initial="form" if self.model else "json"):
                    with TabPane("Form", id="form"):
                        if self.model is not None:
                            yield FormView(self.model, id="form-view")
                        else:
                            yield Static("No schema registered for this endpoint: use the JSON tab.")
                    with TabPane("JSON", id="json"):
                        yield TextArea(self._initial or "{}", id="json-editor", soft_wrap=True)
                    with TabPane("Metadata", id="metadata"):
                        lines = "\n".join(f"{k}={v}" for k, v in self._initial_metadata.items())
                        yield TextArea(lines, id="metadata-editor")
                with Horizontal(id="actions"):
                    yield Button("Send ^j", id="send", variant="primary", compact=True)
                    yield Button("Cancel", id="cancel", compact=True, disabled=True)
                    yield Button("Save ^s", id="save", compact=True)
                    yield Button("CLI f8", id="copy", compact=True, tooltip="copy as CLI")
                    yield Button("grpcurl f9", id="copy-grpcurl", compact=True, tooltip="copy as grpcurl")
            with Vertical(id="reply", classes="pane") as reply:
                reply.border_title = "reply"
                with TabbedContent(id="reply-tabs"):
                    hint = f"{v.name}-{ep.name}".replace(".", "-")
                    with TabPane("Response", id="response"):
                        yield ReplyView(
                            Text("Send the request with ctrl+j.", style="dim"),
                            body_id="response-view", name_hint=hint, id="response-pane",
                        )  # fmt: skip
                    with TabPane("Headers", id="headers"):
                        yield ReplyView(
                            body_id="headers-view", name_hint=f"{hint}-headers", id="headers-pane"
                        )
                    with TabPane("Status", id="status"):
                        yield ReplyView(body_id="status-view", name_hint=f"{hint}-status", id="status-pane")
                    with TabPane("Stream", id="stream"):
                        yield StreamView(id="stream-view")
                        if self.sends_stream:
                            yield SendBox(
                                self.model, echo=self._echo, send_form=self.action_send, id="send-row"
                            )
        yield MicroFooter()

    # --- request -------------------------------------------------------------------------

    def request_json(self) -> str | None:
        """The request as JSON from its tab (form or JSON), or None after pointing at the problem."""
        if self._source == "json" or self.model is None:
            text = self.query_one("#json-editor", TextArea).text
            try:
                value = json.loads(text or "{}")
            except json.JSONDecodeError as exc:
                self._json_error(JsonSyntaxError(exc.msg, exc.lineno, exc.colno))
                return None
            if self.model is not None:
                try:
                    self.model.from_dict(value)
                except FormError as exc:
                    self.notify(str(exc), title="Invalid request", severity="error", markup=False)
                    return None
            return json.dumps(value)
        self.query_one(FormView).sync()
        errors = self.model.errors()
        if errors:
            self.query_one(FormView).show_errors(errors)
            self.notify(
                "\n".join(str(e) for e in errors[:5]), title="Invalid request", severity="error", markup=False
            )
            return None
        return self.model.to_json(indent=None)

    def metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self.query_one("#metadata-editor", TextArea).text.splitlines():
            key, sep, value = line.partition("=") if "=" in line else line.partition(":")
            if sep and key.strip():
                out[key.strip()] = value.strip()
        return out

    def _json_error(self, exc: JsonSyntaxError) -> None:
        editor = self.query_one("#json-editor", TextArea)
        editor.cursor_location = (max(exc.line - 1, 0), max(exc.column - 1, 0))
        editor.focus()
        self.notify(str(exc), title="Invalid JSON", severity="error", markup=False)

    @on(TabbedContent.TabActivated, "#request-tabs")
    async def _switched(self, event: TabbedContent.TabActivated) -> None:
        if self.model is None:
            return
        tabs = self.query_one("#request-tabs", TabbedContent)
        pane = event.pane.id
        if pane not in ("form", "json") or pane == self._source:
            # Metadata, the first activation, or the tab put back after a refused switch:
            # nothing to carry over (rebuilding the form would drop its focus and edits)
            return
        if pane == "json":
            self.query_one(FormView).sync()
            errors = self.model.errors()
            if errors:
                self._bounce(tabs, "form")
                self.query_one(FormView).show_errors(errors)
                self.notify(str(errors[0]), title="Fix the form first", severity="error", markup=False)
                return
            self.query_one("#json-editor", TextArea).text = self.model.to_json()
            self._source = "json"
        else:
            text = self.query_one("#json-editor", TextArea).text
            try:
                self.model.from_json(text)
            except JsonSyntaxError as exc:
                self._bounce(tabs, "json")
                self._json_error(exc)
                return
            except FormError as exc:
                self._bounce(tabs, "json")
                self.notify(str(exc), title="Invalid request", severity="error", markup=False)
                return
            self._source = "form"
            await self.query_one(FormView).rebuild()

    def _bounce(self, tabs: TabbedContent, pane: str) -> None:
        tabs.active = pane

    # --- actions -------------------------------------------------------------------------

    def _send_row(self) -> SendBox | None:
        """The send box of a client or bidi stream (None for the other kinds)."""
        return self.query_one("#send-row", SendBox) if self.sends_stream else None

    def _echo(self, line: str) -> None:
        self.query_one(StreamView).add(line, message=False)

    def _pane(self, name: str) -> ReplyView:
        return self.query_one(f"#{name}-pane", ReplyView)

    def action_send(self) -> None:
        send_row = self._send_row()
        if send_row is not None and send_row.is_open:  # the stream is open: one more message
            request = self.request_json()
            if request is not None:
                send_row.push(request)
            return
        from micro_tui.mutations import mutates

        if mutates(self.version.name, self.endpoint.name):
            refusal = self.micro.session.refusal(f"{self.version.name} {self.endpoint.name}")
            if refusal:
                self.notify(refusal, title="Read-only", severity="error", markup=False)
                return
        request = self.request_json()
        if request is None:
            return
        deadline = self.deadline()
        if deadline is None:
            return
        from micro_tui import cache

        cache.remember_deadline(self.version.name, self.endpoint.name, deadline)
        self.query_one("#cancel", Button).disabled = not self.streaming
        if self.streaming:
            self.query_one("#reply-tabs", TabbedContent).active = "stream"
            self.query_one(StreamView).clear()
        requests = None
        if send_row is not None:
            requests = send_row.open()
            send_row.push(request)
        self._call(request, self.metadata(), deadline, requests)

    @work(exclusive=True, group="invoke-call")
    async def _call(
        self,
        request: str,
        metadata: dict[str, str],
        deadline: float,
        requests: AsyncIterator[str] | None = None,
    ) -> None:
        calls, ep, v = self.micro.facade.calls, self.endpoint, self.version
        self._pane("status").update(Text("sending…", style="dim"))
        started = time.perf_counter()
        try:
            if not self.streaming:
                result = await calls.call(v.name, ep.name, request, metadata=metadata, timeout=deadline)
            else:
                view = self.query_one(StreamView)
                result = CallResult(True)
                # the latest message in full, a few times a second (every one would stall a
                # fast stream)
                last, shown_at = "", 0.0
                async for item in calls.stream(
                    v.name, ep.name, request, metadata=metadata, timeout=deadline, requests=requests
                ):
                    if item.result is not None:
                        result = item.result
                        break
                    try:
                        line = json.dumps(json.loads(item.response))
                    except ValueError:
                        line = item.response
                    view.add(f"#{item.index + 1} {line}")
                    last = item.response
                    if time.perf_counter() - shown_at > _RESPONSE_SECONDS:
                        self._pane("response").update(pretty(last))
                        shown_at, last = time.perf_counter(), ""
                view.flush(force=True)
                if last:
                    self._pane("response").update(pretty(last))
        except Unsupported as exc:
            self.notify(str(exc), severity="warning", markup=False)
            self._pane("status").update(Text(str(exc)))
            return
        except asyncio.CancelledError:  # a cancelled call is a call: it goes to history too
            self._record(request, metadata, "Cancelled", (time.perf_counter() - started) * 1000)
            raise
        finally:
            if self.is_attached:  # not when the workspace closed under the call
                self.query_one("#cancel", Button).disabled = True
                if (send_row := self._send_row()) is not None:
                    send_row.finish()
        self._show(result, request, metadata)
        self._record(request, metadata, result.status, result.elapsed_ms)

    def _record(self, request: str, metadata: dict[str, str], status: str, elapsed_ms: float) -> None:
        session, name, ep = self.micro.session, self.version.name, self.endpoint.name
        entry = Entry(name, ep, request, session.namespace, metadata, status=status, elapsed_ms=elapsed_ms)
        try:
            record(session.env.name, entry)
        except OSError as exc:  # a call is not lost because its history could not be written
            self.notify(f"history not saved: {exc}", severity="warning", markup=False)

    def _show(self, result: CallResult, request: str, metadata: dict[str, str]) -> None:
        self.last = result
        cli = cli_line(self.version.name, self.endpoint.name, request, metadata, stream=self.streaming)
        shown = render(result, cli)
        if shown.response is not None:
            self._pane("response").update(shown.response)
        self.query_one("#status-view", Static).set_class(not result.ok, "-error")
        self._pane("status").update(shown.status)
        self._pane("headers").update(shown.headers)
        if shown.notice:  # one line: the whole detail is in the Status pane
            self.notify(shown.notice, severity="error", markup=False)

    def _running_calls(self) -> list[Worker[None]]:
        """This screen's calls in flight (``self.workers`` holds every worker of the app: the
        workspace's connection monitor too; Textual cancels a screen's own when it closes)."""
        return [w for w in self.workers if w.node is self and w.group == "invoke-call" and w.is_running]

    def action_cancel(self) -> None:
        calls = self._running_calls()
        for worker in calls:
            worker.cancel()
        if calls:
            self.query_one(StreamView).note("cancelled")
            self._pane("status").update("cancelled")
            self.query_one("#cancel", Button).disabled = True

    def action_request_tab(self, tab: str) -> None:
        """Show a request tab and put the focus in it (the form's first field, an editor)."""
        if tab == "form" and self.model is None:
            return
        self.query_one("#request-tabs", TabbedContent).active = tab
        self.call_after_refresh(self._focus_request, tab)

    def _focus_request(self, tab: str) -> None:
        if tab == "form":
            fields = self.query("#form-view Input, #form-view Select, #form-view Checkbox")
            if fields:
                fields.first().focus()
        else:
            self.query_one(f"#{tab}-editor", TextArea).focus()

    def action_reply_tab(self, tab: str) -> None:
        """Show a reply tab and focus its scrolling view (keys scroll and search it)."""
        self.query_one("#reply-tabs", TabbedContent).active = tab
        if tab == "stream":
            self.query_one("#stream-log").focus()
        else:
            self._pane(tab).scroller.focus()

    def action_back(self) -> None:
        if self._running_calls():
            self.action_cancel()
            return
        self.app.pop_screen()

    def action_copy_cli(self) -> None:
        request = self.request_json()
        if request is None:
            return
        deadline = self.deadline()
        if deadline is None:
            return
        env, namespace = self._cli_context()
        line = cli_line(
            self.version.name, self.endpoint.name, request, self.metadata(), stream=self.streaming,
            env=env, namespace=namespace,
            timeout=None if deadline == self.default_deadline else deadline,
        )  # fmt: skip
        self.app.copy_to_clipboard(line)
        self.notify(line, title="Copied", markup=False)

    def _cli_context(self) -> tuple[str, str]:
        """The env and namespace a pasted CLI line must name: those of this workspace where
        they differ from what a bare ``micro`` would use (the current env and its namespace)."""
        from micro import environment

        session = self.micro.session
        try:
            default = environment.resolve()
            default_env, default_namespace = default.env.name, default.namespace
        except Exception:  # the CLI could not resolve one: name both
            default_env = default_namespace = ""
        env = session.env.name if session.env.name != default_env else ""
        namespace = session.namespace if env or session.namespace != default_namespace else ""
        return env, namespace

    def action_copy_grpcurl(self) -> None:
        from micro_tui.history import grpcurl_line, write_protoset

        request = self.request_json()
        if request is None:
            return
        session, v = self.micro.session, self.version
        protoset = write_protoset(v.name, v.descriptor_set) if v.descriptor_set else ""
        method = self.endpoint.method or f"/{v.name}.{self.endpoint.name.replace('.', '/')}"
        line = grpcurl_line(
            session.address, session.namespace, v.name, method, request, self.metadata(), protoset=protoset
        )
        self.app.copy_to_clipboard(line)
        self.notify(line, title="Copied", markup=False)

    def action_save(self) -> None:
        from micro_tui.dialogs.save_dialog import SaveDialog

        request = self.request_json()
        if request is None:
            return

        def saved(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            from micro_tui.history import save_to_collection

            collection, name = answer
            v, ep, ns = self.version.name, self.endpoint.name, self.micro.session.namespace
            try:
                save_to_collection(collection, Entry(v, ep, request, ns, self.metadata(), name=name))
            except (OSError, ValueError) as exc:  # a collection it cannot read is not replaced
                self.notify(str(exc), title="Not saved", severity="error", markup=False)
                return
            self.notify(f"Saved {name!r} in {collection}", markup=False)

        self.app.push_screen(SaveDialog(f"{self.endpoint.name}"), saved)

    @on(Button.Pressed, "#actions Button")
    def _action_button(self, event: Button.Pressed) -> None:
        """The buttons under the request do what their keys do."""
        actions = {
            "send": self.action_send,
            "cancel": self.action_cancel,
            "save": self.action_save,
            "copy": self.action_copy_cli,
            "copy-grpcurl": self.action_copy_grpcurl,
        }
        actions[event.button.id or ""]()
