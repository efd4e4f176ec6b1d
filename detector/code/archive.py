"""A package in memory ({relative path: text} plus the problems met reading it) and
the helpers every reader shares. Archives are opened only by `detector.code.extract`,
which reads them the way an installer extracts them."""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.code.findings import Finding, clip_evidence
from detector.code.rules import rule

# Only these files are read as text; everything else is only counted or sniffed.
TEXT_SUFFIXES = (".py", ".pyw", ".pth", ".toml", ".cfg", ".pyi")
NUL = b"\x00"


@dataclass
class Package:
    """Text files of one package plus the problems met while reading it."""

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False  # a package-wide limit cut the reading short

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


def is_wheel_script(name: str) -> bool:
    """A file of a wheel's `<name>.data/scripts/` (installed to bin/ as it is; often
    without a suffix)."""
    parts = name.split("/")
    return any(p.endswith(".data") and parts[i + 1:i + 2] == ["scripts"]
               for i, p in enumerate(parts[:-2]))


def is_text_member(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES) or is_wheel_script(name)


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
    parts = [p for p in name.split("/") if p not in ("", ".")]  # str ops: 10x pathlib
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)
