"""The emulated clouds' state in the state directory, so a wave in flight survives the local environment's
restart (`local down` / `local up`): moto's backends, the seeded estate's ids, the Lambdas' role credentials and
the guest, Site Recovery and ARM emulators' state, with the virtual time they were saved at.

One file, ``clouds.pickle``, written atomically (a temporary file renamed over it): a header (format, moto's and
Python's versions) then the body. :func:`load_state` refuses a state of another format or version, or whose
objects no longer match the code's, with :class:`IncompatibleStateError`, whose message tells to `local reset`.

Each emulator is captured as its instance attributes less what belongs to the process (its clock, lock,
callbacks, moto's endpoint), pickled under its own lock; restoring requires the same attribute names.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

#: Bumped when what the file holds changes shape; a state of another format is refused.
STATE_FORMAT = 1
STATE_FILE = "clouds.pickle"
RESET_HINT = "`python -m cli local reset` deletes it (and its waves) to start afresh"

#: What is not captured of each emulator: the process's clock and locks, callbacks wired at open, and the guests'
#: script environment (it names moto's endpoint, a new port on every start).
GUEST_EXCLUDED = frozenset({"clock", "_lock", "on_agent_registered", "scratch_dir", "script_env"})
EMULATOR_EXCLUDED = frozenset({"clock", "_lock", "arm_limits"})  # the limiter is shared: not saved
#: What of the Lambda invoker is not saved: its wiring and its call history (the throttles left and counts are).
INVOKER_EXCLUDED = frozenset({"lambdas", "site_recovery", "names", "clock", "history", "_lock"})


class IncompatibleStateError(Exception):
    """The saved state was written by another version of the local environment."""


@dataclass
class CloudState:
    """What the clouds hold, as saved: moto's snapshot and each emulator's pickled attributes."""

    saved_at: datetime
    moto: bytes
    seeded: Any  # local.aws.seed.SeededEstate
    roles: dict[str, Any]  # function -> local.aws.iam.RoleCredentials
    guests: bytes
    site_recovery: bytes
    azure_resources: bytes
    invoker: bytes


def _header() -> dict[str, Any]:
    import moto  # noqa: PLC0415 - only to name its version

    return {"format": STATE_FORMAT, "moto": str(moto.__version__), "python": list(sys.version_info[:2])}


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def write_state(state_dir: Path, state: CloudState) -> Path:
    """Write ``state`` atomically: readers see the previous file or this one, never a part."""
    path = state_path(state_dir)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with scratch.open("wb") as stream:
        pickle.dump(_header(), stream, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(state, stream, protocol=pickle.HIGHEST_PROTOCOL)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(scratch, path)
    return path


def load_state(state_dir: Path) -> CloudState | None:
    """The saved state, or None when there is none."""
    path = state_path(state_dir)
    if not path.exists():
        return None
    incompatible = f"the emulated clouds' state in {path} is from an incompatible version of the local environment"
    try:
        with path.open("rb") as stream:
            header = pickle.load(stream)  # noqa: S301 - this program's own file in its own state directory
            if header != _header():
                raise IncompatibleStateError(f"{incompatible} ({header} here {_header()}): {RESET_HINT}")
            state = pickle.load(stream)  # noqa: S301
    except IncompatibleStateError:
        raise
    except Exception as error:
        raise IncompatibleStateError(f"{incompatible} ({type(error).__name__}: {error}): {RESET_HINT}") from error
    if not isinstance(state, CloudState):
        raise IncompatibleStateError(f"{incompatible}: {RESET_HINT}")
    return state


def _read_only(mapping: Mapping[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(dict(mapping))


class _Pickler(pickle.Pickler):
    """Pickles read-only mappings (the Site Recovery emulator's recorded request bodies) as read-only mappings."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, MappingProxyType):
            return _read_only, (dict(obj),)
        return NotImplemented


def _dumps(value: Any) -> bytes:
    stream = io.BytesIO()
    _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return stream.getvalue()


def capture(emulator: Any, excluded: Iterable[str]) -> bytes:
    """An emulator's attributes less ``excluded``, pickled while its lock is held (a consistent copy)."""
    skip = set(excluded)
    lock = getattr(emulator, "_lock", None)
    if lock is None:
        return _dumps({k: v for k, v in vars(emulator).items() if k not in skip})
    with lock:
        return _dumps({k: v for k, v in vars(emulator).items() if k not in skip})


def restore(emulator: Any, data: bytes, excluded: Iterable[str], *, what: str) -> None:
    """Put :func:`capture`'s attributes back on a freshly built emulator of the same class."""
    skip = set(excluded)
    try:
        saved = pickle.loads(data)  # noqa: S301 - this program's own file
    except Exception as error:
        raise IncompatibleStateError(
            f"the saved {what} state does not load ({type(error).__name__}: {error}): {RESET_HINT}"
        ) from error
    expected = {name for name in vars(emulator) if name not in skip}
    if not isinstance(saved, dict) or set(saved) != expected:
        found = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise IncompatibleStateError(
            f"the saved {what} state has attributes {found}, the code {sorted(expected)}: {RESET_HINT}"
        )
    stale = _stale_object(saved)
    if stale is not None:
        raise IncompatibleStateError(f"the saved {what} state holds a {stale} of an older shape: {RESET_HINT}")
    vars(emulator).update(saved)


def _stale_object(value: Any, seen: set[int] | None = None) -> str | None:
    """The class name of a dataclass or pydantic model in ``value`` missing one of its fields, if any."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, str | bytes | int | float | bool | datetime | type(None)):
        return None
    seen.add(id(value))
    children: Iterable[Any]
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        if not all(hasattr(value, name) for name in names):
            return type(value).__name__
        children = [getattr(value, name) for name in names]
    elif isinstance(value, BaseModel):
        if not all(name in value.__dict__ for name in type(value).model_fields):
            return type(value).__name__
        children = list(value.__dict__.values())
    else:
        return None
    for child in children:
        found = _stale_object(child, seen)
        if found is not None:
            return found
    return None
