"""Read a package (sdist, wheel, zip, directory) into memory as {relative path: text}.

Nothing is extracted to disk and nothing is executed. Hostile members (path
traversal, links, devices, duplicates, bombs) are skipped with a finding and
reported in `error`; whatever could still be read is returned for scoring.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from detector.code.findings import Finding, clip_evidence
from detector.code.limits import Limits
from detector.code.rules import rule
from detector.policy import load_policy

# Only these files are read as text; everything else is only counted or sniffed.
TEXT_SUFFIXES = (".py", ".pyw", ".pth", ".toml", ".cfg", ".pyi")
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".tox"}
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
SNIFF_BYTES = 4
NUL = b"\x00"


@dataclass
class Package:
    """Text files of one package plus the problems met while reading it."""

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return "; ".join(dict.fromkeys(self.errors)) if self.errors else None

    def problem(self, rule_id: str, name: str, evidence: str, error: str | None = None) -> None:
        self.findings.append(
            Finding(rule_id, name, None, rule(rule_id).severity, clip_evidence(evidence), "other")
        )
        if error:
            self.errors.append(error)


class ReadError(Exception):
    """The path cannot be read at all (missing, not an archive, corrupt)."""


def is_text_member(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES)


def decode_text(data: bytes, name: str, package: Package) -> str:
    """Bytes to text without ever failing; NUL bytes and bad UTF-8 become findings."""
    if b"\x00" in data:
        package.problem("nul-bytes", name, f"{data.count(NUL)} NUL bytes")
        data = data.replace(b"\x00", b"")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        package.problem("non-utf8", name, f"not UTF-8 at byte {exc.start}")
        return data.decode("latin-1")


def safe_name(raw: str) -> str | None:
    """Normalized relative POSIX name, or None for absolute paths and `..` parts."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


