"""Meaning-preserving changes to a package, for the invariance suite (issue 18 item 2).

Each transform takes a package as {relative path: text} and returns a new one whose code
does the same thing when installed or imported: metadata and test files added, modules
and functions renamed, imports written another way, the running statements wrapped in
`try`, a class body or a decorator, the payload moved into a module that is imported.
A score that moves under these is keyed on layout or naming, not behaviour:
`tests/code/test_code_invariance.py` and `bench/bench_invariance.py` measure it.

Transforms only rewrite text (regular expressions over import lines, `ast` for the
wrappers); nothing here imports or runs the package.
"""

from __future__ import annotations

import ast
import builtins
import re
import sysconfig
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import PurePosixPath

Files = dict[str, str]
# Standard-library modules a payload uses (the same as pyast.STAR_MODULES, kept here so
# the suite can measure a scanner that does not resolve `import *`).
STAR_MODULES = ("os", "subprocess", "base64", "zlib", "socket", "codecs", "shutil", "platform",
                "urllib.request", "ctypes", "marshal", "pty", "tempfile", "getpass",
                "importlib", "builtins", "binascii", "lzma", "bz2", "webbrowser", "sys")
Transform = Callable[[Files], Files]

PY = (".py", ".pyw")
# Names never renamed: Python's own and the ones the scanner and installers key on.
KEEP = {"setup", "__init__", "__main__", "src", "tests", "test", "main", "self", "cls"} | set(
    dir(builtins))
# Attribute names of modules a payload uses: a local function named like one of these is
# not renamed (a word-boundary rename would rewrite `os.path.join` too).
COMMON_ATTRS = {name for module in ("os", "os.path", "sys", "subprocess", "base64", "socket",
                                    "json", "re", "shutil", "platform", "urllib.request",
                                    "zlib", "codecs", "time", "threading", "logging")
                for name in dir(__import__(module, fromlist=["_"]))}
COMMON_ATTRS |= set(dir(str)) | set(dir(dict)) | set(dir(list)) | set(dir(bytes))


def _py(files: Files) -> list[str]:
    return sorted(n for n in files if n.lower().endswith(PY))


def add_pyproject(files: Files) -> Files:
    """A one-line-table `pyproject.toml` that configures a formatter (added when absent)."""
    if "pyproject.toml" in files:
        return dict(files)
    return {**files, "pyproject.toml": "[tool.black]\nline-length = 100\n"}


def add_setup_cfg(files: Files) -> Files:
    if "setup.cfg" in files:
        return dict(files)
    return {**files, "setup.cfg": "[metadata]\nlicense_files = LICENSE\n\n[flake8]\n"
                                  "max-line-length = 100\n"}


def add_empty_test(files: Files) -> Files:
    return {**files, "test_smoke.py": ""}


def add_tests_folder(files: Files) -> Files:
    return {**files, "tests/__init__.py": "",
            "tests/test_basic.py": "def test_truth():\n    assert 1 + 1 == 2\n"}


def add_docs_folder(files: Files) -> Files:
    return {**files, "docs/conf.py": 'project = "docs"\nextensions = []\nhtml_theme = '
                                     '"alabaster"\n'}


def add_metadata(files: Files) -> Files:
    """PKG-INFO, README and LICENSE, as an sdist carries them."""
    return {"PKG-INFO": "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
            "README.md": "# pkg\n", "LICENSE": "MIT License\n", **files}


def drop_metadata(files: Files) -> Files:
    """Without the files that run nothing: PKG-INFO, README, LICENSE, a formatter-only
    pyproject.toml (one that names no build backend or hooks)."""
    out = {}
    for name, text in files.items():
        base = PurePosixPath(name).name
        if base in ("PKG-INFO", "README", "README.md", "README.rst", "LICENSE", "LICENSE.txt"):
            continue
        if name == "pyproject.toml" and not re.search(r"build-system|hooks|backend", text):
            continue
        out[name] = text
    return out


def _rename_in(text: str, old: str, new: str, attributes: bool,
               local: frozenset[str] = frozenset()) -> str:
    """Rename identifier `old`: everywhere on import lines; elsewhere only where it is not
    an attribute (`x.old`), unless `attributes` (a module reached as `pkg.old`)."""
    word = re.compile(rf"\b{re.escape(old)}\b")
    bare = re.compile(rf"(?<![\w.]){re.escape(old)}\b")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if attributes:
            lines[i] = word.sub(new, line)
        elif re.match(r"\s*(from|import)\s", line):
            lines[i] = _rename_import(line, word, new, local)
        else:
            lines[i] = bare.sub(new, line)
    return "\n".join(lines)


