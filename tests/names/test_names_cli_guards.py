"""Guards against the wrong file: a TSV without a name column, and a popular list that
would shrink the current one by more than half."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_check_name_refuses_a_tsv_without_a_name_column(tmp_path: Path) -> None:
    tsv = tmp_path / "projects.tsv"
    tsv.write_text("project\tdownloads\nreqeusts\t12\n", encoding="utf-8")
    result = run("check-name", "--json", "--file", str(tsv))
    assert result.returncode == 2
    assert "no 'name' column" in result.stderr and "'project'" in result.stderr
    assert result.stdout == ""
    good = tmp_path / "named.tsv"
    good.write_text("name\tdownloads\nreqeusts\t12\n", encoding="utf-8")
    result = run("check-name", "--json", "--file", str(good))
    assert result.returncode == 0 and '"reqeusts"' in result.stdout


def _popular(path: Path, count: int) -> Path:
    path.write_text("rank\tname\n" + "".join(f"{i}\tproject-{i}\n" for i in range(1, count + 1)),
                    encoding="utf-8")
    return path


def test_refresh_will_not_shrink_the_list_by_half_without_force(tmp_path: Path) -> None:
    dest = _popular(tmp_path / "popular.tsv", 100)
    small = _popular(tmp_path / "small.tsv", 5)
    before = dest.read_text()
    result = run("data", "refresh", str(small), "--dest", str(dest))
    assert result.returncode == 2 and "--force" in result.stderr
    assert dest.read_text() == before
    result = run("data", "refresh", str(small), "--dest", str(dest), "--force")
    assert result.returncode == 0, result.stderr
    assert dest.read_text() != before
    bigger = _popular(tmp_path / "bigger.tsv", 8)  # 8 of 5: no question asked
    assert run("data", "refresh", str(bigger), "--dest", str(dest)).returncode == 0
