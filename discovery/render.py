"""The readiness report: a rich table for the terminal, JSON for tools, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from discovery.assess import Assessment, Readiness
from shared.sizing import PriceSnapshot

_STYLE = {Readiness.READY: "green", Readiness.READY_WITH_FIXES: "yellow", Readiness.NOT_READY: "red"}
CSV_COLUMNS = (
    "instance_id",
    "name",
    "os",
    "instance_type",
    "readiness",
    "reasons",
    "fixes",
    "azure_vm_size",
    "sizing_basis",
    "disk_types",
    "sizing_warnings",
    "estimated_monthly_cost",
    "currency",
)


def _os(a: Assessment) -> str:
    facts = a.facts
    return " ".join(p for p in (facts.os_name, facts.os_version) if p) or f"({facts.platform.value}, unknown)"


def _reasons(a: Assessment) -> list[str]:
    return [f"{f.severity.value}: {f.message}" for f in a.verdict.reasons]


def _sizing_warnings(a: Assessment) -> list[str]:
    warnings = list(a.sizing_problems)
    if a.size:
        warnings += [w for w in a.size.warnings if w not in warnings]
    return warnings


def _basis(a: Assessment) -> str:
    if a.size is None:
        return ""
    return f"{a.size.strategy}, {'performance-based' if a.size.performance_based else 'as-is'}"


def _cost(a: Assessment) -> float | None:
    return a.cost.total_monthly


def assessment_record(a: Assessment) -> dict[str, Any]:
    """One instance as a JSON-ready dict (the --json report's ``instances`` entries)."""
    return {
        "instance_id": a.instance_id,
        "name": a.facts.name,
        "os": _os(a),
        "platform": a.facts.platform.value,
        "instance_type": a.facts.instance_type,
        "state": a.facts.state,
        "readiness": a.readiness.value,
        "decision": a.verdict.decision.value,
        "reasons": [f.model_dump(mode="json") for f in a.verdict.reasons],
        "fixes": [f.model_dump(mode="json") for f in a.verdict.fixes],
        "sizing": None if a.size is None else a.size.model_dump(mode="json"),
        "sizing_problems": list(a.sizing_problems),
        "utilization": None if a.utilization is None else a.utilization.model_dump(mode="json"),
        "disks": [d.model_dump(mode="json") for d in a.disks],
        "estimated_cost": a.cost.model_dump(mode="json"),
    }


def report_json(assessments: Sequence[Assessment], prices: PriceSnapshot, *, region: str) -> str:
    counts = {r.value: sum(1 for a in assessments if a.readiness is r) for r in Readiness}
    document = {
        "region": region,
        "summary": counts,
        "cost_note": f"Monthly costs are {prices.label}; as of {prices.as_of}.",
        "instances": [assessment_record(a) for a in assessments],
    }
    return json.dumps(document, indent=2)


def report_csv(assessments: Sequence[Assessment]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in assessments:
        cost = _cost(a)
        writer.writerow(
            [
                a.instance_id,
                a.facts.name,
                _os(a),
                a.facts.instance_type,
                a.readiness.value,
                " | ".join(_reasons(a)),
                " | ".join(f.description for f in a.verdict.fixes),
                a.vm_size or "",
                _basis(a),
                " ".join(f"{d.device_name}={d.label}" for d in a.disks),
                " | ".join(_sizing_warnings(a)),
                "" if cost is None else f"{cost:.2f}",
                a.cost.currency,
            ]
        )
    return buffer.getvalue()


def readiness_table(assessments: Sequence[Assessment], prices: PriceSnapshot, *, region: str) -> Table:
    table = Table(
        title=f"EC2 instances in {region}: migration readiness",
        caption=f"Cost: estimated monthly {prices.currency}, pay-as-you-go, {prices.region} - {prices.source}",
        show_lines=True,
        expand=False,
    )
    table.add_column("Instance", no_wrap=True)
    table.add_column("Name")
    table.add_column("OS")
    table.add_column("Type", no_wrap=True)
    table.add_column("Readiness", no_wrap=True)
    table.add_column("Reasons", ratio=3, min_width=30)
    table.add_column("Azure size", no_wrap=True)
    table.add_column("Disks")
    table.add_column("Est. monthly", justify="right", no_wrap=True)
    for a in assessments:
        reasons = Text()
        for f in a.verdict.reasons:
            style = "red" if f.severity.value == "error" else "yellow"
            reasons.append(f"• {f.message}\n", style=style)
        for fix in a.verdict.fixes:
            reasons.append(f"↻ {fix.description}\n", style="cyan")
        for warning in _sizing_warnings(a):
            reasons.append(f"≈ {warning}\n", style="dim")
        reasons.rstrip()
        cost = _cost(a)
        table.add_row(
            a.instance_id,
            a.facts.name,
            _os(a),
            a.facts.instance_type,
            Text(a.readiness.value, style=_STYLE[a.readiness]),
            reasons if reasons.plain else Text("-"),
            (a.vm_size or "-") + (" (perf)" if a.size and a.size.performance_based else ""),
            "\n".join(f"{d.device_name} {d.size_gib}G→{d.label}" for d in a.disks) or "-",
            "-" if cost is None else f"~{cost:,.2f}",
        )
    return table


def print_report(console: Console, assessments: Sequence[Assessment], prices: PriceSnapshot, *, region: str) -> None:
    console.print(readiness_table(assessments, prices, region=region))
    counts = {r: sum(1 for a in assessments if a.readiness is r) for r in Readiness}
    total = sum(c for a in assessments if a.readiness is not Readiness.NOT_READY and (c := _cost(a)) is not None)
    console.print(
        f"{counts[Readiness.READY]} ready, {counts[Readiness.READY_WITH_FIXES]} ready with fixes, "
        f"{counts[Readiness.NOT_READY]} not ready. Estimated monthly cost of the ready VMs: "
        f"~{total:,.2f} {prices.currency} (estimate only, {prices.source})."
    )
