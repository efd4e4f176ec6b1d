"""Helpers every command shares: JSON Lines output and the exit-2 convention."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console

# Human-readable output goes to stderr so that stdout stays machine-readable.
err_console = Console(stderr=True)

if TYPE_CHECKING:
    from detector.policy import Policy


def emit_json(obj: Any) -> None:
    """Write one JSON Lines record to stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def fail_usage(message: str) -> NoReturn:
    """Exit 2 with a one-line message on stderr (bad usage or unreadable input)."""
    sys.stderr.write(f"warden: {message}\n")
    raise SystemExit(2)


def policy_or_exit(path: str | Path | None) -> Policy:
    """The policy of ``--policy FILE`` (the shipped one without it); exit 2 when it is bad."""
    from detector.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        fail_usage(str(exc))


def require_extra(extra: str, *modules: str) -> None:
    """Exit 2 naming the install extra when a command's optional libraries are missing
    (imported here: the command imports them next anyway)."""
    from importlib import import_module

    missing = []
    for module in modules:
        try:
            import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        fail_usage(f"this command needs the [{extra}] extra ({', '.join(missing)} not installed): "
                   f"pip install 'warden[{extra}]'")
