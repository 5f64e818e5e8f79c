"""The local-process runtime: services built from uploaded sources and supervised as child
processes of the server, on its event loop.

Each service is a :class:`_Unit`: its persisted record (``_runtime`` database of the store,
so a restarted server brings back what was running), its build, and its instances. An
instance runs ``setpriv --pdeathsig KILL -- <venv>/bin/python <entry>`` in a session (and so
a process group) of its own: it dies with the server even on ``kill -9`` (the parent-death
signal), and stopping it signals its whole group (SIGTERM, then SIGKILL after
:data:`GRACE_SECONDS`). ``setpriv`` does in a separate program what a ``preexec_fn`` would
do in the forked child, which is unsafe beside grpc's threads.

Supervision waits on events only (a process exiting, a line arriving): an idle service
costs no timer. Its stdout and stderr go line by line to :class:`~server.runtime._logs.Logs`.
An instance that exits before the service registered puts it in ``error`` at once (a syntax
or import error does not get better by retrying); one that crashes later is restarted with
exponential backoff (from :data:`BACKOFF_FIRST` up to ``MICRO_RUNTIME_BACKOFF_CAP``), up to
``MICRO_RUNTIME_MAX_RETRIES`` times, then the service stays in ``error``; the count starts
over when the crashed instance had run :data:`HEALTHY_SECONDS`. From the crash until the
restarted instance registered again the service is ``starting``, the crash and the next
attempt in its ``error`` (status never says ``running`` while an instance is missing).

Every run has a service account ``<name>-<version>`` bound to its service, whose
credentials are in a 0600 file named by ``MICRO_AUTH_FILE`` (never in the environment or on
a command line); ``kill`` deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from micro import errors, settings
from micro.auth import SERVICE_SCOPE, Auth
from micro.registry import Registry
from micro.runtime import LogBatch, Runtime, Service, check_name
from micro.store import Record, Store
from server.runtime import _git, _warm
from server.runtime._build import DIES_WITH_SERVER, Builder, BuildError, entry_point
from server.runtime._logs import Logs
from server.store.blob import DiskBlobStore

__all__ = ["GRACE_SECONDS", "LocalRuntime"]

log = logging.getLogger("micro.runtime")

DATABASE = "_runtime"
UPLOAD_LIMIT = 100 * 1024 * 1024


def _register_seconds() -> float:
    """How long every instance has to register before the service is in ``error``
    (``MICRO_RUNTIME_REGISTER_SECONDS``)."""
    return float(settings.server().register_seconds)


GRACE_SECONDS = 5.0
# the first wait before a restart; each crash doubles it, up to MICRO_RUNTIME_BACKOFF_CAP
BACKOFF_FIRST = 0.25
# an instance that ran this long before it crashed was healthy: its service's count of
# crashes starts over (a crash a day must not add up to error after a week)
HEALTHY_SECONDS = 600.0
_LINE_LIMIT = 1024 * 1024


@dataclass
class _Record:
    """What is persisted of a service (``_runtime`` / ``services`` / ``<namespace>/<name>``)."""

    namespace: str
    name: str
    version: str = "latest"
    source: str = ""
    upload: str = ""
    hash: str = ""
    subfolder: str = ""
    git: bool = False  # source is a git source, cloned again by each update
    cloning: bool = False  # the clone of the next build is not stored yet
    private: bool = False  # the clone needs credentials (never stored: a restart cannot redo it)
    command: list[str] = field(default_factory=list)  # instead of the entry point
    args: list[str] = field(default_factory=list)  # after the entry point or the command
    env: list[str] = field(default_factory=list)
    instances: int = 1
    owner: str = ""
    status: str = "pending"
    error: str = ""
    updated: int = 0
    retries: int = 0

    def service(self) -> Service:
        metadata = {"owner": self.owner, "group": self.namespace}
        return Service(
            name=self.name,
            version=self.version,
            source=self.source,
            status=self.status,
            error=self.error,
            metadata=metadata,
            updated=self.updated,
            instances=self.instances,
            retries=self.retries,
            build="" if self.cloning else self.hash[:12],
        )


@dataclass
class _Unit:
    record: _Record
    task: asyncio.Task[None] | None = None
    procs: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)
    exited: asyncio.Queue[tuple[int, int]] = field(default_factory=asyncio.Queue)
    last_error: dict[int, str] = field(default_factory=dict)
    addresses: dict[int, str] = field(default_factory=dict)  # from each instance's "Listening on"
    started: dict[int, float] = field(default_factory=dict)  # each instance's start (monotonic)
    # for the clone of the next build only, then forgotten (in memory, never persisted)
    credentials: _git.Credentials = field(default_factory=_git.Credentials)


class LocalRuntime(Runtime):
    """Runs services as local processes under ``home`` (``MICRO_HOME``): builds and venvs in
    ``runtime/``, logs in ``logs/``, uploaded sources in the blob store's internal area."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.builder = Builder(home / "runtime")
        self.logs_ = Logs(home / "logs")
        self._warm = _warm.WarmPool(_LINE_LIMIT)
        self.blobs = DiskBlobStore(home / "server" / "blobs", area="runtime", limit=UPLOAD_LIMIT)
        self.store: Store | None = None
        self.registry: Registry | None = None
        self.auth: Auth | None = None
        self._refresh: Callable[[], Awaitable[None]] | None = None
        self._units: dict[tuple[str, str], _Unit] = {}
        self._address = ""
        self._joined = False  # the address is the server this runtime run alone joined
        self._address_known = asyncio.Event()
        self._restore: asyncio.Task[None] | None = None
        self._closed = False

    # -- wiring --------------------------------------------------------------------------

    def attach(
        self,
        *,
        store: Store,
        registry: Registry,
        auth: Auth,
        server: str = "",
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Wire the runtime to what it keeps records in, finds nodes in and makes accounts
        with. ``server``: the address its services call (``MICRO_PROXY``) when the runtime
        runs alone (``micro service runtime``): the server it joined, dialled the way this
        process dials it (TLS and CA); "" — the server this runtime is part of, read from
        the registry. ``refresh``: run before each use of ``auth`` (a client of the joined
        server's auth service gets the current login's token)."""
        self.store, self.registry, self.auth = store, registry, auth
        self._refresh = refresh
        if server:
            self._address, self._joined = server, True

    async def start(self) -> None:
        """Bring back the services that were running (once the server's address is known:
        it is read from the registry, where the server registers its core services)."""
        self._restore = asyncio.create_task(self._bring_back())

    async def _server_address(self) -> str:
        if self._address:
            return self._address
        registry = self._registry()
        watch = registry.watch(service="runtime")
        try:
            with contextlib.suppress(errors.NotFound):
                for svc in await registry.get_service("runtime"):
                    for node in svc.nodes:
                        self._address = node.address
                        return self._address
            async for result in watch:
                for node in result.service.nodes:
                    if result.action != "delete":
                        self._address = node.address
                        return self._address
        finally:
            close = getattr(watch, "aclose", None)
            if close is not None:
                await close()
        raise errors.Unavailable("the server's address is not known yet")

    async def _bring_back(self) -> None:
        try:
            store = self._store()
            records = await store.read("", database=DATABASE, table="services", prefix=True)
            for raw in records:
                try:
                    record = _Record(**json.loads(raw.value))
                except (TypeError, ValueError):
                    log.warning("skipping an unreadable runtime record %s", raw.key)
                    continue
                unit = self._units[(record.namespace, record.name)] = _Unit(record)
                if record.status in ("stopped", "error"):
                    # nothing to start, but it stays in status with its reason, and kill
                    # or update still find it (and kill still deletes its account)
                    continue
                book = self.logs_.book(record.namespace, record.name)
                if record.cloning and record.private:
                    await self._set(unit, "error", "the server restarted during the clone: run it again")
                    continue
                book.write("runtime", -1, "the server restarted: building and starting again")
                unit.task = asyncio.create_task(self._lifecycle(unit))
        except Exception:
            log.exception("bringing back the runtime's services failed")

    def _store(self) -> Store:
        assert self.store is not None, "runtime not attached"
        return self.store

    def _registry(self) -> Registry:
        assert self.registry is not None, "runtime not attached"
        return self.registry

    async def _auth(self) -> Auth:
        assert self.auth is not None, "runtime not attached"
        if self._refresh is not None:
            await self._refresh()
        return self.auth

    async def _save(self, record: _Record) -> None:
        record.updated = int(time.time())
        value = json.dumps(dataclasses.asdict(record)).encode()
        key = f"{record.namespace}/{record.name}"
        await self._store().write(Record(key, value), database=DATABASE, table="services")

    async def _set(self, unit: _Unit, status: str, error: str = "") -> None:
        unit.record.status = status
        unit.record.error = error
        await self._save(unit.record)
        if error:
            self.logs_.book(unit.record.namespace, unit.record.name).write("runtime", -1, f"error: {error}")

    # -- sources -------------------------------------------------------------------------

    async def upload(self, name: str, chunks: AsyncIterable[bytes], *, namespace: str = "") -> str:
        namespace = namespace or "micro"
        check_name(name)
        upload = uuid.uuid4().hex
        try:
            info = await self.blobs.write(f"sources/{upload}", chunks, namespace=namespace)
        except errors.TooLarge:
            raise errors.TooLarge(
                f"the source is over the upload limit of {UPLOAD_LIMIT // (1024 * 1024)} MiB"
            ) from None
        value = json.dumps({"hash": info.sha256, "size": info.size, "name": name}).encode()
        # an upload never used is forgotten after a day
        await self._store().write(
            Record(f"{namespace}/{upload}", value, 24 * 3600.0), database=DATABASE, table="uploads"
        )
        return upload

    async def _clone(self, unit: _Unit) -> None:
        """Clone the service's git source (part of its build) and store the tree as its
        upload; the credentials given for it are forgotten whatever happens."""
        record = unit.record
        credentials, unit.credentials = unit.credentials, _git.Credentials()
        self.logs_.book(record.namespace, record.name).write("runtime", -1, f"cloning {record.source}")
        scratch = self.home / "runtime"
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            data = await _git.clone(_git.parse(record.source), scratch, credentials)
        except errors.BadRequest as exc:
            raise BuildError(exc.detail) from None

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        upload = await self.upload(record.name, chunks(), namespace=record.namespace)
        previous = record.upload
        record.hash = await self._upload_hash(record.namespace, upload)
        record.upload = upload
        await self._save(record)  # still cloning: done once the build found what to run
        if previous != upload:  # the clone of the build before is not needed any more
            await self._forget_upload(record.namespace, previous)

    async def _forget_upload(self, namespace: str, upload: str) -> None:
        """Delete an uploaded source and its record: a source is kept only while a service
        is to be built from it (not once its run was refused, an update replaced it or the
        service was killed), so the blob area does not grow with every run and update."""
        if not upload:
            return
        with contextlib.suppress(errors.NotFound):
            await self.blobs.delete(f"sources/{upload}", namespace=namespace)
        with contextlib.suppress(errors.NotFound):
            await self._store().delete(f"{namespace}/{upload}", database=DATABASE, table="uploads")

    async def _upload_hash(self, namespace: str, upload: str) -> str:
        try:
            found = await self._store().read(f"{namespace}/{upload}", database=DATABASE, table="uploads")
        except errors.NotFound:
            raise errors.NotFound(f"upload {upload} not found") from None
        return str(json.loads(found[0].value)["hash"])

    async def _fetch(self, record: _Record, into: Path) -> None:
        """Copy the recorded source to ``into``, checking its content hash on the way."""
        digest = hashlib.sha256()
        with open(into, "wb") as f:
            async for chunk in self.blobs.read(f"sources/{record.upload}", namespace=record.namespace):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != record.hash:
            raise BuildError("the stored source does not match its recorded content hash")

    # -- the interface ---------------------------------------------------------------------

    async def create(
        self,
        service: Service,
        *,
        upload: str = "",
        subfolder: str = "",
        env: list[str] | None = None,
        instances: int = 1,
        namespace: str = "",
        owner: str = "",
        command: list[str] | None = None,
        args: list[str] | None = None,
        credentials: _git.Credentials | None = None,
    ) -> Service:
        """Accept ``service`` and start its build (a git source is cloned by the build: the
        call does not wait for it; ``credentials`` serve that clone only)."""
        namespace = namespace or "micro"
        try:
            return await self._create(
                service,
                upload=upload,
                subfolder=subfolder,
                env=env,
                instances=instances,
                namespace=namespace,
                owner=owner,
                command=command,
                args=args,
                credentials=credentials,
            )
        except BaseException:
            # a refused run leaves nothing behind, its uploaded source included (unless a
            # service already runs from that upload)
            if upload and not any(u.record.upload == upload for u in self._units.values()):
                with contextlib.suppress(Exception):
                    await self._forget_upload(namespace, upload)
            raise

    async def _create(
        self,
        service: Service,
        *,
        upload: str,
        subfolder: str,
        env: list[str] | None,
        instances: int,
        namespace: str,
        owner: str,
        command: list[str] | None,
        args: list[str] | None,
        credentials: _git.Credentials | None,
    ) -> Service:
        name = check_name(service.name)
        _check_run(instances, env or [], subfolder)
        self._check_free(namespace, name)
        version = service.version or "latest"
        git = not upload and _git.is_git(service.source)
        source, in_url = _git.split_credentials(service.source) if git else (service.source, None)
        credentials = credentials or in_url or _git.Credentials()
        digest = ""
        if git:
            parsed = _git.parse(source)  # a bad source is refused now; the clone is the build's
            subfolder, version = parsed.subfolder, parsed.ref or version
        elif not upload:
            raise errors.BadRequest("a source is required: a folder uploaded with Source.Upload, or git")
        else:
            digest = await self._upload_hash(namespace, upload)
        record = _Record(
            namespace,
            name,
            version=version,
            source=_git.redact(source),
            upload=upload,
            hash=digest,
            subfolder=subfolder,
            git=git,
            cloning=git,
            private=bool(credentials),
            command=list(command or []),
            args=list(args or []),
            env=list(env or []),
            instances=instances,
            owner=owner,
        )
        # again with no await before the name is taken: two runs of one name at once (the
        # upload's hash read above) must not both start, one of them beyond kill's reach
        self._check_free(namespace, name)
        unit = self._units[(namespace, name)] = _Unit(record, credentials=credentials)
        try:
            await self._account(record, fresh=True)
            await self._save(record)
            if self._units.get((namespace, name)) is not unit:  # killed meanwhile
                raise errors.Conflict(f"service {name} was killed while it was being created")
        except BaseException:
            if self._units.get((namespace, name)) is unit:
                self._units.pop((namespace, name), None)
            with contextlib.suppress(Exception):
                await self._store().delete(f"{namespace}/{name}", database=DATABASE, table="services")
            with contextlib.suppress(Exception):
                await (await self._auth()).delete_account(_account_id(record), namespace=namespace)
            self._credentials(record).unlink(missing_ok=True)
            raise
        built = f" ({digest[:12]})" if digest else ""
        self.logs_.book(namespace, name).write("runtime", -1, f"run {record.source or name}{built}")
        unit.task = asyncio.create_task(self._lifecycle(unit))
        return record.service()

    def _check_free(self, namespace: str, name: str) -> None:
        """Conflict when ``name`` is taken in ``namespace`` (saying by what: a service in
        error, or still building, is not "running")."""
        existing = self._units.get((namespace, name))
        if existing is not None:
            status = existing.record.status
            state = "is already running" if status == "running" else f"already exists ({status})"
            raise errors.Conflict(f"service {name} {state}: micro update {name}, or micro kill {name}")

    async def read(self, name: str = "", *, namespace: str = "") -> list[Service]:
        namespace = namespace or "micro"
        if name:
            unit = self._units.get((namespace, name))
            if unit is None:
                raise errors.NotFound(f"service {name} not found")
            return [unit.record.service()]
        return sorted(
            (u.record.service() for (ns, _), u in self._units.items() if ns == namespace),
            key=lambda s: (s.name, s.version),
        )

    async def update(
        self,
        name: str,
        *,
        upload: str = "",
        subfolder: str | None = None,
        instances: int = 0,
        env: list[str] | None = None,
        namespace: str = "",
        credentials: _git.Credentials | None = None,
    ) -> Service:
        namespace = namespace or "micro"
        unit = self._units.get((namespace, name))
        try:
            if unit is None:
                raise errors.NotFound(f"service {name} not found")
            _check_run(instances or 1, env or [], subfolder or "")
            digest = await self._upload_hash(namespace, upload) if upload else ""
        except BaseException:
            # a refused update leaves no uploaded source behind
            if upload and not any(u.record.upload == upload for u in self._units.values()):
                with contextlib.suppress(Exception):
                    await self._forget_upload(namespace, upload)
            raise
        record = unit.record
        if not upload and record.git:  # cloned again by the build
            record.cloning = True
            record.private = bool(credentials)
            unit.credentials = credentials or _git.Credentials()
        replaced = ""
        if upload and upload != record.upload:
            replaced = record.upload
            record.hash = digest
            record.upload = upload
        if subfolder is not None:
            record.subfolder = subfolder
        if instances:
            record.instances = instances
        if env is not None:
            record.env = list(env)
        record.retries = 0
        await self._set(unit, "pending")
        unit.task = asyncio.create_task(self._lifecycle(unit, previous=unit.task, replaced=replaced))
        return record.service()

    async def delete(self, name: str, *, namespace: str = "") -> None:
        namespace = namespace or "micro"
        unit = self._units.pop((namespace, name), None)
        if unit is None:
            raise errors.NotFound(f"service {name} not found")
        await self._stop_unit(unit)
        await self._deregister(unit.record)
        with contextlib.suppress(errors.NotFound):
            await (await self._auth()).delete_account(_account_id(unit.record), namespace=namespace)
        self._credentials(unit.record).unlink(missing_ok=True)
        await self._store().delete(f"{namespace}/{name}", database=DATABASE, table="services")
        await self._forget_upload(namespace, unit.record.upload)
        await self._prune_builds(unit.record, keep=None)
        self.logs_.book(namespace, name).write("runtime", -1, "killed")

    async def logs(
        self, name: str, *, count: int = 15, follow: bool = False, since: float = 0, namespace: str = ""
    ) -> AsyncIterator[LogBatch]:
        namespace = namespace or "micro"
        try:
            # a service's name, never a path: "../other/svc" would read another namespace's
            # log file (and a follow would keep a book open on any path it names)
            check_name(name)
        except errors.BadRequest:
            raise errors.NotFound("Service not found") from None
        if (namespace, name) not in self._units and not self.logs_.exists(namespace, name):
            raise errors.NotFound("Service not found")
        async for batch in self.logs_.read(namespace, name, count=count, follow=follow, since=since):
            yield batch

    async def drop_namespace(self, namespace: str) -> None:
        """Forget a deleted namespace's sources and logs (its services were stopped)."""
        for key in [k for k in self._units if k[0] == namespace]:
            with contextlib.suppress(errors.NotFound):
                await self.delete(key[1], namespace=namespace)
        await self.blobs.drop_namespace(namespace)
        shutil.rmtree(self.logs_.folder / namespace, ignore_errors=True)
        shutil.rmtree(self.builder.folder / "builds" / namespace, ignore_errors=True)

    async def close(self) -> None:
        """Stop every instance (their records stay: a restarted server brings them back)."""
        self._closed = True
        if self._restore is not None:
            self._restore.cancel()
        await asyncio.gather(*(self._stop_unit(u) for u in self._units.values()), return_exceptions=True)
        await self._warm.close()
        self.logs_.close()
        await self.blobs.close()

    # -- accounts ----------------------------------------------------------------------

    def _credentials(self, record: _Record) -> Path:
        return self.home / "runtime" / "accounts" / record.namespace / f"{record.name}.json"

    async def _account(self, record: _Record, *, fresh: bool) -> None:
        """Make the service's account (``fresh``: a new one, replacing any of that id) and
        write its credentials file; without ``fresh`` an existing file is kept."""
        path = self._credentials(record)
        if not fresh and path.exists():
            return
        auth = await self._auth()
        account_id = _account_id(record)
        with contextlib.suppress(errors.NotFound):
            await auth.delete_account(account_id, namespace=record.namespace)
        account = await auth.generate(
            account_id,
            type="service",
            scopes=[SERVICE_SCOPE],
            namespace=record.namespace,
            service=record.name,
            metadata={"runtime": "true"},
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"id": account.id, "secret": account.secret}, f)
        os.replace(scratch, path)

    # -- the lifecycle -----------------------------------------------------------------

    async def _lifecycle(
        self, unit: _Unit, previous: asyncio.Task[None] | None = None, replaced: str = ""
    ) -> None:
        """Build and start ``unit``, then supervise it; ``previous``: the lifecycle it
        replaces (an update), stopped first; ``replaced``: the upload that update replaced,
        deleted once nothing builds from it (its running instances need only their build)."""
        record = unit.record
        book = self.logs_.book(record.namespace, record.name)
        try:
            if previous is not None and not previous.done():
                previous.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await previous
            await self._forget_upload(record.namespace, replaced)
            await self._set(unit, "building")
            folder, argv, venv = await self._build(unit)
            old = dict(unit.procs)
            unit.procs = {}
            rolling = bool(old) and record.instances > 1
            if old and not rolling:
                await _stop_processes(old.values())
            await self._account(record, fresh=False)
            address = await self._server_address()
            await self._set(unit, "starting")
            unit.exited = asyncio.Queue()
            # nodes already there (the old instances of a rolling update, or ones that died
            # without deregistering) are not the new instances registering
            earlier = await self._nodes(record)
            for index in range(record.instances):
                await self._spawn(unit, index, folder, argv, venv, address)
            reason = await self._await_registration(unit, earlier)
            if reason:
                # nothing runs in error (the old instances of a rolling update neither)
                await _stop_processes([*unit.procs.values(), *(old.values() if rolling else ())])
                await self._deregister(record)
                await self._set(unit, "error", reason)
                return
            if rolling:
                await _stop_processes(old.values())
            await self._set(unit, "running")
            # the builds of before (an update's) run nothing any more
            await self._prune_builds(record, keep=folder)
            plural = "s" if record.instances > 1 else ""
            book.write("runtime", -1, f"running: {record.instances} instance{plural} registered")
            # the next start of this venv (a restart, an update, another service) is a warm one
            self._warm.prepare(venv, _warm_env(venv))
            await self._supervise(unit, folder, argv, venv, address)
        except BuildError as exc:
            # nothing runs in error: the instances of before an update stop too
            await _stop_processes(list(unit.procs.values()))
            unit.procs = {}
            await self._deregister(record)
            await self._set(unit, "error", exc.detail)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("runtime: %s/%s failed", record.namespace, record.name)
            book.write("runtime", -1, f"internal error: {type(exc).__name__}")
            with contextlib.suppress(Exception):
                await self._set(unit, "error", "internal error in the runtime (see the server's log)")

    async def _prune_builds(self, record: _Record, *, keep: Path | None) -> None:
        """Delete the unpacked builds of ``record``'s service but the one ``keep`` is in
        (None: all of them, once it is killed): every run and update unpacks a new one, and
        the disk is not to fill with them."""
        folder = self.builder.folder / "builds" / record.namespace / record.name

        def prune() -> None:
            if not folder.is_dir():
                return
            kept = keep.resolve() if keep is not None else None
            for build in folder.iterdir():
                if keep is not None and build.name.startswith("."):
                    continue  # an unpack under way (the next update's), not a build yet
                if kept is None or not kept.is_relative_to(build.resolve()):
                    shutil.rmtree(build, ignore_errors=True)
            if keep is None:
                shutil.rmtree(folder, ignore_errors=True)

        await asyncio.to_thread(prune)

    async def _build(self, unit: _Unit) -> tuple[Path, list[str], Path]:
        record = unit.record
        book = self.logs_.book(record.namespace, record.name)
        if record.cloning:
            await self._clone(unit)
        build = record.hash[:16]
        target = self.builder.source_dir(record.namespace, record.name, build)
        if not target.is_dir():
            with tempfile.TemporaryDirectory(dir=self.home / "runtime") as scratch:
                archive = Path(scratch) / "source.tar.gz"
                try:
                    await self._fetch(record, archive)
                except errors.NotFound:
                    raise BuildError("the uploaded source is gone: run it again") from None
                await self.builder.unpack(archive, record.namespace, record.name, build)
        folder = (target / record.subfolder).resolve() if record.subfolder else target
        if not folder.is_relative_to(target) or not folder.is_dir():
            raise BuildError(f"the source has no folder {record.subfolder}")
        entry = None if record.command else entry_point(folder)
        if record.cloning:
            # the clone is stored and has something to run: ``micro run`` of a git source
            # returns now (a source without an entry point is still its one-line failure)
            record.cloning = False
            await self._save(record)
        await self.builder.generate(folder)
        venv = await self.builder.venv(folder, lambda step: book.write("runtime", -1, step))
        return folder, _argv(record, venv, entry), venv

    async def _spawn(
        self, unit: _Unit, index: int, folder: Path, argv: list[str], venv: Path, address: str
    ) -> None:
        record = unit.record
        inherited = settings.foreign_env()
        own = dict(pair.partition("=")[::2] for pair in record.env)
        env = {**inherited, **own}
        env.update(
            PYTHONUNBUFFERED="1",
            VIRTUAL_ENV=str(venv),
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
            MICRO_PROXY=address,
            MICRO_NAMESPACE=record.namespace,
            MICRO_SERVICE_NAME=record.name,
            MICRO_SERVICE_VERSION=record.version,
            MICRO_AUTH_FILE=str(self._credentials(record)),
        )
        env.update(_joined_tls_env(address) if self._joined else _tls_env())
        proc = None
        if _warm.warmable(argv, str(venv / "bin" / "python"), own):
            proc = await self._warm.take(venv, folder, env, argv[1:])
        if proc is None:
            proc = await asyncio.create_subprocess_exec(
                *DIES_WITH_SERVER,
                *argv,
                cwd=folder,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        unit.procs[index] = proc
        unit.started[index] = time.monotonic()
        self.logs_.book(record.namespace, record.name).write(
            "runtime", index, f"instance {index} started (pid {proc.pid})"
        )
        unit.watchers.append(asyncio.create_task(self._watch(unit, index, proc)))

    async def _watch(self, unit: _Unit, index: int, proc: asyncio.subprocess.Process) -> None:
        """Copy the instance's output into its log, then report its exit."""
        book = self.logs_.book(unit.record.namespace, unit.record.name)

        async def copy(stream: asyncio.StreamReader | None, name: str) -> None:
            assert stream is not None
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line over the limit: what there is, as one line
                    raw = await stream.read(_LINE_LIMIT)
                if not raw:
                    return
                line = raw.decode(errors="replace").rstrip("\n")
                if "Listening on " in line:  # micro.Service's line: the node's address
                    unit.addresses[index] = line.rsplit("Listening on ", 1)[1].split()[0]
                if name == "stderr" and line.strip():
                    unit.last_error[index] = line.strip()
                book.write(name, index, line)

        await asyncio.gather(copy(proc.stdout, "stdout"), copy(proc.stderr, "stderr"))
        code = await proc.wait()
        if unit.procs.get(index) is proc:
            await unit.exited.put((index, code))

    async def _await_registration(
        self, unit: _Unit, earlier: set[str], *, count: int = 0, keep_exits: bool = False
    ) -> str:
        """Empty once every instance (``count``: that many restarted ones) registered a node
        not in ``earlier``, else why not (an instance exited first, or
        ``MICRO_RUNTIME_REGISTER_SECONDS`` passed). ``keep_exits``: an exit stays queued for
        the supervisor (a restarted instance that crashes again is one more crash)."""
        record = unit.record
        limit = _register_seconds()
        deadline = time.monotonic() + limit
        delay = 0.05
        while True:
            # registered first: an instance that registered and then exited is a crash of a
            # running service (its exit stays queued for the supervisor)
            if len(await self._nodes(record) - earlier) >= (count or record.instances):
                return ""
            if not unit.exited.empty():
                if keep_exits:
                    return "an instance exited before it registered"
                index, code = unit.exited.get_nowait()
                last = unit.last_error.get(index, "")
                why = f"{_exit_reason(code)} before it registered"
                return f"{why}: {last}" if last else why
            if time.monotonic() > deadline:
                return f"did not register within {limit:g}s"
            # polled only while starting (never while running), with a growing step
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    index, code = await unit.exited.get()
                    await unit.exited.put((index, code))
            delay = min(delay * 1.5, 1.0)

    async def _nodes(self, record: _Record) -> set[str]:
        """The ids of the nodes registered under the service's name in its namespace."""
        try:
            versions = await self._registry().get_service(record.name, domain=record.namespace)
        except errors.NotFound:
            return set()
        return {node.id for version in versions for node in version.nodes}

    async def _supervise(self, unit: _Unit, folder: Path, argv: list[str], venv: Path, address: str) -> None:
        record = unit.record
        book = self.logs_.book(record.namespace, record.name)
        limits = settings.server()
        # instances started again that have not registered yet, and the nodes there were
        # before the first of them (a crashed instance's node may outlive it until its TTL)
        restarted = 0
        earlier: set[str] = set()
        while True:
            if restarted and unit.exited.empty():
                reason = await self._await_registration(unit, earlier, count=restarted, keep_exits=True)
                if not reason:
                    restarted = 0
                    await self._set(unit, "running")
                    book.write("runtime", -1, "running again: every instance registered")
                elif unit.exited.empty():  # it never registered: as at the first start
                    await _stop_processes(list(unit.procs.values()))
                    unit.procs = {}
                    await self._deregister(record)
                    await self._set(unit, "error", reason)
                    return
                continue  # a crash is queued: taken below
            index, code = await unit.exited.get()
            unit.procs.pop(index, None)
            if time.monotonic() - unit.started.pop(index, time.monotonic()) >= HEALTHY_SECONDS:
                record.retries = 0
            record.retries += 1
            unit.last_error.pop(index, None)
            # a crash does not deregister: its node goes now, not when its TTL lapses
            await self._deregister(record, address=unit.addresses.pop(index, ""))
            reason = _exit_reason(code)
            book.write("runtime", index, f"instance {index} {reason}")
            if record.retries > limits.max_retries:
                await _stop_processes(list(unit.procs.values()))
                unit.procs = {}
                await self._deregister(record)  # none of its nodes answers any more
                crashes = "once" if record.retries == 1 else f"{record.retries} times"
                await self._set(unit, "error", f"crashed {crashes}, last {reason}")
                return
            delay = min(float(limits.backoff_cap), BACKOFF_FIRST * 2 ** (record.retries - 1))
            book.write("runtime", index, f"restarting instance {index} in {delay:g}s")
            # not running while an instance is missing: starting, with why and what comes next
            # (saved without _set's "error:" log line: this is no error state yet)
            record.status = "starting"
            record.error = (
                f"instance {index} {reason}; restart {record.retries} of {limits.max_retries} in {delay:g}s"
            )
            await self._save(record)
            await asyncio.sleep(delay)
            if not restarted:
                earlier = await self._nodes(record)
            await self._spawn(unit, index, folder, argv, venv, address)
            restarted += 1

    async def _stop_unit(self, unit: _Unit) -> None:
        if unit.task is not None and not unit.task.done():
            unit.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await unit.task
        procs, unit.procs = list(unit.procs.values()), {}
        await _stop_processes(procs)
        for watcher in unit.watchers:
            watcher.cancel()
        unit.watchers.clear()

    async def _deregister(self, record: _Record, *, address: str | None = None) -> None:
        """Remove the service's nodes from the registry (``address``: only the node there;
        "" none)."""
        if address == "":
            return
        registry = self._registry()
        try:
            versions = await registry.get_service(record.name, domain=record.namespace)
        except errors.NotFound:
            return
        for version in versions:
            if address is not None:
                version.nodes = [n for n in version.nodes if n.address == address]
                if not version.nodes:
                    continue
            with contextlib.suppress(errors.NotFound):
                await registry.deregister(version, domain=record.namespace)


def _warm_env(venv: Path) -> dict[str, str]:
    """The environment a warm interpreter of ``venv`` starts with: an instance's, before its
    own variables (set when it is taken)."""
    env = settings.foreign_env()
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
    }


