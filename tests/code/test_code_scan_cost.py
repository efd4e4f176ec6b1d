"""The cheap paths of the scanner give exactly what the plain ones gave: the reduced
node list, the bounded walk, one-pass character counts, local decoders found without
walking every function, and the collector paused only for the analysis."""

from __future__ import annotations

import ast
import gc
import itertools

import pytest
from code_fixtures import BENIGN_PKG, MISS_HATCH_HOOK, MISS_SETUP_IMPORT

from detector.code.analyze import (
    OPERATOR_CHARS,
    PARSE_UNIT_CHARS,
    analyze,
    operator_density,
    parse_units,
)
from detector.code.pyast import READ, collect_aliases, flatten, local_decoders, walk

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
