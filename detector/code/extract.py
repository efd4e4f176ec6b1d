"""Read a package the way an installer extracts it: the one place archives are opened.

`read_package(source)` takes an sdist, wheel, zip, egg, directory or single file (a
path, or bytes plus a file name) and returns its scannable text as
{relative path: text} plus findings. Nothing is written to disk or executed.

Extraction semantics (what `tarfile`/`zipfile` extraction, and so pip, would leave on
disk; the tests compare against real extraction):
- the *last* member of a duplicated name wins; two members of one name where either
  is code (`.py`, `.pth`, `setup.cfg`, `pyproject.toml`) is `archive-duplicate-code`;
- a hard link or symlink inside the package resolves to its target's (final) content,
  which is scanned under the link's name (a symlinked folder lends all its files);
  every link is an `archive-link` finding with evidence, a link that leaves the archive
  is `archive-link-outside`; devices and FIFOs are `archive-special-file`;
- limits (`[code.limits]`): members, bytes per file and in total, compression ratio,
  and header sizes (pax, GNU long names, zip central directory) bounded *before* they
  are read, so a 500-byte `.tar.bz2` cannot claim a gigabyte header.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from detector.code.archive import (
    TEXT_SUFFIXES,
    Package,
    ReadError,
    decode_text,
    is_text_member,
    safe_name,
)
from detector.code.budget import Budget
from detector.code.findings import clip_evidence
from detector.code.limits import Limits
from detector.policy import load_policy

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".tox"}
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
SNIFF_BYTES = 4
MAX_LINK_HOPS = 16
LINK_TARGET_BYTES = 4096
CODE_NAMES = ("setup.cfg", "pyproject.toml")
CODE_SUFFIXES = (".py", ".pyw", ".pth")
_TAR_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)

Select = Callable[[str], bool]


def is_code_member(name: str) -> bool:
    """Names whose duplication can change what runs at install."""
    lower = name.lower()
    return lower.endswith(CODE_SUFFIXES) or lower.rsplit("/", 1)[-1] in CODE_NAMES


@dataclass
class _Entry:
    kind: str  # file | dir | symlink | hardlink | special
    data: bytes | None = None  # text members only (read while walking: streams stay linear)
    target: str | None = None  # link target as stored
    head: bytes = b""
    reader: Callable[[int], bytes] | None = None  # while the archive is open


class _Stop(Exception):
    """A package-wide limit was hit: keep what was read, stop reading."""


class _HeaderTooLarge(Exception):
    pass


def _bounded_tarinfo(limit: int) -> type[tarfile.TarInfo]:
    """A TarInfo that refuses pax / GNU long-name headers over `limit` bytes before
    tarfile reads them into memory."""

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar):  # tarfile's hook for every header it reads
            if self.type in _TAR_LONG_HEADERS and self.size > limit:
                raise _HeaderTooLarge(f"{self.size}-byte extended header (limit {limit})")
            return super()._proc_member(tar)

    return BoundedTarInfo


class _Walk:
    """Members in archive order under the limits, last duplicate winning."""

    def __init__(self, limits: Limits, package: Package, select: Select, compressed: int,
                 budget: Budget | None = None):
        self.limits, self.package, self.select = limits, package, select
        self.budget = budget
        self.compressed = max(compressed, 1)
        self.index: dict[str, _Entry] = {}
        self.members = 0
        self.links = 0
        self.tops: set[str] = set()
        # the bytes each member name last carried in the archive (tarfile's fallback for
        # a hard link that cannot be made extracts those, not what is on disk)
        self.originals: dict[str, tuple[bytes | None, bytes, Callable | None] | None] = {}
        self.flat = False  # a file at the archive's top level: no single root folder
        self.read_bytes = 0
        self.declared = 0

    def admit(self, raw: str) -> str | None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise _Stop(f"more than {self.limits.max_members} members")
        if self.budget is not None and not self.members & 255 and self.budget.check_quietly():
            raise _Stop(f"CPU budget of {self.budget.cpu_seconds:g} s spent reading "
                        f"{self.members} members")
        name = safe_name(raw)
        if name is None:
            self.package.problem("archive-path-traversal", raw, f"member {raw!r}",
                                 f"path traversal in {raw!r}")
        return name

    def put(self, name: str, entry: _Entry) -> None:
        """Apply one member as extraction does. Regular files are written in place (an
        existing file's inode is truncated and rewritten, so every hard link to it sees
        the new bytes; a symlink in the way is written through); a symlink replaces what
        was there; a hard link shares its target's inode (the same `_Entry` object)."""
        old = self.index.get(name)
        if old is not None and not (old.kind == entry.kind == "dir"):
            code = is_code_member(name)
            self.package.problem(
                "archive-duplicate-code" if code else "archive-duplicate-name", name,
                f"member {name!r} appears again ({old.kind}, then {entry.kind}); "
                "extraction keeps the last", f"duplicate member {name!r}")
        self.tops.add(name.split("/", 1)[0])
        self.flat = self.flat or ("/" not in name and entry.kind != "dir")
        if entry.kind == "hardlink":
            linked = self._hard_link(name, entry, old)
            self.originals[name] = None
            if linked is None:
                return
            entry = linked
        elif entry.kind == "file":
            self.originals[name] = (entry.data, entry.head, entry.reader)
        else:
            self.originals[name] = None
        if entry.kind == "file":
            self._write(name, entry)
            return
        if entry.kind == "symlink":
            self.links += 1
        self.index[name] = entry

    def _hard_link(self, name: str, entry: _Entry, old: _Entry | None) -> _Entry | None:
        """What a hard link member leaves: the target's own entry at `name` (shared), or,
        when `name` already exists (linking fails), a write of the target's bytes."""
        self.links += 1
        resolver = _Resolver(self.index, self.root())
        where = resolver.link_target("", entry)
        kind = "hard link"
        if where is None:
            self.package.problem("archive-link-outside", name,
                                 f"{kind} {name} -> {entry.target} leaves the package",
                                 f"link {name!r} points outside the package")
            return None
        real, _ = resolver.follow(where)
        target = self.index.get(real) if real else None
        self.package.problem("archive-link", name, f"{kind} {name} -> {entry.target}"
                             + ("" if target is not None else " (missing target)"))
        if target is None or target.kind != "file":
            self.index[name] = entry  # dangling: nothing is extracted there
            return None
        if old is None:
            self.index[name] = target  # one inode, two names
            return None
        # linking onto an existing name fails; tarfile then extracts the target *member*
        # (the last one of that name before this link) to the name, as a plain write
        original = self.originals.get(where)
        if original is None:
            return None
        data, head, reader = original
        return _Entry("file", data=data, head=head, reader=reader)

    def _write(self, name: str, entry: _Entry) -> None:
        written = name
        if self.links:
            followed, _ = _Resolver(self.index, self.root()).follow(name)
            if followed is None:
                return  # through a link that leaves the package (flagged at the end)
            written = followed
        current = self.index.get(written)
        if current is not None and current.kind == "file":
            current.data, current.head, current.reader = entry.data, entry.head, entry.reader
        else:
            self.index[written] = entry

    def root(self) -> str:
        """`package_root` of what was walked so far, kept incrementally (O(1))."""
        return next(iter(self.tops)) + "/" if len(self.tops) == 1 and not self.flat else ""

    def inflate(self, size: int) -> None:
        self.declared += size
        if self.declared > 1_000_000 and self.declared / self.compressed > self.limits.max_ratio:
            raise _Stop(f"compression ratio over {self.limits.max_ratio:g}")

    def file(self, name: str, size: int, reader: Callable[[int], bytes]) -> _Entry:
        """A regular member: text is read (bounded), other files only sniffed."""
        if size > self.limits.max_file_bytes:
            self.package.problem(
                "archive-limit-exceeded", name, f"{size} bytes > {self.limits.max_file_bytes}",
                f"{name}: file larger than {self.limits.max_file_bytes} bytes")
            return _Entry("file")
        if is_text_member(name):
            if self.read_bytes + size > self.limits.max_total_bytes:
                raise _Stop(f"more than {self.limits.max_total_bytes} decompressed bytes")
            data = reader(self.limits.max_file_bytes + 1)
            self.read_bytes += len(data)
            return _Entry("file", data=data)
        return _Entry("file", head=reader(SNIFF_BYTES) if size >= SNIFF_BYTES else b"",
                      reader=reader)

    def read_link_targets(self) -> None:
        """Links may name any file (a `setup.py` linking to `README`): read the targets
        that were only sniffed, while the archive is still open."""
        resolver = _Resolver(self.index, package_root(self.index))
        for name, entry in list(self.index.items()):
            target = None
            if entry.kind == "symlink":
                real, _ = resolver.resolve(name)
                target = self.index.get(real) if real else None  # None: a folder
            elif entry.kind == "file" and is_text_member(name):
                target = entry  # a hard link's shared entry, read under a text name
            if target is None or target.data is not None or target.reader is None:
                continue
            data = target.reader(self.limits.max_file_bytes + 1)
            self.read_bytes += len(data)
            if self.read_bytes > self.limits.max_total_bytes:
                raise _Stop(f"more than {self.limits.max_total_bytes} decompressed bytes")
            target.data = data


