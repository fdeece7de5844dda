"""Request bodies checked against a source we did not write: the SDK's generated models.

``azure-mgmt-recoveryservicessiterecovery`` 2.0.0 is generated from Microsoft's TypeSpec of the API: each model's
``_attr_to_rest_field`` lists the wire names it knows, and a polymorphic base's ``__mapping__`` resolves the
``instanceType`` discriminator to its class. A key the model does not know is a key the service does not document.
"""

from __future__ import annotations

import typing
from typing import Any

from azure.mgmt.recoveryservicessiterecovery import models as m


def rest_fields(cls: type) -> dict[str, Any]:
    """Wire name → the SDK's rest field of ``cls``."""
    cls()  # the generated model computes its field map on first construction
    fields: dict[str, Any] = cls._attr_to_rest_field  # type: ignore[attr-defined]
    return {field._rest_name: (name, field) for name, field in fields.items()}


def _model_of(cls: type, python_name: str) -> type | None:
    """The model class a field holds (itself or as list items), from the SDK's own annotations."""
    hints = typing.get_type_hints(cls, globalns=vars(m._models), localns={"_models": m})
    hint = hints.get(python_name)
    stack = [hint]
    while stack:
        current = stack.pop()
        if (isinstance(current, type) and hasattr(current, "_attr_to_rest_field")) or (
            isinstance(current, type) and issubclass(current, m._models._Model)  # type: ignore[attr-defined]
        ):
            return current
        stack.extend(typing.get_args(current))
    return None


def resolve(base: type, body: dict[str, Any]) -> type:
    """The class the discriminator ``instanceType`` names under ``base`` (KeyError when the SDK knows none)."""
    mapping: dict[str, type] = base.__mapping__  # type: ignore[attr-defined]
    return mapping[body["instanceType"]]


def unknown_keys(cls: type, body: Any, where: str = "") -> list[str]:
    """Every key of ``body`` (recursively) the SDK's model ``cls`` does not know, as a path."""
    if not isinstance(body, dict):
        return []
    known = rest_fields(cls)
    problems = []
    for key, value in body.items():
        if key not in known:
            problems.append(f"{where}{key}")
            continue
        nested = _model_of(cls, known[key][0])
        if nested is None:
            continue
        if hasattr(nested, "__mapping__") and isinstance(value, dict) and "instanceType" in value:
            nested = resolve(nested, value)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            suffix = f"[{index}]" if isinstance(value, list) else ""
            problems += unknown_keys(nested, item, f"{where}{key}{suffix}.")
    return problems


def unknown_rcm_keys(details: dict[str, Any]) -> list[str]:
    """Keys of an enable request's ``providerSpecificDetails`` unknown to ``InMageRcmEnableProtectionInput``,
    after checking that the discriminator resolves to that class."""
    cls = resolve(m.EnableProtectionProviderSpecificInput, details)
    assert cls is m.InMageRcmEnableProtectionInput, cls
    return unknown_keys(cls, details)
