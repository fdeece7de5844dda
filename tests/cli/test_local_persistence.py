"""The emulated clouds' saved state (local/persistence.py, local/aws/snapshot.py): written atomically, restored
onto fresh emulators, and a state of another version refused with one line that says `local reset`."""

from __future__ import annotations

import io
import pickle
import threading
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from local.aws.snapshot import _Pickler
from local.env.daemon import serve
from local.persistence import (
    STATE_FILE,
    CloudState,
    IncompatibleStateError,
    capture,
    load_state,
    restore,
    write_state,
)


class _Emulator:
    def __init__(self) -> None:
        self.clock = object()
        self._lock = threading.RLock()
        self.items: dict[str, Any] = {}
        self.bodies: list[Any] = []


def _state(**update: Any) -> CloudState:
    fields: dict[str, Any] = {
        "saved_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "moto": b"moto",
        "seeded": None,
        "roles": {},
        "guests": b"",
        "site_recovery": b"",
        "azure_resources": b"",
        "invoker": b"",
    }
    return CloudState(**{**fields, **update})


def test_an_emulator_comes_back_on_a_fresh_one_without_its_clock_or_lock() -> None:
    before = _Emulator()
    before.items["vm-1"] = {"state": "replicating"}
    before.bodies.append(MappingProxyType({"properties": MappingProxyType({"a": 1})}))
    data = capture(before, {"clock", "_lock"})
    after = _Emulator()
    clock, lock = after.clock, after._lock
    restore(after, data, {"clock", "_lock"}, what="test emulator")
    assert after.items == {"vm-1": {"state": "replicating"}}
    assert isinstance(after.bodies[0], MappingProxyType) and after.bodies[0]["properties"]["a"] == 1
    assert after.clock is clock and after._lock is lock


def test_an_emulator_whose_attributes_changed_is_refused() -> None:
    data = capture(_Emulator(), {"clock", "_lock"})
    changed = _Emulator()
    changed.extra = 1  # type: ignore[attr-defined]  # the code grew an attribute since the save
    with pytest.raises(IncompatibleStateError, match="local reset"):
        restore(changed, data, {"clock", "_lock"}, what="test emulator")


def test_the_state_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    assert load_state(tmp_path) is None
    write_state(tmp_path, _state(moto=b"first"))
    write_state(tmp_path, _state(moto=b"second"))
    loaded = load_state(tmp_path)
    assert loaded is not None and loaded.moto == b"second"
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left behind


@pytest.mark.parametrize("content", [b"not a pickle", pickle.dumps({"format": 0, "moto": "0.0", "python": [3, 0]})])
def test_a_state_of_another_version_says_reset_in_one_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    with pytest.raises(IncompatibleStateError) as raised:
        load_state(tmp_path)
    message = str(raised.value)
    assert "incompatible" in message and "local reset" in message and "\n" not in message


def test_the_daemon_refuses_an_incompatible_state_with_one_line_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / STATE_FILE).write_bytes(b"not a pickle")
    assert serve(tmp_path, None, 120.0, 0) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "local reset" in lines[0]
    assert not (tmp_path / "endpoint.json").exists()


class _Tagged(defaultdict[str, list[int]]):
    def __init__(self, region: str) -> None:  # as moto's ParameterDict: another __init__ than defaultdict's
        super().__init__(list)
        self.region = region


def test_moto_snapshots_pickle_lambda_factories_and_defaultdict_subclasses() -> None:
    tags: defaultdict[str, defaultdict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    tags["i-1"]["Name"]["v"] = "web"
    parameters = _Tagged("eu-west-1")
    parameters["/a"].append(1)
    stream = io.BytesIO()
    _Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump((tags, parameters))
    tags_back, parameters_back = pickle.loads(stream.getvalue())  # noqa: S301 - made just above
    assert tags_back["i-1"]["Name"] == {"v": "web"} and tags_back["new"] == defaultdict(dict)
    assert isinstance(parameters_back, _Tagged) and parameters_back.region == "eu-west-1"
    assert parameters_back["/a"] == [1] and parameters_back["/b"] == []
