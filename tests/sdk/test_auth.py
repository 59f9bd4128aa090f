"""ACS3-HMAC-SHA256 refusals with real signed requests: through the SDK where it can be made
to send them (wrong key, wrong secret, a stale date or a fixed nonce hooked into its signer),
by hand with the SDK's own signer otherwise (acs3.py)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from alibabacloud_appstream_center20210901 import models as m
from alibabacloud_tea_openapi.utils import Utils

import acs3
from conftest import make_client
from helpers import expect_error


def list_call(c):
    return lambda: c.list_image(m.ListImageRequest(page_size=1))


def assert_refused(resp: acs3.Response, code: str, status: int = 400):
    assert resp.status == status, resp
    assert resp.code == code, resp
    assert resp.body.get("Success") is False and resp.body.get("RequestId") and resp.body.get("Message")


def test_a_hand_signed_request_is_accepted(base_url, access_key):
    resp = acs3.call(base_url, "ListImage", {"PageSize": 1}, ak_id=access_key[0], secret=access_key[1])
    assert resp.status == 200, resp
    assert resp.body.get("Success") is True and resp.body.get("Code") == "200"


def test_no_authorization_header(base_url):
    assert_refused(acs3.call(base_url, "ListImage", {"PageSize": 1}), "MissingAuthorization")


@pytest.mark.parametrize("mangle", [
    lambda a: a.replace("ACS3-HMAC-SHA256", "ACS3-HMAC-MD5"),
    lambda a: a.split(",Signature=")[0],
    lambda a: a[:-10],
    lambda a: "garbage",
])
def test_malformed_authorization(base_url, access_key, mangle):
    authority, target, headers, body = acs3.build(
        base_url, "ListImage", {"PageSize": 1}, ak_id=access_key[0], secret=access_key[1])
    headers["Authorization"] = mangle(headers["Authorization"])
    assert_refused(acs3.send(authority, target, headers, body), "IncompleteSignature")


def test_unknown_access_key_id(endpoint, access_key):
    stranger = make_client(endpoint, "LTAI" + uuid.uuid4().hex, access_key[1])
    expect_error(list_call(stranger), "InvalidAccessKeyId.NotFound", 404)


def test_wrong_secret(endpoint, access_key):
    wrong = make_client(endpoint, access_key[0], access_key[1] + "x")
    expect_error(list_call(wrong), "SignatureDoesNotMatch")


def test_a_body_changed_after_signing(base_url, access_key):
    authority, target, headers, body = acs3.build(
        base_url, "DeleteImage", {"ImageId": "imgc-aaaa"}, ak_id=access_key[0], secret=access_key[1])
    assert_refused(acs3.send(authority, target, headers, body.replace(b"aaaa", b"bbbb")), "SignatureDoesNotMatch")


def test_a_query_changed_after_signing(base_url, access_key):
    authority, target, headers, body = acs3.build(
        base_url, "ListImage", {}, {"TagList.1.Key": "a"}, ak_id=access_key[0], secret=access_key[1])
    assert_refused(acs3.send(authority, target.replace("=a", "=b"), headers, body), "SignatureDoesNotMatch")


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_date_off_by_more_than_15_minutes_through_the_sdk(client, monkeypatch, minutes):
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: acs3.acs_date(when)))
    expect_error(list_call(client), "InvalidTimeStamp.Expired")


def test_a_stale_date_signed_by_hand(base_url, access_key):
    resp = acs3.call(base_url, "ListImage", {"PageSize": 1}, ak_id=access_key[0], secret=access_key[1],
                     date=acs3.stale_date(20))
    assert_refused(resp, "InvalidTimeStamp.Expired")


def test_a_malformed_date(base_url, access_key):
    resp = acs3.call(base_url, "ListImage", {"PageSize": 1}, ak_id=access_key[0], secret=access_key[1],
                     date="Tue, 14 Nov 2023 22:13:20 GMT")
    assert_refused(resp, "InvalidTimeStamp.Expired")


def test_a_replayed_nonce_through_the_sdk(client, monkeypatch):
    nonce = uuid.uuid4().hex
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    list_call(client)()
    expect_error(list_call(client), "SignatureNonceUsed")


def test_a_replayed_request_byte_for_byte(base_url, access_key):
    built = acs3.build(base_url, "ListImage", {"PageSize": 1}, ak_id=access_key[0], secret=access_key[1])
    assert acs3.send(*built).status == 200
    assert_refused(acs3.send(*built), "SignatureNonceUsed")
