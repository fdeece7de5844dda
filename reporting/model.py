"""The wave report: everything the operator's report shows, gathered from the wave's summary, progress and events.

A :class:`WaveReport` holds only fields of the pipeline's own models (results, progress records, events), which
carry no secret; the renderers still escape every string, since names and tags come from users.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.lifecycle import VmProgress
from shared.pipeline import EventType, MigrationEvent, VmResult, WaveSummary

Clock = Literal["virtual", "wall"]


class WaveReport(BaseModel):
    """One wave's outcome as the report renders it.

    ``progress`` has one record per VM that started (VMs that never started have none); ``events`` are the
    events published for the wave. ``clock`` says whether the times are the local host's virtual clock or
    the wall clock.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: WaveSummary
    progress: list[VmProgress] = Field(default_factory=list)
    events: list[MigrationEvent] = Field(default_factory=list)
    generated_at: datetime
    environment: str = ""
    clock: Clock = "virtual"
    title: str = ""

    @model_validator(mode="after")
    def _progress_belongs_to_the_wave(self) -> Self:
        request_id = self.summary.request_id
        seen: set[str] = set()
        for index, record in enumerate(self.progress):
            if record.request_id != request_id:
                raise ValueError(
                    f"progress[{index}] ({record.instance_id}) belongs to request {record.request_id!r}, "
                    f"not to this wave's {request_id!r}"
                )
            if record.instance_id in seen:
                raise ValueError(f"progress[{index}]: a second progress record for {record.instance_id}")
            seen.add(record.instance_id)
        return self

    @classmethod
    def from_run(
        cls,
        summary: WaveSummary,
        progress: Iterable[VmProgress],
        events: Iterable[MigrationEvent],
        *,
        environment: str = "",
        clock: Clock = "virtual",
        generated_at: datetime | None = None,
        title: str = "",
    ) -> WaveReport:
        """Build a report from whatever the host has: keeps this wave's progress (the latest record per VM)
        and events (plus rejected-request events, which carry no request id), ordered by time (then id)."""
        latest: dict[str, VmProgress] = {}
        for record in progress:
            if record.request_id != summary.request_id:
                continue
            known = latest.get(record.instance_id)
            if known is None or as_utc(record.updated_at) >= as_utc(known.updated_at):
                latest[record.instance_id] = record
        wave_events = [
            event
            for event in events
            if event.request_id == summary.request_id
            or (event.type is EventType.REQUEST_REJECTED and not event.request_id)
        ]
        wave_events.sort(key=lambda event: (as_utc(event.at), event.event_id))
        return cls(
            summary=summary,
            progress=list(latest.values()),
            events=wave_events,
            generated_at=generated_at or datetime.now(UTC),
            environment=environment,
            clock=clock,
            title=title,
        )

    @property
    def environment_label(self) -> str:
        """The request's environment, and where the run happened when that differs (``dev (run on local)``)."""
        wanted, where = self.summary.environment, self.environment
        if wanted and where and where != wanted:
            return f"{wanted} (run on {where})"
        return wanted or where or "unspecified"

    @property
    def heading(self) -> str:
        return self.title or f"Migration wave {self.summary.request_id}"

    def rows(self) -> list[VmRow]:
        """Every VM of the wave, in the summary's order, with its progress record when there is one."""
        by_instance = {record.instance_id: record for record in self.progress}
        return [VmRow(result=result, progress=by_instance.get(result.instance_id)) for result in self.summary.vms]


class VmRow(BaseModel):
    """One VM's result joined with its progress record."""

    model_config = ConfigDict(frozen=True)

    result: VmResult
    progress: VmProgress | None = None

    @property
    def name(self) -> str:
        return self.result.name or (self.progress.name if self.progress else "")

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.result.reasons or (self.progress.reasons if self.progress else ())

    @property
    def rolled_back(self) -> tuple[str, ...]:
        """What was rolled back or reverted, from the result and the progress record, each once, in order."""
        items = (*self.result.rolled_back, *(self.progress.rolled_back if self.progress else ()))
        return tuple(dict.fromkeys(items))

    @property
    def error(self) -> StepErrorView | None:
        error = self.result.error or (self.progress.error if self.progress else None)
        if error is None:
            return None
        return StepErrorView(step=error.step.value, code=error.code, message=error.message, transient=error.transient)

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (as_utc(self.result.finished_at) - as_utc(self.result.started_at)).total_seconds())


class StepErrorView(BaseModel):
    """The failure as the report shows it."""

    model_config = ConfigDict(frozen=True)

    step: str
    code: str
    message: str
    transient: bool


def as_utc(moment: datetime) -> datetime:
    """Timezone-aware UTC (a naive time is taken as UTC), so times from any source compare and subtract."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
