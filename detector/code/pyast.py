"""One AST pass over a Python file: aliases resolved, strings folded, findings emitted.

The tree is walked iteratively (`ast.walk`) and every helper that follows an
expression is depth-bounded, so hostile nesting costs an exception, not a crash.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from detector.code import decode
from detector.code.budget import Budget, unlimited
from detector.code.findings import Finding, clip_evidence
from detector.code.regex import compile_pattern
from detector.code.rules import rule

MAX_DEPTH = 60
MAX_FOLD = 200_000

SPAWN = {
    "subprocess.Popen", "subprocess.call", "subprocess.run", "subprocess.check_call",
    "subprocess.check_output", "subprocess.getoutput", "subprocess.getstatusoutput",
    "os.system", "os.popen", "os.popen2", "os.popen3", "os.startfile", "os.posix_spawn",
    "os.posix_spawnp", "pty.spawn", "commands.getoutput", "asyncio.create_subprocess_shell",
    "asyncio.create_subprocess_exec", "platform.popen",
}
SPAWN_PREFIX = ("os.exec", "os.spawn")
NETWORK_PREFIX = (
    "requests.", "urllib.request.", "urllib2.", "urllib3.", "httpx.", "aiohttp.",
    "http.client.", "httplib.", "socket.socket", "socket.create_connection",
    "socket.gethostbyname", "socket.getaddrinfo", "ftplib.", "smtplib.", "telnetlib.",
    "pycurl.", "wget.download", "dns.resolver.", "urllib.urlopen", "urllib.urlretrieve",
    "websocket.", "paramiko.",
)
# modules whose calls unpack data (what `_kind` calls "decode")
DECODE_MODULES = ("marshal.", "zlib.", "lzma.", "bz2.", "codecs.")
OPAQUE_MIN = 3  # constant-vs-constant branch tests in one file: obfuscator filler
# methods of HTTP session and client objects that take the address first (or `url=`)
HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "request",
                        "urlopen", "open"})
NETWORK_MODULES = {
    "requests", "urllib", "urllib.request", "urllib2", "urllib3", "httpx", "aiohttp", "socket",
    "http.client", "httplib", "ftplib", "smtplib", "telnetlib", "pycurl", "wget", "websocket",
    "dns.resolver", "paramiko",
}
EXEC_FUNCS = {"exec", "eval", "compile", "execfile", "builtins.exec", "builtins.eval",
              "builtins.compile", "__builtin__.eval", "__builtin__.exec"}
# Calls that run a file's content as code: `runpy.run_path("x")`, `execfile("x")`.
RUN_FILE = {"runpy.run_path", "execfile"}
# The same calls by their last name, for reachability, which resolves no import aliases.
RUNS_CODE = frozenset(name.rsplit(".", 1)[-1] for name in EXEC_FUNCS | RUN_FILE)
# Files Python runs by their suffix: running one of these by name is an import by path.
SOURCE_SUFFIXES = (".py", ".pyw")


def run_data_file(arg: ast.AST) -> str | None:
    """A constant file name that is not Python source, taken by the code an exec-like
    call runs: `exec(open("README.md").read())`, `exec(compile(Path("x.dat")
    .read_text(), ...))`, `runpy.run_path("helper.dat")`. Bounded: the argument's first
    nodes only."""
    for node in walk(arg, 40):
        value = node.value if isinstance(node, ast.Constant) else None
        if not isinstance(value, str) or len(value) > 300 or "\n" in value:
            continue
        base = value.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base.strip(".") and not base.lower().endswith(SOURCE_SUFFIXES) and \
                " " not in base:
            return value
    return None


EXEC_NAMES = {"exec", "eval", "compile", "execfile", "__import__", "system", "popen",
              "Popen", "spawn", "startfile", "getoutput", "call", "run", "check_output",
              "urlopen", "urlretrieve", "b64decode", "loads", "decompress"}
SENSITIVE_MODULES = {"os", "subprocess", "builtins", "__builtin__", "base64", "zlib", "marshal",
                     "socket", "requests", "urllib", "urllib.request", "codecs", "ctypes", "pty",
                     "sys", "importlib", "shutil", "platform"}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
SYSINFO = {"socket.gethostname", "platform.node", "platform.uname", "getpass.getuser",
           "os.getlogin", "os.uname", "socket.getfqdn", "platform.platform", "os.getuid",
           "uuid.getnode", "socket.gethostbyname_ex"}
SYSINFO_LAST = frozenset(name.rsplit(".", 1)[-1] for name in SYSINFO)
CLIPBOARD_PREFIX = ("pyperclip.", "win32clipboard.", "clipboard.", "pandas.read_clipboard",
                    "PIL.ImageGrab.grabclipboard", "ImageGrab.grabclipboard")
SCREEN_KEYS = ("PIL.ImageGrab.", "ImageGrab.", "pyautogui.screenshot", "mss.", "pyscreenshot.",
               "pynput.keyboard.", "keyboard.hook", "keyboard.on_press", "pyHook.", "d3dshot.",
               "pyscreeze.", "dxcam.", "pyautogui.screenshot")
CLIPBOARD_ATTRS = {"GetClipboardData", "OpenClipboard", "clipboard_get"}
# Calls that write where their path arguments say (install-user-folder-write): these by their
# qualified name; open/io.open/codecs.open only with a writing mode; `.write_text`,
# `.write_bytes`, `.mkdir` and `.touch` on any path object (the receiver names the path).
WRITE_CALLS = frozenset({"os.mkdir", "os.makedirs", "os.rename", "os.renames", "os.replace",
                         "os.symlink", "os.link", "shutil.copy", "shutil.copy2",
                         "shutil.copyfile", "shutil.copytree", "shutil.move",
                         "urllib.request.urlretrieve", "open", "io.open", "codecs.open"})
WRITE_LAST = frozenset(name.rsplit(".", 1)[-1] for name in WRITE_CALLS)
PATH_METHODS = frozenset({"write_text", "write_bytes", "mkdir", "touch"})
WRITE_MODE = frozenset("wax+")
SCREEN_ATTRS = {"GetAsyncKeyState", "SetWindowsHookExA", "SetWindowsHookExW", "BitBlt",
                "CGWindowListCreateImage"}
NAMESPACES = {"__builtins__", "builtins", "builtins.__dict__", "__builtins__.__dict__"}
INJECTION_ATTRS = {"WriteProcessMemory", "CreateRemoteThread", "VirtualAllocEx",
                   "NtCreateThreadEx", "RtlMoveMemory", "VirtualProtect"}
STEAL_ATTRS = {"CryptUnprotectData", "browser_cookie3", "win32crypt"}
ALIASED_PRIMITIVES = {"system", "popen", "Popen", "call", "run", "check_output", "check_call",
                      "executable", "exec", "eval", "startfile", "spawnv", "execv"}
ALIAS_MODULES = {"os", "subprocess", "sys", "builtins"}
HIDDEN_ATTRS = {"CREATE_NO_WINDOW", "DETACHED_PROCESS", "SW_HIDE", "STARTF_USESHOWWINDOW"}
INSTALL_COMMANDS = {"install", "develop", "egg_info", "easy_install", "bdist_egg", "install_lib",
                    "install_scripts"}
COMMAND_CLASSES = INSTALL_COMMANDS | {"build_py", "build_ext", "build", "sdist", "bdist_wheel",
                                     "build_clib", "bdist"}
SECRET_ENV = compile_pattern(
    r"(?i)(TOKEN|SECRET|PASSW|API_?KEY|AUTH|CREDENTIAL|AWS_|PRIVATE|WEBHOOK)")
IDENTITY_ENV = compile_pattern(r"(?i)^(USER|USERNAME|LOGNAME|COMPUTERNAME|HOSTNAME|USERDOMAIN)$")
DOWNLOAD_CMD = compile_pattern(
    r"(?i)(\b(curl|wget|certutil|bitsadmin|Invoke-WebRequest|iwr|Start-BitsTransfer|"
    r"DownloadFile|DownloadString)\b|\|\s*(ba|z)?sh\b|\|\s*python)"
)
PIP_CMD = compile_pattern(
    r"(?i)\bpip3?(\.exe)?\s+install\b|-m\s+pip\s+install|\bpip\b.*\binstall\b")
SYSINFO_CMD = compile_pattern(r"(?i)^\s*(whoami|hostname|uname|systeminfo|id)\b")
PERCENT_CONVERSIONS = frozenset("sdrifxXoeEgGca")
CHMOD_EXEC = compile_pattern(r"(?i)chmod\s+(\+x|[0-7]?7[0-7]{2})")


@dataclass
class Evidence:
    """Findings and model tokens of one file."""

    findings: list[Finding] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    strings: list[tuple[int, str]] = field(default_factory=list)


def _leading_literal(node: ast.AST) -> str | None:
    """The literal text an address expression starts with: `'https://x/?d=' + data`,
    `f'https://x/{path}'`."""
    while type(node) is ast.BinOp:
        node = node.left
    if type(node) is ast.JoinedStr and node.values:
        node = node.values[0]
    return node.value if type(node) is ast.Constant and isinstance(node.value, str) else None


def qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """Dotted name of an expression such as `o.system` -> `os.system`, via import aliases."""
    if type(node) is ast.Name:  # the common case: a bare name
        return aliases.get(node.id, node.id)
    parts: list[str] = []
    for _ in range(MAX_DEPTH):
        if type(node) is ast.Attribute:  # exact types: the parser makes no subclasses
            parts.append(node.attr)
            node = node.value
            continue
        if type(node) is ast.Name:
            parts.append(aliases.get(node.id, node.id))
            return ".".join(reversed(parts))
        if isinstance(node, ast.Call):
            head = qualified(node.func, aliases) if len(parts) < MAX_DEPTH else None
            if head in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    parts.append(arg.value)
                    return ".".join(reversed(parts))
            if head == "getattr" and len(node.args) >= 2:
                target = qualified(node.args[0], aliases)
                attr = node.args[1]
                if target and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    parts.append(f"{target}.{attr.value}")
                    return ".".join(reversed(parts))
            return None
        return None
    return None


class Folder:
    """Constant folding of string expressions, bounded in depth and size."""

    def __init__(self, consts: dict[str, str], aliases: dict[str, str],
                 budget: Budget | None = None,
                 decoders: dict[str, str] | None = None) -> None:
        self.consts = consts
        self.aliases = aliases
        self.budget = budget or unlimited()
        # local functions that decode their argument: name -> decoder (`b64decode`)
        self.decoders = decoders if decoders is not None else {}

    def fold(self, node: ast.AST, depth: int = 0) -> str | None:
        if depth == 0:
            self.budget.check()
            out = self._fold(node, 0)
            if out is not None and type(node) not in (ast.Constant, ast.Name):
                self.budget.fold(len(out))  # strings this pass built and keeps
            return out
        return self._fold(node, depth)

    def _fold(self, node: ast.AST, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return node.value
            if isinstance(node.value, bytes):
                return node.value.decode("latin-1")
            return None
        if isinstance(node, ast.Name):
            return self.consts.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.fold(node.left, depth + 1), self.fold(node.right, depth + 1)
            if left is not None and right is not None and len(left) + len(right) < MAX_FOLD:
                return left + right
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self._percent(node, depth)
        if isinstance(node, ast.JoinedStr):
            out = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    out.append(value.value)
                elif isinstance(value, ast.FormattedValue):
                    out.append(self.fold(value.value, depth + 1) or "{}")
            return _join("", out)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            step = node.slice.step
            if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
                inner = self.fold(node.value, depth + 1)
                return inner[::-1] if inner is not None else None
            return None
        if isinstance(node, ast.Call):
            return self._fold_call(node, depth)
        return None

    def _percent(self, node: ast.BinOp, depth: int) -> str | None:
        """`"echo %s | bash" % x`: the format with each `%s`/`%d`/`%r` replaced by the
        folded argument, or `{}` when it does not fold (the command's shape is evidence)."""
        template = self.fold(node.left, depth + 1)
        if template is None:
            return None
        right = node.right
        args = list(right.elts[:50]) if isinstance(right, ast.Tuple) else [right]
        values = [self.fold(a, depth + 1) or "{}" for a in args]
        out = _percent_format(template, values)
        return out if len(out) < MAX_FOLD else None

    def _fold_call(self, node: ast.Call, depth: int) -> str | None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "chr" and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, int) and \
                    0 <= arg.value < 0x110000:
                return chr(arg.value)
            return None
        if isinstance(func, ast.Attribute) and func.attr == "join" and len(node.args) == 1:
            sep = self.fold(func.value, depth + 1)
            items = self._items(node.args[0], depth + 1)
            if sep is not None and items is not None:
                return _join(sep, items)
            return None
        if isinstance(func, ast.Attribute) and func.attr in ("decode", "encode"):
            inner = self.fold(func.value, depth + 1)
            codec = self.fold(node.args[0], depth + 1) if node.args else None
            if inner is not None and codec and func.attr == "decode":
                return decode.text_codec(inner.encode("latin-1", "replace"), codec)
            return inner
        if isinstance(func, ast.Attribute) and func.attr == "strip":
            return self.fold(func.value, depth + 1)
        name = qualified(func, self.aliases) or ""
        last = self.decoders.get(name, name.rsplit(".", 1)[-1])
        if last in decode.DECODERS and node.args:
            inner = self.fold(node.args[0], depth + 1)
            if inner is not None:
                out = decode.decode_literal(last, inner.encode("latin-1", "replace"))
                if out is not None:
                    self.budget.decode(len(out))
                return out.decode("latin-1") if out is not None else None
        if name in ("bytes", "bytearray", "str") and node.args:
            return self._items_to_text(node.args[0], depth + 1)
        return None

    def _items(self, node: ast.AST, depth: int) -> list[str] | None:
        if isinstance(node, ast.List | ast.Tuple):
            out = []
            for elt in node.elts[:100_000]:
                value = self.fold(elt, depth + 1)
                if value is None:
                    return None
                out.append(value)
            return out
        if isinstance(node, ast.GeneratorExp | ast.ListComp) and len(node.generators) == 1:
            # chr(c) for c in [104, 105] and similar
            gen = node.generators[0]
            elt = node.elt
            if isinstance(elt, ast.Call) and isinstance(elt.func, ast.Name) and \
                    elt.func.id == "chr" and isinstance(gen.iter, ast.List | ast.Tuple):
                codes = [e.value for e in gen.iter.elts
                         if isinstance(e, ast.Constant) and isinstance(e.value, int)]
                if len(codes) == len(gen.iter.elts):
                    return [chr(c % 0x110000) for c in codes]
        return self._chars(node, depth)

    def _chars(self, node: ast.AST, depth: int) -> list[str] | None:
        text = self.fold(node, depth + 1)
        return list(text) if text is not None else None

    def _items_to_text(self, node: ast.AST, depth: int) -> str | None:
        if isinstance(node, ast.List | ast.Tuple):
            codes = [e.value for e in node.elts
                     if isinstance(e, ast.Constant) and isinstance(e.value, int)]
            if codes and len(codes) == len(node.elts):
                return "".join(chr(c % 256) for c in codes)
        return self.fold(node, depth)


