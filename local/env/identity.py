"""Who calls the local environment: the local stand-in for App Service authentication (Easy Auth).

In Azure, the Function App's built-in authentication validates the caller's Entra ID token and hands the function
``X-MS-CLIENT-PRINCIPAL-ID`` / ``-NAME``; principal headers a client sends are dropped. Locally the front door does
the same with a local credential, ``Authorization: Bearer local-operator:<name>``, which the CLI presents for the
local operator (``EC2AZ_LOCAL_OPERATOR``, else the OS user).
"""

from __future__ import annotations

import getpass
import os

#: Who the local operator is (default: the OS user).
ENV_LOCAL_OPERATOR = "EC2AZ_LOCAL_OPERATOR"
#: The local credential's prefix: ``Bearer local-operator:<name>``.
LOCAL_TOKEN_PREFIX = "local-operator:"  # noqa: S105 - a prefix, not a secret


def local_operator() -> str:
    return os.environ.get(ENV_LOCAL_OPERATOR) or getpass.getuser()


def local_bearer_token(name: str | None = None) -> str:
    """The ``Authorization`` value the CLI sends to the local environment."""
    return f"Bearer {LOCAL_TOKEN_PREFIX}{name or local_operator()}"


def local_principal_headers(name: str | None = None) -> dict[str, str]:
    """The headers App Service authentication would add for the caller ``name`` (default: the local operator)."""
    name = name or local_operator()
    return {"X-MS-CLIENT-PRINCIPAL-NAME": name, "X-MS-CLIENT-PRINCIPAL-ID": f"local:{name}"}


def authenticated_headers(headers: dict[str, str]) -> dict[str, str]:
    """The request headers (lower-case names) as the function sees them behind authentication: client-sent
    principal headers dropped, the principal of a local bearer credential added; no credential, no principal."""
    kept = {k: v for k, v in headers.items() if not k.startswith("x-ms-client-principal")}
    scheme, _, token = kept.pop("authorization", "").partition(" ")
    name = token.removeprefix(LOCAL_TOKEN_PREFIX) if token.startswith(LOCAL_TOKEN_PREFIX) else ""
    if scheme.lower() == "bearer" and name.strip():
        kept |= {k.lower(): v for k, v in local_principal_headers(name.strip()).items()}
    return kept
