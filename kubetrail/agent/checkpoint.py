"""The state file: what the intake acknowledged, per file and in the buffer, written atomically.

    {"version": 1, "ack": [segment, position], "files": {id: {...Tracked.state()}}}

Written only after an acknowledgement (temp file, fsync, rename, fsync of the directory), so
a crash at any instant leaves either the old or the new state, both true.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import orjson

from kubetrail.agent.errors import StateError

STATE_FILE: Final = "state.json"
VERSION: Final = 1


def load_state(state_dir: Path) -> dict[str, Any] | None:
    """The saved state, or None when the agent never ran with this state_dir."""
    path = state_dir / STATE_FILE
    try:
        state = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        msg = f"{path}: unreadable state file ({exc}); move it away to start over"
        raise StateError(msg) from exc
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateError(f"{path}: not a version {VERSION} kubetrail agent state file")
    return state


def save_state(state_dir: Path, state: dict[str, Any]) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps({"version": VERSION, **state}))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
