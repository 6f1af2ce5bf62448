"""The shape of the code, checked: layer boundaries, the events registry
against what the code emits and what docs/API.md says, the configuration
table against the README, and a wheel that serves on its own."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import types
import typing
import zipfile
from pathlib import Path

import httpx

from moot.articles import importer
from moot.store import config
from moot.store.events import EVENTS
from tests.conftest import seed
from tests.maint_support import build_tree
from tests.processes import ROOT, read_listening, tls

SERVER = ROOT / "server"
ADAPTERS = ("web", "nntp", "smtp")  # subpackages of server/, one per channel
EDGE_MODULES = {"app", "cli", "__main__", "demo", "demo_story"}  # they assemble and start the adapters
FRAMEWORKS = ("starlette", "uvicorn", "aiosmtpd")  # the servers the adapters run on


def module_files(root: Path) -> dict[str, Path]:
    """Every module under `root` by its name in the moot package."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = ["moot", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported_modules(path: Path, package: str) -> set[str]:
    """The absolute names a module imports, at the top or inside functions alike
    (relative imports resolved against `package`): each `from P import n` gives
    P and P.n, whichever of them is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Which moot modules each module imports. A package a module lives in is
    left out (it is initialised before any of its modules), as are names that
    are not modules (`from .db import fetch_all` is an edge to moot.store.db)."""
    files = module_files(root)
    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        graph[module] = {
            name
            for name in imported_modules(path, package)
            if name in files and name != module and name not in ancestors
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: each strongly connected set of modules larger than one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def layer_of(module: str) -> str:
    """'domain', an adapter's name, or 'edge' for a module of the moot package."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ADAPTERS:
        return parts[1]
    if len(parts) > 1 and parts[1] in EDGE_MODULES:
        return "edge"
    return "domain"


def declared_imports(root: Path) -> dict[str, set[str]]:
    """What each domain package's docstring says it may import: the names of
    other domain packages in its "May import:" paragraph (none without one)."""
    packages = {p.parent.name for p in root.glob("*/__init__.py")} - set(ADAPTERS)
    declared = {}
    for name in packages:
        doc = ast.get_docstring(ast.parse((root / name / "__init__.py").read_text(encoding="utf-8"))) or ""
        _, _, allowed = doc.partition("May import:")
        words = set(re.findall(r"[a-z_]+", allowed.split("\n\n")[0]))
        declared[name] = words & (packages - {name})
    return declared


def boundary_violations(root: Path) -> list[str]:
    """Every import that crosses a boundary: a framework below the adapters,
    the domain reaching up into an adapter or the edge, one adapter importing
    another, one domain package importing another its docstring does not name,
    a domain module outside every package, or an import cycle."""
    problems = []
    files = module_files(root)
    declared = declared_imports(root)
    graph = import_graph(root)
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        layer = layer_of(module)
        if layer == "domain" and module.count(".") == 1 and module.split(".")[1] not in declared:
            problems.append(f"{module} is a domain module outside the domain packages")
        for name in imported_modules(path, package):
            top = name.split(".")[0]
            if top == "server":
                problems.append(f"{module} imports {name}: the package is moot")
            if top in FRAMEWORKS and layer == "domain":
                problems.append(f"{module} imports {name}: only adapters and app.py use the framework")
        for name in graph[module]:
            other = layer_of(name)
            if layer == "domain" and other != "domain":
                problems.append(f"{module} imports {name}: the domain never imports an edge")
            if layer in ADAPTERS and other in ADAPTERS and other != layer:
                problems.append(f"{module} imports {name}: adapters never import each other")
            mine, theirs = module.split(".")[1:2], name.split(".")[1:2]
            if (
                layer == other == "domain"
                and mine
                and theirs
                and mine != theirs
                and mine[0] in declared
                and theirs[0] in declared
                and theirs[0] not in declared[mine[0]]
            ):
                problems.append(f"{module} imports {name}: moot.{mine[0]} does not say it may import it")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def test_layers_keep_their_boundaries():
    assert boundary_violations(SERVER) == []


def test_the_boundary_check_sees_a_violation(tmp_path):
    for folder in ("web", "nntp", "store", "articles", "people"):
        (tmp_path / folder).mkdir()
    (tmp_path / "store" / "__init__.py").write_text('"""The store.\n\nImports nothing else of Moot."""\n')
    (tmp_path / "articles" / "__init__.py").write_text('"""Articles.\n\nMay import: store."""\n')
    (tmp_path / "people" / "__init__.py").write_text('"""People.\n\nMay import: store, articles."""\n')
    (tmp_path / "store" / "db.py").write_text("from ..articles import groups\n")  # not declared
    (tmp_path / "articles" / "groups.py").write_text(
        "from starlette.requests import Request\nfrom ..web import common\nfrom ..store import db\n"
    )
    (tmp_path / "people" / "accounts.py").write_text("def late():\n    from ..articles import groups\n")
    (tmp_path / "articles" / "tree.py").write_text("def late():\n    from ..people import accounts\n")
    (tmp_path / "loose.py").write_text("")
    (tmp_path / "nntp" / "session.py").write_text("from ..web.common import site_of\n")
    (tmp_path / "web" / "common.py").write_text(
        "from starlette.requests import Request\nfrom ..articles import groups\n"
    )
    found = boundary_violations(tmp_path)
    assert any("moot.articles.groups imports starlette.requests" in p for p in found)
    assert any("moot.articles.groups imports moot.web" in p for p in found)
    assert any("moot.nntp.session imports moot.web" in p for p in found)
    assert "moot.store.db imports moot.articles.groups: moot.store does not say it may import it" in found
    assert any("moot.articles.tree imports moot.people.accounts: moot.articles" in p for p in found)
    assert not any(p.startswith("moot.people.accounts imports") for p in found)  # declared, and late alike
    assert "moot.loose is a domain module outside the domain packages" in found
    assert any(p.startswith("import cycle:") and "moot.articles.groups -> moot.store.db" in p for p in found)
    assert not any(p.startswith("moot.web.common") for p in found)


def test_architecture_page_names_every_package():
    """docs/ARCHITECTURE.md links each subpackage of server/ and names no other,
    and its table says what each domain package may import as its docstring does."""
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    packages = {p.parent.name for p in SERVER.glob("*/__init__.py")}
    linked = set(re.findall(r"\(\.\./server/([a-z_]+)/\)", page))
    assert linked == packages
    declared = declared_imports(SERVER)
    rows = re.findall(r"^\| \[([a-z_]+)\]\(\.\./server/[a-z_]+/\) \|.*\| ([^|]*) \|$", page, re.M)
    table = {name: set(re.findall(r"[a-z_]+", allowed)) & set(declared) for name, allowed in rows}
    assert table == {name: declared[name] for name in table}
    assert set(table) == set(declared)


# Events: the registry, the code and the documentation agree.


def conforms(value: object, shape: object, where: str = "data") -> list[str]:
    """Where `value` departs from the type `shape` (TypedDicts: required keys
    present, no unknown keys, each value of its declared type)."""
    if shape is typing.Any or shape is object:
        return []
    origin = typing.get_origin(shape)
    if origin in (typing.Union, types.UnionType):
        options = [conforms(value, option, where) for option in typing.get_args(shape)]
        return [] if any(not o for o in options) else min(options, key=len)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where} is not a list"]
        (item,) = typing.get_args(shape)
        return [p for i, v in enumerate(value) for p in conforms(v, item, f"{where}[{i}]")]
    if origin is dict or shape is dict:
        return [] if isinstance(value, dict) else [f"{where} is not an object"]
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where} is not an object"]
        hints = typing.get_type_hints(shape)
        problems = [f"{where} lacks {k}" for k in shape.__required_keys__ if k not in value]
        problems += [f"{where} has unknown key {k}" for k in value if k not in hints]
        for key, hint in hints.items():
            if key in value:
                problems += conforms(value[key], hint, f"{where}.{key}")
        return problems
    if shape is type(None):
        return [] if value is None else [f"{where} is not null"]
    if shape is int:
        return (
            [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where} is not an integer"]
        )
    return [] if isinstance(value, shape) else [f"{where} is not {shape.__name__}"]  # type: ignore[arg-type]


def test_conforms_rejects_what_a_shape_does_not_allow():
    from moot.store.shapes import Author

    assert conforms({"username": "ada", "display_name": "Ada"}, Author) == []
    assert conforms({"username": None, "display_name": "Ada"}, Author) == []
    assert conforms({"display_name": 3}, Author) == ["data lacks username", "data.display_name is not str"]
    assert conforms({"username": "a", "display_name": "A", "x": 1}, Author) == ["data has unknown key x"]


MBOX = (
    b"From a@example.org Sat Jan  1 10:00:00 2000\nMessage-ID: <old@example.org>\n"
    b"From: Old Timer <a@example.org>\nSubject: From the archive\n"
    b"Date: Sat, 01 Jan 2000 10:00:00 +0000\n\nArchived words.\n\n"
)


async def test_every_registered_event_is_emitted_in_its_documented_shape(site, tmp_path):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    thread = t["thread"]["id"]
    calls = [
        (mod, f"/api/threads/{thread}/split", {"article_id": t["a2"]["id"], "reason": "drift"}),
        (mod, f"/api/threads/{t['other']['id']}/merge", {"into_article_id": t["a4"]["id"], "reason": "same"}),
        (mod, f"/api/threads/{thread}/move", {"group": "comp.lang.misc", "reason": "fits"}),
        (mod, f"/api/threads/{thread}/reference", {"on": True, "reason": "read first"}),
        (mod, f"/api/threads/{thread}/lock", {"reason": "calm down"}),
        (mod, f"/api/threads/{thread}/unlock", {"reason": "calm again"}),
        (mod, f"/api/threads/{thread}/archive", {"reason": "done"}),
        (mod, f"/api/threads/{thread}/unarchive", {"reason": "not done"}),
        (t["bob"], f"/api/articles/{t['a3']['id']}/cancel", {"reason": "oops"}),
        (t["bob"], f"/api/threads/{thread}/read", {}),
        (t["ada"], "/api/notifications/read", {}),
    ]
    r = await t["bob"].put(f"/api/articles/{t['a4']['id']}", json={"body": "four, edited"})
    assert r.status_code == 200, r.text
    for client, url, body in calls:
        r = await client.post(url, json=body)
        assert r.status_code in (200, 201), (url, r.text)
    r = await mod.post(f"/api/articles/{t['other_root']['id']}/cancel", json={"reason": "rude"})
    entry = (await mod.get("/api/modlog")).json()["entries"][0]
    r = await mod.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "fine after all"})
    assert r.status_code == 200, r.text  # the removal undone: article.restored
    r = await mod.put("/api/groups/comp.lang.misc/policy", json={"archive_after_days": 30, "reason": "tidy"})
    assert r.status_code == 200, r.text
    # Spam reports hide an article at the threshold; a moderator's dismissal shows it again.
    for name in ("rita", "ruth", "rex"):
        r = await (await site.client(name)).post(
            f"/api/articles/{t['a4']['id']}/report", json={"reason": "spam"}
        )
        assert r.status_code == 201, r.text
    assert r.json()["article"]["status"] == "hidden"
    group = r.json()["article"]["group"]
    (item,) = (await mod.get(f"/api/groups/{group}/queue")).json()["items"]
    r = await mod.post(f"/api/groups/{group}/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    await seed(site, "misc.fresh")
    (tmp_path / "in.mbox").write_bytes(MBOX)
    await importer.import_path(site.db, tmp_path / "in.mbox", "misc.fresh")
    conn = sqlite3.connect(site.config.db_path)
    rows = conn.execute("SELECT type, data FROM events ORDER BY id").fetchall()
    conn.close()
    assert {type_ for type_, _ in rows} == set(EVENTS)
    for type_, data in rows:
        assert conforms(json.loads(data), EVENTS[type_], type_) == []


def test_docs_list_exactly_the_registered_events():
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    section = text.split("### Events", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([a-z]+\.[a-z]+)`", line.split("|")[1]))
    assert documented == set(EVENTS)


def test_readme_lists_the_configuration_as_the_code_defines_it():
    assert config.help_table() in (ROOT / "README.md").read_text(encoding="utf-8")


# Packaging: a wheel carries what serving needs.


def source_files() -> set[str]:
    """What the wheel must carry: the package folder as checked out (no caches)."""
    found = set()
    for folder, dirs, files in os.walk(SERVER, followlinks=True):  # static/ is a link
        dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
        found.update("moot/" + str((Path(folder) / f).relative_to(SERVER)) for f in files)
    return found


def test_wheel_serves_pages_from_an_empty_directory(tmp_path):
    # Built from a copy of the project's files, so nothing left over from
    # another build (a build/ folder) can fill a gap in the package list.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".*", "build", "test-artifacts", "__pycache__", "*.db", "*.db-*", "*.egg-info"
        ),
    )
    wheels = tmp_path / "wheels"
    # The build backend (pyproject's build-system) is one of the test extras: no isolated build environment.
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("moot-*.whl")
    with zipfile.ZipFile(wheel) as z:
        packed = {n for n in z.namelist() if n.startswith("moot/")}
    assert packed == source_files()  # every module, template, static file and schema.sql
    # A fresh environment with the wheel and its dependencies, put there by this pip
    # (it needs none of its own); modules are compiled as they are first imported.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "--no-compile", str(wheel)],
        check=True,
        timeout=600,
    )
    empty = tmp_path / "site"
    empty.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [venv / "bin" / "moot", "serve", "--port", "0"],
            cwd=empty,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(
            base_url=read_listening(tmp_path / "serve.log", proc).url, timeout=10, verify=tls()
        ) as client:
            home = client.get("/")
            assert home.status_code == 200 and "<!doctype html>" in home.text.lower()
            css = re.search(r'href="(/static/[^"]+\.css)"', home.text)
            assert css and client.get(css.group(1)).status_code == 200
            assert client.get("/api/groups").json() == {"groups": []}
        assert (empty / "moot.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
