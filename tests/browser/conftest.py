"""Fixtures of the console's browser test: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium against a served app.

Configuration comes from the environment:
  IMAGE_CATALOG_URL      the app, e.g. http://127.0.0.1:3000
  CONSOLE_TOKEN          a REST token of the org the console signs in as
  CONSOLE_OTHER_TOKEN    a REST token of another org (whose images must never show)
  CHROMIUM, CHROMEDRIVER the browser and its driver (default /usr/bin/chromium, /usr/bin/chromedriver)
  SCREENSHOT_DIR         where each page's screenshot goes (default target/console-screenshots)
  IMAGE_CATALOG_REQUIRED set by ./dev test: a missing app or browser fails instead of skipping
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _unavailable(reason: str):
    """Skip when the test is only collected; fail under ./dev test (IMAGE_CATALOG_REQUIRED)."""
    if os.environ.get("IMAGE_CATALOG_REQUIRED"):
        pytest.fail(reason)
    pytest.skip(reason)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, "").strip() or default


class Rest:
    """The REST door as one org (for what the test sets up outside the console)."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}/imagemgmt/v1{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        return status, (json.loads(raw) if raw else {})

    def sig_image(self, name: str) -> dict:
        status, body = self.call("POST", "/images?action=copy-existing-image", {
            "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
            "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-1", "isClientAccessLicenseApplicable": True,
                "multiSession": True}},
        })
        assert status == 201, f"{status} {body}"
        return body


@pytest.fixture(scope="session")
def app() -> dict:
    url, token, other = _env("IMAGE_CATALOG_URL"), _env("CONSOLE_TOKEN"), _env("CONSOLE_OTHER_TOKEN")
    if not (url and token and other):
        _unavailable("set IMAGE_CATALOG_URL, CONSOLE_TOKEN and CONSOLE_OTHER_TOKEN (see conftest.py)")
    return {"url": url.rstrip("/"), "token": token, "other": Rest(url, other), "rest": Rest(url, token)}


@pytest.fixture(scope="session")
def shots() -> Path:
    out = Path(_env("SCREENSHOT_DIR", str(ROOT / "target" / "console-screenshots")))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def browser(app):
    chromium = _env("CHROMIUM", "/usr/bin/chromium")
    driver_path = _env("CHROMEDRIVER", "/usr/bin/chromedriver")
    for path in (chromium, driver_path):
        if not os.access(path, os.X_OK):
            _unavailable(f"{path} is missing (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--lang=en-US", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
