"""The lock matches pyproject.toml, and the hash-pinned install files match the lock.

When this fails after a dependency change, run `make lock` and commit uv.lock and
requirements/*.txt.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"scikit-learn", "scipy", "joblib", "dask", "distributed", "pandas", "pyarrow",
         "matplotlib"}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)")


def _declared() -> set[tuple[str, tuple[str, ...], SpecifierSet, str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = set()
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    for extra, lines in groups.items():
        for line in lines:
            req = Requirement(line)
            found.add((canonicalize_name(req.name), tuple(sorted(req.extras)),
                       req.specifier, extra))
    return found


def _lock() -> dict:
    return tomllib.loads((REPO / "uv.lock").read_text())


def _locked_requirements(lock: dict) -> set[tuple[str, tuple[str, ...], SpecifierSet, str]]:
    (own,) = [p for p in lock["package"] if p["name"] == "warden"]
    found = set()
    for item in own["metadata"]["requires-dist"]:
        marker = re.fullmatch(r"extra == '([^']+)'", item.get("marker", "")) if item.get(
            "marker") else None
        found.add((canonicalize_name(item["name"]), tuple(sorted(item.get("extras", []))),
                   SpecifierSet(item.get("specifier", "")), marker.group(1) if marker else ""))
    return found


def _pins(name: str) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in (REPO / "requirements" / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), set()).add(match.group(2))
    return pins


def test_lock_matches_pyproject():
    declared, locked = _declared(), _locked_requirements(_lock())
    assert declared == locked, (
        "pyproject.toml and uv.lock disagree; run `make lock`.\n"
        f"only in pyproject: {sorted(map(str, declared - locked))}\n"
        f"only in uv.lock: {sorted(map(str, locked - declared))}")


def test_install_files_pin_the_locked_versions_with_hashes():
    locked: dict[str, set[str]] = {}
    for package in _lock()["package"]:
        locked.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    for name in ("runtime.txt", "test.txt"):
        pins = _pins(name)
        assert pins, name
        for package, versions in pins.items():
            assert versions <= locked.get(package, set()), (name, package, "run `make lock`")
        text = (REPO / "requirements" / name).read_text()
        assert text.count("==") <= text.count("--hash=sha256:"), name
    runtime, everything = _pins("runtime.txt"), _pins("test.txt")
    assert runtime.keys() <= everything.keys()
    # every locked package an extra needs is in the test install (it installs every extra)
    assert {"scikit-learn", "scipy", "dask", "pyarrow", "pandas", "matplotlib"} <= \
        everything.keys()


def test_runtime_install_is_lean():
    runtime = _pins("runtime.txt")
    direct = {name for name, _, _, extra in _declared() if not extra}
    assert direct <= runtime.keys()
    assert not runtime.keys() & HEAVY, runtime.keys() & HEAVY


def test_tools_pin_uv_and_the_build_backend():
    tools = _pins("tools.txt")
    assert {"uv", "pip", "hatchling"} <= tools.keys()
    text = (REPO / "requirements" / "tools.txt").read_text()
    assert text.count("==") <= text.count("--hash=sha256:")
