"""Offline tests of scripts/fetch_benign.py: archive reading, file choice, picking, resume.

Archives are small hand-made ones built in memory; nothing touches the network.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import io
import json
import random
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from detector.code.limits import Limits
from detector.policy import load_policy

LIMITS = load_policy().code.limits


def with_limits(**changes: int) -> Limits:
    """The shipped limits with some of them changed."""
    return dataclasses.replace(LIMITS, **changes)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_benign.py"


@pytest.fixture(scope="module")
def fb() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_benign", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_benign"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def make_tar(members: list[tuple[str, bytes | None, str]]) -> bytes:
    """(name, data, kind) with kind 'file', 'dir', 'sym' (data = link target) or 'fifo'."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = (data or b"").decode()
                tar.addfile(info)
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = (data or b"").decode()
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


SDIST = [
    ("demo-1.0", None, "dir"),
    ("demo-1.0/setup.py", b"from setuptools import setup\nsetup(name='demo')\n", "file"),
    ("demo-1.0/setup.cfg", b"[egg_info]\ntag_build = \ntag_date = 0\n\n", "file"),
    ("demo-1.0/pyproject.toml", b"[build-system]\n", "file"),
    ("demo-1.0/PKG-INFO", b"Metadata-Version: 2.1\n", "file"),
    ("demo-1.0/README.md", b"# demo\n", "file"),
    ("demo-1.0/demo/__init__.py", b"__version__ = '1.0'\n", "file"),
    ("demo-1.0/demo/core.py", b"x = 1\n", "file"),
    ("demo-1.0/demo/sub/__init__.py", b"", "file"),
    ("demo-1.0/src/other/__init__.py", b"y = 2\n", "file"),
    ("demo-1.0/src/other/deep/__init__.py", b"", "file"),
    ("demo-1.0/tests/__init__.py", b"", "file"),
    ("demo-1.0/docs/conf.py", b"", "file"),
    ("demo-1.0/pkg/setup.py", b"nested", "file"),
]


def test_selects_install_files_and_strips_the_root(fb: ModuleType) -> None:
    extract = fb.read_install_files(make_tar(SDIST), "demo-1.0.tar.gz", LIMITS)
    assert sorted(extract.files) == [
        "demo/__init__.py", "pyproject.toml", "setup.cfg", "setup.py",
        "src/other/__init__.py", "tests/__init__.py",
    ]
    assert extract.files["setup.py"].startswith("from setuptools import setup")
    assert extract.files["demo/__init__.py"] == "__version__ = '1.0'\n"
    assert extract.truncated == [] and extract.problems == []


def test_zip_sdist_reads_the_same_way(fb: ModuleType) -> None:
    data = make_zip({n: d or b"" for n, d, kind in SDIST if kind == "file"})
    extract = fb.read_install_files(data, "demo-1.0.zip", LIMITS)
    assert sorted(extract.files) == [
        "demo/__init__.py", "pyproject.toml", "setup.cfg", "setup.py",
        "src/other/__init__.py", "tests/__init__.py",
    ]


def test_archive_without_a_common_root_keeps_paths(fb: ModuleType) -> None:
    data = make_zip({"setup.py": b"a", "pkg/__init__.py": b"b", "pkg/mod.py": b"c"})
    assert sorted(fb.read_install_files(data, "x.zip", LIMITS).files) == [
        "pkg/__init__.py", "setup.py",
    ]


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("setup.py", True), ("setup.cfg", True), ("pyproject.toml", True),
        ("pkg/__init__.py", True), ("src/pkg/__init__.py", True), ("src/__init__.py", True),
        ("setup.pyc", False), ("README.md", False), ("pkg/setup.py", False),
        ("pkg/sub/__init__.py", False), ("lib/pkg/__init__.py", False),
        ("src/pkg/sub/__init__.py", False), ("__init__.py", False),
    ],
)
def test_is_install_file(fb: ModuleType, path: str, kept: bool) -> None:
    assert fb.is_install_file(path) is kept


