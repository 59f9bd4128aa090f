"""The web console (/console/) in a real browser: sign in with a token, create an image, add
a version and follow its progress bar to AVAILABLE, see a refusal beside its field, and
never see another org's images. Every wait is bounded; each page's screenshot is saved.
"""
from __future__ import annotations

import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

# Bounds of the waits: a page (a few REST calls), and a copy (three provisioning steps
# of the served app's shortened timings, one cron tick apart).
PAGE_S = 20
COPY_S = 120


def wait(driver, seconds=PAGE_S):
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def shot(driver, shots, name: str):
    """Saves the whole page (the viewport is stretched to the page's height for the shot)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": 1280, "height": max(720, min(int(height), 4000)), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.save_screenshot(str(shots / f"{name}.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def title_is(driver, text: str):
    wait(driver).until(EC.text_to_be_present_in_element((By.ID, "page-title"), text))


def sign_in(driver, app, token=None):
    driver.get(f"{app['url']}/console/")
    field = wait(driver).until(EC.visibility_of_element_located((By.ID, "token")))
    field.send_keys(token or app["token"])
    field.send_keys(Keys.ENTER)


def assert_token_private(driver, app):
    """The token is in this tab's session storage only: never in the URL nor localStorage."""
    assert app["token"] not in driver.current_url
    assert driver.execute_script("return window.localStorage.length") == 0
    assert driver.execute_script("return sessionStorage.getItem('image-catalog.token')") == app["token"]


def csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser")
            if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]


def error_beside(driver, control_id: str) -> str:
    """The error shown for a control: it is its own element, tied to it by aria-describedby."""
    control = driver.find_element(By.ID, control_id)
    assert control.get_attribute("aria-invalid") == "true"
    described = (control.get_attribute("aria-describedby") or "").split()
    assert f"{control_id}-error" in described, described
    error = driver.find_element(By.ID, f"{control_id}-error")
    assert error.is_displayed()
    # Beside the field: in the same field wrapper as the control.
    assert error.find_element(By.XPATH, "..") == control.find_element(By.XPATH, "..")
    return error.text


def test_the_console_from_sign_in_to_an_available_version(browser, app, shots):
    name = f"console-{uuid.uuid4().hex[:8]}"
    other_name = f"other-{uuid.uuid4().hex[:8]}"
    other = app["other"].sig_image(other_name)

    # 1. The token form: labelled, focused, Tab reaches its button.
    browser.get(f"{app['url']}/console/")
    token = wait(browser).until(EC.visibility_of_element_located((By.ID, "token")))
    assert browser.find_element(By.CSS_SELECTOR, "label[for=token]").text
    assert browser.switch_to.active_element == token
    token.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Sign in"
    shot(browser, shots, "01-sign-in")
    token.send_keys(app["token"], Keys.ENTER)

    # 2. The images list.
    title_is(browser, "Images")
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#images caption")))
    assert_token_private(browser, app)
    assert other_name not in browser.page_source
    shot(browser, shots, "02-images")

    # 3. A new image, from the console's form.
    browser.find_element(By.ID, "image-name").send_keys(name)
    browser.find_element(By.CSS_SELECTOR, "#new-image button[type=submit]").click()
    title_is(browser, name)
    image_url = browser.current_url
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#version-tree li[data-version='1.0.0']")))

    # 4. A refusal beside its field: MINOR without a source version.
    Select(browser.find_element(By.NAME, "versionType")).select_by_value("MINOR")
    browser.find_element(By.CSS_SELECTOR, "#add-version button[type=submit]").click()
    wait(browser).until(EC.visibility_of_element_located((By.ID, "source-version-error")))
    assert "source" in error_beside(browser, "source-version").lower()
    shot(browser, shots, "05-field-error")

    # 5. Add Version (MAJOR): the console opens the new version and follows its operation.
    Select(browser.find_element(By.NAME, "versionType")).select_by_value("MAJOR")
    browser.find_element(By.ID, "version-markers").send_keys("HRPro")
    browser.find_element(By.CSS_SELECTOR, "#add-version button[type=submit]").click()
    title_is(browser, f"{name} 2.0.0")
    bar = wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#main progress")))
    assert bar.get_attribute("max") == "100"
    assert bar.get_attribute("aria-labelledby")
    shot(browser, shots, "04-version-in-progress")
    wait(browser, COPY_S).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#version-status .badge[data-status=AVAILABLE]")))
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "#main progress").get_attribute("value") == "100")
    assert browser.find_elements(By.CSS_SELECTOR, "#copies tbody tr[data-asset]")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#status-history li")) >= 2
    # Only the actions this status allows: an AVAILABLE version republishes, never publishes.
    assert browser.find_elements(By.ID, "republish") and not browser.find_elements(By.ID, "publish")
    shot(browser, shots, "04-version")

    # 6. The image: its lineage tree, the marker on 2.0.0.
    browser.get(image_url)
    node = wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#version-tree li[data-version='1.0.0'] li[data-version='2.0.0']")))
    assert "HRPro" in node.text
    shot(browser, shots, "03-image")

    # 7. Another org's images never show: not in the list, not by search, not by id.
    browser.get(f"{app['url']}/console/#/images?by=name&value={other_name}&page=0")
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#images caption"), "0 images"))
    browser.get(f"{app['url']}/console/#/images/{other['id']}")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "page-title"), "Something went wrong"))
    assert "NOT_FOUND" in browser.page_source
    for page in range(5):
        browser.get(f"{app['url']}/console/#/images?page={page}")
        wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".pager"), f"Page {page + 1} of"))
        assert other_name not in browser.page_source
    assert_token_private(browser, app)
    assert csp_violations(browser) == []


