"""What ``discover`` is asked to do: an argparse-free options model (the CLI builds it from its flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from discovery.inventory import parse_filter
from shared.errors import InvalidRequestError
from shared.sizing import SizingStrategy


class DiscoverOptions(BaseModel):
    """Flags of ``python -m cli discover`` (see the field descriptions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="--region: AWS region to discover")
    filters: tuple[str, ...] = Field(default=(), description="--filter tag:K=V (repeatable; all must match)")
    instance_ids: tuple[str, ...] = Field(default=(), description="--instance-ids i-... (only these)")
    out: Path | None = Field(default=None, description="--out wave.yaml: write the draft request there")
    target: Path | None = Field(default=None, description="--target defaults.yaml: appliance and target settings")
    json_output: bool = Field(default=False, description="--json: print the report as JSON instead of a table")
    csv_path: Path | None = Field(default=None, description="--csv FILE: also write the report as CSV")
    strategy: SizingStrategy = Field(default=SizingStrategy.AUTO, description="--strategy")
    performance: bool = Field(default=False, description="--performance: size on CloudWatch p95 utilisation")
    days: Annotated[int, Field(ge=1, le=455)] = Field(default=30, description="--days N of metrics")
    comfort: Annotated[float, Field(ge=1.0, le=4.0)] = Field(default=1.3, description="--comfort factor")
    request_id: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9-]{2,62}$", description="--request-id of the draft"
    )

    @field_validator("filters")
    @classmethod
    def _filters_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                parse_filter(text)
            except InvalidRequestError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("instance_ids")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ids = tuple(dict.fromkeys(i.strip() for part in value for i in part.split(",") if i.strip()))
        bad = [i for i in ids if not (i.startswith("i-") and len(i) in {10, 19})]
        if bad:
            raise ValueError(f"expected EC2 instance ids like i-0123456789abcdef0, got {', '.join(bad[:5])}")
        return ids

    def ec2_filters(self) -> dict[str, list[str]]:
        filters: dict[str, list[str]] = {}
        for text in self.filters:
            name, value = parse_filter(text)
            filters.setdefault(name, []).extend(v for v in value.split(",") if v)
        return filters
