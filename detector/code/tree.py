"""The tree an extraction leaves: a file system in memory that applies archive members
the way CPython's `tarfile` extraction does (pip extracts sdists with it, `data` filter).

Nodes are folders, files, symlinks and special files by path. A file node holds an
`Inode`; a hard link puts the *same* node under a second path, so a later member that
rewrites either path changes what both read, as on disk. Operations follow tarfile
(CPython 3.11, the version the tests compare against):

- a regular member is written with `open(path, "wb")`: through a symlink at `path`, and
  into the existing inode (every hard link to it sees the new bytes);
- a symlink member replaces what is at its path (a folder stays);
- a hard link member links its target's final inode when the target exists and its own
  path is free; otherwise tarfile extracts the *last member of the target's name before
  the link* to the path (a write of that member's bytes, or a link, folder ...);
- missing parent folders are created through symlinks; a member that extraction cannot
  apply (a file used as a folder, a dangling link in its path, a loop) is skipped.

Python versions differ at one point: since the 2025 security releases tarfile unlinks
an existing path before hard-linking it instead of writing the target's bytes through
it. Inodes whose content depends on that are marked `divergent`.
"""

from __future__ import annotations

import bisect
import contextlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS: more is ELOOP


class Outside(Exception):
    """The path leads out of the package (absolute, or `..` past its root)."""


class Failed(Exception):
    """Extraction cannot apply this member (tarfile raises; the member is skipped)."""


class TooLarge(Exception):
    """The tree passed its size bound (folders implied by deep names count too)."""


PATH_MAX = 4096  # Linux: a longer path cannot be created (ENAMETOOLONG)


@dataclass(eq=False)
class Inode:
    """A file's content: text read while walking, else a sniffed head and a reader."""

    data: bytes | None = None
    head: bytes = b""
    reader: Callable[[int], bytes] | None = None
    divergent: str = ""  # why its content depends on the Python version, or ""

    def copy(self) -> Inode:
        return Inode(self.data, self.head, self.reader)

    def assign(self, other: Inode) -> None:
        self.data, self.head, self.reader = other.data, other.head, other.reader


@dataclass(eq=False)
class Node:
    kind: str  # dir | file | symlink | special
    inode: Inode | None = None  # file
    target: str = ""  # symlink: the target as stored; special: what it is


@dataclass
class Member:
    """What one archive member carried (kept by name for tarfile's hard-link fallback)."""

    kind: str  # file | dir | symlink | hardlink | special
    content: Inode | None = None  # file
    target: str = ""  # symlink or hard link target as stored; special: what it is
    index: int = 0  # its position in the archive (set when applied)


DIR = Node("dir")


def is_absolute(target: str) -> bool:
    return target.startswith(("/", "\\")) or (len(target) > 1 and target[1] == ":")