def _walk_tar(tar: tarfile.TarFile, walk: _Walk) -> None:
    for member in tar:
        name = walk.admit(member.name)
        if name is None:
            continue
        if member.isdir():
            walk.put(name, _Entry("dir"))
        elif member.issym():
            walk.put(name, _Entry("symlink", target=member.linkname))
        elif member.islnk():
            walk.put(name, _Entry("hardlink", target=member.linkname))
        elif member.isfile():
            walk.inflate(member.size)

            def reader(n: int, m: tarfile.TarInfo = member) -> bytes:
                handle = tar.extractfile(m)
                return handle.read(n) if handle else b""

            walk.put(name, walk.file(name, member.size, reader))
        else:
            walk.put(name, _Entry("special", target=f"type {member.type!r}"))
    walk.read_link_targets()


def _check_zip_directory(handle, limits: Limits) -> None:
    """Refuse a central directory over the limits before zipfile parses all of it."""
    end = zipfile._EndRecData(handle)  # type: ignore[attr-defined] # the end-of-central-directory record
    if end is None:
        return  # zipfile itself will refuse it
    # zipfile parses the whole directory at open: bound its bytes (names and extra
    # fields of max_members members at about 1 KiB each); the walk bounds the count
    size = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if size > limits.max_members * 1024:
        raise _Stop(f"{size}-byte zip directory (limit {limits.max_members * 1024})")


