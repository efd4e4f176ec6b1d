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
import stat
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

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
from detector.code.tree import DIR, Failed, Inode, Member, Node, Outside, TooLarge, Tree
from detector.policy import load_policy

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".tox"}
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
SNIFF_BYTES = 4
LINK_TARGET_BYTES = 4096
CODE_NAMES = ("setup.cfg", "pyproject.toml")
CODE_SUFFIXES = (".py", ".pyw", ".pth")
BYTECODE = (".pyc", ".pyo")
_TAR_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)

Select = Callable[[str], bool]


def is_code_member(name: str) -> bool:
    """Names whose duplication can change what runs at install."""
    lower = name.lower()
    return lower.endswith(CODE_SUFFIXES) or lower.rsplit("/", 1)[-1] in CODE_NAMES


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
    """Members in archive order under the limits, applied to the extracted `Tree`: as
    tarfile extracts them (`extracts`), or as zip and folder sources leave them."""

    def __init__(self, limits: Limits, package: Package, select: Select, compressed: int,
                 budget: Budget | None = None):
        self.limits, self.package, self.select = limits, package, select
        self.budget = budget
        self.compressed = max(compressed, 1)
        self.tree = Tree(3 * limits.max_members, 32 << 20)
        self.extracts = False  # tar: members rewrite through links (see detector.code.tree)
        self.upload = True  # an archive someone uploads (a folder is a local checkout)
        self.members = 0
        self.tops: set[str] = set()
        self.flat = False  # a file at the archive's top level: no single root folder
        self.read_bytes = 0
        self.declared = 0
        self.files: dict[str, bytes] = {}  # the result, by archive name (set by `finish`)

    def admit(self, raw: str) -> str | None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise _Stop(f"more than {self.limits.max_members} members")
        if self.budget is not None and not self.members & 63 and self.budget.check_quietly():
            raise _Stop(f"CPU budget of {self.budget.cpu_seconds:g} s spent reading "
                        f"{self.members} members")
        name = safe_name(raw)
        if name is None:
            self.package.problem("archive-path-traversal", raw, f"member {raw!r}",
                                 f"path traversal in {raw!r}")
        return name

    def put(self, name: str, member: Member) -> None:
        """Apply one member (see detector.code.tree); findings for duplicates, links
        and special files."""
        old = self.tree.last.get(name)
        if old is not None and not (old.kind == member.kind == "dir"):
            code = is_code_member(name)
            self.package.problem(
                "archive-duplicate-code" if code else "archive-duplicate-name", name,
                f"member {name!r} appears again ({old.kind}, then {member.kind}); "
                "extraction keeps the last", f"duplicate member {name!r}")
        if member.kind == "special":
            self.package.problem("archive-special-file", name, f"{name} ({member.target})",
                                 f"special member {name!r}")
        self.tops.add(name.split("/", 1)[0])
        self.flat = self.flat or ("/" not in name and member.kind != "dir")
        self.tree.root = self.root()
        if not self.extracts:
            self.tree.remember(name, member)
            try:
                self.tree.place(name, _node(member))
            except TooLarge as exc:
                raise _Stop(str(exc)) from exc
            return
        missing = member.kind == "hardlink" and self.tree.lookup(member.target) is None
        try:
            self.tree.apply(name, member)
        except TooLarge as exc:
            raise _Stop(str(exc)) from exc
        except Outside:
            kind = {"symlink": "symlink", "hardlink": "hard link"}.get(member.kind)
            what = f"{kind} {name} -> {member.target}" if kind else f"{name} is written"
            self.package.problem("archive-link-outside", name,
                                 f"{what} leaves the package",
                                 f"link {name!r} points outside the package")
            return
        except Failed:
            pass  # extraction cannot apply it either: the member is skipped
        if member.kind == "hardlink":
            self.package.problem("archive-link", name, f"hard link {name} -> {member.target}"
                                 + (" (missing target)" if missing else ""))

    def root(self) -> str:
        """The single top folder of what was walked so far, or "" (kept incrementally)."""
        return next(iter(self.tops)) if len(self.tops) == 1 and not self.flat else ""

    def inflate(self, size: int) -> None:
        self.declared += size
        if self.declared > 1_000_000 and self.declared / self.compressed > self.limits.max_ratio:
            raise _Stop(f"compression ratio over {self.limits.max_ratio:g}")

    def file(self, name: str, size: int, reader: Callable[[int], bytes]) -> Member:
        """A regular member: text is read (bounded), other files only sniffed."""
        if size > self.limits.max_file_bytes:
            # code nobody can read here still installs, and may run: padding a payload
            # past the limit must not hide it (the package goes to review)
            code = is_code_member(name)
            self.package.problem(
                "oversized-code" if code else "archive-limit-exceeded", name,
                f"{size} bytes > {self.limits.max_file_bytes}"
                + ("; installed as code, never scanned" if code else ""),
                f"{name}: file larger than {self.limits.max_file_bytes} bytes")
            return Member("file", Inode())
        if is_text_member(name):
            if self.read_bytes + size > self.limits.max_total_bytes:
                raise _Stop(f"more than {self.limits.max_total_bytes} decompressed bytes")
            data = reader(self.limits.max_file_bytes + 1)
            self.read_bytes += len(data)
            return Member("file", Inode(data=data))
        return Member("file", Inode(head=reader(SNIFF_BYTES) if size >= SNIFF_BYTES else b"",
                                    reader=reader))

    def finish(self) -> None:
        """What extraction left: link findings, then the selected text files, reading
        (while the archive is still open) targets that were only sniffed, e.g. a
        `setup.py` that links to a `README`."""
        files, links = self.tree.visible(self.limits.max_members)
        for name, node, why in links:
            if why == "outside":
                self.package.problem("archive-link-outside", name,
                                     f"symlink {name} -> {node.target} leaves the package",
                                     f"link {name!r} points outside the package")
            else:
                self.package.problem("archive-link", name, f"symlink {name} -> {node.target}"
                                     + (f" ({why} target)" if why else ""))
        for name, node in self.tree.nodes.items():
            inode = node.inode
            if self.upload and node.kind == "file" and name.lower().endswith(BYTECODE):
                self.package.problem("compiled-bytecode", name, _bytecode_evidence(
                    name, self.tree.nodes))
            if node.kind == "file" and inode is not None and inode.data is None \
                    and inode.head.startswith(BINARY_MAGIC):
                compiled = name.endswith((".pyd", ".so", ".dll"))
                self.package.problem(
                    "bundled-binary", name, f"compiled extension {name}" if compiled
                    else f"{name} starts with {inode.head!r}")
        strip = _strip_common_root([n for n, node in self.tree.nodes.items()
                                    if node.kind != "dir"])
        for name, inode in files.items():
            if not is_text_member(name) or not self.select(name[len(strip):]):
                continue
            if inode.divergent and is_code_member(name):
                self.package.problem("archive-duplicate-code", name, inode.divergent,
                                     f"{name}: content depends on the Python version")
            if inode.data is None and inode.reader is not None:
                inode.data = inode.reader(self.limits.max_file_bytes + 1)
                inode.reader = None
                self.read_bytes += len(inode.data)
                if self.read_bytes > self.limits.max_total_bytes:
                    raise _Stop(f"more than {self.limits.max_total_bytes} decompressed bytes")
            if inode.data is not None:
                self.files[name[len(strip):]] = inode.data


