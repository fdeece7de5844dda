"""The Function App's HTTP API sits behind App Service authentication (Easy Auth) with the operator API's Entra ID
app registration: a request without a valid token gets 401 from the platform, and approve and cancel receive the
caller (``X-MS-CLIENT-PRINCIPAL-*``) they require (functions/triggers/http.py, EC2AZ_REQUIRE_AUTHENTICATED_CALLER).

Property names: SiteAuthSettingsV2 in Azure/azure-rest-api-specs
``specification/web/resource-manager/Microsoft.Web/stable/2024-04-01/WebApps.json`` and MicrosoftDocs/azure-docs
``articles/app-service/configure-authentication-file-based.md``. Each check is shown to catch its planted defect.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.conftest import AZURE_DIR, ENVIRONMENTS

pytestmark = pytest.mark.infra

FUNCTION_APP_BICEP = AZURE_DIR / "modules" / "functionapp.bicep"
MAIN_BICEP = AZURE_DIR / "main.bicep"
#: Where the operator API lives (``http.routePrefix`` default ``api``; routes ``waves/...``).
OPERATOR_ROUTE = "/api/waves/w1/approve"
_CONFIG_RESOURCE = re.compile(r"^resource (?P<symbol>\w+) 'Microsoft\.Web/sites/config@[^']+' = \{", re.MULTILINE)
_KEY = re.compile(r"[A-Za-z_]\w*|'[^']*'")


class _BicepObject:
    """Just enough of Bicep's object/array literal syntax to read a resource body: nested objects and arrays,
    single-quoted strings, true/false; any other value is kept as its expression text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _skip(self, i: int) -> int:
        while i < len(self.text):
            if self.text[i] in " \t\r\n,":
                i += 1
            elif self.text.startswith("//", i):
                i = self.text.find("\n", i) if "\n" in self.text[i:] else len(self.text)
            elif self.text.startswith("/*", i):
                i = self.text.index("*/", i) + 2
            else:
                break
        return i

    def value(self, i: int) -> tuple[Any, int]:
        i = self._skip(i)
        char = self.text[i]
        if char == "{":
            return self._object(i + 1)
        if char == "[":
            return self._array(i + 1)
        if char == "'":
            end = i + 1
            while self.text[end] != "'" or self.text[end - 1] == "\\":
                end += 1
            return self.text[i + 1 : end].replace("\\'", "'"), end + 1
        end = min(p for p in (self.text.find("\n", i), len(self.text)) if p >= 0)
        raw = re.sub(r"\s*//.*$", "", self.text[i:end]).strip()
        return {"true": True, "false": False}.get(raw, raw), end

    def _object(self, i: int) -> tuple[dict[str, Any], int]:
        found: dict[str, Any] = {}
        while (i := self._skip(i)) < len(self.text) and self.text[i] != "}":
            key = _KEY.match(self.text, i)
            assert key is not None, f"not a Bicep object key at {self.text[i : i + 40]!r}"
            i = self._skip(key.end())
            assert self.text[i] == ":", f"expected ':' after {key.group()!r}"
            found[key.group().strip("'")], i = self.value(i + 1)
        return found, i + 1

    def _array(self, i: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while (i := self._skip(i)) < len(self.text) and self.text[i] != "]":
            item, i = self.value(i)
            items.append(item)
        return items, i + 1


def auth_settings(bicep: str) -> dict[str, Any] | None:
    """The body of the ``Microsoft.Web/sites/config`` resource named ``authsettingsV2``, or None."""
    for match in _CONFIG_RESOURCE.finditer(bicep):
        body, _ = _BicepObject(bicep).value(match.end() - 1)
        if body.get("name") == "authsettingsV2":
            return dict(body)
    return None


def _get(node: Any, *path: str) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _excluded(route: str, pattern: str) -> bool:
    """Whether an ``excludedPaths`` entry (a path, ``*`` as wildcard) lets ``route`` through unauthenticated."""
    regex = "^" + re.escape(pattern.rstrip("/")).replace(r"\*", ".*") + "(/.*)?$"
    return re.match(regex, route) is not None


def auth_problems(bicep: str) -> list[str]:
    """What lets an unauthenticated or wrongly-audienced caller through to the HTTP API (empty when nothing)."""
    body = auth_settings(bicep)
    if body is None:
        return ["no Microsoft.Web/sites/config 'authsettingsV2' resource: App Service authentication is off"]
    problems = []
    if body.get("parent") != "site":
        problems.append(f"authsettingsV2 belongs to {body.get('parent')!r}, not the function app (site)")
    settings = body.get("properties") or {}
    if _get(settings, "platform", "enabled") is not True:
        problems.append("platform.enabled is not true")
    if _get(settings, "globalValidation", "requireAuthentication") is not True:
        problems.append("globalValidation.requireAuthentication is not true")
    if (action := _get(settings, "globalValidation", "unauthenticatedClientAction")) != "Return401":
        problems.append(f"globalValidation.unauthenticatedClientAction is {action!r}, not 'Return401'")
    for pattern in _get(settings, "globalValidation", "excludedPaths") or []:
        if _excluded(OPERATOR_ROUTE, str(pattern)):
            problems.append(f"globalValidation.excludedPaths {pattern!r} lets {OPERATOR_ROUTE} through unauthenticated")
    aad = _get(settings, "identityProviders", "azureActiveDirectory") or {}
    if aad.get("enabled") is not True:
        problems.append("identityProviders.azureActiveDirectory.enabled is not true")
    if _get(aad, "registration", "clientId") != "operatorApiClientId":
        problems.append("azureActiveDirectory.registration.clientId is not the operatorApiClientId parameter")
    issuer = str(_get(aad, "registration", "openIdIssuer") or "")
    if not (issuer.endswith("${subscription().tenantId}/v2.0") or issuer.endswith("${tenant().tenantId}/v2.0")):
        problems.append(f"azureActiveDirectory.registration.openIdIssuer {issuer!r} is not this tenant's v2.0 issuer")
    if "api://${operatorApiClientId}" not in (_get(aad, "validation", "allowedAudiences") or []):
        problems.append("azureActiveDirectory.validation.allowedAudiences lacks api://<operatorApiClientId>")
    if _get(settings, "login", "tokenStore", "enabled") is not False:
        problems.append("login.tokenStore.enabled is not false")
    return problems


def test_the_http_api_requires_an_entra_id_token_for_the_operator_api() -> None:
    assert auth_problems(FUNCTION_APP_BICEP.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "  parent: site\n  name: 'authsettingsV2'",
            "  parent: site\n  name: 'web'",
            "no Microsoft.Web/sites/config 'authsettingsV2' resource: App Service authentication is off",
        ),
        (
            "unauthenticatedClientAction: 'Return401'",
            "unauthenticatedClientAction: 'AllowAnonymous'",
            "globalValidation.unauthenticatedClientAction is 'AllowAnonymous', not 'Return401'",
        ),
        (
            "requireAuthentication: true",
            "requireAuthentication: false",
            "globalValidation.requireAuthentication is not true",
        ),
        (
            "unauthenticatedClientAction: 'Return401'\n",
            "unauthenticatedClientAction: 'Return401'\n      excludedPaths: [\n        '/api/*'\n      ]\n",
            f"globalValidation.excludedPaths '/api/*' lets {OPERATOR_ROUTE} through unauthenticated",
        ),
        (
            "    platform: {\n      enabled: true",
            "    platform: {\n      enabled: false",
            "platform.enabled is not true",
        ),
        (
            "          'api://${operatorApiClientId}'\n",
            "",
            "azureActiveDirectory.validation.allowedAudiences lacks api://<operatorApiClientId>",
        ),
    ],
    ids=["missing", "allow-anonymous", "not-required", "excluded-api", "platform-off", "no-audience"],
)
def test_a_planted_gap_fails_the_check(old: str, new: str, problem: str) -> None:
    bicep = FUNCTION_APP_BICEP.read_text(encoding="utf-8")
    assert old in bicep
    assert auth_problems(bicep.replace(old, new, 1)) == [problem]


def test_excluded_paths_that_leave_the_operator_api_alone_are_allowed() -> None:
    assert not _excluded(OPERATOR_ROUTE, "/runtime/webhooks/eventgrid")
    assert _excluded(OPERATOR_ROUTE, "/api")
    assert _excluded(OPERATOR_ROUTE, "/*")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_names_the_operator_api_registration(environment: str) -> None:
    main = MAIN_BICEP.read_text(encoding="utf-8")
    assert re.search(r"@minLength\(36\)\s+@maxLength\(36\)\s+param operatorApiClientId string\n", main)
    assert "    operatorApiClientId: operatorApiClientId\n" in main, "main.bicep must pass it to the function app"
    text = (AZURE_DIR / f"{environment}.bicepparam").read_text(encoding="utf-8")
    assert re.search(r"^param operatorApiClientId = \S", text, re.MULTILINE)
