"""What a scenario says about the emulated Azure resources: where ARM lives and which faults to plant.

The resources themselves are seeded from the scenario's request (:mod:`local.azure_resources.seed`): whatever the
wave lands on exists, and the pipeline's identity holds the roles ``infra/azure`` grants. A scenario removes
pieces of that with ``faults``:

.. code-block:: yaml

    azure:
      faults:
        missing_subnets: [apps]                      # subnet names never created (in any VNet)
        missing_roles: [Virtual Machine Contributor] # built-in roles not assigned to the pipeline's identity
        unreachable_storage: [migcache01]            # firewall denies, trusted Microsoft services not let through
        throttled_requests: 2                        # the first N ARM requests answer 429 with Retry-After
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from local.azure_resources.roles import BUILT_IN_ROLES


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AzureFaults(_Config):
    missing_subnets: list[str] = Field(default_factory=list)
    missing_roles: list[str] = Field(default_factory=list)
    unreachable_storage: list[str] = Field(default_factory=list)
    throttled_requests: Annotated[int, Field(ge=0, le=100)] = 0

    @field_validator("missing_roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = [role for role in roles if role not in BUILT_IN_ROLES]
        if unknown:
            raise ValueError(
                f"unknown built-in role {unknown[0]!r}; expected one of {', '.join(sorted(BUILT_IN_ROLES))}"
            )
        return roles


class AzureEstate(_Config):
    """The emulated Azure Resource Manager and the faults planted in it."""

    base_url: str = "https://management.azure-resources.emulator"
    location: str = "westeurope"
    principal_id: str = Field(
        default="5f0c1d2e-0000-4000-8000-00000000c0de", description="the pipeline's managed identity (object id)"
    )
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    faults: AzureFaults = Field(default_factory=AzureFaults)
