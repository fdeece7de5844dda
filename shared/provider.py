"""The one Site Recovery replication provider the pipeline speaks, and the rule that refuses the retired one.

Microsoft retired the classic stack (provider ``InMageAzureV2``, the configuration server and process server of
the tutorial): no new replication after 31 March 2026, fully retired on 30 September 2026. Only the modernized
appliance (provider ``InMageRcm``, Azure Migrate's "simplified experience") remains. Every module that names a
provider imports :class:`Provider` from here (the request, the Lambda contracts, the Site Recovery ports).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator


class Provider(StrEnum):
    """Site Recovery replication provider: the modernized appliance (CSPrime, agent configuration file)."""

    INMAGE_RCM = "InMageRcm"


#: Providers Azure no longer accepts, with the reason a request naming one is refused.
RETIRED_PROVIDERS: dict[str, str] = {
    "inmageazurev2": (
        f"InMageAzureV2 (classic) was retired by Microsoft on 30 September 2026; use {Provider.INMAGE_RCM.value}"
    ),
}


def retired_provider_reason(value: object) -> str | None:
    """Why ``value`` names a retired provider (compared case-insensitively), or None."""
    if isinstance(value, str):
        return RETIRED_PROVIDERS.get(value.strip().lower())
    return None


def _refuse_retired(value: Any) -> Any:
    if (reason := retired_provider_reason(value)) is not None:
        raise ValueError(reason)
    return value


#: A provider field: the retired provider is refused with its retirement reason, anything else unknown with
#: the usual "expected 'InMageRcm'".
ProviderField = Annotated[Provider, BeforeValidator(_refuse_retired)]
