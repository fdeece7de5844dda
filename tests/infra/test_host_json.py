"""host.json as the Durable extension reads it for a Python (out-of-process) worker.

Anchored to Microsoft's documentation (MicrosoftDocs/azure-docs), not to our own understanding:

* ``includes/functions-host-json-durabletask.md`` — the ``durableTask`` host.json reference (documented keys,
  ``partitionCount`` 1..16, gRPC settings for .NET isolated and Java only);
* ``articles/azure-functions/durable/durable-functions-perf-and-scale.md`` — "Extended sessions are supported
  only in the .NET in-process worker" (instance caching with Azure Storage: ".NET in-process worker only");
* ``articles/azure-functions/durable/durable-functions-overview.md`` — Python V2 model: "3.15+ bundles".

The rules live in ``infra/tools/host_json.py`` (also run by the deploy plan); each is shown failing here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT
from tests.infra.tools import load_tool

host_json = load_tool("host_json")
HOST_JSON = REPO_ROOT / "host.json"


def _host() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    return loaded


def test_the_repository_host_json_passes() -> None:
    assert host_json.check_file(HOST_JSON) == []
    assert _host()["extensions"]["durableTask"]["storageProvider"]["partitionCount"] <= 16


def test_a_planted_extended_session_fails_the_check(tmp_path: Path) -> None:
    planted = _host()
    planted["extensions"]["durableTask"]["extendedSessionsEnabled"] = True
    copy_path = tmp_path / "host.json"
    copy_path.write_text(json.dumps(planted), encoding="utf-8")
    found = host_json.check_file(copy_path)
    assert found == [
        "host.json: extensions.durableTask.extendedSessionsEnabled = true: "
        "extended sessions are supported only in the .NET in-process worker"
    ]


@pytest.mark.parametrize(
    ("setting", "value"),
    [("extendedSessionIdleTimeoutInSeconds", 30), ("maxGrpcMessageSizeInBytes", 4194304), ("sessionsCache", True)],
)
def test_net_only_and_undocumented_durable_settings_fail(setting: str, value: object) -> None:
    planted = _host()
    planted["extensions"]["durableTask"][setting] = value
    (problem,) = host_json.problems(planted)
    assert f"extensions.durableTask.{setting}" in problem


@pytest.mark.parametrize(
    ("version", "fragment"),
    [
        ("[3.3.0, 4.0.0)", "needs 3.15+"),
        ("[4.*, 6.0.0)", "before the next major (5.0.0)"),
        ("4.*", "not an interval"),
    ],
)
def test_an_extension_bundle_outside_the_supported_range_fails(version: str, fragment: str) -> None:
    planted = _host()
    planted["extensionBundle"]["version"] = version
    found = host_json.problems(planted)
    assert len(found) == 1 and fragment in found[0], found


def test_the_bundle_must_be_microsofts_and_partitions_within_16() -> None:
    planted = copy.deepcopy(_host())
    planted["extensionBundle"]["id"] = "Microsoft.Azure.Functions.ExtensionBundle.Preview"
    planted["extensions"]["durableTask"]["storageProvider"]["partitionCount"] = 32
    found = host_json.problems(planted)
    assert any("extensionBundle.id" in problem for problem in found)
    assert any("partitionCount 32 is not within 1..16" in problem for problem in found)
