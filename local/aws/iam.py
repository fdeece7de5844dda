"""IAM in the emulated AWS: each Lambda runs under its execution role from the SAM template, enforced by moto.

The roles come from ``infra/aws/lambda_roles.json``, which ``infra/tools/sam_transform.py --roles`` writes from
the template as aws-sam-translator transforms it (inline policies, SAM policy templates expanded, the managed
policies SAM adds); ``tests/infra/test_iam_policies.py`` fails when it no longer matches the template.

moto's access control (``INITIAL_NO_AUTH_ACTION_COUNT``: after that many requests every request must be signed
by a principal moto knows) evaluates the ACTION of a request against the caller's policies, and nothing else
faithfully: it compares a statement's ``Resource`` with ``"*"`` (it does not know which resource a request is
on) and evaluates a ``Condition`` without any request context. A statement scoped to instance ARNs or by a tag
condition would therefore never match. So before a policy goes into moto, :func:`actions_only` widens every
statement to ``Resource: "*"`` without ``Condition``: moto then proves that each call's action is granted, and
resource and condition scoping are checked offline instead (parliament, tests/infra/test_structure.py).

In-process only (``mock_aws``): :func:`access_control` turns enforcement on for a block and returns the
credentials of an administrator (for seeding and for tests' own checks); :func:`provision_lambda_roles` creates
the roles and assumes each through moto's STS; :class:`InvocationCredentials` lets the local Lambda runtime sign
each invocation's calls with the credentials of the function being invoked.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials, ReadOnlyCredentials

from local.aws.seed import aws_client

LAMBDA_ROLES_FILE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "lambda_roles.json"
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ADMIN_USER = "estate-admin"
#: Requests moto serves unauthenticated before enforcing: the admin's CreateUser, PutUserPolicy, CreateAccessKey.
BOOTSTRAP_REQUESTS = 3


@dataclass(frozen=True)
class LambdaRole:
    """One Lambda's execution role as the transformed template defines it."""

    function: str
    role_name: str
    policies: dict[str, dict[str, Any]]
    managed_policy_arns: tuple[str, ...]

    def actions(self) -> set[str]:
        """Every action an Allow statement of the inline policies names (as written, wildcards included)."""
        found: set[str] = set()
        for document in self.policies.values():
            for statement in _statements(document):
                if statement.get("Effect") == "Allow":
                    found.update(_as_list(statement.get("Action", [])))
        return found


@dataclass(frozen=True)
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environ(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in _as_list(document.get("Statement", []))]


def load_lambda_roles(path: Path = LAMBDA_ROLES_FILE) -> dict[str, LambdaRole]:
    """The Lambdas' roles by handler folder (``inventory``, ``prepare_guest``, …)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the Lambda roles from {path}: {exc}") from exc
    return {
        function: LambdaRole(
            function=function,
            role_name=str(entry["role"]),
            policies={str(p["name"]): p["document"] for p in entry["policies"]},
            managed_policy_arns=tuple(entry["managed_policy_arns"]),
        )
        for function, entry in report["roles"].items()
    }


def actions_only(document: Mapping[str, Any]) -> dict[str, Any]:
    """The policy as moto can evaluate it: every statement on ``Resource: "*"``, without ``Condition``."""
    widened = copy.deepcopy(dict(document))
    statements = []
    for statement in _statements(widened):
        statement.pop("Condition", None)
        statement.pop("NotResource", None)
        statement["Resource"] = "*"
        statements.append(statement)
    widened["Statement"] = statements
    return widened


@functools.cache
def _managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415

    catalogue: dict[str, Any] = json.loads(aws_managed_policies_data)
    return catalogue


def managed_policy_document(arn: str) -> dict[str, Any]:
    """An AWS managed policy's document, from moto's copy of AWS's managed policies."""
    name = arn.rsplit("/", 1)[-1]
    catalogue = _managed_policies()
    if name not in catalogue:
        raise ValueError(f"moto does not know the managed policy {arn}")
    document: dict[str, Any] = catalogue[name]["Document"]
    return document


