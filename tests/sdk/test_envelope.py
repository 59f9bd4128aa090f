"""The envelope of every action through the official SDK (issue 10, item 2): a success
carries the fields of the vendor's example, `Code`, `Message`, `Success`, `RequestId` and
`Data` (list calls add `Count`, `PageNumber`, `PageSize`); an error `Code`, `Message`,
`Success: false` and `RequestId` with the vendor's HTTP status."""
from __future__ import annotations

import re

import pytest
from alibabacloud_appstream_center20210901 import models as m

from conftest import capture, list_one, new_id, wait_available, wait_until
from helpers import expect_error

REQUEST_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def assert_envelope(resp, *extra: str):
    assert resp.status_code == 200
    raw = resp.body.to_map()
    for field in ("Code", "Message", "Success", "RequestId", "Data", *extra):
        assert field in raw, f"{field} missing from {raw}"
    assert raw["Code"] == "200" and raw["Success"] is True
    assert isinstance(raw["Message"], str) and raw["Message"]
    assert REQUEST_ID.match(raw["RequestId"])
    return raw


def test_create_and_list_envelopes(client, desktop, run_tag):
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=desktop, tag_list=[run_tag]))
    raw = assert_envelope(resp)
    assert set(raw["Data"]) == {"ImageId", "VersionId", "TaskId"}
    raw = assert_envelope(client.list_image(m.ListImageRequest(
        image_id=raw["Data"]["ImageId"])), "Count", "PageNumber", "PageSize")
    assert raw["Count"] == 1


@pytest.mark.slow
def test_distribute_and_delete_envelopes(client, admin, desktop, run_tag, wait_seconds):
    region = admin.put_region(new_id("cn-sdk-"))
    data = capture(client, desktop, tags=[run_tag])
    wait_available(client, data.image_id, wait_seconds)
    raw = assert_envelope(client.start_task_for_distribute_image(
        m.StartTaskForDistributeImageRequest(image_id=data.image_id, destination_region_list=[region])))
    assert raw["Data"].startswith("tid-")

    def distributed():
        got = list_one(client, data.image_id).image_region_distribute_list or []
        return any(d.region_id == region and d.status == "AVAILABLE" for d in got)

    wait_until(distributed, wait_seconds, "distribution AVAILABLE")
    raw = assert_envelope(client.delete_image(m.DeleteImageRequest(image_id=data.image_id)))
    assert raw["Data"] is True


def test_error_envelopes_of_every_action(client):
    missing = new_id("imgc-")
    for call, code in [
        (lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
            instance_id=new_id("ws-missing-"))), "Instance.NotFound"),
        (lambda: client.list_image(m.ListImageRequest(page_size=0)), "InvalidParameter"),
        (lambda: client.delete_image(m.DeleteImageRequest(image_id=missing)), "Image.NotExist"),
        (lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
            image_id=missing, destination_region_list=["cn-shanghai"])), "Image.NotExist"),
    ]:
        e = expect_error(call, code)
        assert "Data" not in (e.data or {})