def _rename_import(line: str, word: re.Pattern[str], new: str, local: frozenset[str]) -> str:
    """An import line with the package's own module paths renamed: relative ones, and
    absolute ones that start at one of its top-level modules (`local`). `from x import a`
    renames `a` only when `x` is the package's own; `haystack.components` and the standard
    library's `urllib` stay what they are."""
    def own(path: str) -> bool:
        return path.startswith(".") or path.split(".")[0] in local

    def paths(text: str) -> str:
        return re.sub(r"\.*[A-Za-z_][\w.]*|\.+",
                      lambda m: word.sub(new, m[0]) if own(m[0]) else m[0], text)

    found = re.match(r"(\s*from\s+)(\S+)(\s+import\b)(.*)", line)
    if found:
        head, module, keyword, names = found.groups()
        renamed = word.sub(new, names) if own(module) else names
        return head + paths(module) + keyword + renamed
    found = re.match(r"(\s*import\s+)(.*)", line)
    if found:
        return found[1] + paths(found[2])
    return line


def rename_modules(files: Files) -> Files:
    """Every module and package folder of the package gets another name (imports and
    references follow; `setup.py`, `__init__.py`, tests stay)."""
    names: set[str] = set()
    for name in _py(files):
        parts = PurePosixPath(name).parts
        names.update(p for p in parts[:-1])
        names.add(PurePosixPath(parts[-1]).stem)
    names = {n for n in names if n.isidentifier() and n not in KEEP and n not in COMMON_ATTRS
             and not n.startswith("test")}
    if not names:
        return dict(files)
    mapping = {n: f"{n}_r" for n in names}
    # absolute imports start at a top-level module (`import urllib.request` is the
    # standard library's even when the package has a `pkg/urllib/` subpackage)
    top = {PurePosixPath(n.removeprefix("src/")).parts[0].removesuffix(".py")
           for n in _py(files)} & set(mapping)
    local = frozenset(top) | frozenset(mapping[n] for n in top)

    def path(name: str) -> str:
        parts = list(PurePosixPath(name).parts)
        parts[:-1] = [mapping.get(p, p) for p in parts[:-1]]
        stem, dot, suffix = parts[-1].rpartition(".")
        if dot and stem in mapping and suffix in ("py", "pyw"):
            parts[-1] = f"{mapping[stem]}.{suffix}"
        return "/".join(parts)

    out = {}
    for name, text in files.items():
        if name.lower().endswith(PY):
            for old, new in mapping.items():
                text = _rename_in(text, old, new, attributes=False, local=local)
        elif name.lower().endswith((".toml", ".cfg")):
            # configuration names modules in its values (hook paths, backends, cmdclass)
            def values(m: re.Match[str]) -> str:
                value = m[0]
                for old, new in mapping.items():
                    value = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, value)
                return value

            text = re.sub(r"\"[^\"\n]*\"|'[^'\n]*'|=[^\n\"']*$", values, text, flags=re.M)
        out[path(name)] = text
    return out


