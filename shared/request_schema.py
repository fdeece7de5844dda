"""The JSON Schema of a request file, generated from :class:`~shared.request.MigrationRequest`.

Pydantic writes the fields, types, bounds, enums and (through ``shared.request._Matching``) every string pattern.
What the model checks in code is added here in JSON Schema terms, next to nothing else, so the schema accepts what
:func:`~shared.request.parse_request` accepts (``tests/unit/test_request_schema.py`` proves it on every bundled
and documented request and on the bad-request corpus):

- the text forms of ``availability`` (``none``, ``zone:N``, ``set:<id>``) and ``disk_encryption``
  (``platform``, ``customer:<id>``, ``double:<id>``), and their exclusions;
- Windows VM names (1-15 characters) when ``os_type`` is ``windows``;
- a test network and subnet for every VM unless ``mode`` is ``replicate_only``;
- ``select:`` instead of ``vms`` in a request *file* (the CLI resolves it to ``vms`` before it queues the request).

Three checks compare items with each other and cannot be written in JSON Schema: an instance listed twice, the
appliance listed as a VM, and two VMs with the same target name. The schema's description says so.
"""

from __future__ import annotations

import copy
from typing import Any

from shared.request import (
    _LINUX_VM_NAME,
    _WINDOWS_VM_NAME,
    MAX_VMS_PER_REQUEST,
    MigrationRequest,
    _arm_id,
    anchored,
)

#: ``select.filters`` names besides ``tag:KEY`` (``discovery/select.py`` checks the same).
SELECT_FILTERS = ("instance-type", "vpc-id", "subnet-id")

_NOT_IN_SCHEMA = (
    "Checked by the validator only (items compared with each other): an instance listed twice, the replication "
    "appliance listed as a VM, two VMs with the same target_vm_name."
)


def _has(*names: str) -> dict[str, Any]:
    return {"type": "object", "required": list(names), "properties": {name: {"type": "string"} for name in names}}


def _availability(defs: dict[str, Any]) -> None:
    text = f"^(?:none|zone:0*[1-3]|set:{_arm_id('Microsoft.Compute/availabilitySets')})$"
    as_object = defs.pop("Availability")
    as_object["not"] = {
        "required": ["zone", "set_id"],
        "properties": {"zone": {"type": "integer"}, "set_id": {"type": "string"}},
    }
    defs["Availability"] = {
        "description": as_object.get("description", ""),
        "anyOf": [{"type": "string", "pattern": text}, as_object],
    }


def _disk_encryption(defs: dict[str, Any]) -> None:
    des = _arm_id("Microsoft.Compute/diskEncryptionSets")
    text = f"^(?:platform:?|(?:customer|double):{des})$"
    as_object = defs.pop("DiskEncryption")
    as_object["allOf"] = [
        {
            "if": {"properties": {"type": {"const": "platform"}}},
            "then": {"properties": {"disk_encryption_set_id": {"type": "null"}}},
        },
        {
            "if": {"required": ["type"], "properties": {"type": {"enum": ["customer", "double"]}}},
            "then": _has("disk_encryption_set_id"),
        },
    ]
    defs["DiskEncryption"] = {
        "description": as_object.get("description", ""),
        "anyOf": [{"type": "string", "pattern": text}, as_object],
    }


def _vm_names(defs: dict[str, Any]) -> None:
    vm = defs["VmSpec"]
    vm["properties"]["target_vm_name"]["anyOf"][0]["pattern"] = anchored(_LINUX_VM_NAME.pattern)
    vm["allOf"] = [
        {
            "if": {"required": ["os_type"], "properties": {"os_type": {"const": "windows"}}},
            "then": {
                "properties": {
                    "target_vm_name": {
                        "anyOf": [
                            {"type": "string", "pattern": anchored(f"(?!\\d+\\s*$){_WINDOWS_VM_NAME.pattern}")},
                            {"type": "null"},
                        ]
                    }
                }
            },
        }
    ]


def _test_network() -> dict[str, Any]:
    network, subnet = "test_virtual_network_id", "test_subnet"

    def every_vm(target: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["target"], "properties": {"target": target}}

    return {
        "if": {"required": ["mode"], "properties": {"mode": {"const": "replicate_only"}}},
        "else": {
            "anyOf": [
                {"properties": {"target": _has(network, subnet)}},
                {
                    "required": ["vms"],
                    "properties": {"target": _has(network), "vms": {"items": every_vm(_has(subnet))}},
                },
                {
                    "required": ["vms"],
                    "properties": {"target": _has(subnet), "vms": {"items": every_vm(_has(network))}},
                },
                {"required": ["vms"], "properties": {"vms": {"items": every_vm(_has(network, subnet))}}},
            ]
        },
    }


def _selection(schema: dict[str, Any]) -> None:
    region = copy.deepcopy(schema["properties"]["region"])
    region.pop("description", None)
    value = {"type": ["string", "number"]}
    schema["properties"]["select"] = {
        "description": f"instead of vms: the instances matching these filters (at most {MAX_VMS_PER_REQUEST})",
        "type": "object",
        "additionalProperties": False,
        "required": ["filters"],
        "properties": {
            "region": region,
            "filters": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": f"^(?:tag:.+|{'|'.join(SELECT_FILTERS)})$"},
                "additionalProperties": {
                    "anyOf": [value, {"type": "array", "minItems": 1, "items": value}],
                },
            },
        },
    }
    schema["required"] = [name for name in schema["required"] if name != "vms"]
    schema["oneOf"] = [{"required": ["vms"]}, {"required": ["select"]}]


def _key_patterns(node: Any) -> None:
    """Pydantic puts a mapping's key pattern in ``patternProperties`` only, which lets other keys through."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            node["propertyNames"] = {"pattern": next(iter(patterns))}
        for child in node.values():
            _key_patterns(child)
    elif isinstance(node, list):
        for child in node:
            _key_patterns(child)


def request_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a request file, for editors and other tools."""
    schema = MigrationRequest.model_json_schema()
    defs = schema["$defs"]
    _availability(defs)
    _disk_encryption(defs)
    _vm_names(defs)
    _selection(schema)
    _key_patterns(schema)
    schema["allOf"] = [_test_network()]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "EC2 to Azure migration request"
    schema["description"] = f"{schema.get('description', '')} {_NOT_IN_SCHEMA}".strip()
    return schema
