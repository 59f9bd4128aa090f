"""Assertions on the SDK's exceptions: our error body's Code becomes `e.code`, the status
`e.status_code`, the body itself `e.data`, and Message and RequestId are embedded in
`e.message` (`code: <status>, <Message> request id: <RequestId>`)."""
from __future__ import annotations

import pytest
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from darabonba.runtime import RuntimeOptions


def expect_error(call, code: str, status: int = 400, names: tuple[str, ...] = ()):
    """Runs `call`, which must raise the SDK exception for our error `code`; returns it."""
    with pytest.raises(AlibabaCloudException) as info:
        call()
    e = info.value
    assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
    assert e.status_code == status, f"{code}: status {e.status_code}"
    body = e.data or {}
    assert body.get("Code") == code
    assert body.get("Success") is False
    assert body.get("RequestId"), "every error carries a RequestId"
    assert body.get("Message") and body["Message"] in e.message
    assert body["RequestId"] in e.message
    for name in names:
        assert name in body["Message"], f"{code} message should name {name}: {body['Message']}"
    return e


def raw_call(client, action: str, body: dict | None = None, version: str = "2021-09-01"):
    """An RPC call through the SDK's generic call_api (for actions/versions it has no method for)."""
    params = open_api_util_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    req = open_api_util_models.OpenApiRequest(body=body or {})
    return client.call_api(params, req, RuntimeOptions())
