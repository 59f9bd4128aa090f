"""Hand-made ACS3-HMAC-SHA256 requests, signed by the SDK's own signer
(`alibabacloud_tea_openapi.utils.Utils.get_authorization`), sent with http.client so every
header is exactly what the test says."""
from __future__ import annotations

import hashlib
import http.client
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit

from alibabacloud_tea_openapi.utils import Utils

ALGORITHM = "ACS3-HMAC-SHA256"
VERSION = "2021-09-01"


@dataclass
class _Req:
    """The shape Utils.get_authorization reads."""

    method: str
    pathname: str
    query: dict
    headers: dict


@dataclass
class Response:
    status: int
    body: dict = field(default_factory=dict)

    @property
    def code(self):
        return self.body.get("Code")


def acs_date(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stale_date(minutes: int = 20) -> str:
    return acs_date(datetime.now(timezone.utc) - timedelta(minutes=minutes))


def build(base_url: str, action: str, body: dict | None = None, query: dict | None = None, *,
          ak_id: str | None = None, secret: str | None = None, date: str | None = None,
          nonce: str | None = None, version: str = VERSION):
    """Returns (authority, target, headers, body bytes); signed when ak_id and secret are given."""
    authority = urlsplit(base_url).netloc
    query = {k: str(v) for k, v in (query or {}).items()}
    form = urlencode(sorted((k, str(v)) for k, v in (body or {}).items())).encode()
    headers = {
        "host": authority,
        "x-acs-version": version,
        "x-acs-action": action,
        "user-agent": "image-catalog-sdk-tests",
        "x-acs-date": date or acs_date(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "accept": "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": hashlib.sha256(form).hexdigest(),
    }
    if ak_id is not None and secret is not None:
        req = _Req("POST", "/", query, headers)
        headers["Authorization"] = Utils.get_authorization(
            req, ALGORITHM, headers["x-acs-content-sha256"], ak_id, secret)
    target = "/" + ("?" + urlencode(query) if query else "")
    return authority, target, headers, form


def send(authority: str, target: str, headers: dict, body: bytes, timeout: float = 30) -> Response:
    conn = http.client.HTTPConnection(authority, timeout=timeout)
    try:
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"_raw": raw.decode("utf-8", "replace")}
    return Response(resp.status, parsed if isinstance(parsed, dict) else {"_json": parsed})


def call(base_url: str, action: str, body: dict | None = None, query: dict | None = None, **kw) -> Response:
    return send(*build(base_url, action, body, query, **kw))
