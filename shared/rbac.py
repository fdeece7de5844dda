"""Azure RBAC: which control-plane actions a caller may perform, from what ARM says it holds (pure).

ARM's "Permissions - List For Resource" and "- List For Resource Group" (``GET {scope}/providers/
Microsoft.Authorization/permissions?api-version=2022-04-01``) answer the caller's permissions at a scope as a list
of entries, one per role assignment that applies there (inherited ones included), each with ``actions``,
``notActions``, ``dataActions`` and ``notDataActions``. Microsoft documents how to read them ("Understand Azure role
definitions", MicrosoftDocs/azure-docs ``articles/role-based-access-control/role-definitions.md``):

- an action string may hold the wildcard ``*``, which stands for any run of characters, ``/`` included
  (``*/read``, ``Microsoft.Network/*/read``, ``Microsoft.Compute/virtualMachines/*``);
- ``Actions - NotActions = effective control plane permissions`` of one role: NotActions subtract only from that
  role's own Actions;
- "NotActions is not a deny rule": if a second role grants an action the first one excludes, the action is allowed.
  Permissions are the union over the entries.

Operation names are case-insensitive in Azure (the built-in roles themselves mix ``listkeys``/``listKeys`` and
``Microsoft.Authorization/*/Delete`` for ``.../roleAssignments/delete``), so matching ignores case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PermissionEntry", "is_allowed", "missing_actions"]


class PermissionEntry(BaseModel):
    """One entry of the permissions list (the ARM ``Permission`` shape, keys as ARM spells them)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = Field(default=(), alias="notActions")
    data_actions: tuple[str, ...] = Field(default=(), alias="dataActions")
    not_data_actions: tuple[str, ...] = Field(default=(), alias="notDataActions")


@lru_cache(maxsize=4096)
def _pattern(action: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in action.strip().split("*"))
    return re.compile(".*".join(parts), re.IGNORECASE | re.DOTALL)


def _matches(pattern: str, action: str) -> bool:
    return _pattern(pattern).fullmatch(action.strip()) is not None


def _entry_allows(entry: PermissionEntry, action: str) -> bool:
    granted = any(_matches(pattern, action) for pattern in entry.actions)
    return granted and not any(_matches(pattern, action) for pattern in entry.not_actions)


def is_allowed(action: str, permissions: Iterable[PermissionEntry]) -> bool:
    """Whether ``action`` (a concrete operation such as ``Microsoft.Storage/storageAccounts/read``) is granted."""
    return any(_entry_allows(entry, action) for entry in permissions)


def missing_actions(required: Sequence[str], permissions: Sequence[PermissionEntry]) -> tuple[str, ...]:
    """The ``required`` actions the permissions do not grant, in the order given."""
    return tuple(action for action in required if not is_allowed(action, permissions))
