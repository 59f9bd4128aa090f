"""Names cross the doors (issue 10, item 7): an ImageName the REST rules refuse (1-64 of
letters, digits, `_`, `-`) is served by the REST door mapped (every other character becomes
`-`, cut to 64); the RPC door keeps it as given."""
from __future__ import annotations

import json
import urllib.request

from alibabacloud_appstream_center20210901 import models as m

from conftest import list_one


def rest_get(admin, path: str) -> dict:
    token = admin.ok("POST", f"/admin/v1/orgs/{admin.org}/tokens", {})["token"]
    req = urllib.request.Request(f"{admin.base_url}/imagemgmt/v1{path}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_an_rpc_name_the_rest_rules_refuse_is_served_mapped(client, admin, desktop):
    name = "golden image (v1) " + "x" * 80
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=desktop, image_name=name))
    image_id = resp.body.data.image_id
    assert list_one(client, image_id).image_name == name
    expected = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-" for c in name)[:64]
    assert rest_get(admin, f"/images/{image_id}")["name"] == expected