def _bytecode_evidence(name: str, nodes: Mapping[str, Node]) -> str:
    """Why a `.pyc` in an upload matters: Python imports a sourceless one, and one in
    `__pycache__` can be marked to run without checking its source (PEP 552)."""
    path = PurePosixPath(name)
    if path.parent.name == "__pycache__":
        source = path.parent.parent / (path.name.split(".", 1)[0] + ".py")
        beside = "its source is shipped" if str(source) in nodes else "no source beside it"
        return (f"{name}: compiled bytecode in __pycache__ ({beside}); an unchecked-hash "
                "pyc runs instead of the source, and pip never ships bytecode")
    source = path.with_suffix(".py")
    if str(source) in nodes:
        return f"{name}: compiled bytecode beside {source.name}; pip never ships bytecode"
    return f"{name}: sourceless compiled bytecode, imported as `{path.stem}` with no source"


def _node(member: Member) -> Node:
    """A member placed as it is (zip and folder sources)."""
    if member.kind == "file":
        return Node("file", member.content)
    return DIR if member.kind == "dir" else Node(member.kind, target=member.target)


def _walk_tar(tar: tarfile.TarFile, walk: _Walk) -> None:
    walk.extracts = True
    try:
        for member in tar:
            name = walk.admit(member.name)
            if name is None:
                continue
            if member.isdir():
                walk.put(name, Member("dir"))
            elif member.issym():
                walk.put(name, Member("symlink", target=member.linkname))
            elif member.islnk():
                walk.put(name, Member("hardlink", target=member.linkname))
            elif member.isfile():
                walk.inflate(member.size)

                def reader(n: int, m: tarfile.TarInfo = member) -> bytes:
                    handle = tar.extractfile(m)
                    return handle.read(n) if handle else b""

                walk.put(name, walk.file(name, member.size, reader))
            else:
                walk.put(name, Member("special", target=f"type {member.type!r}"))
    finally:
        walk.finish()


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
    try:
        for info in archive.infolist():
            name = walk.admit(info.filename)
            if name is None:
                continue
            mode = info.external_attr >> 16
            if info.is_dir():
                walk.put(name, Member("dir"))
                continue
            if stat.S_ISLNK(mode):
                with archive.open(info) as handle:  # a zip symlink stores its target as data
                    target = handle.read(LINK_TARGET_BYTES).decode("utf-8", "replace")
                walk.put(name, Member("symlink", target=target))
                continue
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                walk.put(name, Member("special", target=f"mode {oct(mode)}"))
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > walk.limits.max_ratio and info.file_size > 1_000_000:
                walk.package.problem(
                    "archive-limit-exceeded", name, f"compression ratio {ratio:.0f}",
                    f"{name}: compression ratio {ratio:.0f} over {walk.limits.max_ratio:g} (bomb)")
                walk.put(name, Member("file", Inode()))
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
    finally:
        walk.finish()