def test_truncates_large_files_and_names_them(fb: ModuleType) -> None:
    big = b"# " + b"x" * 5000 + b"\n"
    data = make_tar([("demo-1.0/setup.py", big, "file"), ("demo-1.0/demo/__init__.py", big,
                                                        "file"), ("demo-1.0/setup.cfg", b"ok",
                                                                  "file")])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS, max_file_bytes=1000)
    assert len(extract.files["setup.py"]) == 1000
    assert extract.truncated == ["demo/__init__.py", "setup.py"]
    assert extract.files["setup.cfg"] == "ok"
    row = fb.build_row(fb.Pick("demo", "popular", "7"),
                       fb.SdistFile("demo-1.0.tar.gz", "https://x/demo-1.0.tar.gz", "1.0",
                                    "ab", 10, "2024-01-02"), extract)
    assert row["truncated"] == "demo/__init__.py,setup.py"
    assert row["sample_id"] == "demo-1.0" and row["rank"] == "7"
    assert list(row) == ["sample_id", "name", "version", "first_seen", "group", "rank",
                         "truncated", "files", "source", "sha256"]


def test_bad_utf8_is_replaced_not_fatal(fb: ModuleType) -> None:
    data = make_tar([("demo-1.0/setup.py", b"name = '\xff\xfe'\n", "file")])
    text = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS).files["setup.py"]
    assert text == "name = '\ufffd\ufffd'\n"


def test_refuses_path_traversal(fb: ModuleType) -> None:
    data = make_tar([
        ("demo-1.0/setup.py", b"ok", "file"),
        ("demo-1.0/../../setup.cfg", b"evil", "file"),
        ("/etc/pyproject.toml", b"evil", "file"),
    ])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS)
    assert "evil" not in extract.files.values()
    assert any("path traversal" in p for p in extract.problems)
    assert sum("path traversal" in p for p in extract.problems) == 2


def test_links_resolve_inside_and_are_refused_outside(fb: ModuleType) -> None:
    data = make_tar([
        ("demo-1.0/README", b"readme", "file"),
        ("demo-1.0/setup.py", b"/etc/passwd", "sym"),
        ("demo-1.0/setup.cfg", b"demo-1.0/README", "hard"),
        ("demo-1.0/pyproject.toml", None, "fifo"),
        ("demo-1.0/demo/__init__.py", b"x", "file"),
    ])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS)
    # as extraction leaves it: the hard link holds README's content, the outside link and
    # the FIFO are refused with findings
    assert extract.files == {"demo/__init__.py": "x", "setup.cfg": "readme"}
    assert any(p.startswith("archive-link-outside") for p in extract.problems)
    assert any(p.startswith("archive-link:") for p in extract.problems)
    assert any("special member" in p for p in extract.problems)


def test_refuses_zip_symlinks(fb: ModuleType) -> None:
    data = make_zip({"demo-1.0/demo/__init__.py": b"x"}, {"demo-1.0/setup.py": "/etc/passwd"})
    extract = fb.read_install_files(data, "demo-1.0.zip", LIMITS)
    assert list(extract.files) == ["demo/__init__.py"]
    assert any("points outside the package" in p for p in extract.problems)


def test_duplicate_member_keeps_the_last_as_extraction_does(fb: ModuleType) -> None:
    data = make_tar([("demo-1.0/setup.py", b"first", "file"),
                     ("demo-1.0/setup.py", b"second", "file")])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS)
    assert extract.files == {"setup.py": "second"}
    assert any("duplicate" in p for p in extract.problems)


def test_member_limit_stops_reading(fb: ModuleType) -> None:
    members = [(f"demo-1.0/m{i}.txt", b"", "file") for i in range(10)]
    data = make_tar([("demo-1.0/setup.py", b"s", "file"), *members])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", with_limits(max_members=5))
    assert extract.files == {"setup.py": "s"} and extract.stopped
    assert any("more than 5 members" in p for p in extract.problems)


