"""``python -m cli discover``: list, assess and size EC2 instances, print the report, write the draft request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from aws_lambdas.gateways.clients import make_client
from aws_lambdas.gateways.ssm import Boto3SsmGateway
from discovery.assess import Assessment, assess
from discovery.draft import draft_request, header_comment, load_defaults, request_yaml, still_to_fill
from discovery.instance_types import catalog_for
from discovery.inventory import ManagedInstanceLookup, gather_facts, list_instance_ids
from discovery.metrics import CloudWatchUtilization, UtilizationSource
from discovery.options import DiscoverOptions
from discovery.render import print_report, report_csv, report_json
from shared.errors import InvalidRequestError, MigrationError
from shared.sizing import AzureCatalog, PriceSnapshot, Utilization, load_catalog, load_prices, utilization_from_series

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
#: What to do when boto3's credential chain finds nothing (one line, exit code 3).
MISSING_CREDENTIALS = (
    "discover: no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`) or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run where an instance or task role applies, "
    "or start the local environment with `python -m cli local up`"
)


@dataclass(frozen=True)
class DiscoverDependencies:
    """The AWS ports discover uses. Locally: moto's EC2 client and the guest emulator's SSM gateway."""

    ec2_client: Any
    ssm: ManagedInstanceLookup
    utilization: UtilizationSource | None = None
    catalog: AzureCatalog | None = None
    prices: PriceSnapshot | None = None


def aws_dependencies(region: str) -> DiscoverDependencies:
    """boto3 clients for ``region`` (endpoint and credentials from the standard AWS environment)."""
    return DiscoverDependencies(
        ec2_client=make_client("ec2", region),
        ssm=Boto3SsmGateway(region),
        utilization=CloudWatchUtilization(make_client("cloudwatch", region)),
    )


@dataclass(frozen=True)
class DiscoverResult:
    assessments: list[Assessment]
    not_found: list[str]
    request: dict[str, Any]


def discover(options: DiscoverOptions, deps: DiscoverDependencies, *, now: datetime | None = None) -> DiscoverResult:
    """Everything discover computes, without printing or writing."""
    catalog = deps.catalog or load_catalog()
    prices = deps.prices or load_prices()
    ids = list_instance_ids(deps.ec2_client, options.ec2_filters(), options.instance_ids)
    inventory = gather_facts(deps.ec2_client, deps.ssm, options.region, ids)
    types = catalog_for(deps.ec2_client, options.region).specs(f.instance_type for f in inventory.facts)
    assessments = []
    for facts in inventory.facts:
        utilization: Utilization | None = None
        if options.performance:
            if deps.utilization is None:
                raise InvalidRequestError("--performance needs a metrics source (CloudWatch)")
            utilization = utilization_from_series(
                deps.utilization.cpu_percent(facts.instance_id, options.days),
                deps.utilization.memory_percent(facts.instance_id, options.days),
                days=options.days,
                comfort_factor=options.comfort,
            )
        assessments.append(
            assess(
                facts,
                types.get(facts.instance_type),
                catalog=catalog,
                prices=prices,
                strategy=options.strategy,
                utilization=utilization,
            )
        )
    defaults = load_defaults(options.target) if options.target else None
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M")
    request = draft_request(
        assessments,
        region=options.region,
        request_id=options.request_id or f"discovered-{options.region}-{stamp}",
        defaults=defaults,
    )
    not_found = [i for i in options.instance_ids if i not in ids] + inventory.not_found
    return DiscoverResult(assessments=assessments, not_found=list(dict.fromkeys(not_found)), request=request)


def run_discover(
    args: DiscoverOptions,
    console: Console,
    *,
    deps: DiscoverDependencies | None = None,
    now: datetime | None = None,
) -> int:
    """The CLI entry point: 0 done, 1 AWS failed, 2 bad input. Without ``deps`` it talks to AWS through boto3."""
    from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

    try:
        result = discover(args, deps or aws_dependencies(args.region), now=now)
    except NoCredentialsError:
        console.print(f"[red]{MISSING_CREDENTIALS}[/red]")
        return EXIT_ENVIRONMENT
    except InvalidRequestError as error:
        console.print(f"[red]discover: {error}[/red]")
        return EXIT_USAGE
    except MigrationError as error:
        console.print(f"[red]discover failed: {error}[/red]")
        return EXIT_FAILED
    prices = (deps.prices if deps else None) or load_prices()
    if args.json_output:
        console.print_json(report_json(result.assessments, prices, region=args.region))
    elif not result.assessments:
        console.print(f"No EC2 instance in {args.region} matches the filters.")
    else:
        print_report(console, result.assessments, prices, region=args.region)
    if result.not_found:
        console.print(f"[yellow]Not found in {args.region}: {', '.join(result.not_found)}[/yellow]")
    if args.csv_path:
        args.csv_path.write_text(report_csv(result.assessments), encoding="utf-8")
        if not args.json_output:
            console.print(f"Report written to {args.csv_path} (CSV).")
    if args.out:
        header = header_comment(
            result.assessments, result.request, has_defaults=args.target is not None, price_label=prices.label
        )
        args.out.write_text(request_yaml(result.request, header), encoding="utf-8")
        if not args.json_output:
            todo = "" if args.target else " - fill in the <REPLACE-ME> values before submitting"
            console.print(f"Draft request with {len(result.request['vms'])} VM(s) written to {args.out}{todo}.")
            if args.target and still_to_fill(result.request):
                console.print(f"[yellow]Still to fill in: {', '.join(still_to_fill(result.request))}[/yellow]")
    return EXIT_OK