@functools.cache
def _trust(cert: str) -> str:
    """The CA file a service trusts to reach a server serving ``cert``: the file itself when
    it holds a self-signed certificate (a certificate that is its own CA, or a chain that
    ends at its root), else "" (the system's CAs: a certificate of a public CA)."""
    from cryptography import x509

    try:
        found = x509.load_pem_x509_certificates(Path(cert).read_bytes())
    except (OSError, ValueError):
        return ""  # the server checked it when it started: no longer readable, the system's
    return cert if any(c.issuer == c.subject for c in found) else ""


def _tls_env() -> dict[str, str]:
    """``MICRO_PROXY_TLS`` and ``MICRO_PROXY_CA`` for a service, when the server serves TLS
    (``MICRO_TLS_CERT``): its calls to the server go over TLS, trusting the server's CA."""
    cert = settings.server().tls_cert
    if not cert:
        return {}
    ca = _trust(cert)
    return {"MICRO_PROXY_TLS": "1", **({"MICRO_PROXY_CA": ca} if ca else {})}


def _joined_tls_env(address: str) -> dict[str, str]:
    """``MICRO_PROXY_TLS`` and ``MICRO_PROXY_CA`` for a service of a runtime run alone: the
    server it joined is dialled as this process dials it."""
    from micro import _platform

    ca = _platform.tls_for(address)
    if ca is None:
        return {}
    return {"MICRO_PROXY_TLS": "1", **({"MICRO_PROXY_CA": ca} if ca else {})}


