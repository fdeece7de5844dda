"""discover against real AWS without credentials, and what a draft says is still to fill."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.__main__ import main
from discovery.draft import PLACEHOLDER_TARGET, draft_request, header_comment, still_to_fill

_TARGET = {
    "subscription_id": "00000000-0000-0000-0000-000000000001",
    "resource_group": "rg",
    "region": "westeurope",
    "vault": {"name": "v", "resource_group": "rg-v"},
    "virtual_network_id": "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/vnet",
    "subnet": "apps",
    "cache_storage_account_id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/c",
}


_APPLIANCE = {
    "instance_id": "i-0123456789abcdef0",
    "private_ip": "10.0.1.4",
    "security_group_id": "sg-0123456789abcdef0",
}


def test_missing_aws_credentials_are_one_line_that_says_how_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("EC2AZ_API_URL", "ServiceBusConnection__fullyQualifiedNamespace", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("EC2AZ_LOCAL_STATE", str(tmp_path / "no-local-environment"))
    assert main(["discover", "--region", "eu-west-1"]) == 3
    out = capsys.readouterr().out
    assert "no AWS credentials found" in out and "AWS_PROFILE" in out and "local up" in out
    assert "Traceback" not in out


def test_a_full_mode_draft_without_a_test_network_names_it() -> None:
    request = draft_request(
        [], region="eu-west-1", request_id="r1", defaults={"mode": "full", "target": _TARGET, "appliance": _APPLIANCE}
    )
    assert [field.split(" ")[0] for field in still_to_fill(request)] == [
        "target.test_virtual_network_id",
        "target.test_subnet",
    ]
    header = header_comment([], request, has_defaults=True, price_label="prices")
    assert "target.test_subnet" in header
    defaults = {"mode": "replicate_only", "target": _TARGET, "appliance": _APPLIANCE}
    assert still_to_fill(draft_request([], region="eu-west-1", request_id="r1", defaults=defaults)) == []


def test_placeholders_left_are_named() -> None:
    request = draft_request([], region="eu-west-1", request_id="r1", defaults={"target": PLACEHOLDER_TARGET})
    missing = still_to_fill(request)
    assert "appliance.instance_id" in missing and "target.vault.name" in missing
