"""Images the platform shares with every org (README "Design choices"): ListImage shows them
as `System`; DeleteImage and StartTaskForDistributeImage answer
`ImageUpdateSharedImageFailed.NotAllow`, and the image stays."""
from __future__ import annotations

from alibabacloud_appstream_center20210901 import models as m

from conftest import list_one, new_id
from helpers import expect_error


def _shared_image(admin) -> str:
    image_id = new_id("sys-sdk-")
    admin.ok("PUT", f"/admin/v1/shared-images/{image_id}", {"name": image_id, "osType": "WINDOWS"})
    return image_id


def test_a_shared_image_is_listed_as_system(client, admin):
    image_id = _shared_image(admin)
    img = list_one(client, image_id)
    assert img is not None
    assert img.image_type == "System" and img.status == "AVAILABLE"
    resp = client.list_image(m.ListImageRequest(image_id=image_id, image_type="System"))
    assert [d.image_id for d in resp.body.data] == [image_id]
    resp = client.list_image(m.ListImageRequest(image_id=image_id, image_type="User"))
    assert resp.body.count == 0


def test_a_shared_image_is_never_deleted(client, admin):
    image_id = _shared_image(admin)
    expect_error(lambda: client.delete_image(m.DeleteImageRequest(image_id=image_id)),
                 "ImageUpdateSharedImageFailed.NotAllow")
    assert list_one(client, image_id) is not None


def test_a_shared_image_is_never_distributed(client, admin):
    image_id = _shared_image(admin)
    region = admin.put_region(new_id("cn-sdk-"))
    expect_error(lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=image_id, destination_region_list=[region])), "ImageUpdateSharedImageFailed.NotAllow")
    img = list_one(client, image_id)
    assert img is not None and not img.image_region_distribute_list
