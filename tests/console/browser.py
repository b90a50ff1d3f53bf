"""A real Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium), headless, for the console's
tests. Who the browser is comes from a header set on every request it makes (Chrome DevTools'
Network.setExtraHTTPHeaders): what the operator's authenticating reverse proxy does in front of `pushproxy serve`,
or App Service authentication in Azure. Selenium Manager never runs: the binaries are given."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
# Written by every run of tests/console (git-ignored; README, "The approval console").
SCREENSHOTS = REPO / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)


def missing() -> str | None:
    """Why the browser tests can't run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists() and not shutil.which(path.name):
            return f"{path} is missing: `apt-get install chromium chromium-driver` (make test does it as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    return None


def start() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def sign_in(driver: Any, principal: str | None) -> None:
    """Every later request of this browser carries `principal` as the reverse proxy would set it."""
    headers = {} if principal is None else {"X-MS-CLIENT-PRINCIPAL-NAME": principal}
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


def screenshot(driver: Any, name: str, size: tuple[int, int]) -> Path:
    """The whole page at `size`'s width, into SCREENSHOTS/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.set_window_size(*size)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(size[0], max(size[1], min(height + 140, 6000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(*DESKTOP)
    return path


def click_and_load(driver: Any, locator: tuple[str, str], timeout: float = 30) -> None:
    """Click what loads another page (a form's button, a link) and wait until that page has replaced this one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")
    driver.find_element(*locator).click()
    WebDriverWait(driver, timeout).until(expected_conditions.staleness_of(old))
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")
