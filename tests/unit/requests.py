"""Valid request documents to start tests from (copy, then break one thing)."""

import copy
from typing import Any

SUB = "00000000-0000-0000-0000-000000000001"


def arm(provider_type: str, name: str, group: str = "rg-mig") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{provider_type}/{name}"


VALID: dict[str, Any] = {
    "request_id": "wave-1",
    "environment": "dev",
    "region": "eu-west-1",
    "appliance": {
        "instance_id": "i-0a000000000000001",
        "private_ip": "10.0.1.10",
        "security_group_id": "sg-0a000001",
    },
    "target": {
        "subscription_id": SUB,
        "resource_group": "rg-mig",
        "region": "westeurope",
        "vault": {"name": "vault-mig", "resource_group": "rg-mig"},
        "virtual_network_id": arm("Microsoft.Network/virtualNetworks", "vnet-prod", "rg-net"),
        "subnet": "apps",
        "test_virtual_network_id": arm("Microsoft.Network/virtualNetworks", "vnet-test", "rg-net"),
        "test_subnet": "test",
        "cache_storage_account_id": arm("Microsoft.Storage/storageAccounts", "cachemig"),
    },
    "vms": [
        {"instance_id": "i-0b000000000000001", "target_vm_name": "web-01"},
        {"instance_id": "i-0b000000000000002", "os_type": "windows", "target_vm_name": "APP-01"},
    ],
}


def request(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data.update(changes)
    return data
