"""The deployment's own settings: infra sets them (functionapp.bicep), the function app reads them and refuses a
request meant for another environment or another vault before anything starts."""

from __future__ import annotations

import copy

import pytest

from functions.settings import DeploymentVault, FunctionAppSettings
from shared.errors import InvalidRequestError
from shared.request import Environment, parse_request
from tests.unit.requests import SUB, VALID

DEPLOYMENT = {
    "MIGRATION_ENVIRONMENT": "dev",
    "SITE_RECOVERY_SUBSCRIPTION_ID": SUB,
    "SITE_RECOVERY_RESOURCE_GROUP": "rg-mig",
    "SITE_RECOVERY_VAULT_NAME": "vault-mig",
}


def test_the_deployment_comes_from_the_settings_infra_sets() -> None:
    settings = FunctionAppSettings.from_env(DEPLOYMENT)
    assert settings.environment is Environment.DEV
    assert settings.vault == DeploymentVault(subscription_id=SUB, resource_group="rg-mig", name="vault-mig")
    assert settings.refusals(parse_request(copy.deepcopy(VALID))) == []


@pytest.mark.parametrize(
    "missing", ["MIGRATION_ENVIRONMENT", "SITE_RECOVERY_RESOURCE_GROUP", "SITE_RECOVERY_VAULT_NAME"]
)
def test_a_deployment_without_its_environment_or_vault_names_the_missing_setting(missing: str) -> None:
    settings = {name: value for name, value in DEPLOYMENT.items() if name != missing}
    with pytest.raises(InvalidRequestError, match=f"invalid function app settings: {missing} not set"):
        FunctionAppSettings.from_env(settings)


def test_an_unknown_environment_names_its_setting() -> None:
    with pytest.raises(InvalidRequestError, match="MIGRATION_ENVIRONMENT: Input should be 'dev', 'test' or 'prod'"):
        FunctionAppSettings.from_env({**DEPLOYMENT, "MIGRATION_ENVIRONMENT": "staging"})


def test_another_environments_request_is_refused() -> None:
    request = parse_request({**copy.deepcopy(VALID), "environment": "prod"})
    assert FunctionAppSettings.from_env(DEPLOYMENT).refusals(request) == [
        "environment: the request is for prod, this deployment is dev"
    ]


def test_a_request_naming_another_vault_is_refused_and_names_a_vm_override() -> None:
    settings = FunctionAppSettings.from_env(DEPLOYMENT)
    other = copy.deepcopy(VALID)
    other["target"]["vault"] = {"name": "vault-other", "resource_group": "rg-mig"}
    (refusal,) = settings.refusals(parse_request(other))
    assert refusal == (
        f"target.vault: vault vault-other (subscription {SUB}, resource group rg-mig) is not this deployment's "
        f"vault vault-mig (subscription {SUB}, resource group rg-mig)"
    )
    override = copy.deepcopy(VALID)
    override["vms"][1]["target"] = {"vault": {"name": "vault-mig", "resource_group": "rg-elsewhere"}}
    (refusal,) = settings.refusals(parse_request(override))
    assert refusal.startswith("vms[1].target.vault: vault vault-mig (")


def test_the_vault_compares_case_insensitively_and_by_subscription() -> None:
    settings = FunctionAppSettings.from_env(DEPLOYMENT)
    same = copy.deepcopy(VALID)
    same["target"]["vault"] = {"name": "Vault-MIG", "resource_group": "RG-Mig"}
    assert settings.refusals(parse_request(same)) == []
    other_subscription = copy.deepcopy(VALID)
    other_subscription["target"]["subscription_id"] = "00000000-0000-0000-0000-000000000002"
    assert len(settings.refusals(parse_request(other_subscription))) == 1


def test_environment_and_vault_are_both_reported() -> None:
    both = copy.deepcopy(VALID)
    both["environment"] = "test"
    both["target"]["vault"] = {"name": "vault-other", "resource_group": "rg-mig"}
    assert len(FunctionAppSettings.from_env(DEPLOYMENT).refusals(parse_request(both))) == 2