def provision_lambda_roles(iam: Any, sts: Any, roles: Mapping[str, LambdaRole]) -> dict[str, RoleCredentials]:
    """Create each role in moto (policies widened by :func:`actions_only`) and assume it: credentials by function.

    Managed policies are put in as inline policies named after them (moto loads AWS's managed policies only
    on request); the actions they grant are the same.
    """
    credentials: dict[str, RoleCredentials] = {}
    for function, role in sorted(roles.items()):
        arn = iam.create_role(RoleName=role.role_name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY))[
            "Role"
        ]["Arn"]
        documents = dict(role.policies)
        documents.update(
            {f"managed-{a.rsplit('/', 1)[-1]}": managed_policy_document(a) for a in role.managed_policy_arns}
        )
        for name, document in documents.items():
            iam.put_role_policy(
                RoleName=role.role_name, PolicyName=name, PolicyDocument=json.dumps(actions_only(document))
            )
        with _enforcement_paused():  # in AWS, the Lambda service assumes the role (the trust policy says so)
            issued = sts.assume_role(RoleArn=arn, RoleSessionName=function)["Credentials"]
        credentials[function] = RoleCredentials(
            issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
        )
    return credentials


def lambda_role_credentials(endpoint_url: str, region: str) -> dict[str, RoleCredentials]:
    """The Lambdas' roles created in the moto server at ``endpoint_url`` (started with ``enforce_iam``) and their
    credentials; the operator's fake credentials create them (the server does not check those)."""
    return provision_lambda_roles(
        aws_client("iam", region, endpoint_url), aws_client("sts", region, endpoint_url), load_lambda_roles()
    )


@contextmanager
def _enforcement_paused() -> Iterator[None]:
    """moto checks a trust policy only against AWS principals, never a service's: pause it for the assume
    (in this process's moto; the moto server does not check the operator who assumes the roles there)."""
    from moto import settings  # noqa: PLC0415

    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved


@functools.cache
def deny_as_aws_does() -> None:
    """moto refuses every protocol's calls with the query protocol's XML ``AccessDenied`` (HTTP 403); AWS answers
    a JSON-protocol call (SSM, Secrets Manager, DynamoDB: the requests with an ``X-Amz-Target``) with JSON
    ``AccessDeniedException`` (HTTP 400), which botocore parses into that error code. Without this the SDK sees an
    unparseable 403 and the gateways report a generic error instead of an access denial. Once per process."""
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415
    from moto.iam.access_control import IAMRequest  # noqa: PLC0415

    original = IAMRequest._raise_access_denied

    def raise_access_denied(self: Any) -> None:
        if "X-Amz-Target" in self._headers:
            message = f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
            raise JsonRESTError("AccessDeniedException", message)
        original(self)

    IAMRequest._raise_access_denied = raise_access_denied  # type: ignore[method-assign]


@contextmanager
def access_control(region: str) -> Iterator[RoleCredentials]:
    """Enforce IAM in this process's moto (inside ``mock_aws``) until the block ends; yields admin credentials."""
    import boto3  # noqa: PLC0415
    from moto import settings  # noqa: PLC0415
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: PLC0415

    deny_as_aws_does()
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
    settings.INITIAL_NO_AUTH_ACTION_COUNT = BOOTSTRAP_REQUESTS
    ActionAuthenticatorMixin.request_count = 0
    try:
        iam = boto3.session.Session().client("iam", region_name=region)
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(
            UserName=ADMIN_USER,
            PolicyName="administer-the-emulated-estate",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        yield RoleCredentials(key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved


class InvocationCredentials(Credentials):  # type: ignore[misc]  # botocore is untyped
    """botocore credentials that sign with whichever function's credentials are current.

    The local runtime's clients are shared by every function (as the wiring caches them); in Lambda each function
    has its own environment. The runtime sets :attr:`current` for the duration of one invocation.
    """

    def __init__(self) -> None:
        super().__init__("unset", "unset")
        self.current: RoleCredentials | None = None

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        if self.current is None:
            raise RuntimeError("an AWS call outside any Lambda invocation: no role to sign it with")
        c = self.current
        return ReadOnlyCredentials(c.access_key_id, c.secret_access_key, c.session_token)