def _walk_zip(archive: zipfile.ZipFile, walk: _Walk) -> None:
    for info in archive.infolist():
        name = walk.admit(info.filename)
        if name is None:
            continue
        mode = info.external_attr >> 16
        if info.is_dir():
            walk.put(name, _Entry("dir"))
            continue
        if stat.S_ISLNK(mode):
            with archive.open(info) as handle:  # a zip symlink stores its target as data
                target = handle.read(LINK_TARGET_BYTES).decode("utf-8", "replace")
            walk.put(name, _Entry("symlink", target=target))
            continue
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            walk.put(name, _Entry("special", target=f"mode {oct(mode)}"))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > walk.limits.max_ratio and info.file_size > 1_000_000:
            walk.package.problem(
                "archive-limit-exceeded", name, f"compression ratio {ratio:.0f}",
                f"{name}: compression ratio {ratio:.0f} over {walk.limits.max_ratio:g} (bomb)")
            walk.put(name, _Entry("file"))
            continue

        def reader(n: int, i: zipfile.ZipInfo = info) -> bytes:
            with archive.open(i) as handle:
                return handle.read(n)

        try:
            walk.put(name, walk.file(name, info.file_size, reader))
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError,
                NotImplementedError, EOFError) as exc:
            walk.package.problem("archive-unreadable", name, str(exc),
                                 f"{name}: unreadable ({exc})")
    walk.read_link_targets()


def _walk_dir(root: Path, walk: _Walk) -> None:
    for here, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for entry in [*dirs, *sorted(names)]:
            full = Path(here) / entry
            name = walk.admit(full.relative_to(root).as_posix())
            if name is None:
                continue
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                walk.put(name, _Entry("symlink", target=os.readlink(full)))
            elif stat.S_ISDIR(info.st_mode):
                walk.put(name, _Entry("dir"))
            elif stat.S_ISREG(info.st_mode):
                def reader(n: int, p: Path = full) -> bytes:
                    with open(p, "rb") as handle:
                        return handle.read(n)

                walk.put(name, walk.file(name, info.st_size, reader))
            else:
                walk.put(name, _Entry("special", target=f"mode {oct(info.st_mode)}"))
    walk.read_link_targets()


