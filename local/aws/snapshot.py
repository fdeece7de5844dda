"""moto's state as bytes and back, inside moto's server process (:mod:`local.aws.server`).

Everything moto holds lives in its ``BackendDict`` objects (one per service, module-level: ``ec2_backends``, …),
the ones in use listed in ``BackendDict._instances``; the ids it draws come from ``mock_random``. A snapshot
pickles, in one graph, the accounts and regions of every backend in use and the random source's state; a restore
puts them back into the same module-level objects (every responder reaches them there) and the random source
continues where it was, so ids drawn after a restore are the ids the same calls would have drawn without it.

Two things in moto's models do not pickle as they are, and are reduced here: ``defaultdict`` subclasses whose
``__init__`` takes other arguments (SSM's ``ParameterDict``), and ``defaultdict`` factories that are lambdas
(SSM's tags): a lambda factory is replaced by one that copies an empty value it made.
"""

from __future__ import annotations

import copy
import importlib
import io
import pickle
from collections import defaultdict
from collections.abc import Callable
from typing import Any

#: Bumped when what a snapshot holds changes shape; a snapshot of another format (or moto version) is refused.
SNAPSHOT_FORMAT = 1
#: Attempts at pickling while a request thread may be changing a backend (a dict changing size mid-walk).
_ATTEMPTS = 5


class IncompatibleSnapshotError(Exception):
    """A snapshot written by another format or another moto version."""


class _CopyOf:
    """A picklable ``defaultdict`` factory standing in for a lambda: a copy of the empty value it made."""

    def __init__(self, template: Any) -> None:
        self.template = template

    def __call__(self) -> Any:
        return copy.deepcopy(self.template)


def _new_defaultdict(cls: type[defaultdict[Any, Any]], factory: Callable[[], Any] | None) -> defaultdict[Any, Any]:
    made = defaultdict.__new__(cls)
    defaultdict.__init__(made, factory)
    return made


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if not isinstance(obj, defaultdict):
            return NotImplemented
        factory = obj.default_factory
        if factory is not None and "<" in getattr(factory, "__qualname__", ""):  # a lambda or a local function
            factory = _CopyOf(factory())
        state = dict(vars(obj)) if type(obj) is not defaultdict else None
        return _new_defaultdict, (type(obj), factory), state, None, iter(obj.items())


def _moto_version() -> str:
    import moto  # noqa: PLC0415 - the server's process only

    return str(moto.__version__)


def _backends_in_use() -> list[tuple[str, str, Any]]:
    """(module, attribute, BackendDict) of every service backend moto has created."""
    from moto.core.base_backend import BackendDict  # noqa: PLC0415

    found = []
    for backends in list(BackendDict._instances):  # type: ignore[misc]
        module = importlib.import_module(backends.backend.__module__)
        names = [name for name, value in vars(module).items() if value is backends]
        if not names:
            raise RuntimeError(f"moto's {backends.service_name} backends are not a module attribute")
        found.append((module.__name__, names[0], backends))
    return found


def snapshot() -> bytes:
    """Everything moto holds, and where its random ids are."""
    from moto.moto_api._internal import mock_random  # noqa: PLC0415

    for attempt in range(_ATTEMPTS):
        try:
            services = [(module, name, dict(backends)) for module, name, backends in _backends_in_use()]
            stream = io.BytesIO()
            _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(
                {
                    "format": SNAPSHOT_FORMAT,
                    "moto": _moto_version(),
                    "services": services,
                    "random": mock_random.getstate(),
                }
            )
            return stream.getvalue()
        except RuntimeError:  # changed during iteration: a request was being served
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def restore(data: bytes) -> None:
    """Put a :func:`snapshot` back (into a server that has served nothing yet)."""
    from moto.core.base_backend import BackendDict  # noqa: PLC0415
    from moto.moto_api._internal import mock_random  # noqa: PLC0415

    try:
        state = pickle.loads(data)  # noqa: S301 - written by this program into its own state directory
    except Exception as error:
        raise IncompatibleSnapshotError(f"moto's snapshot does not load ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or state.get("format") != SNAPSHOT_FORMAT or state.get("moto") != _moto_version():
        found = (state.get("format"), state.get("moto")) if isinstance(state, dict) else None
        raise IncompatibleSnapshotError(
            f"moto's snapshot is of format/version {found}, not {(SNAPSHOT_FORMAT, _moto_version())}"
        )
    for module, name, accounts in state["services"]:
        backends = getattr(importlib.import_module(module), name)
        backends.update(accounts)
        if backends not in BackendDict._instances:  # type: ignore[misc]
            BackendDict._instances.append(backends)  # type: ignore[misc]
    mock_random.setstate(state["random"])