def test_a_refused_token_returns_to_the_form_with_the_reason(browser, app, shots):
    sign_in(browser, app, token="ict_not-a-token")
    message = wait(browser).until(EC.visibility_of_element_located((By.ID, "token-message")))
    assert "refused" in message.text
    assert browser.find_element(By.ID, "token").get_attribute("aria-invalid") == "true"
    assert browser.execute_script("return sessionStorage.length") == 0
    assert "not-a-token" not in browser.current_url


def test_any_hash_is_a_page_or_not_found_never_an_uncaught_error(browser, app):
    sign_in(browser, app)
    title_is(browser, "Images")
    browser.get_log("browser")  # what came before is not this test's
    for bad in ("#/images/%E0%A4%A", "#/images/%", "#/operations/%ZZ", "#/images/a/versions/%E0",
                "#%", "#/images?%E0=%"):
        browser.get(f"{app['url']}/console/{bad}")
        title_is(browser, "Not found" if "?" not in bad else "Images")
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], (bad, errors)


def test_sign_out_forgets_the_token(browser, app):
    sign_in(browser, app)
    title_is(browser, "Images")
    signout = browser.find_element(By.ID, "signout")
    signout.click()
    wait(browser).until(EC.visibility_of_element_located((By.ID, "token")))
    assert browser.execute_script("return sessionStorage.length") == 0
    assert not signout.is_displayed()


def test_the_demo_org_shows_lineage_a_running_and_a_failed_operation(browser, app, shots):
    """The org `seed-demo --showcase` made (what ./dev up prints): skipped for other orgs."""
    status, page = app["rest"].call("GET", "/images?search=name%20%24eq%20win11-office")
    if status != 200 or not page.get("content"):
        _skip_or_fail("the org was not seeded with seed-demo --showcase")
    sign_in(browser, app)
    title_is(browser, "Images")
    shot(browser, shots, "10-demo-images")
    # Each through the console's search (the list may hold other tests' and shared images).
    for image, status in (("win11-office", "AVAILABLE"), ("win10-finance", "IMPORT_COMPLETE"),
                          ("win11-nightly", "IN_PROGRESS"), ("ecd-capture", "AVAILABLE")):
        browser.get(f"{app['url']}/console/#/images?by=name&value={image}&page=0")
        wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#images caption"), f"name = {image}"))
        row = browser.find_element(By.CSS_SELECTOR, "#images tbody tr[data-image]")
        assert image in row.text and status in row.text, row.text

    # Lineage: 2.1.0 under 2.0.0 under 1.0.0, 1.1.0 under 1.0.0; the markers on theirs.
    browser.get(f"{app['url']}/console/#/images?by=name&value=win11-office&page=0")
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#images caption"), "= win11-office"))
    browser.find_element(By.LINK_TEXT, "win11-office").click()
    title_is(browser, "win11-office")
    tree = "#version-tree li[data-version='1.0.0']"
    two = wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"{tree} li[data-version='2.0.0']")))
    assert browser.find_element(By.CSS_SELECTOR, f"{tree} li[data-version='2.0.0'] li[data-version='2.1.0']")
    one_one = browser.find_element(By.CSS_SELECTOR, f"{tree} > ul > li[data-version='1.1.0']")
    assert "HRPro" in two.find_element(By.CLASS_NAME, "node").text
    assert "HRLite" in one_one.find_element(By.CLASS_NAME, "node").text
    shot(browser, shots, "11-demo-image-lineage")

    # The running operation: a live bar that has not ended.
    open_first_version(browser, app, "win11-nightly")
    bar = wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#main progress")))
    wait(browser, COPY_S).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".operation .op-state"), "RUNNING"))
    assert int(bar.get_attribute("value")) < 100
    shot(browser, shots, "12-demo-running-operation")

    # The failed one: its error code and message (its retries may still be under way).
    open_first_version(browser, app, "win11-restricted")
    error = wait(browser, COPY_S).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".operation .error")))
    assert "SOURCE_IMAGE_ACCESS_DENIED" in error.text and "not granted" in error.text
    assert browser.find_elements(By.ID, "delete") and not browser.find_elements(By.ID, "republish")
    shot(browser, shots, "13-demo-failed-operation")
    assert csp_violations(browser) == []


def open_first_version(browser, app, image_name: str):
    _, page = app["rest"].call("GET", f"/images?search=name%20%24eq%20{image_name}")
    image = page["content"][0]["id"]
    _, versions = app["rest"].call("GET", f"/images/{image}/versions")
    browser.get(f"{app['url']}/console/#/images/{image}/versions/{versions['content'][0]['id']}")
    title_is(browser, f"{image_name} 1.0.0")


def _skip_or_fail(reason: str):
    import os

    import pytest

    if os.environ.get("CONSOLE_SHOWCASE"):
        pytest.fail(reason)
    pytest.skip(reason)