def test_bomb_is_stopped_by_the_ratio_limit(fb: ModuleType) -> None:
    data = make_tar([("demo-1.0/setup.py", b"s", "file"),
                     ("demo-1.0/zeros.bin", b"\0" * 5_000_000, "file"),
                     ("demo-1.0/setup.cfg", b"late", "file")])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", LIMITS)
    assert "setup.cfg" not in extract.files and extract.stopped
    assert any("compression ratio" in p for p in extract.problems)


def test_big_incompressible_members_do_not_hide_later_files(fb: ModuleType) -> None:
    # Real sdists (test cassettes, data) can exceed max_total_bytes uncompressed; only the
    # bytes actually read count against it, so a later pyproject.toml is still found.
    noise = random.Random(0).randbytes(50_000)
    data = make_tar([("demo-1.0/data.bin", noise, "file"), ("demo-1.0/more.bin", noise, "file"),
                     ("demo-1.0/pyproject.toml", b"[project]\n", "file")])
    extract = fb.read_install_files(data, "demo-1.0.tar.gz", with_limits(max_total_bytes=10_000))
    assert extract.files == {"pyproject.toml": "[project]\n"}
    assert not extract.stopped and extract.problems == []


def test_garbage_is_unreadable(fb: ModuleType) -> None:
    with pytest.raises(fb.Unreadable):
        fb.read_install_files(b"this is not an archive at all" * 10, "x-1.tar.gz", LIMITS)
    with pytest.raises(fb.Unreadable):
        fb.read_install_files(b"PK\x03\x04broken", "x-1.zip", LIMITS)


def test_strip_root_only_for_a_single_wrapping_folder(fb: ModuleType) -> None:
    assert fb.strip_root(["a-1/setup.py", "a-1/a/__init__.py"]) == {
        "setup.py": "a-1/setup.py", "a/__init__.py": "a-1/a/__init__.py"}
    assert fb.strip_root(["a-1/setup.py", "b-1/setup.py"]) == {
        "a-1/setup.py": "a-1/setup.py", "b-1/setup.py": "b-1/setup.py"}
    assert fb.strip_root(["setup.py"]) == {"setup.py": "setup.py"}


def entry(filename: str, *, yanked: bool = False, when: str = "2024-05-06T07:08:09Z") -> dict:
    return {"filename": filename, "url": f"https://files.example/{filename}",
            "hashes": {"sha256": "00"}, "size": 123, "upload-time": when, "yanked": yanked}


def test_choose_sdist_prefers_newest_final_non_yanked(fb: ModuleType) -> None:
    index = {"files": [
        entry("my_pkg-1.0.tar.gz"),
        entry("my_pkg-1.2.tar.gz", when="2025-01-01T00:00:00Z"),
        entry("my_pkg-1.2.zip"),
        entry("my_pkg-1.3-py3-none-any.whl"),
        entry("my_pkg-2.0b1.tar.gz"),
        entry("my_pkg-1.5.tar.gz", yanked=True),
        entry("my_pkg-garbage.tar.gz"),
    ]}
    sdist = fb.choose_sdist(index, "my-pkg")
    assert sdist.filename == "my_pkg-1.2.tar.gz"
    assert sdist.version == "1.2" and sdist.upload_time == "2025-01-01"
    assert sdist.url == "https://files.example/my_pkg-1.2.tar.gz" and sdist.size == 123
    only_pre = {"files": [entry("my_pkg-2.0b1.tar.gz"), entry("my_pkg-1.0-py3-none-any.whl")]}
    assert fb.choose_sdist(only_pre, "my-pkg").version == "2.0b1"
    assert fb.choose_sdist({"files": [entry("my_pkg-1.0-py3-none-any.whl")]}, "my-pkg") is None


