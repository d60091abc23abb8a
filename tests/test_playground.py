"""The playground page at `/`, in a real browser: Debian's chromium, headless, driven by Selenium.

Under CI (CI=true) a missing browser fails the test with the install command; elsewhere it skips
with that reason. Set STEPTTS_PLAYGROUND_SCREENSHOT=path.png to save the page after it spoke.
"""

from __future__ import annotations

import os
import shutil

import pytest
from server_helpers import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver && pip install selenium"


def browser():
    """A headless chromium WebDriver, or a clear failure (CI) / skip (elsewhere) when there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing = "selenium is not installed"
    else:
        missing = None if CHROMIUM and CHROMEDRIVER else "chromium or chromedriver is not on PATH"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the playground test needs a browser: {missing}; {INSTALL}")
        pytest.skip(f"{missing}; {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--autoplay-policy=no-user-gesture-required", "--window-size=900,820", "--mute-audio"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture(scope="module")
def server():
    process = ServerProcess()
    yield process
    process.stop()


def test_playground_speaks_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(server.url + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#voice option")) > 0)
        assert driver.find_element(By.ID, "voice").get_attribute("value") == "joe-nano:joe"
        text = driver.find_element(By.ID, "text")
        text.clear()
        text.send_keys("Good morning. The playground streams speech to this page.")
        driver.find_element(By.XPATH, "//div[@id='tags']/button[text()='happy1']").click()
        assert text.get_attribute("value").startswith("(happy1)Good morning.")
        driver.find_element(By.ID, "play").click()
        wait.until(lambda d: d.execute_script("return document.getElementById('audio').duration > 0"))
        duration = driver.execute_script("return document.getElementById('audio').duration")
        assert duration > 1.0
        assert driver.find_element(By.ID, "status").text == "done"
        words = [span.text for span in driver.find_elements(By.CSS_SELECTOR, "#words span")]
        assert words == ["Good", "morning", "The", "playground", "streams", "speech", "to", "this", "page"]
        assert driver.find_element(By.ID, "download").get_attribute("href").startswith("blob:")
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith(server.url) for name in resources), resources
        html = driver.page_source
        assert "<link" not in html and "src=\"http" not in html and "@import" not in html and "url(" not in html
        target = os.environ.get("STEPTTS_PLAYGROUND_SCREENSHOT") or str(tmp_path / "playground.png")
        driver.save_screenshot(target)
    finally:
        driver.quit()