class _Budget:
    """Counts members and bytes against the limits."""

    def __init__(self, limits: Limits, package: Package, label: str) -> None:
        self.limits, self.package, self.label = limits, package, label
        self.members = 0
        self.total = 0
        self.seen: set[str] = set()

    def admit(self, raw: str) -> str | None:
        """The safe name of the next member, or None when it must be skipped."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise _Stop(f"more than {self.limits.max_members} members")
        name = safe_name(raw)
        if name is None:
            self.package.problem(
                "archive-path-traversal", raw, f"member {raw!r}", f"path traversal in {raw!r}"
            )
            return None
        if name in self.seen:
            self.package.problem(
                "archive-duplicate-name", name, f"member {name!r} appears twice",
                f"duplicate member {name!r}",
            )
            return None
        self.seen.add(name)
        return name

    def size_ok(self, name: str, size: int) -> bool:
        if size > self.limits.max_file_bytes:
            self.package.problem(
                "archive-limit-exceeded", name, f"{size} bytes > {self.limits.max_file_bytes}",
                f"{name}: file larger than {self.limits.max_file_bytes} bytes",
            )
            return False
        if self.total + size > self.limits.max_total_bytes:
            raise _Stop(f"more than {self.limits.max_total_bytes} decompressed bytes")
        return True

    def spend(self, size: int) -> None:
        self.total += size


class _Stop(Exception):
    """A package-wide limit was hit: keep what was read, stop reading."""


def _strip_common_root(files: dict[str, str]) -> dict[str, str]:
    """sdists wrap everything in `name-version/`; drop that single top folder."""
    if not files:
        return files
    tops = {k.split("/", 1)[0] for k in files}
    if len(tops) == 1 and all("/" in k for k in files):
        top = next(iter(tops)) + "/"
        return {k[len(top):]: v for k, v in files.items()}
    return files


def _read_tar(path: Path, limits: Limits, package: Package) -> None:
    compressed = max(path.stat().st_size, 1)
    budget = _Budget(limits, package, str(path))
    declared = 0
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                name = budget.admit(member.name)
                if name is None:
                    continue
                if member.issym() or member.islnk():
                    package.problem(
                        "archive-link", name, f"{name} -> {member.linkname}",
                        f"link member {name!r}",
                    )
                    continue
                if member.isdir():
                    continue
                if not member.isfile():
                    package.problem(
                        "archive-special-file", name, f"{name} (type {member.type!r})",
                        f"special member {name!r}",
                    )
                    continue
                declared += member.size
                if declared / compressed > limits.max_ratio and declared > 1_000_000:
                    raise _Stop(f"compression ratio over {limits.max_ratio:g}")
                if not budget.size_ok(name, member.size):
                    continue
                _take(tar.extractfile(member), name, member.size, budget, package)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if not package.files and not package.findings:
            raise ReadError(f"not a readable tar archive ({exc})") from exc
        package.problem("archive-unreadable", path.name, str(exc), f"corrupt archive ({exc})")


def _take(handle, name: str, size: int, budget: _Budget, package: Package) -> None:
    """Read one regular member if it is text we scan, else sniff it for binaries."""
    if handle is None:
        return
    if is_text_member(name):
        data = handle.read(budget.limits.max_file_bytes + 1)
        budget.spend(len(data))
        package.files[name] = decode_text(data, name, package)
    elif size >= SNIFF_BYTES:
        head = handle.read(SNIFF_BYTES)
        if head.startswith(BINARY_MAGIC) and not name.endswith((".pyd", ".so", ".dll")):
            package.problem("bundled-binary", name, f"{name} starts with {head!r}")
        elif head.startswith(BINARY_MAGIC):
            package.problem("bundled-binary", name, f"compiled extension {name}")


def _read_zip(path: Path, limits: Limits, package: Package) -> None:
    budget = _Budget(limits, package, str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = budget.admit(info.filename)
                if name is None:
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    package.problem("archive-link", name, f"symlink {name}",
                                    f"link member {name!r}")
                    continue
                if info.is_dir():
                    continue
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    package.problem(
                        "archive-special-file", name, f"{name} mode {oct(mode)}",
                        f"special member {name!r}",
                    )
                    continue
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio and info.file_size > 1_000_000:
                    package.problem(
                        "archive-limit-exceeded", name, f"compression ratio {ratio:.0f}",
                        f"{name}: compression ratio {ratio:.0f} over {limits.max_ratio:g} (bomb)",
                    )
                    continue
                if not budget.size_ok(name, info.file_size):
                    continue
                try:
                    with archive.open(info) as handle:
                        _take(handle, name, info.file_size, budget, package)
                except (zipfile.BadZipFile, OSError, ValueError, RuntimeError,
                        NotImplementedError) as exc:
                    package.problem(
                        "archive-unreadable", name, str(exc), f"{name}: unreadable ({exc})"
                    )
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if not package.files and not package.findings:
            raise ReadError(f"not a readable zip archive ({exc})") from exc
        package.problem("archive-unreadable", path.name, str(exc), f"corrupt archive ({exc})")


def _read_dir(path: Path, limits: Limits, package: Package) -> None:
    budget = _Budget(limits, package, str(path))
    for root, dirs, names in os.walk(path, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for entry in [*dirs, *sorted(names)]:
            full = Path(root) / entry
            rel = full.relative_to(path).as_posix()
            if full.is_symlink():
                budget.admit(rel)
                package.problem("archive-link", rel, f"symlink {rel}", f"symlink {rel!r} skipped")
                if entry in dirs:
                    dirs.remove(entry)
                continue
            if entry in dirs:
                continue
            name = budget.admit(rel)
            if name is None:
                continue
            info = full.lstat()
            if not stat.S_ISREG(info.st_mode):
                package.problem(
                    "archive-special-file", name, f"{name}", f"special file {name!r} skipped"
                )
                continue
            if not budget.size_ok(name, info.st_size):
                continue
            with open(full, "rb") as handle:
                _take(handle, name, info.st_size, budget, package)


def read_package(path: str | Path, limits: Limits | None = None) -> Package:
    """All scannable text of the package at `path`. Raises ReadError when nothing can be read."""
    limits = limits or load_policy().code.limits
    path = Path(path)
    package = Package()
    if not path.exists() and not path.is_symlink():
        raise ReadError("no such file or directory")
    try:
        if path.is_dir():
            _read_dir(path, limits, package)
            return package
        lower = path.name.lower()
        if lower.endswith((".whl", ".zip", ".egg")) or zipfile.is_zipfile(path):
            _read_zip(path, limits, package)
        elif tarfile.is_tarfile(path):
            _read_tar(path, limits, package)
        elif lower.endswith(TEXT_SUFFIXES):
            with open(path, "rb") as handle:
                data = handle.read(limits.max_file_bytes + 1)
            package.files[path.name] = decode_text(data, path.name, package)
            return package
        else:
            raise ReadError("not an sdist, wheel, zip or directory")
    except _Stop as stop:
        package.problem("archive-limit-exceeded", path.name, str(stop), f"{stop} (reading stopped)")
    except PermissionError as exc:
        raise ReadError(f"permission denied ({exc.filename})") from exc
    except OSError as exc:
        raise ReadError(clip_evidence(str(exc))) from exc
    package.files = _strip_common_root(package.files)
    return package