def package_root(index: dict[str, _Entry]) -> str:
    """The package's root: its single top folder when it has one (an sdist's
    `name-version/`, a wheel's only package), else the archive's root ('')."""
    tops = {name.split("/", 1)[0] for name in index}
    single = len(tops) == 1 and all("/" in n or index[n].kind == "dir" for n in index)
    return next(iter(tops)) + "/" if single else ""


class _Resolver:
    """Follows links inside the walked archive as the file system would after extraction.
    Cheap to make (the walk makes one per write through a link): the folder set is built
    only when an existence check needs it."""

    def __init__(self, index: dict[str, _Entry], root: str) -> None:
        self.index, self.root = index, root

    @cached_property
    def dirs(self) -> set[str]:
        """Folders exist by implication too (tar and zip often omit their members)."""
        dirs = {name for name, entry in self.index.items() if entry.kind == "dir"}
        for name in self.index:
            while "/" in name:
                name = name.rsplit("/", 1)[0]
                if name in dirs:
                    break
                dirs.add(name)
        return dirs

    def follow(self, name: str) -> tuple[str | None, str]:
        """(the path `name` leads to after every link in it, existing or not, or None;
        "" or why not: "outside" the package, or a "loop")."""
        for _ in range(MAX_LINK_HOPS):
            parts = name.split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                entry = self.index.get(prefix)
                if entry is None or entry.kind not in ("symlink", "hardlink"):
                    continue
                target = self.link_target(prefix, entry)
                if target is None:
                    return None, "outside"
                name = "/".join([target, *parts[i:]]).strip("/")
                break
            else:
                return name, ""
        return None, "loop"

    def resolve(self, name: str) -> tuple[str | None, str]:
        """(final name of a regular file or folder, or None; why not)."""
        path, why = self.follow(name)
        if path is None:
            return None, why
        return (path, "") if path in self.index or path in self.dirs else (None, "missing")

    def link_target(self, name: str, entry: _Entry) -> str | None:
        """The archive path a link points at, or None when it leaves the package."""
        raw = entry.target or ""
        if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
            return None
        # a symlink is relative to its folder; a tar hard link to the archive root
        base = posixpath.dirname(name) if entry.kind == "symlink" else ""
        joined = posixpath.normpath(posixpath.join(base, raw.replace("\\", "/")))
        if joined == ".." or joined.startswith("../") or joined.startswith("/"):
            return None
        if self.root and not (joined + "/").startswith(self.root):
            return None
        return "" if joined == "." else joined


def _collect(walk: _Walk, package: Package) -> dict[str, bytes]:
    """{name: bytes} of every selected text file after extraction, links resolved."""
    index, resolver = walk.index, _Resolver(walk.index, package_root(walk.index))
    out: dict[str, bytes] = {}
    aliases: list[tuple[str, str]] = []  # (name under a linked folder, real name)
    for name, entry in index.items():
        if entry.kind == "special":
            package.problem("archive-special-file", name, f"{name} ({entry.target})",
                            f"special member {name!r}")
            continue
        if entry.kind == "hardlink":
            continue  # dangling (its finding was made when it was walked)
        if entry.kind == "symlink":
            real, why = resolver.resolve(name)
            kind = "symlink"
            if why == "outside":
                package.problem("archive-link-outside", name,
                                f"{kind} {name} -> {entry.target} leaves the package",
                                f"link {name!r} points outside the package")
                continue
            package.problem("archive-link", name, f"{kind} {name} -> {entry.target}"
                            + (f" ({why} target)" if why else ""))
            if real is None:
                continue
            if real in resolver.dirs:
                prefix = real + "/"
                aliases += [(name + "/" + other[len(prefix):], other)
                            for other in index if other.startswith(prefix)]
            else:
                aliases.append((name, real))
            continue
        if entry.kind == "file" and entry.data is not None:
            out[name] = entry.data
        elif entry.kind == "file" and entry.head.startswith(BINARY_MAGIC):
            compiled = name.endswith((".pyd", ".so", ".dll"))
            package.problem("bundled-binary", name, f"compiled extension {name}" if compiled
                            else f"{name} starts with {entry.head!r}")
    for name, real in aliases[: walk.limits.max_members]:
        target = index.get(real)
        if name not in out and target is not None and target.data is not None:
            out[name] = target.data
    return {k: v for k, v in out.items() if walk.select(k)}