def test_version_from_filename_uses_the_project_name(fb: ModuleType) -> None:
    assert fb.version_from_filename("zope.interface-5.0.tar.gz", "zope-interface") == "5.0"
    assert fb.version_from_filename("foo-bar-1.0-beta.tar.gz", "foo-bar") == "1.0-beta"
    assert fb.version_from_filename("Foo_Bar-2.1.zip", "foo-bar") == "2.1"
    assert fb.version_from_filename("foo-1.0-py3-none-any.whl", "foo") is None


def test_picking_is_seeded_spread_and_excludes(fb: ModuleType) -> None:
    top = [{"rank": str(r), "name": f"p{r}"} for r in range(1, 101)]
    picks = fb.pick_popular(top, 4, exclude={"p13"})
    assert [p.rank for p in picks] == ["14", "39", "63", "88"]  # evenly spread, p13 skipped
    assert [p.name for p in fb.pick_popular(top[:3], 10, exclude=set())] == ["p1", "p2", "p3"]
    assert all(p.group == "popular" for p in picks)
    names = [{"name": f"n{i}", "latest_release_month": "2024-03" if i % 2 else "2019-01",
              "rank": ""} for i in range(40)]
    names.append({"name": "ranked", "latest_release_month": "2025-01", "rank": "5"})
    first = fb.pick_less_popular(names, 10, 1, exclude={"n1"})
    assert first == fb.pick_less_popular(names, 10, 1, exclude={"n1"})
    chosen = {p.name for p in first}
    assert "n1" not in chosen and "ranked" not in chosen
    assert all(int(p.name[1:]) % 2 for p in first)  # recent releases first
    assert all(p.rank == "" and p.group == "less_popular" for p in first)
    bigger = fb.pick_less_popular(names, 25, 1, exclude={"n1"})
    assert bigger[:10] == first  # extending a pick keeps the earlier names
    assert sum(int(p.name[1:]) % 2 == 0 for p in bigger) == 6  # topped up with older ones


def write_members(path: Path, batches: list[list[dict]]) -> None:
    with open(path, "wb") as handle:
        for batch in batches:
            text = "".join(json.dumps(row) + "\n" for row in batch)
            handle.write(gzip.compress(text.encode()))


