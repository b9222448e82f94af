"""The browser app in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

Uploads a demo DICOM and a demo PNG, checks the top class and that the saliency overlay is drawn, checks
the message for a bad file, and saves screenshots under the test's tmp folder (and, when
``MEDCLIP_SERVE_SCREENSHOT`` names a file, the DICOM screenshot there: how docs/img/serve.png is made).
Skipped, saying why, where chromium, chromedriver or selenium is not installed; nothing is downloaded.
"""

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydicom")

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
    pytest.skip(f"no browser: {CHROMIUM} / {DRIVER} missing (apt-get install chromium chromium-driver)",
                allow_module_level=True)  # fmt: skip
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install 'medclip[dev]')")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from test_serve_fixtures import (  # noqa: E402
    MODALITY_CLASSES,
    PATIENT_ID,
    demo_pixels,
    dicom_bytes,
    png_bytes,
    shared_server,
)

NAMES = "\n".join(MODALITY_CLASSES.values())


@pytest.fixture(scope="module")
def server():
    return shared_server()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _overlay_alpha(browser) -> int:
    return browser.execute_script(
        "const c = document.getElementById('overlay');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s;"
    )


def _run(browser, server, path: Path):
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda b: len(Select(b.find_element(By.ID, "model")).options) == 1)
    wait.until(lambda b: len(Select(b.find_element(By.ID, "classset")).options) > 1)
    Select(browser.find_element(By.ID, "classset")).select_by_value("")  # typed classes
    box = browser.find_element(By.ID, "classes")
    box.clear()
    box.send_keys(NAMES)
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "run").click()
    msg = browser.find_element(By.ID, "message")
    wait.until(
        lambda b: (
            msg.get_attribute("class") == "error" or b.find_element(By.ID, "overlay").get_attribute("data-drawn") == "1"
        )
    )
    return msg


@pytest.mark.parametrize("kind,modality", [("dicom", "xray"), ("png", "fundus")])
def test_upload_shows_right_top_class_and_overlay(browser, server, tmp_path, kind, modality):
    arr = demo_pixels(modality, "test", 0)
    path = tmp_path / ("upload.dcm" if kind == "dicom" else "upload.png")
    path.write_bytes(dicom_bytes(arr) if kind == "dicom" else png_bytes(arr))
    msg = _run(browser, server, path)
    assert msg.get_attribute("class") == "ok", msg.text
    assert msg.get_attribute("data-top") == MODALITY_CLASSES[modality]
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 6 and bars[0].get_attribute("data-name") == MODALITY_CLASSES[modality]
    assert float(bars[0].get_attribute("data-probability")) > 0.5
    alpha = _overlay_alpha(browser)
    assert alpha > 0
    slider = browser.find_element(By.ID, "opacity")
    browser.execute_script("arguments[0].value = 100; arguments[0].dispatchEvent(new Event('input'));", slider)
    assert _overlay_alpha(browser) > alpha  # the opacity slider redraws the overlay more opaque
    browser.execute_script("arguments[0].value = 60; arguments[0].dispatchEvent(new Event('input'));", slider)
    page = browser.page_source
    for secret in ("Janet", "Secretname", PATIENT_ID, "Secret General"):
        assert secret not in page
    if kind == "dicom":
        assert "dicom" in browser.find_element(By.ID, "meta").text
    shot = tmp_path / f"serve_{kind}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    target = os.environ.get("MEDCLIP_SERVE_SCREENSHOT")
    if target and kind == "dicom":
        shutil.copy(shot, target)


def test_bad_file_shows_a_clear_message(browser, server, tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"this is not an image at all" * 10)
    msg = _run(browser, server, path)
    assert msg.get_attribute("class") == "error"
    assert "not a PNG, JPEG, TIFF or DICOM file" in msg.text
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(dicom_bytes(None, rows=65500, cols=65500))
    msg = _run(browser, server, bomb)
    assert msg.get_attribute("class") == "error" and "pixels" in msg.text


def test_suite_preset_and_modality_filter(browser, server, tmp_path):
    path = tmp_path / "chest.dcm"
    path.write_bytes(dicom_bytes(demo_pixels("xray", "test", 0)))
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda b: len(Select(b.find_element(By.ID, "classset")).options) > 1)
    wait.until(lambda b: len(Select(b.find_element(By.ID, "modality")).options) > 1)  # demo/demo preselected
    assert Select(browser.find_element(By.ID, "classset")).first_selected_option.get_attribute("value") == "demo/demo"
    Select(browser.find_element(By.ID, "modality")).select_by_value("xray")
    Select(browser.find_element(By.ID, "window")).select_by_value("lung")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "run").click()
    wait.until(lambda b: b.find_element(By.ID, "overlay").get_attribute("data-drawn") == "1")
    names = [b.get_attribute("data-name") for b in browser.find_elements(By.CSS_SELECTOR, "#bars .bar")]
    assert sorted(names) == sorted(["normal chest x-ray", "pneumonia on chest x-ray", "pleural effusion on chest x-ray",
                                    "cardiomegaly on chest x-ray"])  # fmt: skip
    assert "window lung" in browser.find_element(By.ID, "meta").text
