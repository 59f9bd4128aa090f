"""CreateImageByInstance with each parameter the vendor marks optional ("Required: No" for
every one) left out, one at a time, through the official SDK (issue 10, item 1). The defaults
are the README's ("Design choices"): no ImageName gives `<InstanceId>-<UTC yyyymmddhhmmss>`, no
InstanceType and no ProductType take the instance's own type, no DiskType is ALL."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest
from alibabacloud_appstream_center20210901 import models as m

from conftest import list_one, new_id
from helpers import expect_error

# The REST door's image-name rule (docs/contract/imagemgmt-api.md "Names"): a generated name must pass it.
REST_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def full_desktop_request(instance_id: str, tag) -> dict:
    return dict(
        instance_id=instance_id,
        instance_type="CloudDesktop",
        image_name="every-parameter",
        description="all given",
        auto_clean_userdata=True,
        disk_type="SYSTEM",
        biz_type=1,
        product_type="CloudDesktop",
        tag_list=[tag],
    )


OPTIONAL = ["image_name", "description", "instance_type", "auto_clean_userdata", "disk_type",
            "biz_type", "product_type", "tag_list"]


@pytest.mark.parametrize("left_out", OPTIONAL)
def test_each_optional_parameter_may_be_left_out(client, desktop, run_tag, left_out):
    fields = full_desktop_request(desktop, m.CreateImageByInstanceRequestTagList(
        key=run_tag.key, value=run_tag.value))
    del fields[left_out]
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(**fields))
    assert resp.body.success is True, resp.body
    img = list_one(client, resp.body.data.image_id)
    assert img is not None
    if left_out == "image_name":
        assert img.image_name.startswith(desktop + "-"), img.image_name
        assert REST_NAME.match(img.image_name), img.image_name
    if left_out == "description":
        assert not img.description
    if left_out == "tag_list":
        assert not img.tag_list
    if left_out == "product_type":
        assert img.product_type == "CloudDesktop"


@pytest.mark.parametrize("left_out", ["key", "value"])
def test_a_tag_key_or_value_may_be_left_out(client, desktop, left_out):
    tag = {"key": "k-" + new_id(""), "value": "v-" + new_id("")}
    kept = dict(tag)
    del tag[left_out]
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=desktop, tag_list=[m.CreateImageByInstanceRequestTagList(**tag)]))
    img = list_one(client, resp.body.data.image_id)
    got = [(t.key or "", t.value or "") for t in img.tag_list or []]
    kept[left_out] = ""
    assert got == [(kept["key"], kept["value"])]


def test_a_workstation_without_instance_type_or_session(client, workstation):
    # No InstanceType: the instance's own (a workstation); with its session.
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=workstation, sub_instance_id="ps-1"))
    img = list_one(client, resp.body.data.image_id)
    assert img.product_type == "WuyingServer"


def test_a_workstation_without_sub_instance_id(client, workstation):
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=workstation, instance_type="WuyingServer", image_name="no-session"))
    assert resp.body.data.image_id.startswith("imgc-")


def test_only_an_instance_id(client, admin, desktop):
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(instance_id=desktop))
    image_id = resp.body.data.image_id
    img = list_one(client, image_id)
    assert img.image_name.startswith(desktop + "-") and REST_NAME.match(img.image_name)
    assert img.product_type == "CloudDesktop"
    assert img.image_create_mode == "BY_INSTANCE_ID"
    # The generated name is the image's name in the REST door too.
    token = admin.ok("POST", f"/admin/v1/orgs/{admin.org}/tokens", {})["token"]
    req = urllib.request.Request(f"{admin.base_url}/imagemgmt/v1/images/{image_id}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert json.loads(r.read())["name"] == img.image_name


def test_no_instance_id_names_the_parameter(client):
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest()),
                 "MissingParameter", names=("InstanceId",))


def test_an_unknown_instance_is_not_found_whatever_else_is_missing(client):
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=new_id("ws-missing-"))), "Instance.NotFound")
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=new_id("ecd-missing-"), instance_type="CloudDesktop")), "DesktopInstance.NotFound")


def test_type_bound_parameters_follow_the_instances_own_type(client, desktop, workstation):
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=desktop, sub_instance_id="ps-1")), "InvalidParameter", names=("SubInstanceId",))
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=workstation, auto_clean_userdata=True)), "InvalidParameter",
        names=("AutoCleanUserdata",))
