"""Every app setting infra gives the Function App is read by someone, and the trigger identity's Service Bus role
is the one Microsoft's Functions documentation names for a trigger that must scale on queue length."""

from __future__ import annotations

import re

import pytest

from tests.infra.conftest import AZURE_DIR, REPO_ROOT

FUNCTION_APP_BICEP = AZURE_DIR / "modules" / "functionapp.bicep"
ROLES_BICEP = AZURE_DIR / "modules" / "roles.bicep"
#: Settings the platform or its libraries read, not our code: the host's identity connections and telemetry
#: (functions-reference.md "Connections"), the Functions runtime, and azure-identity's AZURE_CLIENT_ID.
PLATFORM_PREFIXES = (
    "AzureWebJobsStorage__",
    "ServiceBusConnection__",
    "AzureFunctionsJobHost__",
    "APPLICATIONINSIGHTS_",
    "FUNCTIONS_",
    "WEBSITE_",
)
#: The Python worker's thread pool size (functions-app-settings.md, PYTHON_THREADPOOL_THREAD_COUNT, at most 32).
PLATFORM_SETTINGS = {"AZURE_CLIENT_ID", "PYTHON_THREADPOOL_THREAD_COUNT"}
_SETTING = re.compile(r"\{ name: '(?P<name>[A-Za-z0-9_]+)', value: ")
SERVICE_BUS_DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"


def _app_settings(bicep: str) -> list[str]:
    return _SETTING.findall(bicep)


def _readers() -> str:
    """What the function app's code and host.json could read an app setting from."""
    sources = [REPO_ROOT / "host.json", REPO_ROOT / "function_app.py", *sorted((REPO_ROOT / "functions").rglob("*.py"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in sources)


def _unread(bicep: str, readers: str) -> list[str]:
    return [
        name
        for name in _app_settings(bicep)
        if not name.startswith(PLATFORM_PREFIXES)
        and name not in PLATFORM_SETTINGS
        and f'"{name}"' not in readers
        and f"%{name}%" not in readers
    ]


def test_every_app_setting_infra_sets_is_read_by_the_function_app() -> None:
    bicep = FUNCTION_APP_BICEP.read_text(encoding="utf-8")
    assert len(_app_settings(bicep)) >= 20
    assert _unread(bicep, _readers()) == []


@pytest.mark.parametrize("planted", ["MIGRATION_REQUESTS_QUEUE", "SITE_RECOVERY_VAULT_LOCATION"])
def test_a_setting_nobody_reads_fails_the_check(planted: str) -> None:
    bicep = FUNCTION_APP_BICEP.read_text(encoding="utf-8")
    bicep = bicep.replace(
        "var commonSettings = [\n", f"var commonSettings = [\n  {{ name: '{planted}', value: 'x' }}\n"
    )
    assert _unread(bicep, _readers()) == [planted]


def test_the_deployment_settings_are_read_where_the_trigger_decides() -> None:
    settings = (REPO_ROOT / "functions" / "settings.py").read_text(encoding="utf-8")
    for name in ("MIGRATION_ENVIRONMENT", "SITE_RECOVERY_RESOURCE_GROUP", "SITE_RECOVERY_VAULT_NAME"):
        assert f'"{name}"' in settings, name
    assert "settings.refusals(request)" in (REPO_ROOT / "functions" / "triggers" / "queue.py").read_text()


def _trigger_role_problems(roles: str) -> list[str]:
    """What is wrong with the trigger identity's Service Bus grant in roles.bicep (empty when right)."""
    if "resource queueTrigger " not in roles:
        return ["no queueTrigger role assignment"]
    block = roles[roles.index("resource queueTrigger ") :]
    block = block[: block.index("\n}\n")]
    problems = []
    if "scope: requestsQueue" not in block:
        problems.append("the trigger's grant is not scoped to the requests queue")
    if "principalId: principalId" not in block:
        problems.append("the trigger's grant is not for the Function App's identity")
    if "roleIds.serviceBusDataOwner" not in block or f"serviceBusDataOwner: '{SERVICE_BUS_DATA_OWNER}'" not in roles:
        problems.append("the trigger's role is not Azure Service Bus Data Owner")
    return problems


def test_the_trigger_identity_may_read_the_queue_length_on_the_requests_queue_only() -> None:
    """Role table for identity-based Service Bus triggers (MicrosoftDocs/azure-docs
    ``includes/functions-service-bus-permissions.md``, ``articles/azure-functions/functions-reference.md``):
    "Trigger | Azure Service Bus Data Receiver, Azure Service Bus Data Owner"; ``event-driven-scaling.md``: with
    Listen rights "the queue length can't be used to inform scaling decisions" — Manage is needed, which among the
    built-in data roles only Data Owner carries. Plans that scale to zero (Flex Consumption) rely on that."""
    roles = ROLES_BICEP.read_text(encoding="utf-8")
    assert _trigger_role_problems(roles) == []
    # The identity's Data Owner grant never covers the namespace.
    assert not re.search(r"scope: namespace\s+properties: \{\s+principalId: principalId", roles)


def test_the_receiver_only_grant_that_was_there_fails_the_check() -> None:
    roles = ROLES_BICEP.read_text(encoding="utf-8")
    block_start = roles.index("resource queueTrigger ")
    block_end = roles.index("\n}\n", block_start)
    block = roles[block_start:block_end].replace("roleIds.serviceBusDataOwner", "roleIds.serviceBusDataReceiver")
    planted = roles[:block_start] + block + roles[block_end:]
    assert _trigger_role_problems(planted) == ["the trigger's role is not Azure Service Bus Data Owner"]


def _var(bicep: str, name: str) -> str:
    found = re.search(rf"^var {name} = (.+)$", bicep, re.MULTILINE)
    assert found, name
    return found.group(1).strip()


def test_the_worker_concurrency_is_set_within_the_documented_limits() -> None:
    """One Python worker per vCPU (FUNCTIONS_WORKER_PROCESS_COUNT, at most 10; Elastic Premium only, Flex sizes its
    workers itself), a thread pool for activities that wait (PYTHON_THREADPOOL_THREAD_COUNT, at most 32) and Durable's
    limits derived from both (functions-app-settings.md; the reasoning is in the Bicep's comment)."""
    bicep = FUNCTION_APP_BICEP.read_text(encoding="utf-8")
    names = _app_settings(bicep)
    assert "PYTHON_THREADPOOL_THREAD_COUNT" in names and "FUNCTIONS_WORKER_PROCESS_COUNT" in names
    premium = bicep.split("var premiumSettings = [", 1)[1].split("]", 1)[0]
    assert "FUNCTIONS_WORKER_PROCESS_COUNT" in premium  # never on Flex Consumption
    assert 1 <= int(_var(bicep, "threadsPerWorker")) <= 32
    assert "'EP3' ? 4" in _var(bicep, "vcpus") and max(int(n) for n in re.findall(r"\d+", _var(bicep, "vcpus"))) <= 10
    assert _var(bicep, "activityConcurrency") == "vcpus * threadsPerWorker"
    assert "maxConcurrentActivityFunctions', value: string(activityConcurrency)" in bicep
    assert "maxConcurrentOrchestratorFunctions', value: string(orchestratorConcurrency)" in bicep
