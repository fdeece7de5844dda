"""``python -m cli``: run, submit, watch and report migrations.

Exit codes: 0 all VMs completed; 1 some VMs failed or were rejected (demo/simulate: the run did not end as the
scenario's ``expect`` says); 2 bad input or usage; 3 environment problem (credentials, an unreachable endpoint,
no local environment, interrupted). Errors are one line, never a traceback (``cli/outcome.py``).

With ``EC2AZ_API_URL`` (the function app's base URL; ``EC2AZ_API_SCOPE`` to sign in to it with Entra ID) and
``ServiceBusConnection__fullyQualifiedNamespace`` set, submit/status/approve/cancel/dlq talk to the deployed
function app and queue; without them, to the local environment started by ``python -m cli local up`` through
the same code (``cli/cloud.py``). ``demo`` and ``simulate`` run a scenario to its end on the embedded default,
with its scripted operator and faults.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.outcome import EXIT_CODES_HELP, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, classify

ROOT = Path(__file__).resolve().parents[1]
DEMO_SCENARIO = ROOT / "local" / "scenarios" / "demo.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2, its message printed already)
        return EXIT_OK if exit_.code in {0, None} else EXIT_USAGE
    console = Console(stderr=False)
    handler: Callable[[argparse.Namespace, Console], int] = args.handler
    try:
        return handler(args, console)
    except (Exception, KeyboardInterrupt) as error:
        outcome = classify(error)
        for line in outcome.lines:
            console.print(line, highlight=False, soft_wrap=True)
        return outcome.code
    finally:
        if "local.host.loop" in sys.modules:  # a local host ran: close the Durable SDK's aiohttp session
            sys.modules["local.host.loop"].close_sdk_session()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cli", description=__doc__.splitlines()[0], epilog=EXIT_CODES_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the bundled demo wave on the embedded default")
    demo.add_argument("--no-live", action="store_true", help="print the summary only, no live view")
    demo.set_defaults(handler=cmd_demo)

    simulate = commands.add_parser("simulate", help="run a scenario file to the end on the embedded default")
    simulate.add_argument("scenario", type=Path, help="scenario YAML (see local/README.md)")
    simulate.add_argument("--json", dest="json_out", type=Path, help="write the wave summary as JSON here")
    simulate.add_argument("--report", type=Path, default=Path("reports"), help="report directory (default reports/)")
    simulate.add_argument("--state", type=Path, help="state directory (default .state/runs/<scenario>)")
    simulate.add_argument("--no-live", action="store_true", help="no live view")
    simulate.set_defaults(handler=cmd_simulate)

    submit = commands.add_parser("submit", help="submit a migration request (Service Bus, or the embedded default)")
    submit.add_argument("request", type=Path, help="request file (YAML or JSON); `select:` is resolved first")
    submit.add_argument("--env", choices=["dev", "test", "prod"], help="override the request's environment")
    submit.set_defaults(handler=cmd_submit)

    status = commands.add_parser("status", help="status of a wave, or of one VM")
    status.add_argument("request_id", nargs="?", help="request id (default: the last local run)")
    status.add_argument("--vm", help="an EC2 instance id of the wave")
    status.add_argument("--state", type=Path, help="local state directory (default: the last local run)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=cmd_status)

    for name, verb in (("approve", "approve cutover"), ("cancel", "cancel the migration")):
        action = commands.add_parser(name, help=f"{verb} for a wave or one VM (deployed function app)")
        action.add_argument("request_id")
        action.add_argument("--vm", help="an EC2 instance id of the wave (default: every waiting VM)")
        action.add_argument("--by", required=True, help="your display name (the approver is who authenticated)")
        if name == "cancel":
            action.add_argument(
                "--rollback",
                action="store_true",
                help="also cancel a failover Site Recovery accepted (removes the Azure VM, then restarts the source)",
            )
        action.set_defaults(handler=cmd_operator, action=name)

    report = commands.add_parser("report", help="write the Markdown and HTML report of a wave")
    report.add_argument("request_id", nargs="?", help="request id (default: the last local run)")
    report.add_argument("--state", type=Path, help="local state directory (default: the last local run)")
    report.add_argument("--out", type=Path, default=Path("reports"), help="directory (default reports/)")
    report.set_defaults(handler=cmd_report)

    _dlq_commands(commands)

    schema = commands.add_parser("schema", help="print the JSON Schema of the migration request")
    schema.set_defaults(handler=cmd_schema)

    discover = commands.add_parser("discover", help="find EC2 instances, judge readiness, right-size, draft a request")
    _discover_arguments(discover)
    discover.set_defaults(handler=cmd_discover)

    from cli.local_env import add_commands  # noqa: PLC0415 - `local up|status|down|reset|estate|advance`

    add_commands(commands)
    return parser


def _dlq_commands(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="dead-lettered requests: list them, or replay one")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dlq_list = dlq_commands.add_parser("list", help="list dead-lettered messages with their reasons")
    dlq_list.add_argument("--state", type=Path, help="local state directory (default: the last local run)")
    dlq_list.add_argument("--json", action="store_true", help="print JSON")
    dlq_list.set_defaults(handler=cmd_dlq_list)
    dlq_replay = dlq_commands.add_parser("replay", help="put a dead-lettered message back on the queue")
    dlq_replay.add_argument("message_id")
    dlq_replay.add_argument("--state", type=Path, help="local state directory (default: the last local run)")
    dlq_replay.set_defaults(handler=cmd_dlq_replay)


# --- commands ----------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from local.scenario import load_scenario  # noqa: PLC0415 - heavy imports only for the commands that need them

    return _run(load_scenario(DEMO_SCENARIO), console, live=not args.no_live, report_dir=Path("reports"))


def cmd_simulate(args: argparse.Namespace, console: Console) -> int:
    from local.scenario import load_scenario  # noqa: PLC0415

    return _run(
        load_scenario(args.scenario),
        console,
        live=not args.no_live,
        report_dir=args.report,
        state_dir=args.state,
        json_out=args.json_out,
    )


def _run(
    scenario: Any,
    console: Console,
    *,
    live: bool,
    report_dir: Path | None,
    state_dir: Path | None = None,
    json_out: Path | None = None,
    request: dict[str, Any] | None = None,
) -> int:
    from cli.local_run import run_scenario  # noqa: PLC0415

    console.print(f"[bold]{scenario.name}[/]: {scenario.description}".strip())
    result = run_scenario(
        scenario, console=console, state_dir=state_dir, report_dir=report_dir, live=live, request=request
    )
    outcome = result.outcome
    if outcome.summary is None:
        console.print(f"[red]the wave did not finish: {outcome.runtime_status}[/]")
        return EXIT_FAILED
    _print_summary(console, outcome.summary, result.names)
    console.print(
        f"{len(outcome.summary.vms)} VMs, {outcome.virtual_hours:.1f} h of migration time in "
        f"{result.real_seconds:.1f} s real time; state in {result.state_dir}"
    )
    if result.report_paths:
        console.print(f"report: {result.report_paths[0]}  and  {result.report_paths[1]}")
    if json_out is not None:
        json_out.write_text(outcome.summary.model_dump_json(indent=2), encoding="utf-8")
        console.print(f"summary: {json_out}")
    for mismatch in result.mismatches:
        console.print(f"[red]unexpected:[/] {mismatch}")
    if request is not None:  # an operator's request: 0 only when every VM completed
        return EXIT_FAILED if any(vm.state.value in {"failed", "rejected"} for vm in outcome.summary.vms) else EXIT_OK
    return EXIT_FAILED if result.mismatches else EXIT_OK  # a scenario: 0 when it ended as its `expect` says


def _print_summary(console: Console, summary: Any, names: dict[str, str]) -> None:
    table = Table(
        title=f"wave {summary.request_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    )
    for column in ("VM", "instance", "outcome", "cause / notes"):
        table.add_column(column, overflow="fold")
    for vm in summary.vms:
        notes = f"{vm.error.step.value}: {vm.error.message}" if vm.error else "; ".join(vm.reasons[:1])
        if vm.state.value == "rejected":
            notes = "; ".join(reason for reason in vm.reasons if reason.startswith("error"))
        table.add_row(names.get(vm.instance_id, vm.name), vm.instance_id, vm.state.value, notes[:200])
    console.print(table)


def cmd_submit(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415
    from shared.request import parse_request  # noqa: PLC0415

    raw = cloud.load_request_file(args.request)
    if args.env:
        raw["environment"] = args.env
    if "select" not in raw:
        parse_request(raw)  # bad input is reported as such (exit 2) wherever it would be submitted to
    if not cloud.configured():
        console.print(
            "[red]nowhere to submit to:[/] no deployment configured (EC2AZ_API_URL, "
            "ServiceBusConnection__fullyQualifiedNamespace) and no local environment running "
            "(`python -m cli local up`)"
        )
        return EXIT_ENVIRONMENT
    raw = cloud.resolve_selection_with_boto3(raw)
    request = parse_request(raw)
    message_id = cloud.submit(request)
    where = "the local environment" if cloud.local_endpoint() else "the deployment"
    console.print(f"submitted {request.request_id} ({len(request.vms)} VMs) to {where} as message {message_id}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415

    local = cloud.local_endpoint() if args.state is None else None
    if local is not None and not args.request_id:
        from cli.local_env import latest_wave  # noqa: PLC0415

        args.request_id = latest_wave(local)
    if (cloud.deployment_configured() or local is not None) and args.request_id:
        status = _status_of(lambda path: cloud.api("GET", path), args.request_id, args.vm, {})
    else:
        status = _local_status(args.state, args.request_id, args.vm)
    if status is None:
        what = " ".join(part for part in (args.request_id, f"with a VM {args.vm}" if args.vm else "") if part)
        console.print(f"[red]not found:[/] no wave {what}".rstrip())
        return EXIT_USAGE
    if args.json:
        console.print_json(json.dumps(status, default=str))
        return EXIT_OK
    _print_status(console, status)
    return EXIT_OK


def _status_of(
    get: Callable[[str], Any], request_id: str, vm: str | None, names: dict[str, str]
) -> dict[str, Any] | None:
    """GET the wave, or one of its VMs named by instance id, name or target VM name (the same API everywhere)."""
    from cli.status_view import find_vm  # noqa: PLC0415

    wave: dict[str, Any] | None = get(f"waves/{request_id}")
    if wave is None or vm is None:
        return wave
    output: dict[str, Any] = wave["output"] if isinstance(wave.get("output"), dict) else {}
    instance_id = find_vm([*(wave.get("vms") or []), *(output.get("vms") or [])], vm, names) or vm
    answer: dict[str, Any] | None = get(f"waves/{request_id}/vms/{instance_id}")
    return answer


def _local_status(state: Path | None, request_id: str | None, vm: str | None) -> dict[str, Any] | None:
    from cli.local_run import last_state_dir, run_names  # noqa: PLC0415
    from local.app import open_stored_host  # noqa: PLC0415

    state_dir = last_state_dir(state)
    with open_stored_host(state_dir) as host:
        waves = [s for s in host.instances(prefix="wave-") if "-batch-" not in s.instance_id]
        if request_id is None and waves:
            request_id = waves[-1].instance_id.removeprefix("wave-")
        if request_id is None:
            return None

        def get(path: str) -> Any:
            response = host.invoke_http(path, "GET")
            return None if response.status_code == 404 else json.loads(response.get_body())

        return _status_of(get, request_id, vm, run_names(state_dir))


def _print_status(console: Console, status: dict[str, Any]) -> None:
    from cli.status_view import headline, health  # noqa: PLC0415

    if "vms" not in status:
        console.print_json(json.dumps(status, default=str))
        return
    console.print(headline(status), highlight=False)
    table = Table()
    for column in ("instance", "name", "state", "health", "detail"):
        table.add_column(column, overflow="fold")
    for vm in status["vms"]:
        error = vm.get("error") or {}
        detail = f"{error.get('code')}: {error.get('message')}" if error else vm.get("detail", "")
        table.add_row(vm.get("instance_id", ""), vm.get("name", ""), vm.get("state", ""), health(vm), detail)
    console.print(table)


def cmd_operator(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415

    if not cloud.configured():
        console.print(
            "[yellow]no deployed function app configured (EC2AZ_API_URL) and no local environment running "
            "(`python -m cli local up`).[/] In `cli demo`/`simulate` approvals come from the scenario's `operator:`."
        )
        return EXIT_ENVIRONMENT
    body = {"by": args.by, **({"vm": args.vm} if args.vm else {})}
    if getattr(args, "rollback", False):
        body["rollback"] = True
    answer = cloud.api("POST", f"waves/{args.request_id}/{args.action}", body) or {}
    done = answer.get("approved") or answer.get("cancelled") or []
    if done:
        console.print(f"{args.action}: {', '.join(done)}")
    for instance, reason in (answer.get("refused") or {}).items():
        console.print(f"[yellow]{instance}[/] {reason}")
    if not done:
        console.print(answer.get("error") or f"{args.action}: no such wave or VM")
    return EXIT_OK if done else EXIT_FAILED


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415
    from cli.local_run import last_state_dir, read_events  # noqa: PLC0415
    from local.app import open_stored_host  # noqa: PLC0415
    from reporting import WaveReport, write_report  # noqa: PLC0415
    from shared.lifecycle import VmProgress  # noqa: PLC0415
    from shared.pipeline import WaveSummary  # noqa: PLC0415

    local = cloud.local_endpoint() if args.state is None else None
    if local is not None:
        from cli.local_env import report_inputs  # noqa: PLC0415

        found = report_inputs(local, args.request_id)
        if found is None:
            console.print("no finished wave to report on" + (f" for {args.request_id}" if args.request_id else ""))
            return EXIT_FAILED
        report = WaveReport.from_run(*found, environment="local", clock="virtual")
        markdown, html = write_report(report, args.out)
        console.print(f"report: {markdown}  and  {html}")
        return EXIT_OK
    state_dir = last_state_dir(args.state)
    with open_stored_host(state_dir) as host:
        waves = [s for s in host.instances(prefix="wave-") if "-batch-" not in s.instance_id]
        wave = next((s for s in waves if args.request_id in {None, s.instance_id.removeprefix("wave-")}), None)
        if wave is None or wave.runtime_status != "Completed":
            console.print("no finished wave to report on" + (f" for {args.request_id}" if args.request_id else ""))
            return EXIT_USAGE
        summary = WaveSummary.model_validate(wave.output)
        progress = [
            VmProgress.model_validate(s.custom_status)
            for s in host.instances(prefix=f"vm-{summary.request_id}-")
            if isinstance(s.custom_status, dict)
        ]
    events = list(read_events(state_dir).read())
    report = WaveReport.from_run(summary, progress, events, environment="local", clock="virtual")
    markdown, html = write_report(report, args.out)
    console.print(f"report: {markdown}  and  {html}")
    return EXIT_OK


def cmd_dlq_list(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415

    use_cloud = cloud.deployment_configured() or (cloud.local_endpoint() is not None and args.state is None)
    rows = cloud.dead_letters() if use_cloud else _local_dead_letters(args.state)
    if args.json:
        console.print_json(json.dumps(rows, default=str))
        return EXIT_OK
    table = Table(title=f"{len(rows)} dead-lettered request(s)")
    for column in ("message id", "enqueued", "reason", "description", "cause"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["message_id"], str(row["enqueued"]), row["reason"], row["description"][:300], row["cause"][:300]
        )
    console.print(table)
    return EXIT_OK


def _local_dead_letters(state: Path | None) -> list[dict[str, Any]]:
    from cli import dlq  # noqa: PLC0415
    from cli.local_run import last_state_dir, read_events  # noqa: PLC0415
    from functions.settings import REQUESTS_QUEUE  # noqa: PLC0415
    from local.app import open_stored_host  # noqa: PLC0415

    state_dir = last_state_dir(state)
    with open_stored_host(state_dir) as host:
        found = [
            {
                "message_id": message.message_id,
                "enqueued": message.enqueued_time,
                "reason": message.dead_letter_reason or "",
                "description": message.dead_letter_description or "",
            }
            for message in host.dead_letters(REQUESTS_QUEUE)
        ]
    return dlq.rows(found, dlq.rejection_causes(read_events(state_dir).read()))


def cmd_dlq_replay(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud, dlq  # noqa: PLC0415

    if cloud.deployment_configured() or (cloud.local_endpoint() is not None and args.state is None):
        replay = cloud.replay_dead_letter(args.message_id)
    else:
        from cli.local_run import last_state_dir  # noqa: PLC0415
        from functions.settings import REQUESTS_QUEUE  # noqa: PLC0415
        from local.app import open_stored_host  # noqa: PLC0415

        with open_stored_host(last_state_dir(args.state)) as host:
            replay = dlq.replay_local(host, REQUESTS_QUEUE, args.message_id)
    console.print(
        f"replayed {replay.dead_letter_message_id} as message {replay.new_message_id} "
        f"(replay {replay.replay_count} of {replay.original_message_id}); the queue accepted it"
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from shared.request_schema import request_json_schema  # noqa: PLC0415

    sys.stdout.write(json.dumps(request_json_schema(), indent=2) + "\n")
    return EXIT_OK


def _discover_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", required=True, help="AWS region to list")
    parser.add_argument("--filter", dest="filters", action="append", default=[], help="tag:KEY=VALUE (repeatable)")
    parser.add_argument("--instance-ids", default="", help="comma-separated instance ids")
    parser.add_argument("--out", type=Path, help="write the draft request here (YAML)")
    parser.add_argument("--target", type=Path, help="target defaults (YAML) for the draft request")
    parser.add_argument("--json", dest="json_output", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", dest="csv_path", type=Path, help="also write the table as CSV")
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "general", "memory", "compute", "burstable"],
        help="Azure size family strategy",
    )
    parser.add_argument("--performance", action="store_true", help="size on CloudWatch p95 utilisation")
    parser.add_argument("--days", type=int, default=30, help="days of metrics for --performance")
    parser.add_argument("--comfort", type=float, default=1.3, help="comfort factor for --performance")
    parser.add_argument("--request-id", help="request id of the draft")


def cmd_discover(args: argparse.Namespace, console: Console) -> int:
    from cli import cloud  # noqa: PLC0415
    from discovery.command import run_discover  # noqa: PLC0415
    from discovery.options import DiscoverOptions  # noqa: PLC0415

    options = DiscoverOptions(
        region=args.region,
        filters=tuple(args.filters),
        instance_ids=tuple(i for i in args.instance_ids.split(",") if i),
        out=args.out,
        target=args.target,
        json_output=args.json_output,
        csv_path=args.csv_path,
        strategy=args.strategy,
        performance=args.performance,
        days=args.days,
        comfort=args.comfort,
        request_id=args.request_id,
    )
    cloud.use_local_aws()  # the local environment's moto when it is up and no deployment is configured
    return run_discover(options, console)


if __name__ == "__main__":
    # Ctrl-C stops the CLI with one line (exit 3) even when it was started with SIGINT ignored, as a shell's
    # background job or some process supervisors do: Python then leaves the inherited SIG_IGN in place.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