def _argv(record: _Record, venv: Path, entry: list[str] | None) -> list[str]:
    """What an instance runs: the venv's python with the entry point, or the run's
    ``--command`` (whose ``python`` is the venv's too), then the run's ``--args``."""
    python = str(venv / "bin" / "python")
    if not record.command:
        return [python, *(entry or []), *record.args]
    first, *rest = record.command
    if first in ("python", "python3"):
        first = python
    return [first, *rest, *record.args]


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _account_id(record: _Record) -> str:
    """``<name>-<version>``; a version from a git ref with folders (``feature/x``) has them
    as dashes: an account's id has no ``/``."""
    return f"{record.name}-{record.version.replace('/', '-')}"


def _check_run(instances: int, env: list[str], subfolder: str) -> None:
    if instances < 1:
        raise errors.BadRequest(f"--instances must be at least 1, not {instances}")
    if instances > 64:
        raise errors.BadRequest(f"--instances must be at most 64, not {instances}")
    for pair in env:
        key, sep, _ = pair.partition("=")
        if not sep or not key:
            raise errors.BadRequest(f"invalid environment variable {pair!r}: expected KEY=VALUE")
        if key.startswith("MICRO_"):
            raise errors.BadRequest(f"{key} is set by the runtime")
    if subfolder.startswith("/") or ".." in Path(subfolder).parts:
        raise errors.BadRequest(f"invalid subfolder {subfolder!r}")


async def _stop_processes(procs: Any) -> None:
    """SIGTERM each process's group, SIGKILL what is left after :data:`GRACE_SECONDS`."""
    procs = [p for p in procs if p.returncode is None]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

    async def reap(proc: asyncio.subprocess.Process) -> None:
        try:
            async with asyncio.timeout(GRACE_SECONDS):
                await proc.wait()
        except TimeoutError:
            pass
        # the group too: whatever the instance started must not outlive it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    await asyncio.gather(*(reap(p) for p in procs))