class Tree:
    def __init__(self, max_nodes: int = 60_000, max_path_bytes: int = 32 << 20) -> None:
        self.nodes: dict[str, Node] = {}
        # bounds on what a few kilobytes of deep, distinct names can make the tree hold
        self.max_nodes, self.max_path_bytes, self.path_bytes = max_nodes, max_path_bytes, 0
        self.symlinks = 0  # while 0, every path is its own physical path (fast path)
        self.root = ""  # the package's single top folder, if it has one (nothing leaves it)
        self.last: dict[str, Member] = {}  # member name -> the last member of that name
        self.earlier: dict[str, tuple[list[int], list[Member]]] = {}  # name -> in order
        self.count = 0

    # -- paths ----------------------------------------------------------------------
    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """The physical path `path` names, every symlink in it followed (the last one
        only when `follow_last`); None when a folder on the way is missing. Raises
        Outside, or Failed for a loop or a file used as a folder."""
        if not self.symlinks and ".." not in path and (
                not self.root or path.startswith(self.root + "/") or path == self.root):
            return path
        todo = path.split("/")[::-1]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if len(done) <= (1 if self.root else 0):
                    raise Outside(path)
                done.pop()
                continue
            done.append(part)
            node = self.nodes.get("/".join(done))
            if node is None:
                if todo:
                    return None
                continue
            if node.kind == "symlink" and (todo or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise Failed(f"symlink loop at {path}")
                if is_absolute(node.target):
                    raise Outside(path)
                done.pop()
                todo.extend(node.target.replace("\\", "/").split("/")[::-1])
            elif node.kind != "dir" and todo:
                raise Failed(f"{'/'.join(done)} is not a folder")
        if self.root and (not done or done[0] != self.root):
            raise Outside(path)
        return "/".join(done)

    def lookup(self, path: str) -> Node | None:
        """The node `path` leads to (symlinks followed), None if nothing is there."""
        try:
            real = self.resolve(path)
        except (Failed, Outside):
            return None
        return self.nodes.get(real) if real is not None else None

    def _kind(self, path: str) -> str:
        node = self.nodes.get(path)
        return node.kind if node is not None else ""

    def _add(self, path: str, node: Node) -> None:
        if path not in self.nodes:
            self.path_bytes += len(path)
            if len(self.nodes) >= self.max_nodes or self.path_bytes > self.max_path_bytes:
                raise TooLarge(f"more than {len(self.nodes)} files and folders "
                               f"({self.path_bytes} bytes of paths)")
        self.nodes[path] = node

    def makedirs(self, path: str) -> str:
        """tarfile creates a member's missing parent folders (through symlinks): the
        folder's physical path."""
        if self._kind(path) == "dir":
            return path  # a folder's path is physical, and so are its parents
        if len(path) >= PATH_MAX:
            raise Failed(f"{path[:80]}...: path too long")
        real = ""
        for part in path.split("/") if path else ():
            here = f"{real}/{part}" if real else part
            node = self.nodes.get(here)
            if node is None:
                self._add(here, DIR)
            elif node.kind == "symlink":
                target = self.resolve(here)
                if target is None or (target and self._kind(target) != "dir"):
                    raise Failed(f"{here} is not a folder")  # makedirs: EEXIST / ENOTDIR
                here = target
            elif node.kind != "dir":
                raise Failed(f"{here} is not a folder")
            real = here
        return real

    def _place(self, name: str) -> str:
        parent, _, base = name.rpartition("/")
        folder = self.makedirs(parent)
        return f"{folder}/{base}" if folder else base

    # -- members, as tarfile applies them --------------------------------------------
    def apply(self, name: str, member: Member) -> None:
        """Apply one tar member; raises Outside or Failed (the member is then skipped,
        as tarfile's data filter or file system refuses it). Remembered either way."""
        try:
            if member.kind == "symlink":
                if is_absolute(member.target):
                    raise Outside(member.target)
                self._check_inside(posixpath.join(posixpath.dirname(name), member.target))
            if member.kind == "hardlink":
                self.hard_link(name, member.target)
            else:
                self._create(name, member)
        finally:
            self.remember(name, member)

    def _create(self, name: str, member: Member) -> None:
        """Make `name` from a member that is not a hard link (a file, folder, symlink or
        device), as extracting it does."""
        if member.kind == "file":
            assert member.content is not None
            self.write(name, member.content)
        elif member.kind == "dir":
            self.mkdir(name)
        elif member.kind == "symlink":
            self.symlink(name, member.target)
        else:
            self.special(name, member.target)

    def remember(self, name: str, member: Member) -> None:
        self.count += 1
        member.index = self.count
        self.last[name] = member
        positions, members = self.earlier.setdefault(name, ([], []))
        positions.append(member.index)
        members.append(member)

    def before(self, name: str, index: int) -> Member | None:
        """tarfile's `_find_link_target`: the last member of `name` before position
        `index`."""
        positions, members = self.earlier.get(posixpath.normpath(name.replace("\\", "/")),
                                              ([], []))
        at = bisect.bisect_left(positions, index)
        return members[at - 1] if at else None

    def _check_inside(self, path: str) -> None:
        """The data filter's realpath check (a loop is no error to realpath)."""
        with contextlib.suppress(Failed):
            self.resolve(path)

    def write(self, name: str, content: Inode) -> None:
        """`open(name, "wb")`: through a symlink, into the existing inode."""
        path = self._place(name)
        node = self.nodes.get(path)
        if node is not None and node.kind == "symlink":
            real = self.resolve(path)
            if real is None:
                raise Failed(f"{name}: dangling link into a missing folder")
            parent = real.rpartition("/")[0]
            if parent and self._kind(parent) != "dir":
                raise Failed(f"{name}: no folder {parent}")
            path, node = real, self.nodes.get(real)
        if node is None:
            self._add(path, Node("file", content.copy()))
        elif node.kind == "file":
            assert node.inode is not None
            node.inode.assign(content)
        else:
            raise Failed(f"{name}: cannot write over a {node.kind}")

    def mkdir(self, name: str) -> None:
        path = self._place(name)
        if path not in self.nodes:  # mkdir over anything existing: EEXIST, ignored
            self._add(path, DIR)

    def symlink(self, name: str, target: str) -> None:
        path = self._place(name)
        if self._kind(path) == "dir":
            return  # unlink fails on a folder; it stays (or extraction stops)
        self._add(path, Node("symlink", target=target))
        self.symlinks += 1

    def special(self, name: str, what: str) -> None:
        path = self._place(name)
        if path in self.nodes:
            raise Failed(f"{name} exists")
        self._add(path, Node("special", target=what))

    def hard_link(self, name: str, target: str) -> None:
        if is_absolute(target):
            raise Outside(target)
        self._check_inside(target)  # the data filter
        path = self._place(name)
        if self.lookup(target) is None:  # os.path.exists fails: the member instead
            self._extract_instead(name, target)
            return
        try:  # os.link links the last component itself (a symlink stays a symlink)
            real = self.resolve(target, follow_last=False)
        except Failed:
            real = None
        node = self.nodes.get(real) if real is not None else None
        if node is not None and path not in self.nodes and node.kind != "dir":
            self._add(path, node)  # one inode, two names
            self.symlinks += node.kind == "symlink"
            return
        if node is None:
            self._extract_instead(name, target)
            return
        if path in self.nodes:  # os.link: EEXIST; newer Pythons unlink `path` first
            self._diverge(path, target, name)
        self._extract_instead(name, target)

    def _diverge(self, path: str, target: str, name: str) -> None:
        why = (f"hard link {name} over an existing name: Python versions extract it "
               "differently (3.11 and older write the target's bytes through it, newer "
               "ones replace it with a link)")
        for each in (self.lookup(path), self.lookup(target)):
            if each is not None and each.inode is not None:
                each.inode.divergent = why

    def _extract_instead(self, name: str, target: str) -> None:
        """tarfile's fallback: the last member named `target` before this one,
        extracted to `name` (a hard link found there falls back in turn)."""
        member = self.before(target, self.count + 1)
        while member is not None and member.kind == "hardlink":
            member = self.before(member.target, member.index)  # strictly earlier: ends
        if member is None:
            raise Failed(f"hard link {name} -> {target}: no such member")
        self._create(name, member)

    # -- other sources ----------------------------------------------------------------
    def place(self, name: str, node: Node) -> None:
        """Put a node at `name` as it is (zip and folder sources: no member rewrites
        through links; the last of a name replaces the others)."""
        parent = name.rpartition("/")[0]
        while parent and parent not in self.nodes:
            self._add(parent, DIR)
            parent = parent.rpartition("/")[0]
        if node.kind == "dir" and name in self.nodes:
            return
        self._add(name, node)
        self.symlinks += node.kind == "symlink"

    # -- the result -------------------------------------------------------------------
    def visible(self, limit: int) -> tuple[dict[str, Inode], list[tuple[str, Node, str]]]:
        """({path: inode} of every file a path leads to, symlinks followed and
        symlinked folders lending their files (at most `limit` such names); [(path,
        symlink, "" or why it leads nowhere: outside | loop | missing)])."""
        files = {p: n.inode for p, n in self.nodes.items() if n.kind == "file" and n.inode}
        links: list[tuple[str, Node, str]] = []
        if not self.symlinks:
            return files, links
        ordered = sorted(self.nodes)
        budget = [limit]
        for path, node in self.nodes.items():
            if node.kind != "symlink":
                continue
            try:
                real = self.resolve(path)
            except Outside:
                links.append((path, node, "outside"))
                continue
            except Failed:
                links.append((path, node, "loop"))
                continue
            target = self.nodes.get(real) if real is not None else None
            links.append((path, node, "" if target is not None else "missing"))
            if target is None:
                continue
            if target.kind == "file" and target.inode is not None:
                files[path] = target.inode
            elif target.kind == "dir" and real is not None:
                self._lend(path, real, ordered, files, budget, 0)
        return files, links

    def _lend(self, alias: str, real: str, ordered: list[str], files: dict[str, Inode],
              budget: list[int], depth: int) -> None:
        """The files under folder `real`, seen under the folder `alias` (a symlink)."""
        prefix = real + "/" if real else ""
        for at in range(bisect.bisect_left(ordered, prefix), len(ordered)):
            other = ordered[at]
            if not other.startswith(prefix) or budget[0] <= 0:
                break
            budget[0] -= 1  # every name visited counts: nested links cannot multiply work
            name = f"{alias}/{other[len(prefix):]}"
            node: Node | None = self.nodes[other]
            if node is not None and node.kind == "symlink":
                try:
                    resolved = self.resolve(other)
                except (Outside, Failed):
                    continue
                node = self.nodes.get(resolved) if resolved is not None else None
                if node is not None and node.kind == "dir" and resolved is not None \
                        and depth < MAX_LINK_HOPS:
                    self._lend(name, resolved, ordered, files, budget, depth + 1)
                    continue
            if node is not None and node.kind == "file" and node.inode is not None \
                    and name not in files:
                files[name] = node.inode