def test_resume_reads_names_and_trims_a_cut_member(fb: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl.gz"
    assert fb.load_existing(out) == set()
    write_members(out, [[{"name": "alpha"}, {"name": "Beta_Two"}], [{"name": "gamma"}]])
    whole = out.stat().st_size
    with open(out, "ab") as handle:  # a batch cut short by Ctrl-C
        handle.write(gzip.compress(b'{"name": "delta"}\n')[:15])
    assert fb.load_existing(out) == {"alpha", "beta-two", "gamma"}
    assert out.stat().st_size == whole
    writer = fb.Writer(out)
    writer.add({"name": "epsilon", "files": {}})
    writer.flush()
    with gzip.open(out, "rt") as handle:
        assert [json.loads(line)["name"] for line in handle] == [
            "alpha", "Beta_Two", "gamma", "epsilon"]


def test_run_skips_names_already_fetched(fb: ModuleType, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.jsonl.gz"
    write_members(out, [[{"name": "done-one"}]])
    picks = [fb.Pick("done-one", "popular", "1"), fb.Pick("new-one", "popular", "2")]
    monkeypatch.setattr(fb, "pick_projects", lambda *a: picks)
    seen: list[str] = []

    def fake_fetch(pick, limits, max_sdist, max_file):
        seen.append(pick.name)
        sdist = fb.SdistFile("x.tar.gz", "https://x", "1.0", "00", 1, "2024-01-01")
        return fb.Outcome(pick, "fetched", fb.build_row(pick, sdist, fb.Extract({"setup.py":
                                                                                "s"})), 10)

    monkeypatch.setattr(fb, "fetch_one", fake_fetch)
    args = fb.parse_args(["--out", str(out), "--shared", str(tmp_path), "--workers", "2"])
    summary = fb.Summary()
    fb.run(args, fb.Console(file=io.StringIO()), summary)
    assert seen == ["new-one"]
    assert summary.picked == 2 and summary.already == 1 and summary.counts["fetched"] == 1
    assert summary.downloaded == 10 and summary.no_setup_py == 0
    with gzip.open(out, "rt") as handle:
        assert [json.loads(line)["name"] for line in handle] == ["done-one", "new-one"]


class FakePyPI:
    """Stands in for fetch_benign.http_get: an index and one sdist, counting downloads."""

    def __init__(self, sdist: bytes, size: int | None = None, sha: str | None = None) -> None:
        self.sdist, self.gets = sdist, []
        self.index = {"files": [
            {"filename": "demo-1.0-py3-none-any.whl", "url": "https://files/demo.whl",
             "hashes": {"sha256": "0"}, "size": 5, "upload-time": "2024-02-02T00:00:00Z"},
            {"filename": "demo-1.0.tar.gz", "url": "https://files/demo-1.0.tar.gz",
             "hashes": {"sha256": sha or hashlib.sha256(sdist).hexdigest()},
             "size": len(sdist) if size is None else size,
             "upload-time": "2024-02-03T04:05:06.789Z"},
        ]}

    def __call__(self, url: str, limit: int, accept: str | None = None) -> bytes:
        self.gets.append(url)
        if url.startswith("https://pypi.org/simple/"):
            assert accept == "application/vnd.pypi.simple.v1+json"
            return json.dumps(self.index).encode()
        assert url == "https://files/demo-1.0.tar.gz"
        return self.sdist


def test_fetch_one_builds_a_row_from_one_download(fb: ModuleType,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sdist = make_tar(SDIST)
    fake = FakePyPI(sdist)
    monkeypatch.setattr(fb, "http_get", fake)
    outcome = fb.fetch_one(fb.Pick("demo", "less_popular", ""), LIMITS, 10_000_000, 1_000_000)
    assert outcome.status == "fetched" and outcome.downloaded == len(sdist)
    assert fake.gets == ["https://pypi.org/simple/demo/", "https://files/demo-1.0.tar.gz"]
    row = outcome.row
    assert row["sample_id"] == "demo-1.0" and row["first_seen"] == "2024-02-03"
    assert row["group"] == "less_popular" and row["rank"] == "" and row["truncated"] == ""
    assert row["sha256"] == hashlib.sha256(sdist).hexdigest()
    assert "setup.py" in row["files"] and "demo/core.py" not in row["files"]


def test_fetch_one_skips_and_counts(fb: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    pick = fb.Pick("demo", "popular", "3")
    big = FakePyPI(make_tar(SDIST), size=50_000_000)
    monkeypatch.setattr(fb, "http_get", big)
    assert fb.fetch_one(pick, LIMITS, 20_000_000, 1_000_000).status == "too_large"
    assert len(big.gets) == 1  # skipped from the index's size, never downloaded
    monkeypatch.setattr(fb, "http_get", FakePyPI(make_tar(SDIST), sha="00" * 32))
    assert fb.fetch_one(pick, LIMITS, 20_000_000, 1_000_000).status == "network"
    monkeypatch.setattr(fb, "http_get", FakePyPI(b"not an archive" * 20))
    assert fb.fetch_one(pick, LIMITS, 20_000_000, 1_000_000).status == "unreadable"
    wheels_only = FakePyPI(b"")
    wheels_only.index["files"].pop()
    monkeypatch.setattr(fb, "http_get", wheels_only)
    assert fb.fetch_one(pick, LIMITS, 20_000_000, 1_000_000).status == "no_sdist"
    crowded = [(f"demo-1.0/m{i}", b"", "file") for i in range(10)]
    monkeypatch.setattr(fb, "http_get", FakePyPI(make_tar([*crowded, *SDIST])))
    limited = fb.fetch_one(pick, with_limits(max_members=5), 20_000_000, 1_000_000)
    assert limited.status == "limit_hit" and limited.row is None
