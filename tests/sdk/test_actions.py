"""The four actions through the official SDK: the happy paths of docs/contract/appstream-rpc.md."""
from __future__ import annotations

import re
import uuid

import pytest
from alibabacloud_appstream_center20210901 import models as m

from conftest import capture, list_one, new_id, wait_available, wait_until

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
REQUEST_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def list_tags(tag):
    return [m.ListImageRequestTagList(key=tag.key, value=tag.value)]


def test_create_by_instance_returns_ids_and_the_image_starts_init(client, desktop, run_tag):
    resp = client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_id=desktop, instance_type="CloudDesktop", image_name="golden desktop",
        description="captured by the SDK", auto_clean_userdata=True, disk_type="SYSTEM",
        tag_list=[run_tag], product_type="CloudDesktop"))
    body = resp.body
    assert resp.status_code == 200
    assert body.success is True and body.code == "200"
    assert REQUEST_ID.match(body.request_id or ""), body.request_id
    assert body.data.image_id.startswith("imgc-")
    assert body.data.version_id.startswith("iv-")
    assert body.data.task_id.startswith("tid-")

    img = list_one(client, body.data.image_id)
    assert img is not None
    assert img.status in ("INIT", "CREATING", "AVAILABLE")
    assert img.image_name == "golden desktop"
    assert img.description == "captured by the SDK"
    assert img.image_create_mode == "BY_INSTANCE_ID"
    assert img.image_type == "User"
    assert img.version_id == body.data.version_id
    assert [(t.key, t.value) for t in img.tag_list or []] == [(run_tag.key, run_tag.value)]


@pytest.mark.slow
def test_a_capture_ends_available_with_full_list_fields(client, desktop, run_tag, wait_seconds):
    data = capture(client, desktop, tags=[run_tag], image_name="full fields")
    img = wait_available(client, data.image_id, wait_seconds)
    assert img.latest_version_id == data.version_id
    assert re.match(r"^v\d+\.\d+\.\d+$", img.version_name or ""), img.version_name
    assert ISO_UTC.match(img.gmt_create or ""), img.gmt_create
    assert ISO_UTC.match(img.gmt_modified or ""), img.gmt_modified
    assert img.os_type
    assert img.online_version_id is None or img.online_version_id.startswith("iv-")


def test_create_by_instance_on_a_workstation_session(client, workstation, run_tag):
    data = capture(client, workstation, "WuyingServer", tags=[run_tag], sub_instance_id="ps-1")
    assert data.image_id.startswith("imgc-")


def test_list_filters_and_paging(client, admin, run_tag):
    ids = []
    for i in range(3):
        inst = admin.put_instance(new_id("ecd-"), "CloudDesktop")
        ids.append(capture(client, inst, tags=[run_tag], image_name=f"pager-{run_tag.value[:6]}-{i}").image_id)

    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag), page_size=2, page_number=1))
    assert resp.body.count == 3
    assert resp.body.page_number == 1 and resp.body.page_size == 2
    page1 = [d.image_id for d in resp.body.data]
    assert len(page1) == 2
    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag), page_size=2, page_number=2))
    page2 = [d.image_id for d in resp.body.data]
    assert len(page2) == 1
    assert sorted(page1 + page2) == sorted(ids)

    # Defaults: page 1, 10 per page.
    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag)))
    assert (resp.body.page_number, resp.body.page_size, resp.body.count) == (1, 10, 3)

    # Name is a substring match.
    resp = client.list_image(m.ListImageRequest(image_name=f"{run_tag.value[:6]}-1", tag_list=list_tags(run_tag)))
    assert [d.image_id for d in resp.body.data] == [ids[1]]

    # Every tag must match.
    other = m.ListImageRequestTagList(key=run_tag.key, value=uuid.uuid4().hex)
    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag) + [other]))
    assert resp.body.count == 0 and not resp.body.data

    # ImageId and ImageType filters.
    resp = client.list_image(m.ListImageRequest(image_id=ids[0], image_type="User"))
    assert [d.image_id for d in resp.body.data] == [ids[0]]

    # Status filter: a status none of them has yet.
    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag), status="CREATE_FAILED"))
    assert resp.body.count == 0


def test_every_response_has_a_fresh_request_id(client):
    a = client.list_image(m.ListImageRequest(page_size=1)).body.request_id
    b = client.list_image(m.ListImageRequest(page_size=1)).body.request_id
    assert REQUEST_ID.match(a) and REQUEST_ID.match(b)
    assert a != b


@pytest.mark.slow
def test_distribute_to_regions(client, admin, desktop, run_tag, wait_seconds):
    regions = [admin.put_region(new_id("cn-sdk-")) for _ in range(2)]
    data = capture(client, desktop, tags=[run_tag])
    wait_available(client, data.image_id, wait_seconds)

    resp = client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=data.image_id, version_id=data.version_id, destination_region_list=regions,
        source_region="cn-hangzhou", product_type="CloudDesktop"))
    assert resp.body.success is True
    assert resp.body.data.startswith("tid-")

    img = list_one(client, data.image_id)
    entries = {d.region_id: d for d in img.image_region_distribute_list or []}
    assert set(regions) <= set(entries)
    for r in regions:
        assert entries[r].status in ("INIT", "DISTRIBUTING", "AVAILABLE")
        assert re.match(r"^\d{1,3}%$", entries[r].progress or ""), entries[r].progress
        assert entries[r].image_id == data.image_id
        assert entries[r].version_id == data.version_id

    def all_available():
        got = {d.region_id: d for d in list_one(client, data.image_id).image_region_distribute_list or []}
        assert all(got[r].status != "FAILED" for r in regions if r in got)
        return all(r in got and got[r].status == "AVAILABLE" for r in regions) and got

    settled = wait_until(all_available, wait_seconds, "distribution AVAILABLE")
    assert all(settled[r].progress == "100%" for r in regions)


@pytest.mark.slow
def test_distribute_defaults_to_the_latest_version(client, admin, desktop, run_tag, wait_seconds):
    region = admin.put_region(new_id("cn-sdk-"))
    data = capture(client, desktop, tags=[run_tag])
    wait_available(client, data.image_id, wait_seconds)
    resp = client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=data.image_id, destination_region_list=[region]))
    assert resp.body.data.startswith("tid-")
    img = list_one(client, data.image_id)
    entry = [d for d in img.image_region_distribute_list or [] if d.region_id == region]
    assert entry and entry[0].version_id == data.version_id


@pytest.mark.slow
def test_delete_removes_the_image_from_the_list(client, desktop, run_tag, wait_seconds):
    data = capture(client, desktop, tags=[run_tag])
    wait_available(client, data.image_id, wait_seconds)
    resp = client.delete_image(m.DeleteImageRequest(image_id=data.image_id))
    assert resp.body.success is True and resp.body.data is True
    assert list_one(client, data.image_id) is None
    resp = client.list_image(m.ListImageRequest(tag_list=list_tags(run_tag)))
    assert resp.body.count == 0