def _walk_dir(root: Path, walk: _Walk) -> None:
    walk.upload = False  # a checkout: bytecode there is the developer's own runs
    try:
        for here, dirs, names in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for entry in [*dirs, *sorted(names)]:
                full = Path(here) / entry
                name = walk.admit(full.relative_to(root).as_posix())
                if name is None:
                    continue
                info = full.lstat()
                if stat.S_ISLNK(info.st_mode):
                    walk.put(name, Member("symlink", target=os.readlink(full)))
                elif stat.S_ISDIR(info.st_mode):
                    walk.put(name, Member("dir"))
                elif stat.S_ISREG(info.st_mode):
                    def reader(n: int, p: Path = full) -> bytes:
                        with open(p, "rb") as handle:
                            return handle.read(n)

                    walk.put(name, walk.file(name, info.st_size, reader))
                else:
                    walk.put(name, Member("special", target=f"mode {oct(info.st_mode)}"))
    finally:
        walk.finish()


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
            walk.finish()
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
    walk = _Walk(limits, package, select or is_text_member, size, budget)
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
        if not walk.tree.nodes and not package.findings:
            raise ReadError(clip_evidence(f"not a readable archive ({exc})")) from exc
        package.problem("archive-unreadable", filename, str(exc), f"corrupt archive ({exc})")
    for name, data in walk.files.items():
        package.files[name] = decode_text(data[: limits.max_file_bytes], name, package)
    return package