def _percent_format(template: str, values: list[str]) -> str:
    """printf-style `template % values` on text only: each conversion (`%s`, `%-10d`,
    `%(name)s`) takes the next value (`{}` when they run out), `%%` is `%`. One pass."""
    out: list[str] = []
    given = iter(values)
    i, n = 0, len(template)
    while i < n:
        j = template.find("%", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        k = j + 1
        if k < n and template[k] == "%":
            out.append("%")
            i = k + 1
            continue
        if k < n and template[k] == "(":
            close = template.find(")", k, k + 64)
            k = close + 1 if close > 0 else k
        while k < n and k - j < 16 and template[k] in "-#0 +.0123456789":
            k += 1
        if k < n and template[k] in PERCENT_CONVERSIONS:
            out.append(next(given, "{}"))
            i = k + 1
        else:
            out.append("%")
            i = j + 1
    return "".join(out)


def _join(sep: str, items: list[str]) -> str | None:
    """`sep.join(items)` unless the result would pass MAX_FOLD (checked before building)."""
    if sum(map(len, items)) + len(sep) * max(len(items) - 1, 0) > MAX_FOLD:
        return None
    return sep.join(items)


def flatten(tree: ast.AST) -> list[ast.AST]:
    """The nodes the scanner reads (`READ`), breadth first, in one cheap pass.

    Leaves nobody reads (names, expression contexts, operators, aliases, non-string
    constants such as the huge int lists of packed payloads) are not even queued, and
    of the rest only the kinds in `READ` are returned, in the order a full breadth-first
    walk visits them: every later pass over a file (aliases, assignments, imports,
    the rule walk) goes over a third of the nodes.
    """
    queue = [tree]
    append = queue.append
    Constant, text, fields, inner = ast.Constant, _TEXT, _FIELDS, _INNER
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        names = fields.get(type(node))
        if names is None:
            names = fields[type(node)] = tuple(f for f in node._fields if f not in _NOT_NODES)
        for fname in names:
            value: Any = getattr(node, fname, None)
            kind: type = type(value)
            if kind is list:
                for item in value:
                    kind = type(item)
                    if kind in inner or (kind is Constant and type(item.value) in text):
                        append(item)
            elif kind in inner or (kind is Constant and type(value.value) in text):
                append(value)
    read = READ
    return [node for node in queue if type(node) in read]


_TEXT = (str, bytes)
# Fields that never hold a node a pass reads: identifiers, numbers, contexts, and the
# aliases of imports (read through their Import node).
_NOT_NODES = frozenset({"ctx", "id", "name", "attr", "arg", "module", "level", "names",
                        "type_comment", "kind", "conversion", "simple", "is_async"})


# The node kinds any pass reads from `flatten`'s list: FileScan.run's handlers,
# collect_aliases, FileScan._assignments, local_decoders, reach._imports and
# analyze.defined_names (the Module). A pass that needs another kind adds it here.
READ = frozenset({
    ast.Module, ast.Import, ast.ImportFrom, ast.Call, ast.Assign, ast.AugAssign,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.BinOp, ast.Constant,
    ast.Attribute, ast.JoinedStr, ast.Subscript, ast.If, ast.While,
})
# Nodes with no child any pass reads: not queued at all (names are a third of a tree).
_LEAVES = frozenset({
    ast.Name, ast.alias, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal,
    *ast.operator.__subclasses__(), *ast.unaryop.__subclasses__(),
    *ast.cmpop.__subclasses__(), *ast.boolop.__subclasses__(),
})


_FIELDS: dict[type, tuple[str, ...]] = {}  # each node type's fields that may hold nodes


def _node_kinds(base: type = ast.AST) -> set[type]:
    out: set[type] = set()
    sub: type
    for sub in base.__subclasses__():
        out |= {sub, *_node_kinds(sub)}
    return out


_ALL_KINDS = frozenset(_node_kinds())  # every node class (`walk` tests types, not isinstance)
# Every concrete node kind but the leaves and constants (a constant is queued only when
# it holds text): what flatten follows.
_INNER = frozenset(_node_kinds() - _LEAVES - {ast.Constant})


# Public names of the standard-library modules a payload uses, so that `from os import *`
# resolves `system(...)` to `os.system` as `import os` would (these modules are part of
# Python; importing them runs no package code).
STAR_MODULES = ("os", "subprocess", "base64", "zlib", "socket", "codecs", "shutil", "platform",
                "urllib.request", "ctypes", "marshal", "pty", "tempfile", "getpass",
                "importlib", "builtins", "binascii", "lzma", "bz2", "webbrowser", "sys")
BUILTIN_NAMES = frozenset(dir(builtins))


@lru_cache(maxsize=64)
def star_names(module: str) -> dict[str, str]:
    """`from module import *` of a standard-library module in STAR_MODULES: its public
    names -> dotted origin; {} for any other module (never imported)."""
    if module not in STAR_MODULES:
        return {}
    try:
        found = importlib.import_module(module)
    except ImportError:
        return {}
    names = getattr(found, "__all__", None) or [n for n in dir(found) if not n.startswith("_")]
    return {str(n): f"{module}.{n}" for n in names if isinstance(n, str)}


def imported_module(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The module of `__import__("os")` / `importlib.import_module("os")`, else None."""
    if isinstance(node, ast.Call) and node.args:
        arg = node.args[0]
        # the cheap test first: most calls have no constant module name
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                arg.value.replace(".", "").isidentifier() and qualified(node.func, aliases) in (
                    "__import__", "importlib.import_module", "importlib.__import__"):
            return arg.value
    return None


# An expression walked to find what it carries (`FileScan._kind`; bounded per expression).
KIND_WALK_NODES = 5000
# A function body walked to find whether it decodes its argument (bounded per function).
DECODER_BODY_NODES = 400


def local_decoders(nodes: list[ast.AST], aliases: dict[str, str]) -> dict[str, str]:
    """Functions of this file that decode one of their parameters
    (`def d(s): return base64.b64decode(s).decode()`): name -> the decoder they call, so
    `d("Y3VybC...")` folds and reads as a decode call, as the inline call would.

    Only a decoder call whose first argument is a bare name can make a function a
    decoder, so those names are found first in one pass over the file (most files have
    none: no walk); that name may be a parameter or a local made from one
    (`b = s.encode(); return base64.b64decode(b)`)."""
    candidates = set()
    for node in nodes:
        if type(node) is ast.Call and node.args and type(node.args[0]) is ast.Name and \
                (qualified(node.func, aliases) or "").rsplit(".", 1)[-1] in decode.DECODERS:
            candidates.add(node.args[0].id)
    out: dict[str, str] = {}
    if not candidates:
        return out
    for node in nodes:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        params = {a.arg for a in (*node.args.posonlyargs, *node.args.args)}
        if not params:
            continue
        for sub in walk(node, DECODER_BODY_NODES):
            # a local made from a parameter (`data = code.encode("ascii")`) is the
            # parameter for this purpose: statements come in order within a block
            if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and \
                    isinstance(sub.targets[0], ast.Name) and sub.targets[0].id in candidates \
                    and any(type(n) is ast.Name and n.id in params for n in walk(sub.value, 16)):
                params.add(sub.targets[0].id)
            elif isinstance(sub, ast.Call) and sub.args and isinstance(sub.args[0], ast.Name) \
                    and sub.args[0].id in params:
                last = (qualified(sub.func, aliases) or "").rsplit(".", 1)[-1]
                if last in decode.DECODERS:
                    out[node.name] = last
                    break
    return out


def walk(node: ast.AST, limit: int) -> Iterator[ast.AST]:
    """The first `limit + 1` nodes `ast.walk(node)` yields, in its order (breadth first,
    every node), lazily (a caller that stops early expands no more) and without
    `ast.walk`'s nested generators: 3-4x cheaper."""
    queue = [node]
    append = queue.append
    nodes = _ALL_KINDS
    i = 0
    while i < len(queue) and i <= limit:
        here = queue[i]
        i += 1
        yield here
        for fname in here._fields:
            value: Any = getattr(here, fname, None)
            kind = type(value)
            if kind in nodes:
                append(value)
            elif kind is list:
                for item in value:
                    if type(item) in nodes:
                        append(item)


def collect_aliases(nodes: list[ast.AST]) -> dict[str, str]:
    """Local name -> dotted origin for every import in the file, whatever its form:
    `import x as y`, `from x import y`, `from x import *` (standard-library modules in
    STAR_MODULES), `y = __import__("x")`, `y = importlib.import_module("x")` and an
    attribute of an imported module bound to a name (`run = os.system`)."""
    aliases: dict[str, str] = {}
    explicit: dict[str, str] = {}
    plain: set[str] = set()  # names `import a.b` binds as themselves (`a`)
    node: Any
    for node in nodes:  # exact type tests: no node class has subclasses
        kind = type(node)
        if kind is ast.Import:
            for alias in node.names:
                if alias.asname:
                    explicit[alias.asname] = alias.name
                else:
                    plain.add(alias.name.split(".")[0])
        elif kind is ast.ImportFrom and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    aliases.update(star_names(node.module))
                else:
                    explicit[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    aliases.update(explicit)
    for node in nodes:
        if type(node) is ast.Assign and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            value = node.value
            module = imported_module(value, aliases)
            if module is None and isinstance(value, ast.Attribute):
                # `b64decode = __import__("base64").b64decode`
                root: ast.AST = value
                for _ in range(MAX_DEPTH):
                    if not isinstance(root, ast.Attribute):
                        break
                    root = root.value
                # `run = os.system`, `GET = urllib.request.urlopen` too
                if imported_module(root, aliases) is not None or (
                        type(root) is ast.Name and root.id in plain):
                    module = qualified(value, aliases)
            if module is not None:
                aliases[node.targets[0].id] = module
    return aliases


class FileScan:
    """Walks one parsed file once and collects evidence."""

    def __init__(self, name: str, nodes: list[ast.AST], tier: str, rescan,
                 budget: Budget | None = None) -> None:
        self.name, self.nodes, self.tier = name, nodes, tier
        self.rescan = rescan  # callback(text, line) -> list[Finding] for decoded payloads
        self.budget = budget or unlimited()
        self.ev = Evidence()
        self.aliases = collect_aliases(nodes)
        # names `import a.b` binds (`a`): calls through them are not local names
        self.imported = {alias.asname or alias.name.split(".")[0] for node in nodes
                         if type(node) is ast.Import for alias in node.names}
        self.consts: dict[str, str] = {}
        self.tainted: dict[str, str] = {}
        self.folder = Folder(self.consts, self.aliases, self.budget,
                             local_decoders(nodes, self.aliases))
        # operands of a `+` chain: only the whole chain is folded (once), not each prefix
        self.inner_adds = {id(side) for n in nodes if type(n) is ast.BinOp
                           and isinstance(n.op, ast.Add) for side in (n.left, n.right)}
        self.flags: dict[str, int] = {}
        self.opaque = 0  # `if 1 == 2:` tests seen (_opaque)
        # whether writes into user folders are looked for here (skips the path checks)
        self.user_folder = self.asks("install-user-folder-write")

    def asks(self, rule_id: str) -> bool:
        """Whether a rule counts in this file's tier (the catalogue's `tiers`, as the text
        rules read it)."""
        tiers = rule(rule_id).tiers
        return not tiers or self.tier in tiers

    def add(self, rule_id: str, node: ast.AST | int | None, evidence: str) -> None:
        spec = rule(rule_id)
        if spec.tiers and self.tier not in spec.tiers:
            return
        line = node if isinstance(node, int) or node is None else getattr(node, "lineno", None)
        self.ev.findings.append(
            Finding(rule_id, self.name, line, spec.severity, clip_evidence(evidence), self.tier)
        )
        if rule_id not in self.flags and line is not None:
            self.flags[rule_id] = line
        self.flags.setdefault(rule_id, 0)

    def source(self, node: ast.AST) -> str:
        try:
            return ast.unparse(node)[:300]
        except (RecursionError, ValueError, AttributeError, TypeError):
            return type(node).__name__

    # --- passes -------------------------------------------------------------
    def run(self) -> Evidence:
        self._assignments()
        dispatch: dict[type[ast.AST], Callable[[Any], None]] = {
            ast.Call: self._call, ast.Constant: self._constant, ast.Import: self._import,
            ast.ImportFrom: self._import, ast.ClassDef: self._class,
            ast.Attribute: self._attribute, ast.BinOp: self._folded,
            ast.JoinedStr: self._folded, ast.Subscript: self._subscript,
            ast.If: self._opaque, ast.While: self._opaque,
        }
        for count, node in enumerate(self.nodes):
            if not count & 1023:
                self.budget.check()
            handler = dispatch.get(type(node))
            if handler is not None:
                handler(node)
        return self.ev

    def _opaque(self, node: ast.If | ast.While) -> None:
        """`if 3745083 == 3946893:` is obfuscator filler: a branch decided when the file
        was written, around junk statements. One such test is a debugging leftover;
        OPAQUE_MIN of them in a file is generated code hiding what it does."""
        test = node.test
        if type(test) is ast.Compare and len(test.comparators) == 1 and all(
                type(side) is ast.Constant and type(side.value) is int
                for side in (test.left, test.comparators[0])):
            self.opaque += 1
            if self.opaque == OPAQUE_MIN:
                self.add("opaque-predicate", node,
                         f"{OPAQUE_MIN}+ tests of one number against another: "
                         + self.source(test))

    def _folded(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Add):
            return
        if id(node) in self.inner_adds:
            return
        folded = self.folder.fold(node)
        if folded and len(folded) >= 8:
            self.ev.strings.append((getattr(node, "lineno", 0), folded))

    def _assignments(self) -> None:
        self.dicts: dict[str, ast.AST] = {}
        self.lists: dict[str, ast.List | ast.Tuple] = {}
        self.assigned: dict[str, ast.AST] = {}  # a name's last assigned value
        self.assigned_sources: dict[str, str] = {}  # _assigned_source's memo
        for node in self.nodes:
            if type(node) is ast.AugAssign and isinstance(node.target, ast.Name):
                # `out += chr(ord(c) ^ k)` in a loop builds a decoded string
                kind = self._kind(node.value)
                if kind in ("decode", "net"):
                    self.tainted[node.target.id] = kind
                continue
            if type(node) is ast.Assign and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                target = node.targets[0].id
                self.assigned[target] = node.value
                if target.startswith("__") and "obfusc" in target.lower():
                    self.add("obfuscator-marker", node, target)  # `__VareObfuscator__ = ''`
                if isinstance(node.value, ast.Dict | ast.Call):
                    self.dicts[target] = node.value
                elif isinstance(node.value, ast.List | ast.Tuple):
                    self.lists[target] = node.value  # `cmd = [...]; Popen(cmd)`
                value = self.folder.fold(node.value)
                if value is not None:
                    self.consts[target] = value
                kind = self._kind(node.value)
                if kind in ("decode", "net"):
                    self.tainted[target] = kind

    def _kind(self, node: ast.AST) -> str:
        """What an expression carries: decode / net / literal / local-file / dynamic."""
        if isinstance(node, ast.Constant):
            return "literal"
        root = node
        while type(root) is ast.Attribute:  # `a.b.c`: only its name can match below
            root = root.value
        if type(root) is ast.Name:  # what the walk below finds for a bare name
            return self.tainted.get(root.id, "dynamic")
        return self._walked_kind(node, KIND_WALK_NODES)

    def _walked_kind(self, node: ast.AST, limit: int) -> str:
        """`_kind` of an expression by a walk over its first `limit + 1` nodes, in
        `walk`'s order (breadth first, every node), with the tests inlined in the loop:
        the same answer as testing each node `walk(node, limit)` yields, without a
        generator step and three `isinstance` calls per node."""
        kind = "dynamic"
        tainted = self.tainted
        Name, Subscript, Call = ast.Name, ast.Subscript, ast.Call
        queue = [node]
        append = queue.append
        nodes = _ALL_KINDS
        i = 0
        while i < len(queue) and i <= limit:
            sub: Any = queue[i]
            i += 1
            here = type(sub)
            if here is Name:
                if sub.id in tainted:
                    return tainted[sub.id]
            elif here is Subscript:
                if isinstance(sub.slice, ast.Slice) and isinstance(sub.slice.step, ast.UnaryOp):
                    return "decode"
            elif here is Call:
                name = qualified(sub.func, self.aliases) or ""
                last = name.rsplit(".", 1)[-1]
                if name.startswith(NETWORK_PREFIX) or last in ("urlopen", "urlretrieve"):
                    return "net"
                if last in decode.DECODE_NAMES or name in self.folder.decoders or \
                        name.startswith(DECODE_MODULES):
                    return "decode"
                if last == "chr" or (last == "join" and "chr" in self.source(sub)):
                    return "decode"
                if last in ("open", "read", "read_text"):
                    kind = "local-file"
            for fname in sub._fields:
                value: Any = getattr(sub, fname, None)
                if type(value) in nodes:
                    append(value)
                elif type(value) is list:
                    for item in value:
                        if type(item) in nodes:
                            append(item)
        return kind

    def _namespace_get(self, node: ast.Call) -> bool:
        """`vars(__builtins__).get('eval')`, `__builtins__.get('exec')`, `globals().get(..)`:
        a builtin looked up by name in a namespace dict."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in ("get", "__getitem__")
                and node.args):
            return False
        owner = func.value
        namespace = qualified(owner, self.aliases) in NAMESPACES or (
            isinstance(owner, ast.Call)
            and qualified(owner.func, self.aliases) in ("vars", "globals", "locals"))
        if namespace and self.folder.fold(node.args[0]) in EXEC_NAMES:
            self.add("getattr-obfuscation", node, self.source(node))
            return True
        return False

    def _call(self, node: ast.Call) -> None:
        if self._namespace_get(node):
            return
        name = qualified(node.func, self.aliases)
        if name is None:
            # `(Path.home() / ".ssh" / "x").write_text(...)`: no dotted name to qualify
            if self.user_folder and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in PATH_METHODS and \
                    self._writes_user_folder(node, node.func.attr, node.func.attr):
                self.add("install-user-folder-write", node, self.source(node))
            if isinstance(node.func, ast.Call):
                self._getattr_call(node.func, called=True)
            return
        self.ev.tokens.append(self._call_token(node, name))
        last = name.rsplit(".", 1)[-1]
        if name in ("__pyarmor__", "__pyarmor_enter__") or last == "pyarmor_runtime":
            self.add("obfuscator-marker", node, self.source(node))
        if last == "main" and name.split(".")[0] == "pip":
            self._pip_api(node)
        if self.user_folder and (last in WRITE_LAST or last in PATH_METHODS) and \
                self._writes_user_folder(node, name, last):
            self.add("install-user-folder-write", node, self.source(node))
        if name in EXEC_FUNCS or name in RUN_FILE:
            self._exec(node, name)
        elif name in SPAWN or name.startswith(SPAWN_PREFIX):
            self._spawn(node, name)
        elif name.startswith(NETWORK_PREFIX) or last in ("urlopen", "urlretrieve"):
            self.add("network-call", node, self.source(node))
            self._network_target(node, last)
        elif name in SYSINFO:
            self.add("sysinfo-collect", node, self.source(node))
        elif any((type(arg) is ast.Name or (type(arg) is ast.Attribute and
                                              arg.attr in SYSINFO_LAST)) and
                 qualified(arg, self.aliases) in SYSINFO for arg in node.args):
            # called through a wrapper: `try_call(socket.getfqdn)`, `pool.submit(getuser)`
            self.add("sysinfo-collect", node, self.source(node))
        elif name in ("os.getenv", "os.environ.get", "os.getenvb", "os.environ.copy",
                      "os.environ.items", "dict"):
            self._env(node, name)
        elif name in ("__import__", "importlib.import_module", "importlib.__import__"):
            self._dynamic_import(node)
        elif name == "getattr":
            self._getattr_call(node, called=False)
        elif name.startswith(CLIPBOARD_PREFIX) or last == "clipboard_get":
            self.add("clipboard-access", node, self.source(node))
        elif name.startswith(SCREEN_KEYS):
            self.add("screen-or-keys", node, self.source(node))
        elif name in ("os.chmod", "os.fchmod") and len(node.args) >= 2:
            self.flags.setdefault("chmod", node.lineno)
        elif last in decode.DECODERS or name in ("codecs.decode", "marshal.loads"):
            self._decode_call(node, name)
        elif name in self.folder.decoders:
            self._decode_call(node, self.folder.decoders[name])
        elif name in ("globals", "locals", "vars"):
            self.flags.setdefault("namespace", node.lineno)
        elif last in HTTP_VERBS:  # a session or client object: `s.post("https://…")`
            self._network_target(node, last, literal_only=True)
        if not node.keywords:  # most calls: neither test below can hold
            return
        if any(kw.arg == "cmdclass" for kw in node.keywords):
            self._cmdclass(node)
        elif any(kw.arg is None for kw in node.keywords):  # setup(**kwargs)
            self._cmdclass_in_kwargs(node)

    def _assigned_source(self, name: str) -> str:
        """The code a name was last assigned, unparsed once per name: a 1 MB literal named
        by a thousand write calls is not unparsed a thousand times."""
        text = self.assigned_sources.get(name)
        if text is None:
            text = self.assigned_sources[name] = self.source(self.assigned[name])
        return text

    def _pip_api(self, node: ast.Call) -> None:
        """`pip.main(["install", ...])`, `pip._internal.main([...])`: pip's own entry point
        called in-process installs as `pip install` in a shell does."""
        first = node.args[0] if node.args else None
        if isinstance(first, ast.List | ast.Tuple) and first.elts and \
                self.folder.fold(first.elts[0]) == "install":
            self.add("pip-install-at-runtime", node, self.source(node))

    def _writes_user_folder(self, node: ast.Call, name: str, last: str) -> bool:
        """Whether a write call's path names a user's profile folder: in the argument's
        own code, or in what a name in it was assigned (`p = os.getenv("APPDATA")`).
        Asked of install-time code only: at install nothing has reason to write there,
        while at import or call a library may keep its cache in AppData."""
        if last in PATH_METHODS and isinstance(node.func, ast.Attribute):
            paths: list[ast.AST] = [*node.args, node.func.value]
        elif name not in WRITE_CALLS:
            return False
        elif last == "open":
            mode = next((kw.value for kw in node.keywords if kw.arg == "mode"),
                        node.args[1] if len(node.args) > 1 else None)
            if not (type(mode) is ast.Constant and isinstance(mode.value, str)
                    and not WRITE_MODE.isdisjoint(mode.value)):
                return False
            paths = [*node.args[:1], *(kw.value for kw in node.keywords if kw.arg == "file")]
        else:
            paths = [*node.args, *(kw.value for kw in node.keywords)]
        pattern = rule("install-user-folder-write").argument
        if pattern is None:
            return False
        for path in paths:
            texts = [self.source(path)]
            for sub in walk(path, KIND_WALK_NODES):
                if type(sub) is ast.Name and sub.id in self.assigned:
                    texts.append(self._assigned_source(sub.id))
            if any(pattern.search(text) for text in texts):
                return True
        return False

    def _network_target(self, node: ast.Call, last: str, literal_only: bool = False) -> None:
        """Where a network call goes: an address decoded at run time hides the endpoint
        (`requests.get(b64decode(KEY) + key)`); a literal one on a throwaway-host TLD is
        where stolen keys go (`requests.post("https://api.sdk-x.xyz/", json=keys)`)."""
        keyword = next((kw.value for kw in node.keywords if kw.arg == "url"), None)
        # request(method, url): the address is the second argument
        position = 1 if last == "request" else 0
        url = keyword or (node.args[position] if len(node.args) > position else None)
        if url is None or (type(url) is ast.Constant and not isinstance(url.value, str)):
            return
        if not literal_only and self._decoded_here(url):
            self.add("hidden-endpoint", node, self.source(node))
            return
        address = self.folder.fold(url)
        self._fronted(node, address or _leading_literal(url))
        pattern = rule("shady-tld-url").pattern
        if address and address.lstrip().lower().startswith(("http:", "https:")) and \
                pattern is not None and pattern.search(address[:2048]):
            self.add("throwaway-host-call", node, self.source(node))

    def _fronted(self, node: ast.Call, address: str | None) -> None:
        """Domain fronting: the request goes to one host (often a CDN or a trusted
        site, `https://pypi.org/...`) while its `Host` header names another, so the
        endpoint that receives the data is not the one a reader (or a proxy) sees."""
        headers = next((kw.value for kw in node.keywords if kw.arg == "headers"), None)
        if type(headers) is not ast.Dict or not address:
            return
        host = next((self.folder.fold(v) for k, v in zip(headers.keys, headers.values, strict=True)
                     if type(k) is ast.Constant and isinstance(k.value, str) and
                     k.value.strip().lower() == "host"), None)
        if not host:
            return
        try:  # urlsplit lowercases hosts and drops ports (`api.example.com:443`)
            target = urlsplit(address.strip()).hostname
            named = urlsplit("//" + host.strip()).hostname
        except ValueError:
            return
        if not target or not named or target in LOOPBACK_HOSTS:
            return
        if "." in named and named != target and not named.endswith("." + target):
            self.add("domain-fronting", node,
                     f"{self.source(node)} (sent to {target}, Host: {named})")

    def _decoded_here(self, node: ast.AST) -> bool:
        """Whether the expression itself calls a decoder of packed data (base64, hex,
        zlib, codecs...). Names are not followed: `url = body.decode()` somewhere in the
        file does not make every `url` a hidden one."""
        for sub in walk(node, KIND_WALK_NODES):
            if type(sub) is ast.Call:
                name = qualified(sub.func, self.aliases) or ""
                if name.rsplit(".", 1)[-1] in decode.DECODERS or name in self.folder.decoders \
                        or name.startswith(DECODE_MODULES):
                    return True
        return False

    def _exec(self, node: ast.Call, name: str) -> None:
        if not node.args:
            return
        data = run_data_file(node.args[0])
        if data:
            # the package's own non-Python file run as code: the payload hides as data
            self.add("exec-data-file", node, f"{self.source(node)} runs {data!r}")
        if name in RUN_FILE:
            return
        kind = self._kind(node.args[0])
        text = self.source(node)
        if kind == "decode":
            self.add("decode-exec", node, text)
        elif kind == "net":
            self.add("remote-code-exec", node, text)
        elif kind == "literal":
            self.add("exec-literal", node, text)
            literal = self.folder.fold(node.args[0])
            if literal:
                self.ev.findings += self.rescan(literal, node.lineno)
        elif kind == "dynamic":
            folded = self.folder.fold(node.args[0])
            inner = self.rescan(folded, node.lineno) if folded and len(folded) > 20 else []
            self.ev.findings += inner
            # code assembled from pieces that holds something: a payload put together at
            # run time; a template filled in (`exec("def set(o, v): o.%s = v" % name)`,
            # as sqlalchemy and attrs generate code) holds nothing by itself
            self.add("decode-exec" if inner else "exec-dynamic", node, text)

    def _inline_code(self, node: ast.Call) -> None:
        """`[sys.executable, "-c", b64decode(...)]`: an interpreter handed decoded code."""
        first = node.args[0] if node.args else None
        if not isinstance(first, ast.List | ast.Tuple):
            return
        elts = first.elts[:50]
        for i, elt in enumerate(elts[:-1]):
            if self.folder.fold(elt) != "-c":
                continue
            code = elts[i + 1]
            if self._kind(code) == "decode":
                self.add("decode-exec", node, self.source(node))
            folded = self.folder.fold(code)
            if folded:
                self.ev.findings += self.rescan(folded, node.lineno)
            return

    def _spawn(self, node: ast.Call, name: str) -> None:
        self.add("process-spawn", node, self.source(node))
        self._inline_code(node)
        # a shell command decoded (or downloaded) at run time is a payload run, as exec is
        arg = node.args[0] if node.args else None
        kind = self._kind(arg) if arg is not None and not isinstance(
            arg, ast.List | ast.Tuple) else None
        if kind == "decode":
            self.add("decode-exec", node, self.source(node))
        elif kind == "net":
            self.add("remote-code-exec", node, self.source(node))
        command = self._command(node)
        if not command:
            return
        if DOWNLOAD_CMD.search(command):
            self.add("shell-download-exec", node, command)
        if PIP_CMD.search(command):
            self.add("pip-install-at-runtime", node, command)
        if SYSINFO_CMD.search(command):
            self.add("sysinfo-collect", node, command)
        if CHMOD_EXEC.search(command):
            self.flags.setdefault("chmod", node.lineno)
        self.ev.strings.append((node.lineno, command))

    def _command(self, node: ast.Call) -> str:
        if not node.args:
            return ""
        first = node.args[0]
        if isinstance(first, ast.Name) and first.id in self.lists:
            first = self.lists[first.id]
        if isinstance(first, ast.List | ast.Tuple):
            parts = [self.folder.fold(e) or (qualified(e, self.aliases) or "?")
                     for e in first.elts[:200]]
            return " ".join(parts)
        return " ".join(
            filter(None, (self.folder.fold(a) for a in node.args[:4]))
        )

    def _env(self, node: ast.Call, name: str) -> None:
        if name == "dict":
            if node.args and qualified(node.args[0], self.aliases) == "os.environ":
                self.add("env-secrets", node, self.source(node))
            return
        if name in ("os.environ.copy", "os.environ.items"):
            self.add("env-secrets", node, self.source(node))
            return
        key = self.folder.fold(node.args[0]) if node.args else None
        if key and SECRET_ENV.search(key):
            self.add("env-secrets", node, self.source(node))
        elif key and IDENTITY_ENV.match(key):
            self.add("sysinfo-collect", node, self.source(node))

    def _subscript(self, node: ast.Subscript) -> None:
        target = qualified(node.value, self.aliases)
        if target == "os.environ":
            key = self.folder.fold(node.slice)
            if key and SECRET_ENV.search(key):
                self.add("env-secrets", node, self.source(node))
            elif key and IDENTITY_ENV.match(key):
                self.add("sysinfo-collect", node, self.source(node))
        elif target in ("__builtins__", "builtins.__dict__", "__builtins__.__dict__") or (
            isinstance(node.value, ast.Call)
            and qualified(node.value.func, self.aliases) in ("globals", "vars", "locals")
        ):
            key = self.folder.fold(node.slice)
            if key in EXEC_NAMES:
                self.add("getattr-obfuscation", node, self.source(node))

    def _dynamic_import(self, node: ast.Call) -> None:
        arg = node.args[0] if node.args else None
        if arg is None:
            return
        module = imported_module(node, self.aliases)
        if module is not None:
            # `__import__("requests")` with a plain constant is `import requests`
            # written another way: the same findings, nothing more
            self._import(ast.Import(names=[ast.alias(name=module)], lineno=node.lineno),
                         token=False)
            return
        self.add("dynamic-import", node, self.source(node))

    def _getattr_call(self, node: ast.Call, called: bool) -> None:
        if not (isinstance(node.func, ast.Name) and node.func.id == "getattr"):
            return
        if len(node.args) < 2:
            return
        attr = self.folder.fold(node.args[1])
        target = qualified(node.args[0], self.aliases) or ""
        owner = node.args[0]
        if isinstance(owner, ast.Subscript) and \
                qualified(owner.value, self.aliases) == "sys.modules" and \
                attr in EXEC_NAMES | SENSITIVE_MODULES:
            # getattr(sys.modules[__name__], "ctypes"): a module reached by name
            self.add("getattr-obfuscation", node, self.source(node))
            return
        computed = not isinstance(node.args[1], ast.Constant)
        risky_target = target.split(".")[0] in SENSITIVE_MODULES | {"__builtins__"}
        if attr in EXEC_NAMES and (computed or risky_target):
            self.add("getattr-obfuscation", node, self.source(node))
        elif attr is None and target.split(".")[0] in {"builtins", "__builtins__", "os"}:
            self.add("dynamic-import", node, self.source(node))

    def _decode_call(self, node: ast.Call, name: str) -> None:
        self.flags.setdefault("decode", node.lineno)
        if not node.args:
            return
        payload = self.folder.fold(node.args[0])
        if not payload or len(payload) < 16:
            return
        last = name.rsplit(".", 1)[-1]
        if name == "codecs.decode":
            enc = self.folder.fold(node.args[1]) if len(node.args) > 1 else None
            out = decode.codecs_decode(payload.encode("latin-1", "replace"), enc or "")
        elif name == "marshal.loads":
            return
        else:
            out = decode.decode_literal(last, payload.encode("latin-1", "replace"))
        if out:
            self.budget.decode(len(out))
        if out and decode.looks_textual(out):
            inner = self.rescan(out.decode("latin-1"), node.lineno)
            if inner:
                self.ev.findings += inner
                self.add("decoded-payload", node,
                         f"{last}(...) decodes to: " + ", ".join(sorted({f.rule for f in inner})))

    def _cmdclass(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg != "cmdclass":
                continue
            keys: list[str] = []
            value = kw.value
            if isinstance(value, ast.Name) and value.id in self.dicts:
                kw = ast.keyword(arg="cmdclass", value=self.dicts[value.id])  # type: ignore[call-overload]
            if isinstance(kw.value, ast.Dict):
                keys = [k.value for k in kw.value.keys
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            elif isinstance(kw.value, ast.Call):
                keys = [k.arg for k in kw.value.keywords if k.arg]
            hooked = [k for k in keys if k in INSTALL_COMMANDS]
            built = [k for k in keys if k in COMMAND_CLASSES and k not in INSTALL_COMMANDS]
            if hooked:
                self.add("install-command-override", node, "cmdclass overrides " +
                         ", ".join(hooked))
            elif built or not isinstance(kw.value, ast.Dict):
                self.add("build-command-override", node, "cmdclass overrides " +
                         (", ".join(built) or self.source(kw.value)))

    def _cmdclass_in_kwargs(self, node: ast.Call) -> None:
        """`setup(**{"cmdclass": {...}})` or `setup(**kw)` with kw a dict naming cmdclass."""
        for kw in node.keywords:
            if kw.arg is not None:
                continue
            mapping = self.dicts.get(kw.value.id) if isinstance(kw.value, ast.Name) else kw.value
            if isinstance(mapping, ast.Dict):
                pairs = [(k.value, v) for k, v in zip(mapping.keys, mapping.values, strict=True)
                         if isinstance(k, ast.Constant)]
            elif isinstance(mapping, ast.Call):
                pairs = [(k.arg, k.value) for k in mapping.keywords if k.arg]
            else:
                continue
            for key, value in pairs:
                if key == "cmdclass":
                    self._cmdclass(ast.Call(func=node.func, args=[], keywords=[
                        ast.keyword(arg="cmdclass", value=value)], lineno=node.lineno))

    def _class(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            name = qualified(base, self.aliases) or ""
            last = name.rsplit(".", 1)[-1]
            if last in COMMAND_CLASSES and (
                "setuptools" in name or "distutils" in name or "wheel" in name or "." not in name
            ):
                rule_id = ("install-command-override" if last in INSTALL_COMMANDS
                           else "build-command-override")
                self.add(rule_id, node, f"class {node.name}({name})")
                return
            if name.endswith(("BuildHookInterface", "MetadataHookInterface")):
                self.add("install-time-entry", node, f"hatch hook class {node.name}({name})")

    def _call_token(self, node: ast.Call, name: str) -> str:
        """`c:` + the call's dotted name (3 parts at most). A name bound in this code (a
        local function or variable, not an import or a builtin) becomes `_`, so renaming
        it changes nothing: `run()` -> `c:_`, `fh.write()` -> `c:_.write`. A call that
        imports a module by a constant name reads as that import (`i:os`)."""
        module = imported_module(node, self.aliases)
        if module is not None:
            return "i:" + ".".join(module.split(".")[:2])
        root = node.func
        for _ in range(MAX_DEPTH):
            if not isinstance(root, ast.Attribute):
                break
            root = root.value
        parts = name.split(".")[:3]
        if isinstance(root, ast.Name) and root.id not in self.aliases \
                and root.id not in self.imported and root.id not in BUILTIN_NAMES:
            parts[0] = "_"
        return "c:" + ".".join(parts)

    def _import(self, node: ast.Import | ast.ImportFrom, token: bool = True) -> None:
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for mod in mods:
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            if token:
                self.ev.tokens.append("i:_" if relative else "i:" + ".".join(mod.split(".")[:2]))
            if mod.split(".")[0] == "pytransform" or mod.startswith("pyarmor_runtime"):
                self.add("obfuscator-marker", node, f"import {mod} (PyArmor runtime)")
            network = mod in NETWORK_MODULES or mod.split(".")[0] in ("requests", "httpx")
            if network and "network-import" not in self.flags:
                self.add("network-import", node, f"import {mod}")
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.module in ALIAS_MODULES and alias.name in ALIASED_PRIMITIVES and \
                        alias.asname and alias.asname != alias.name:
                    self.add("import-aliasing", node,
                             f"from {node.module} import {alias.name} as {alias.asname}")
                if alias.name in STEAL_ATTRS:
                    self.add("credential-file", node, f"from {node.module} import {alias.name}")

    def _attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in INJECTION_ATTRS:
            self.add("windows-injection", node, self.source(node))
        elif attr in STEAL_ATTRS:
            self.add("credential-file", node, self.source(node))
        elif attr in HIDDEN_ATTRS:
            self.add("hidden-process", node, self.source(node))
        elif attr in CLIPBOARD_ATTRS:
            self.add("clipboard-access", node, self.source(node))
        elif attr in SCREEN_ATTRS:
            self.add("screen-or-keys", node, self.source(node))
        elif attr in ("dup2",) and qualified(node.value, self.aliases) == "os":
            self.flags.setdefault("dup2", node.lineno)
        elif attr == "connect":
            self.flags.setdefault("connect", node.lineno)

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str | bytes):
            return
        text = value if isinstance(value, str) else value.decode("latin-1")
        if len(text) >= 4:
            self.ev.strings.append((getattr(node, "lineno", 0), text))
        if len(text) >= 100:
            self._blob(node, text)

    def _blob(self, node: ast.Constant, text: str) -> None:
        compact = "".join(text[:8192].split())
        if len(compact) < 100:
            return
        ent = decode.entropy(compact)
        looks_code = " " in text[:400] and ("(" in text[:2000] or "=" in text[:2000])
        # a docstring without its spaces reaches 4.8 too: prose is not a payload
        packed = ent >= 4.8 and decode.looks_packed(compact, text) and \
            not decode.looks_like_prose(text)
        if packed or (ent >= 3.6 and len(compact) >= 200 and not looks_code and
                      (decode.B64_RUN.match(compact[:4096]) or
                       decode.HEX_RUN.match(compact[:4096]))):
            self.add("high-entropy-literal", node,
                     f"{len(text)} chars, entropy {ent:.2f}: {compact[:60]}")
            out = decode.unwrap_blob(text)
            if out:
                self.budget.decode(len(out))
            if out and decode.looks_textual(out):
                inner = self.rescan(out.decode("latin-1"), node.lineno)
                if inner:
                    self.ev.findings += inner
                    self.add("decoded-payload", node,
                             "literal decodes to: " + ", ".join(sorted({f.rule for f in inner})))

    def finish(self, extra: list[Finding]) -> None:
        """File-level combinations, once text-pattern findings are known too."""
        fl = self.flags
        for f in extra:
            fl.setdefault(f.rule, f.line or 0)
        net = next((fl[k] for k in ("network-call", "shell-download-exec", "remote-code-exec")
                    if k in fl), None)
        if net is not None and any(k in fl for k in ("sysinfo-collect", "env-secrets",
                                                     "credential-file")):
            self.add("exfiltration", net or None,
                     "collects host identity or secrets and uses the network in the same file")
        if (net is not None and any(k in fl for k in ("chmod", "executable-name"))) or (
            "network-call" in fl and "os.startfile" in self.ev.tokens
        ):
            self.add("downloaded-executable", net or None,
                     "downloads and then marks executable or launches a file")
        spawned = " ".join(t for t in self.ev.tokens if t.startswith("c:"))
        if "process-spawn" in fl and "tempfile." in spawned and (
            "sys.executable" in self.aliases.values() or "sys.executable" in spawned
            or "hidden-process" in fl
        ):
            self.add("temp-script-exec", fl["process-spawn"] or None,
                     "runs a temporary file it wrote with the interpreter")
        if "connect" in fl and ("dup2" in fl or "pty.spawn" in " ".join(self.ev.tokens)) and \
                "process-spawn" in fl:
            self.add("reverse-shell", fl["connect"], "socket connect with a shell attached")
        if "decode" in fl and "namespace" in fl and "exec-dynamic" in fl:
            self.add("decode-exec", fl["exec-dynamic"] or None,
                     "decoding plus exec through a namespace lookup")


