"""``micro new NAME``: scaffold a runnable Python service in ./NAME.

The folder gets ``main.py``, ``handler.py``, ``proto/<module>.proto`` with its generated
code (``proto/`` is a package, so the generated grpc module imports its messages with
``from . import``), ``generate.py`` (regenerates that code after the proto is edited; it
also generates it here), ``requirements.txt``, ``tests/`` (on :mod:`micro.testing`), ``README.md``
and ``.gitignore``. ``foo-bar`` gives ``proto/foo_bar.proto``, ``package foobar;`` and
``service FooBar``, registered as ``foo-bar``.
"""

import re
import shutil
from pathlib import Path

import typer

from commands._output import Failure, out
from micro.registry import RESERVED_NAMES

__all__ = ["CORE_SERVICES", "generate_code", "names_for", "new", "register", "scaffold"]

# reserved: the core services' names (semantics.md §Names)
CORE_SERVICES = RESERVED_NAMES
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def register(root: typer.Typer) -> None:
    root.command("new", help="Create a new service in a folder of its name.")(new)


def names_for(name: str) -> dict[str, str]:
    """The template fields of a service name (see :mod:`commands._new_templates`)."""
    parts = name.split("-")
    return {
        "name": name,
        "module": "_".join(parts),
        "package": "".join(parts),
        "service": "".join(p[:1].upper() + p[1:] for p in parts),
    }


def generate_code(folder: Path) -> None:
    """Generate the code of ``folder/proto`` with the service's own ``generate.py``: the
    same script the user runs after editing the proto, so both always agree."""
    import runpy

    script = runpy.run_path(str(folder / "generate.py"), run_name="micro_new_generate")
    try:
        script["generate"](folder / "proto")
    except script["GenerateError"] as exc:
        raise Failure(str(exc)) from exc


def scaffold(name: str, parent: Path) -> Path:
    """Create the service folder ``parent/name``; returns it."""
    if not _NAME.match(name):
        raise Failure(
            f"Invalid service name {name!r}: "
            "use lower-case letters, digits and dashes, starting with a letter"
        )
    if name in CORE_SERVICES:
        raise Failure(f"{name} is the name of a core service: choose another name")
    from commands.main import COMMANDS, LATER

    if name in COMMANDS or name in LATER:  # `micro NAME` would run the command, never the service
        raise Failure(f"{name} is the name of a micro command: choose another name")
    target = parent / name
    try:
        return _scaffold(name, target)
    except OSError as exc:  # a name too long for the file system, a folder not writable
        raise Failure(f"Cannot create {name}: {exc.strerror or exc}") from None


def _scaffold(name: str, target: Path) -> Path:
    parent = target.parent
    if target.exists():
        raise Failure(f"{target} already exists")
    from commands._new_templates import TEMPLATES

    fields = names_for(name)
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        for path, template in TEMPLATES.items():
            file = staging / path.format(**fields)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(template.format(**fields))
        generate_code(staging)
        staging.chmod(0o755)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def tree(root: Path) -> list[str]:
    """The folder as ``tree`` draws it (caches left out)."""
    lines = ["."]

    def walk(folder: Path, prefix: str) -> None:
        entries = sorted(
            (p for p in folder.iterdir() if p.name != "__pycache__"),
            key=lambda p: (p.is_dir(), p.name.lower()),
        )
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{entry.name}")
            if entry.is_dir():
                walk(entry, prefix + ("    " if last else "│   "))

    walk(root, "")
    return lines


def new(name: str = typer.Argument(..., help="Service name: lower-case letters, digits, dashes.")) -> None:
    target = scaffold(name, Path.cwd())
    fields = names_for(name)
    out(f"Creating service {name}\n")
    for line in tree(target):
        out(line)
    out("")
    out("Next steps:")
    out(f"  cd {name}")
    out(f"  micro auth create account --type service --service {name} {name}-svc   # prints its secret")
    out(f"  MICRO_AUTH_ID={name}-svc MICRO_AUTH_SECRET=<its secret> python main.py")
    out(f'  micro call {name} {fields["service"]}.Call \'{{"name": "John"}}\'')
    out("  python -m pytest")
    out("")
    out(f"After editing proto/{fields['module']}.proto, regenerate its code:")
    out("  python generate.py")
