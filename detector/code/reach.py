"""Install-time reachability: which files run at `pip install` or first import.

Entry points: `setup.py`, cmdclass targets named in `setup.cfg`, the PEP 517
backend when it lives in the tree (`backend-path`), hatch build hooks, `.pth`
files, `sitecustomize.py` and a wheel's `*.data/scripts`. From each entry, local
imports are followed transitively (resolved inside the package only). The top
`__init__.py` of every package (the first one on its path: namespace packages and
`src/` layouts included) and what it imports run at first import: tier `import`,
weighed like install-time code (`[code.tiers]`), since it runs on the user's machine
without being called. Tests, docs and
examples are still scanned but weigh far less.
"""

from __future__ import annotations

import ast
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from detector.code.archive import is_wheel_script
from detector.code.pyast import RUNS_CODE, imported_module, run_data_file
from detector.vocab import Tier, values

TEST_PARTS = {"test", "tests", "testing", "doc", "docs", "example", "examples", "benchmarks",
              "bench", "demo", "demos", "sample", "samples"}
TIER_ORDER = values(Tier)  # most dangerous first
CFG_CMDCLASS = re.compile(r"cmdclass\s*=")
CFG_TARGET = re.compile(r"=\s*([A-Za-z_][\w.]*)")


@dataclass
class Reach:
    """The tier of every file and why install-time files are install-time."""

    tiers: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    # files of any name the package runs as code (`exec(open("README.md").read())`)
    executed: set[str] = field(default_factory=set)

    def tier(self, name: str) -> str:
        return self.tiers.get(name, "other")


def _is_test_path(name: str) -> bool:
    parts = name.split("/")  # names are normalized (archive.safe_name): no "", "." parts
    base = parts[-1]
    return (
        any(p.lower() in TEST_PARTS for p in parts[:-1])
        or base.startswith("test_")
        or base.endswith("_test.py")
        or base == "conftest.py"
    )


def _package_entry(name: str, names: set[str]) -> bool:
    """An `__init__.py` that runs when its package is first imported: the top of a
    regular package (no `__init__.py` above it; namespace packages and `src/` layouts
    included), outside tests, docs and examples."""
    if not name.endswith("__init__.py"):
        return False
    parts = name.split("/")
    if parts[-1] != "__init__.py" or len(parts) < 2 or _is_test_path(name):
        return False
    return not any("/".join([*parts[:i], "__init__.py"]) in names
                   for i in range(1, len(parts) - 1))


def module_candidates(module: str, base_dirs: Iterable[str]) -> list[str]:
    """Files that `import module` could load, relative to each base dir."""
    rel = module.replace(".", "/")
    out = []
    for base in base_dirs:
        prefix = f"{base}/" if base else ""
        out += [f"{prefix}{rel}.py", f"{prefix}{rel}/__init__.py"]
        # importing a.b.c also runs a/__init__.py and a/b/__init__.py
        parts = rel.split("/")
        out += [f"{prefix}{'/'.join(parts[:i])}/__init__.py" for i in range(1, len(parts))]
    return out


# Reachability reads no import aliases but the usual one of `import_module`.
IMPORT_ALIASES = {"import_module": "importlib.import_module"}


def _imports(nodes: list[ast.AST], name: str) -> set[str]:
    """Module names a file imports (absolute, with relative ones resolved)."""
    here = PurePosixPath(name).parent.parts
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[: len(here) - (node.level - 1)]) if node.level > 1 else list(here)
                mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                mod = node.module or ""
            if mod:
                found.add(mod)
                found.update(f"{mod}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            # `__import__("pkg", fromlist=["_"]).mod` and `import_module("pkg").mod` are
            # `from pkg import mod`: a submodule of that name is imported too
            module = imported_module(node.value, IMPORT_ALIASES)
            if module:
                found.add(f"maybe:{module}.{node.attr}")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else "")
            if called in RUNS_CODE and node.args:
                data = run_data_file(node.args[0])
                if data:  # a data file run as code: scanned as Python where it runs
                    found.add("run:" + data)
            # runpy.run_path("x.py"), exec(open("x.py").read()), importlib.import_module("x")
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if arg.value.endswith(".py"):
                        found.add("file:" + arg.value)
                    elif re.fullmatch(r"[A-Za-z_][\w.]*", arg.value):
                        found.add("maybe:" + arg.value)
    return found


