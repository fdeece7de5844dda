"""The local front door plays App Service authentication: identity comes from the credential presented, never
from principal headers a client sends."""

from __future__ import annotations

from local.env.identity import authenticated_headers, local_bearer_token


def test_a_local_credential_becomes_the_principal_headers() -> None:
    seen = authenticated_headers({"authorization": local_bearer_token("ann"), "content-type": "application/json"})
    assert seen == {
        "content-type": "application/json",
        "x-ms-client-principal-name": "ann",
        "x-ms-client-principal-id": "local:ann",
    }


def test_principal_headers_sent_by_a_client_are_dropped() -> None:
    forged = {"x-ms-client-principal-name": "admin", "x-ms-client-principal-id": "x", "x-ms-client-principal": "e30="}
    assert authenticated_headers(forged) == {}
    assert (
        authenticated_headers({**forged, "authorization": local_bearer_token("ann")})["x-ms-client-principal-name"]
        == "ann"
    )


def test_no_or_another_credential_gives_no_principal() -> None:
    for authorization in ("", "Bearer", "Bearer local-operator:", "Basic local-operator:ann", "Bearer eyJ0eXAi"):
        assert authenticated_headers({"authorization": authorization}) == {}
