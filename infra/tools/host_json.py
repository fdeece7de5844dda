"""Check host.json against what the Functions host and the Durable extension accept for a Python (out-of-process)
worker, as Microsoft documents it. Every rule names its source (MicrosoftDocs/azure-docs):

* ``includes/functions-host-json-durabletask.md`` (the ``durableTask`` host.json reference, Durable Functions
  2.x): the documented keys of ``extensions.durableTask`` and of its ``storageProvider``; ``partitionCount``
  "must be a positive integer between 1 and 16"; ``maxGrpcMessageSizeInBytes`` and ``grpcHttpClientTimeout``
  apply to ".NET isolated worker and Java apps" only.
* ``articles/azure-functions/durable/durable-functions-perf-and-scale.md``: instance caching with the Azure
  Storage provider is "Supported (.NET in-process worker only)" and "Extended sessions are supported only in the
  .NET in-process worker" — ``extendedSessionsEnabled`` (and its idle timeout, used only with it).
* ``articles/azure-functions/durable/durable-functions-overview.md`` (supported languages): Python with the V2
  programming model needs extension bundles 3.15 or later; the bundle id is
  ``Microsoft.Azure.Functions.ExtensionBundle`` and its version is an interval such as ``[4.*, 5.0.0)``.

Usage: ``python infra/tools/host_json.py [host.json]`` prints each problem on one line and exits 1 when any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
#: Python V2 programming model + Durable Functions: "3.15+ bundles" (durable-functions-overview.md).
MIN_BUNDLE = (3, 15, 0)

#: Settings the Durable extension supports only for .NET (in-process, or isolated/Java for the gRPC ones).
NOT_FOR_PYTHON = {
    "extendedSessionsEnabled": "extended sessions are supported only in the .NET in-process worker",
    "extendedSessionIdleTimeoutInSeconds": "used only with extendedSessionsEnabled (.NET in-process only)",
    "maxGrpcMessageSizeInBytes": "applies to .NET isolated worker and Java apps only",
    "grpcHttpClientTimeout": "applies to .NET isolated worker and Java apps only",
}
#: ``extensions.durableTask`` keys of the Durable Functions 2.x reference (the .NET-only ones above included).
DURABLE_TASK_KEYS = {
    "hubName",
    "defaultVersion",
    "versionMatchStrategy",
    "versionFailureStrategy",
    "storageProvider",
    "tracing",
    "httpSettings",
    "notifications",
    "maxConcurrentActivityFunctions",
    "maxConcurrentOrchestratorFunctions",
    "maxConcurrentEntityFunctions",
    "useAppLease",
    "useGracefulShutdown",
    "maxEntityOperationBatchSize",
    "maxOrchestrationActions",
    "storeInputsInOrchestrationHistory",
    *NOT_FOR_PYTHON,
}
#: ``storageProvider`` keys of the same reference; ``type`` selects the provider (AzureStorage is the default,
#: durable-functions-storage-providers.md) and ``connectionName`` is the v2.7.0+ name of ``connectionStringName``.
STORAGE_PROVIDER_KEYS = {
    "type",
    "connectionName",
    "connectionStringName",
    "controlQueueBatchSize",
    "controlQueueBufferThreshold",
    "controlQueueVisibilityTimeout",
    "FetchLargeMessagesAutomatically",
    "maxQueuePollingInterval",
    "partitionCount",
    "trackingStoreConnectionName",
    "trackingStoreConnectionStringName",
    "trackingStoreNamePrefix",
    "useLegacyPartitionManagement",
    "useTablePartitionManagement",
    "workItemQueueVisibilityTimeout",
    "QueueClientMessageEncoding",
}
_RANGE = re.compile(r"^\[\s*(?P<low>\d+(?:\.(?:\d+|\*)){0,2})\s*,\s*(?P<high>\d+(?:\.\d+){0,2})\s*\)$")


def _version(text: str) -> tuple[int, int, int]:
    parts = [0 if part == "*" else int(part) for part in text.split(".")]
    major, minor, patch = (*parts, 0, 0)[:3]
    return major, minor, patch


def bundle_problems(host: dict[str, Any]) -> list[str]:
    bundle = host.get("extensionBundle")
    if not isinstance(bundle, dict):
        return ["extensionBundle is missing: the Python worker gets the Durable and Service Bus extensions from it"]
    problems = []
    if bundle.get("id") != BUNDLE_ID:
        problems.append(f"extensionBundle.id is {bundle.get('id')!r}, expected {BUNDLE_ID!r}")
    match = _RANGE.fullmatch(str(bundle.get("version", "")))
    if not match:
        problems.append(f"extensionBundle.version {bundle.get('version')!r} is not an interval like '[4.*, 5.0.0)'")
        return problems
    low, high = _version(match["low"]), _version(match["high"])
    if low < MIN_BUNDLE:
        problems.append(
            f"extensionBundle.version starts at {match['low']}: Durable Functions with the Python V2 model needs 3.15+"
        )
    if high <= low or high != (low[0] + 1, 0, 0):
        problems.append(
            f"extensionBundle.version {bundle['version']!r} must end before the next major ({low[0] + 1}.0.0), "
            "so a new major bundle is never picked up unreviewed"
        )
    return problems


def durable_problems(host: dict[str, Any]) -> list[str]:
    durable = host.get("extensions", {}).get("durableTask")
    if not isinstance(durable, dict):
        return ["extensions.durableTask is missing"]
    problems = []
    for key, value in durable.items():
        if key in NOT_FOR_PYTHON:
            problems.append(f"extensions.durableTask.{key} = {json.dumps(value)}: {NOT_FOR_PYTHON[key]}")
        elif key not in DURABLE_TASK_KEYS:
            problems.append(f"extensions.durableTask.{key} is not a documented Durable Functions 2.x setting")
    provider = durable.get("storageProvider", {})
    for key in provider:
        if key not in STORAGE_PROVIDER_KEYS:
            problems.append(f"extensions.durableTask.storageProvider.{key} is not a documented setting")
    partitions = provider.get("partitionCount")
    if partitions is not None and not (isinstance(partitions, int) and 1 <= partitions <= 16):
        problems.append(f"extensions.durableTask.storageProvider.partitionCount {partitions!r} is not within 1..16")
    return problems


def problems(host: dict[str, Any]) -> list[str]:
    """Every problem of a parsed host.json, one line each (empty when it is fine)."""
    found = []
    if host.get("version") != "2.0":
        found.append(f"version is {host.get('version')!r}: Functions 2.x and later read only '2.0'")
    return [*found, *bundle_problems(host), *durable_problems(host)]


def check_file(path: Path) -> list[str]:
    try:
        host = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return [f"{path}: cannot read it as JSON: {error}"]
    if not isinstance(host, dict):
        return [f"{path}: not a JSON object"]
    return [f"{path.name}: {problem}" for problem in problems(host)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else REPO_ROOT / "host.json"
    found = check_file(path)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