def rename_functions(files: Files) -> Files:
    """Module-level functions get other names, at their definition and every use."""
    defs: set[str] = set()
    imported: set[str] = set()  # a def may shadow an imported name: renaming both breaks it
    for name in _py(files):
        tree = _parse(files[name])
        if tree is not None:
            defs.update(n.name for n in tree.body
                        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
            # every part of a dotted import too: renaming a def `request` must not turn
            # `urllib.request` into `urllib.request_fn`
            imported.update(part for node in ast.walk(tree) if isinstance(node, ast.alias)
                            for full in (node.name, node.asname or "")
                            for part in full.split(".") if part)
    defs = {d for d in defs if d not in KEEP and d not in COMMON_ATTRS and not d.startswith("__")
            and not d.startswith("test") and d not in imported}
    out = {}
    for name, text in files.items():
        if name.lower().endswith(PY):
            for old in defs:
                text = re.sub(rf"\b{re.escape(old)}\b", f"{old}_fn", text)
        out[name] = text
    return out


IMPORT_LINE = re.compile(r"^(?P<indent>[ \t]*)import (?P<mod>[A-Za-z_][\w.]*)[ \t]*$", re.M)
FROM_LINE = re.compile(
    r"^(?P<indent>[ \t]*)from (?P<mod>[A-Za-z_][\w.]*) import (?P<names>[A-Za-z_][\w, \t]*)$",
    re.M)


def _import_forms(form: str) -> Transform:
    """`import x` / `from x import a` written as `import x as y`, `from x import *`,
    `__import__` or `importlib.import_module` (absolute imports on one line)."""

    def transform(files: Files) -> Files:
        out = {}
        for name, text in files.items():
            if name.lower().endswith(PY) and _parse(text) is not None:
                new = _rewrite_imports(text, form)
                text = new if _parse(new) is not None else text
            out[name] = text
        return out

    transform.__name__ = f"imports_{form}"
    return transform


def _rewrite_imports(text: str, form: str) -> str:
    if form == "alias":
        for match in list(IMPORT_LINE.finditer(text)):
            mod = match["mod"]
            if "." in mod:
                continue
            alias = f"_{mod}_alias"
            def aliased(m: re.Match[str], mod: str = mod, alias: str = alias) -> str:
                return f"{m['indent']}import {mod} as {alias}" if m["mod"] == mod else m[0]

            text = IMPORT_LINE.sub(aliased, text)
            text = _rename_in(text, mod, alias, attributes=False).replace(
                f"import {alias} as {alias}", f"import {mod} as {alias}")
        return text

    def from_line(m: re.Match[str]) -> str:
        mod, indent = m["mod"], m["indent"]
        names = [n.strip() for n in m["names"].split(",") if n.strip()]
        if not names or any(not n.isidentifier() for n in names) or mod == "__future__":
            return m[0]
        if form == "star":
            return f"{indent}from {mod} import *"
        def load(n: str) -> str:
            # `fromlist` names the attribute, so a submodule is imported as `from` does
            return (f'__import__("{mod}", fromlist=["{n}"])' if form == "dunder"
                    else f'importlib.import_module("{mod}")')

        pre = f"{indent}import importlib\n" if form == "importlib" else ""
        return pre + "\n".join(f"{indent}{n} = {load(n)}.{n}" for n in names)

    def import_line(m: re.Match[str]) -> str:
        mod, indent = m["mod"], m["indent"]
        if form == "star" or "." in mod:
            return m[0]
        if form == "dunder":
            return f'{indent}{mod} = __import__("{mod}")'
        return f'{indent}import importlib\n{indent}{mod} = importlib.import_module("{mod}")'

    if form == "star":
        # `from x import *` only where x is a standard module whose names a scanner can list
        def star(m: re.Match[str]) -> str:
            return from_line(m) if m["mod"] in STAR_MODULES else m[0]

        return FROM_LINE.sub(star, text)
    text = FROM_LINE.sub(from_line, text)
    return IMPORT_LINE.sub(import_line, text)


def _parse(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in the package's own code
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _split_body(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """(head kept at module level: docstring and `from __future__`, the rest)."""
    head = []
    body = list(tree.body)
    while body and ((isinstance(body[0], ast.ImportFrom) and body[0].module == "__future__")
                    or (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str))):
        head.append(body.pop(0))
    return head, body


def _assigned(stmts: list[ast.stmt]) -> list[str]:
    names: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return sorted(n for n in names if n != "*")


def _wrapper(kind: str) -> Transform:
    """Every file's module-level code (after its docstring and `__future__` imports) run
    inside `try/except`, a class body, or a decorator function (with `global` for the
    names it binds, so the module ends up with the same names)."""

    def wrap(tree: ast.Module) -> ast.Module | None:
        head, body = _split_body(tree)
        if not body or any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
                           for n in body):
            return None  # `import *` is only allowed at module level
        names = _assigned(body)
        glob: list[ast.stmt] = [ast.Global(names=names)] if names else []
        if kind == "try":
            new: list[ast.stmt] = [ast.Try(body=body, handlers=[ast.ExceptHandler(
                type=ast.Name("Exception", ast.Load()), name=None, body=[ast.Raise()])],
                orelse=[], finalbody=[])]
        elif kind == "class":
            new = [ast.ClassDef(name="_Module", bases=[], keywords=[], body=glob + body,
                                decorator_list=[])]
        else:
            inner = ast.FunctionDef(
                name="_run", args=ast.arguments(posonlyargs=[], args=[ast.arg("_f")],
                                                kwonlyargs=[], kw_defaults=[], defaults=[]),
                body=[*glob, *body, ast.Return(ast.Name("_f", ast.Load()))],
                decorator_list=[], returns=None)
            hook = ast.FunctionDef(
                name="_hook", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                 kw_defaults=[], defaults=[]),
                body=[ast.Pass()], decorator_list=[ast.Name("_run", ast.Load())],
                returns=None)
            new = [inner, hook]
        for node in new:
            node.type_params = []  # type: ignore[attr-defined]  # Python 3.12+ fields
        module = ast.Module(body=head + new, type_ignores=[])
        return ast.fix_missing_locations(module)

    def transform(files: Files) -> Files:
        out = {}
        for name, text in files.items():
            tree = _parse(text) if name.lower().endswith(PY) else None
            wrapped = wrap(tree) if tree is not None else None
            if wrapped is not None:
                try:
                    code = ast.unparse(wrapped)
                except (ValueError, RecursionError, AttributeError):
                    code = None
                if code is not None and _parse(code) is not None:
                    text = code
            out[name] = text
        return out

    transform.__name__ = f"wrap_{kind}"
    return transform