def _strip_common_root(names: list[str]) -> str:
    """sdists wrap everything in `name-version/`: the prefix to drop, or ''. A folder
    without `-` is an import package (a wheel's only package): kept."""
    tops = {k.split("/", 1)[0] for k in names}
    if names and len(tops) == 1 and all("/" in k for k in names) and "-" in next(iter(tops)):
        return next(iter(tops)) + "/"
    return ""


def _open(source: Path | bytes, filename: str, walk: _Walk) -> None:
    lower = filename.lower()
    header = walk.limits.max_header_bytes
    if isinstance(source, bytes):
        handle = io.BytesIO(source)
    elif source.is_dir():
        _walk_dir(source, walk)
        return
    else:
        handle = open(source, "rb")  # type: ignore[assignment]  # noqa: SIM115 (closed below)
    with handle:
        if lower.endswith((".whl", ".zip", ".egg")) or zipfile.is_zipfile(handle):
            _check_zip_directory(handle, walk.limits)
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                _walk_zip(archive, walk)
            return
        handle.seek(0)
        try:
            tar = tarfile.open(  # noqa: SIM115 (closed below)
                fileobj=handle, mode="r:*", tarinfo=_bounded_tarinfo(header))
        except tarfile.TarError:
            tar = None
        if tar is not None:
            with tar:
                _walk_tar(tar, walk)
            return
        if lower.endswith(TEXT_SUFFIXES):
            handle.seek(0)
            walk.put(Path(filename).name, walk.file(
                Path(filename).name, walk.limits.max_file_bytes, handle.read))
            return
        raise ReadError("not an sdist, wheel, zip or directory")


def read_package(source: str | Path | bytes, limits: Limits | None = None, *,
                 filename: str | None = None, select: Select | None = None,
                 budget: Budget | None = None) -> Package:
    """All selected text of a package (default: every file with a text suffix), read as
    extraction would leave it; raises ReadError when nothing can be read.

    `source` is a path, or the archive's bytes (then `filename` names it). `select`
    sees names relative to the package root (an sdist's `name-version/` dropped).
    `budget`: the package's scan budget; reading that spends it stops (`stopped`)."""
    limits = limits or load_policy().code.limits
    package = Package()
    if isinstance(source, bytes):
        size, filename = len(source), filename or "<bytes>"
    else:
        path = Path(source)
        if not path.exists() and not path.is_symlink():
            raise ReadError("no such file or directory")
        size = 1 if path.is_dir() else path.stat().st_size
        source, filename = path, filename or path.name
    chosen: Select = select or is_text_member
    root = [""]
    walk = _Walk(limits, package, lambda name: chosen(name[len(root[0]):]), size, budget)
    try:
        _open(source, filename, walk)
    except _Stop as stop:
        package.stopped = True
        package.problem("archive-limit-exceeded", filename, str(stop),
                        f"{stop} (reading stopped)")
    except _HeaderTooLarge as exc:
        package.stopped = True
        package.problem("archive-limit-exceeded", filename, str(exc),
                        f"{exc} (reading stopped)")
    except ReadError:
        raise
    except PermissionError as exc:
        raise ReadError(f"permission denied ({exc.filename})") from exc
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError,
            RuntimeError, NotImplementedError) as exc:
        if not walk.index and not package.findings:
            raise ReadError(clip_evidence(f"not a readable archive ({exc})")) from exc
        package.problem("archive-unreadable", filename, str(exc), f"corrupt archive ({exc})")
    root[0] = _strip_common_root([n for n, e in walk.index.items() if e.kind != "dir"])
    for name, data in _collect(walk, package).items():
        rel = name[len(root[0]):]
        package.files[rel] = decode_text(data[: limits.max_file_bytes], rel, package)
    return package