def _pyproject_entries(text: str) -> list[tuple[str, str]]:
    """(module-or-file, reason) for in-tree backends and hatch hooks."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return []
    out: list[tuple[str, str]] = []
    build = data.get("build-system", {}) if isinstance(data, dict) else {}
    backend = build.get("build-backend") if isinstance(build, dict) else None
    paths = build.get("backend-path") if isinstance(build, dict) else None
    if isinstance(backend, str) and isinstance(paths, list):
        module = backend.split(":")[0].strip()
        for base in paths:
            if isinstance(base, str):
                base = base.strip("./") if base not in (".", "./") else ""
                out += [(f"file:{c}", f"in-tree build backend {backend!r}")
                        for c in module_candidates(module, [base])]
    hatch = data.get("tool", {}).get("hatch", {}) if isinstance(data.get("tool"), dict) else {}
    if isinstance(hatch, dict):
        for hook in _hatch_hooks(hatch):
            out.append((f"file:{hook}", "hatch build hook"))
    return out


def _hatch_hooks(hatch: dict) -> list[str]:
    """Paths of hatch custom hooks: build hooks (global or per target) and metadata hooks."""
    tables = []
    build = hatch.get("build", {})
    if isinstance(build, dict):
        tables.append(build.get("hooks", {}))
        targets = build.get("targets", {})
        if isinstance(targets, dict):
            tables += [t.get("hooks", {}) for t in targets.values() if isinstance(t, dict)]
    metadata = hatch.get("metadata", {})
    if isinstance(metadata, dict):
        tables.append(metadata.get("hooks", {}))
    paths = []
    for hooks in tables:
        if isinstance(hooks, dict):
            custom = hooks.get("custom")
            if isinstance(custom, dict):
                path = custom.get("path", "hatch_build.py")
                paths.append(path if isinstance(path, str) else "hatch_build.py")
    return paths


def _setup_cfg_entries(text: str) -> list[tuple[str, str]]:
    """cmdclass targets declared in setup.cfg (`install = mypkg.cmds:Install`)."""
    out = []
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if CFG_CMDCLASS.match(line)), None)
    if start is not None:
        # the key's value: the rest of its line and the indented lines under it
        block = [lines[start].split("=", 1)[1]]
        block += itertools.takewhile(lambda line: not line[:1].strip(), lines[start + 1:])
        for target in CFG_TARGET.findall("\n".join(block)):
            module = target.rsplit(".", 1)[0] if "." in target else target
            out.append((module, "cmdclass in setup.cfg"))
    return out


def compute(files: dict[str, str], trees: Mapping[str, list[ast.AST] | None]) -> Reach:
    """Tier every file: install, import, other or test. `trees` maps each Python file
    to its flattened nodes (pyast.flatten); only the files reached are looked up, so a
    lazy mapping parses only those."""
    reach = Reach()
    names = set(files)
    roots = ["", "src"]
    queue: list[tuple[str, str, str]] = []  # (file, tier, reason)

    folders: dict[str, str] = {}

    def resolve(ref: str, importer: str) -> list[str]:
        base = folders.get(importer)
        if base is None:
            base = folders[importer] = str(PurePosixPath(importer).parent) if importer else ""
        if ref.startswith(("file:", "run:")):
            target = ref.split(":", 1)[1].lstrip("./")
            cands = [target, f"{base}/{target}" if base not in ("", ".") else target]
            return [c for c in cands if c in names]
        module = ref.removeprefix("maybe:")
        bases = [*roots, base] if base not in ("", ".") else roots
        return [c for c in module_candidates(module, bases) if c in names]

    for name in sorted(files):
        base = name.rpartition("/")[2]
        depth = name.count("/")
        if base == "setup.py" and depth <= 1:
            queue.append((name, "install", "setup.py"))
        elif base.endswith(".pth") or base in ("sitecustomize.py", "usercustomize.py"):
            queue.append((name, "install", "runs at interpreter start"))
        elif base == "hatch_build.py" and depth == 0:
            queue.append((name, "install", "hatch build hook"))
        elif base == "pyproject.toml" and depth == 0:
            for ref, why in _pyproject_entries(files[name]):
                queue += [(c, "install", why) for c in resolve(ref, "")]
        elif base == "setup.cfg" and depth == 0:
            for ref, why in _setup_cfg_entries(files[name]):
                queue += [(c, "install", why) for c in resolve(ref, "")]
    for name in sorted(files):
        if is_wheel_script(name):
            queue.append((name, "install", "wheel script (installed to bin/, runs by name)"))
    for name in sorted(files):
        if _package_entry(name, names):
            queue.append((name, "import", "package __init__.py runs at first import"))

    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    while queue:
        name, tier, why = queue.pop(0)
        current = reach.tiers.get(name)
        if current is not None and rank[current] <= rank[tier]:
            continue
        reach.tiers[name] = tier
        reach.reasons[name] = why
        tree = trees.get(name)
        if tree is None:
            continue
        for ref in sorted(_imports(tree, name)):
            for target in resolve(ref, name):
                if ref.startswith("run:"):
                    reach.executed.add(target)
                queue.append((target, tier, f"imported by {name}"))
    for name in files:
        if name not in reach.tiers:
            reach.tiers[name] = "test" if _is_test_path(name) else "other"
    return reach
