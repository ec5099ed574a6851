"""The dependency rule of ARCHITECTURE.md, checked on the source: who may import whom.

Every import statement of a package is read with ``ast`` (those inside functions too,
never by importing anything), resolved to absolute module names, and held against the
rules below. The checker is tested on a synthetic tree as well, so a rule that could
never fail would be seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What the repository may use of the image server: the contracts between the processes.
IMAGE_SERVER_CONTRACTS = frozenset(
    {
        "image_server.pyramids",  # ingest builds what the server reads
        "image_server.objects",  # storage readers ...
        "image_server.s3",  # ... S3 storage ...
        "image_server.readcache",  # ... and its local read-through cache
        "image_server.tokens",  # the access cookie's format
        "image_server.policy",  # the sidecar type, the one access rule, networks, origins
        "image_server.auth",  # the IIIF Auth service descriptions
        "image_server.secrecy",  # which secrets both processes refuse to start with
        "image_server.telemetry",  # request ids, JSON logs, metrics
        "image_server.usage",  # the usage batches the image server posts
    }
)
WEB_FRAMEWORKS = ("flask", "flask_babel", "flask_login", "flask_wtf", "werkzeug", "wtforms")
DATABASE = ("sqlalchemy", "flask_sqlalchemy", "flask_migrate", "alembic")
# Request-bound globals: only views, blueprints and the app factory touch them. (Services
# may use flask_babel's gettext: their refusals reach people in their own language.)
REQUEST_GLOBALS = frozenset({"request", "session", "g", "current_app"})
# What services must not reach for: the web layer, its helpers and the app's settings
# (services are handed frozen dataclasses instead).
SERVICE_FORBIDDEN = (
    "repository.web",
    "repository.tasks",
    "repository.config",
    "repository.settings",
    "repository.admin",
    "repository.api",
    "repository.auth",
    "repository.cli",
    "repository.oai",
    "repository.public",
)
# The pure cores (STYLE.md): no I/O, no pyvips, no Flask; only these imports.
PURE_CORES = ("image_server/request.py", "image_server/plan.py", "manifests")
PURE_ALLOWED = frozenset(
    {
        "__future__",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "math",
        "re",
        "typing",
        "urllib.parse",
        "iiif_prezi3",  # builds manifests in memory
        "nh3",  # sanitises HTML in memory
        "image_server.errors",
        "image_server.request",
        "manifests",
        "manifests.builder",
        "manifests.records",
        "manifests.sanitise",
        "manifests.v2",
    }
)


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, e.g. repository.services.ingest
    target: str  # the absolute module imported, e.g. image_server.pyramids
    names: tuple[str, ...]  # for `from target import a, b`
    line: int

    def __str__(self) -> str:
        shown = f"{self.target} ({', '.join(self.names)})" if self.names else self.target
        return f"{self.module}:{self.line} imports {shown}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(root: Path, name: str) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(root: Path, package: str) -> list[Import]:
    """Every import in every module under ``root/package``, resolved to absolute names.

    ``from a import b`` counts as importing ``a.b`` when that is a module of the tree.
    """
    found: list[Import] = []
    for path in sorted((root / package).rglob("*.py")):
        module = module_name(root, path)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, (), node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                names = tuple(alias.name for alias in node.names)
                found.append(Import(module, base, names, node.lineno))
                found += [
                    Import(module, f"{base}.{name}", (), node.lineno)
                    for name in names
                    if is_module(root, f"{base}.{name}")
                ]
    return found


def _under(target: str, prefixes: Iterable[str]) -> bool:
    return any(target == p or target.startswith(f"{p}.") for p in prefixes)


def violations(root: Path) -> list[str]:
    """Every import in the tree at ``root`` that breaks a rule, said plainly."""
    problems: list[str] = []
    for package in ("manifests", "image_server"):
        if not (root / package).is_dir():
            continue
        for found in imports_of(root, package):
            if _under(found.target, ("repository", *WEB_FRAMEWORKS, *DATABASE)):
                problems.append(f"{found}: {package}/ never imports the repository or its stack")
            if package == "manifests" and _under(found.target, ("image_server",)):
                problems.append(f"{found}: manifests/ imports nothing of the image server")
    if (root / "repository").is_dir():
        for found in imports_of(root, "repository"):
            if (
                _under(found.target, ("image_server",))
                and found.target != "image_server"
                and not _under(found.target, IMAGE_SERVER_CONTRACTS)
            ):
                problems.append(f"{found}: not one of the image server's contract modules")
            if found.target == "image_server" and not all(
                f"image_server.{name}" in IMAGE_SERVER_CONTRACTS for name in found.names
            ):
                problems.append(f"{found}: not one of the image server's contract modules")
            if found.module.startswith("repository.services"):
                if found.target == "flask" and REQUEST_GLOBALS & set(found.names):
                    problems.append(f"{found}: services never touch Flask's request globals")
                if _under(found.target, SERVICE_FORBIDDEN):
                    problems.append(f"{found}: services take what they need as arguments")
    for core in PURE_CORES:
        path = root / core
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            package = module_name(root, file).split(".")[0]
            for found in imports_of(root, package):
                if found.module == module_name(root, file) and found.target not in PURE_ALLOWED:
                    problems.append(f"{found}: a pure core imports only pure code")
    return sorted(set(problems))


def test_the_layers_hold() -> None:
    assert violations(ROOT) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "image_server/__init__.py": "",
    "image_server/tokens.py": "import json\n",
    "image_server/views.py": "from . import tokens\n",
    "image_server/request.py": "import re\nfrom .errors import BadRequest\n",
    "image_server/errors.py": "",
    "manifests/__init__.py": "from .records import Urls\n",
    "manifests/records.py": "from dataclasses import dataclass\n",
    "repository/__init__.py": "from image_server import tokens\n",
    "repository/services/__init__.py": "",
    "repository/services/ingest.py": "from ..extensions import db\nfrom flask_babel import _\n",
    "repository/extensions.py": "",
}


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path: Path) -> None:
    assert violations(write(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "image_server/views.py",
            "def serve():\n    from repository.models import Item\n",
            "image_server.views:2 imports repository.models",
        ),
        ("image_server/tokens.py", "import flask\n", "image_server.tokens:1 imports flask"),
        ("manifests/records.py", "from image_server import tokens\n", "imports image_server"),
        ("manifests/records.py", "import pyvips\n", "a pure core imports only pure code"),
        ("image_server/request.py", "import os\n", "image_server.request:1 imports os"),
        ("repository/__init__.py", "from image_server import views\n", "image_server.views"),
        ("repository/__init__.py", "import image_server.lane\n", "imports image_server.lane"),
        ("repository/services/ingest.py", "from flask import request\n", "request globals"),
        ("repository/services/ingest.py", "from ..web import x\n", "repository.web"),
        ("repository/services/ingest.py", "from .. import settings\n", "repository.settings"),
    ],
)
def test_the_checker_names_each_broken_rule(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    tree = write(tmp_path, {**CLEAN, "image_server/lane.py": "", name: text})
    write(tree, {"repository/web.py": "", "repository/settings.py": ""})
    found = violations(tree)
    assert found and any(expected in problem for problem in found), found
