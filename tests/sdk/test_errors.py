"""One SDK exception per error code of docs/contract/appstream-rpc.md: the exception carries our Code,
HTTP status and Message (and MissingParameter/InvalidParameter name the parameter)."""
from __future__ import annotations

import pytest
from alibabacloud_appstream_center20210901 import models as m

from conftest import Admin, capture, make_client, new_id, wait_available
from helpers import expect_error, raw_call


@pytest.fixture
def other_org(admin, endpoint):
    """A second org with its own AccessKey: isolation and quota tests must not disturb the
    main org."""
    other = Admin(admin.base_url, admin.token, new_id("sdk-other-"))
    other.put_org()
    return other, make_client(endpoint, *other.mint_access_key())


# --- dispatch -------------------------------------------------------------------------------

def test_unknown_action_is_invalid_action_not_found(client):
    expect_error(lambda: raw_call(client, "DescribeNothing"), "InvalidAction.NotFound", 404)


def test_unknown_version_is_invalid_version(client):
    expect_error(lambda: raw_call(client, "ListImage", version="2020-01-01"), "InvalidVersion", 400)


# --- parameters -----------------------------------------------------------------------------

def test_missing_instance_id(client):
    expect_error(lambda: client.create_image_by_instance(m.CreateImageByInstanceRequest(
        instance_type="CloudDesktop", image_name="x")), "MissingParameter", names=("InstanceId",))


def test_missing_image_id_on_delete(client):
    expect_error(lambda: client.delete_image(m.DeleteImageRequest()), "MissingParameter", names=("ImageId",))


def test_missing_image_id_on_distribute(client):
    expect_error(lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        destination_region_list=["cn-shanghai"])), "MissingParameter", names=("ImageId",))


def test_page_size_over_100(client):
    expect_error(lambda: client.list_image(m.ListImageRequest(page_size=101)), "InvalidParameter", names=("PageSize",))


def test_bad_status_filter(client):
    expect_error(lambda: client.list_image(m.ListImageRequest(status="GONE")), "InvalidParameter", names=("Status",))


def test_bad_disk_type(client, desktop):
    expect_error(lambda: capture(client, desktop, disk_type="DATA"), "InvalidParameter", names=("DiskType",))


def test_bad_instance_type(client, desktop):
    expect_error(lambda: capture(client, desktop, "Ecs"), "InvalidParameter", names=("InstanceType",))


def test_sub_instance_id_on_a_cloud_desktop(client, desktop):
    expect_error(lambda: capture(client, desktop, sub_instance_id="ps-1"), "InvalidParameter", names=("SubInstanceId",))


def test_auto_clean_userdata_on_a_workstation(client, workstation):
    expect_error(lambda: capture(client, workstation, "WuyingServer", auto_clean_userdata=True),
                 "InvalidParameter", names=("AutoCleanUserdata",))


# --- CreateImageByInstance ------------------------------------------------------------------

def test_unknown_workstation_is_instance_not_found(client):
    expect_error(lambda: capture(client, new_id("ws-missing-"), "WuyingServer"), "Instance.NotFound")


def test_unknown_cloud_desktop_is_desktop_instance_not_found(client):
    expect_error(lambda: capture(client, new_id("ecd-missing-")), "DesktopInstance.NotFound")


def test_another_orgs_instance_is_not_found(client, other_org):
    other, _ = other_org
    inst = other.put_instance(new_id("ecd-"), "CloudDesktop")
    expect_error(lambda: capture(client, inst), "DesktopInstance.NotFound")


def test_instance_without_a_centralized_image(client, admin):
    inst = admin.put_instance(new_id("ecd-"), "CloudDesktop", centralizedImage=False)
    expect_error(lambda: capture(client, inst), "Instance.ImageUnsupported")


def test_instance_without_a_physical_node(client, admin):
    inst = admin.put_instance(new_id("ecd-"), "CloudDesktop", physicalNode=False)
    expect_error(lambda: capture(client, inst), "Instance.PhysicalNodeNotExist")


def test_base_image_not_configured(client, admin):
    inst = admin.put_instance(new_id("ecd-"), "CloudDesktop", baseImageConfigured=False)
    expect_error(lambda: capture(client, inst), "InvalidBaseImage.NotConfigured")


def test_a_second_capture_while_the_first_runs(client, desktop):
    capture(client, desktop)
    expect_error(lambda: capture(client, desktop), "ImageCreateByInstance.TaskExist")


def test_builder_quota(other_org):
    """Captures on fresh instances until the org's concurrent-capture quota refuses one."""
    other, oclient = other_org
    for _ in range(100):
        inst = other.put_instance(new_id("ecd-"), "CloudDesktop")
        try:
            capture(oclient, inst)
        except Exception as e:  # noqa: BLE001 - the SDK's exception is checked just below
            assert getattr(e, "code", None) == "ExceedBuilderQuota", e
            expect_error(lambda: capture(oclient, other.put_instance(new_id("ecd-"), "CloudDesktop")),
                         "ExceedBuilderQuota")
            return
    pytest.fail("100 concurrent captures accepted: no ExceedBuilderQuota")


# CreateDesktopImageRecord.Failed needs a store write failing mid-request: the SDK cannot
# cause that, so the model's unit tests cover it (shared/src/appstream/service/tests.rs).


# --- DeleteImage / StartTaskForDistributeImage ----------------------------------------------

def test_delete_unknown_image(client):
    expect_error(lambda: client.delete_image(m.DeleteImageRequest(image_id=new_id("imgc-"))), "Image.NotExist")


def test_delete_another_orgs_image_is_not_exist(client, other_org, run_tag):
    other, oclient = other_org
    data = capture(oclient, other.put_instance(new_id("ecd-"), "CloudDesktop"), tags=[run_tag])
    expect_error(lambda: client.delete_image(m.DeleteImageRequest(image_id=data.image_id)), "Image.NotExist")


def test_delete_while_capturing_is_not_allowed(client, desktop):
    data = capture(client, desktop)
    expect_error(lambda: client.delete_image(m.DeleteImageRequest(image_id=data.image_id)),
                 "ImageUpdateFailed.NotAllow")


def test_distribute_unknown_image(client):
    expect_error(lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=new_id("imgc-"), destination_region_list=["cn-shanghai"])), "Image.NotExist")


def test_distribute_an_image_that_is_not_available(client, admin, desktop):
    region = admin.put_region(new_id("cn-sdk-"))
    data = capture(client, desktop)
    expect_error(lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=data.image_id, destination_region_list=[region])), "ImageRegionDistribute.NotAllow")


@pytest.mark.slow
def test_distribute_to_an_unknown_region(client, desktop, wait_seconds):
    data = capture(client, desktop)
    wait_available(client, data.image_id, wait_seconds)
    expect_error(lambda: client.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
        image_id=data.image_id, destination_region_list=[new_id("xx-nowhere-")])),
        "ParentImageRegionDistribute.NotExist")
