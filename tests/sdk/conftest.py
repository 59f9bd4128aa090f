"""Fixtures of the SDK acceptance suite: the official client pointed at the running app, the
admin API that seeds the provider simulator, and polling helpers.

Configuration comes from the environment (see README.md). Without IMAGE_CATALOG_URL every test
is skipped, so `pytest --collect-only` works anywhere.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from alibabacloud_appstream_center20210901 import models as m  # noqa: E402
from alibabacloud_appstream_center20210901.client import Client  # noqa: E402
from alibabacloud_tea_openapi.utils_models import Config  # noqa: E402

REGION = "cn-hangzhou"


def _unavailable(reason: str):
    """Skip when the suite is only collected; fail when `./dev test` runs it
    (IMAGE_CATALOG_REQUIRED=1), so a missing app can never pass as skipped tests."""
    if os.environ.get("IMAGE_CATALOG_REQUIRED"):
        pytest.fail(reason)
    pytest.skip(reason)


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class Admin:
    """The admin API (docs/contract/lifecycle.md "The provider simulator"), JSON over HTTP with a bearer."""

    def __init__(self, base_url: str, token: str, org: str):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.org = org

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, (json.loads(raw) if raw else {})
        except ValueError:
            return status, {"_raw": raw.decode("utf-8", "replace")}

    def ok(self, method: str, path: str, body: dict | None = None) -> dict:
        status, out = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status} {out}"
        return out

    def put_org(self) -> dict:
        return self.ok("PUT", f"/admin/v1/orgs/{self.org}", {"name": self.org})

    def mint_access_key(self) -> tuple[str, str]:
        out = self.ok("POST", f"/admin/v1/orgs/{self.org}/access-keys", {})
        return out["accessKeyId"], out["accessKeySecret"]

    def put_instance(self, instance_id: str, instance_type: str = "CloudDesktop", **fields) -> str:
        body = {"instanceType": instance_type, "osType": "WINDOWS"}
        body.update(fields)
        self.ok("PUT", f"/admin/v1/orgs/{self.org}/instances/{instance_id}", body)
        return instance_id

    def put_region(self, region_id: str) -> str:
        self.ok("PUT", f"/admin/v1/orgs/{self.org}/regions/{region_id}", {})
        return region_id


@pytest.fixture(scope="session")
def base_url() -> str:
    url = _env("IMAGE_CATALOG_URL")
    if not url:
        _unavailable("IMAGE_CATALOG_URL is not set: no running image-catalog to test")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def endpoint(base_url) -> str:
    """`host:port`, what the SDK's Config(endpoint=...) takes."""
    return urlsplit(base_url).netloc


@pytest.fixture(scope="session")
def admin(base_url) -> Admin:
    token = _env("IMAGE_CATALOG_ADMIN_TOKEN")
    if not token:
        _unavailable("IMAGE_CATALOG_ADMIN_TOKEN is not set: cannot seed the provider simulator")
    org = _env("IMAGE_CATALOG_ORG") or new_id("sdk-")
    a = Admin(base_url, token, org)
    a.put_org()
    return a


@pytest.fixture(scope="session")
def access_key(admin) -> tuple[str, str]:
    ak_id, secret = _env("IMAGE_CATALOG_AK_ID"), _env("IMAGE_CATALOG_AK_SECRET")
    if ak_id and secret:
        return ak_id, secret
    return admin.mint_access_key()


def make_client(endpoint: str, ak_id: str, secret: str) -> Client:
    return Client(Config(
        endpoint=endpoint,
        protocol="HTTP",
        access_key_id=ak_id,
        access_key_secret=secret,
        region_id=REGION,
        read_timeout=30_000,
        connect_timeout=10_000,
    ))


@pytest.fixture(scope="session")
def client(endpoint, access_key) -> Client:
    return make_client(endpoint, *access_key)


@pytest.fixture(scope="session")
def wait_seconds() -> float:
    return float(_env("IMAGE_CATALOG_WAIT_SECONDS") or 180)


@pytest.fixture
def run_tag() -> m.CreateImageByInstanceRequestTagList:
    """A tag unique to one test, so list assertions see only that test's images."""
    return m.CreateImageByInstanceRequestTagList(key="sdk-test-run", value=uuid.uuid4().hex)


@pytest.fixture
def desktop(admin) -> str:
    """A fresh capturable cloud desktop."""
    return admin.put_instance(new_id("ecd-"), "CloudDesktop")


@pytest.fixture
def workstation(admin) -> str:
    """A fresh capturable workstation with one persistent session."""
    return admin.put_instance(new_id("ws-"), "WuyingServer", subInstances=["ps-1"])


def list_one(client: Client, image_id: str):
    """The ListImage entry of `image_id`, or None."""
    resp = client.list_image(m.ListImageRequest(image_id=image_id))
    found = [d for d in (resp.body.data or []) if d.image_id == image_id]
    return found[0] if found else None


def wait_until(predicate, timeout: float, what: str, interval: float = 1.0):
    """Polls a running app (a black box: its clock is real) until `predicate()` is truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def capture(client: Client, instance_id: str, instance_type: str = "CloudDesktop", tags=None, **kw):
    """CreateImageByInstance with sensible defaults; returns the response body's Data."""
    req = m.CreateImageByInstanceRequest(
        instance_id=instance_id,
        instance_type=instance_type,
        image_name=kw.pop("image_name", f"sdk {instance_id}"),
        tag_list=tags,
        **kw,
    )
    return client.create_image_by_instance(req).body.data


def wait_available(client: Client, image_id: str, timeout: float):
    def done():
        img = list_one(client, image_id)
        if img is not None and img.status == "CREATE_FAILED":
            raise AssertionError(f"capture of {image_id} failed")
        return img if img is not None and img.status == "AVAILABLE" else None

    return wait_until(done, timeout, f"{image_id} AVAILABLE")
