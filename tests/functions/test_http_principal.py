"""Who calls approve / cancel: the principal App Service authentication passes in its headers.

The decoded ``X-MS-CLIENT-PRINCIPAL`` shape (``auth_typ``, ``claims`` of ``typ``/``val``, ``name_typ``,
``role_typ``) and the ``-ID`` / ``-NAME`` headers are Microsoft's ("Work with user identities in Azure App Service
authentication", learn.microsoft.com/azure/app-service/configure-authentication-user-identities).
"""

from __future__ import annotations

import base64
import json

import azure.functions as func

from functions.triggers.http import _principal

NAME_TYP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
OID_TYP = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _request(headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/waves/w/approve", headers=headers, body=b"{}")


def _encoded(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_the_id_and_name_headers_are_the_principal() -> None:
    headers = {"X-MS-CLIENT-PRINCIPAL-ID": "0b1c-oid", "X-MS-CLIENT-PRINCIPAL-NAME": "ann@contoso.example"}
    assert _principal(_request(headers)) == ("0b1c-oid", "ann@contoso.example")


def test_the_encoded_principal_gives_name_and_object_id_from_its_claims() -> None:
    payload = {
        "auth_typ": "aad",
        "claims": [{"typ": NAME_TYP, "val": "bob@contoso.example"}, {"typ": OID_TYP, "val": "77aa-oid"}],
        "name_typ": NAME_TYP,
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    assert _principal(_request({"X-MS-CLIENT-PRINCIPAL": _encoded(payload)})) == ("77aa-oid", "bob@contoso.example")


def test_no_headers_is_no_principal_and_a_malformed_one_is_named() -> None:
    assert _principal(_request({})) == ("", "")
    assert _principal(_request({"X-MS-CLIENT-PRINCIPAL": "not base64!"})) == (
        "X-MS-CLIENT-PRINCIPAL: not base64-encoded JSON with claims"
    )
