"""The CLI signs in to a deployment: with ``EC2AZ_API_SCOPE`` it sends ``Authorization: Bearer <Entra ID token>``
(from azure-identity's DefaultAzureCredential, faked here) and the function key when ``EC2AZ_API_KEY`` is set; no
credential, or a token the app refuses, is one line saying how to sign in, exit 3; the token is never shown."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError

from cli import cloud
from cli.__main__ import main
from cli.outcome import EXIT_ENVIRONMENT, EXIT_OK

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.secret-token-payload.signature"  # a fake token
SCOPE = "api://00000000-0000-0000-0000-0000000000aa/.default"


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out TOKEN, or raises what it was given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken(TOKEN, 4_102_444_800)


class FunctionApp(BaseHTTPRequestHandler):
    """Records each request's headers; answers with ``status`` and a body naming the approved VM."""

    seen: list[dict[str, str]] = []  # reset by the fixture
    status = 202

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        FunctionApp.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"approved": ["i-0abc"], "refused": {}} if self.status == 202 else {"error": "401"})
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A stand-in function app on loopback, configured as the CLI's deployment."""
    FunctionApp.seen = []
    FunctionApp.status = 202
    server = ThreadingHTTPServer(("127.0.0.1", 0), FunctionApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    monkeypatch.setenv(cloud.ENV_API_URL, url)
    for name in (cloud.ENV_API_KEY, cloud.ENV_API_SCOPE, "ServiceBusConnection__fullyQualifiedNamespace"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def _use(monkeypatch: pytest.MonkeyPatch, credential: FakeCredential) -> FakeCredential:
    monkeypatch.setattr(cloud, "_azure_credential", lambda: credential)
    return credential


def test_a_signed_in_approve_sends_the_token_and_the_function_key(
    deployment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    credential = _use(monkeypatch, FakeCredential())
    monkeypatch.setenv(cloud.ENV_API_SCOPE, SCOPE)
    monkeypatch.setenv(cloud.ENV_API_KEY, "function-key")
    caplog.set_level(logging.DEBUG)
    assert main(["approve", "wave-1", "--by", "Ann"]) == EXIT_OK
    assert credential.scopes == [(SCOPE,)]
    (headers,) = FunctionApp.seen
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-functions-key"] == "function-key"
    output = capsys.readouterr()
    assert "approve: i-0abc" in output.out
    assert TOKEN not in output.out + output.err + caplog.text


def test_without_a_function_key_only_the_token_is_sent(deployment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, FakeCredential())
    monkeypatch.setenv(cloud.ENV_API_SCOPE, SCOPE)
    assert cloud.api("GET", "waves/wave-1") == {"approved": ["i-0abc"], "refused": {}}
    (headers,) = FunctionApp.seen
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-functions-key" not in headers


def test_without_a_scope_no_sign_in_is_attempted(deployment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    credential = _use(monkeypatch, FakeCredential())
    monkeypatch.setenv(cloud.ENV_API_KEY, "function-key")
    cloud.api("GET", "waves/wave-1")
    assert credential.scopes == []
    (headers,) = FunctionApp.seen
    assert "authorization" not in headers and headers["x-functions-key"] == "function-key"


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"), "CredentialUnavailableError"),
        (
            CredentialUnavailableError("AzureCliCredential: AADSTS65001: The user has not consented\nmore lines"),
            "CredentialUnavailableError, AADSTS65001",
        ),
    ],
)
def test_no_credential_is_one_line_naming_az_login_and_exit_3(
    deployment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception, why: str
) -> None:
    _use(monkeypatch, FakeCredential(error))
    monkeypatch.setenv(cloud.ENV_API_SCOPE, SCOPE)
    assert main(["cancel", "wave-1", "--by", "Ann"]) == EXIT_ENVIRONMENT
    output = capsys.readouterr().out
    (line,) = output.strip().splitlines()
    assert line.startswith(f"environment: [NotSignedIn] no Entra ID token for {SCOPE} ({why}): sign in with `az login`")
    assert FunctionApp.seen == [], "nothing is sent without a token"


@pytest.mark.parametrize("scope", [SCOPE, None])
def test_a_refused_or_missing_token_is_an_environment_problem_that_says_how_to_sign_in(
    deployment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: Any,
    scope: str | None,
) -> None:
    _use(monkeypatch, FakeCredential())
    if scope:
        monkeypatch.setenv(cloud.ENV_API_SCOPE, scope)
    FunctionApp.status = 401
    caplog.set_level(logging.DEBUG)
    assert main(["approve", "wave-1", "--by", "Ann"]) == EXIT_ENVIRONMENT
    output = capsys.readouterr()
    (line,) = output.out.strip().splitlines()
    assert line.startswith("environment: [NotSignedIn] POST waves/wave-1/approve: HTTP 401, no signed-in caller: ")
    assert (f"its token for {scope} was refused" if scope else "sign in with `az login`") in line
    assert TOKEN not in output.out + output.err + caplog.text