def move_to_module(files: Files) -> Files:
    """`setup.py` and each package's `__init__.py` keep one line that imports a new module
    holding their code (`from ._moved import *`): the code still runs at install or
    first import."""
    out = dict(files)
    for name in list(files):
        parts = PurePosixPath(name).parts
        base = parts[-1]
        text = files[name]
        if not text.strip() or _parse(text) is None:
            continue
        if base == "setup.py" and len(parts) == 1:
            out["_setup_moved.py"] = text
            out[name] = "from _setup_moved import *\n"
        elif base == "__init__.py" and len(parts) >= 2 and not parts[0].startswith("test"):
            folder = "/".join(parts[:-1])
            out[f"{folder}/_moved.py"] = text
            out[name] = "from ._moved import *\n"
    return out


# Standard-library modules vendored by `vendor_library`: ordinary library code (parsing,
# formatting, data structures, temporary files) on which no rule fires. Read as text from
# this interpreter's own library (never imported), so the suite needs no download, and
# the model never trained on them.
VENDORED_STDLIB = ("string", "pprint", "heapq", "bisect", "csv", "locale", "graphlib",
                   "tempfile", "email/message", "json/decoder")


@lru_cache(maxsize=1)
def _stdlib_sources() -> tuple[tuple[str, str], ...]:
    base = PurePosixPath(sysconfig.get_paths()["stdlib"])
    out = []
    for module in VENDORED_STDLIB:
        try:
            with open(base / f"{module}.py", encoding="utf-8") as handle:
                out.append((f"{module.replace('/', '_')}.py", handle.read()))
        except OSError:
            continue
    return tuple(out)


def vendor_library(files: Files) -> Files:
    """A copy of ordinary library code shipped in the package and never imported by it
    (`_vendor/`, as pip and setuptools vendor theirs): what runs is unchanged, so a score
    that falls is diluted by volume, an attacker's cheapest disguise."""
    top = sorted({n.split("/")[0] for n in files if "/" in n and n.endswith("__init__.py")})
    folder = f"{top[0]}/_vendor" if top else "_vendor"
    vendored = {f"{folder}/{name}": text for name, text in _stdlib_sources()}
    return {**vendored, f"{folder}/__init__.py": "", **files}


def vendor_library_package(files: Files) -> Files:
    """The same library shipped as a top-level package of its own whose `__init__.py`
    imports every module, so it runs at first import beside the payload: import-time
    code an attacker adds only to dilute the payload's."""
    sources = _stdlib_sources()
    init = "".join(f"from . import {name.removesuffix('.py')}\n" for name, _ in sources)
    vendored = {f"vendored_lib/{name}": text for name, text in sources}
    return {**vendored, "vendored_lib/__init__.py": init, **files}


TRANSFORMS: dict[str, Transform] = {
    "add pyproject.toml ([tool.black])": add_pyproject,
    "add setup.cfg (flake8 only)": add_setup_cfg,
    "add PKG-INFO, README, LICENSE": add_metadata,
    "add empty test file": add_empty_test,
    "add tests/ folder": add_tests_folder,
    "add docs/ folder": add_docs_folder,
    "drop PKG-INFO, README, LICENSE, formatter-only pyproject": drop_metadata,
    "rename modules": rename_modules,
    "rename functions": rename_functions,
    "import x as y": _import_forms("alias"),
    "from x import *": _import_forms("star"),
    "__import__": _import_forms("dunder"),
    "importlib.import_module": _import_forms("importlib"),
    "wrap in try/except": _wrapper("try"),
    "wrap in a class body": _wrapper("class"),
    "wrap in a decorator": _wrapper("decorator"),
    "move code to an imported module": move_to_module,
}
# Meaning-preserving too, but an attack on volume rather than on layout or naming: the
# bench reports them apart (docs/code.md "Dilution": the hot view bounds what they do to
# install- and import-time evidence, not to call-only code), and
# tests/code/test_code_dilution.py checks what the hot view guarantees.
DILUTIONS: dict[str, Transform] = {
    "vendor library code it never imports": vendor_library,
    "vendor a library as a package of its own, run at import": vendor_library_package,
}
