"""`tlh demo`: the page a learner shows people, driven in a real headless browser (Debian's chromium + driver).

The server is `tlh demo` itself, started on 127.0.0.1 in a subprocess and stopped at the end. The browser uploads a
real photo and reads the label from the page; it must be the label the model gives in this process. A text file
gets the readable refusal, and the page still answers the next photo.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tlhelpers import evaluate, models
from tlhelpers.course import config, standins

pytest.importorskip("gradio", reason="the demo needs Gradio: pip install 'tlhelpers[demo]'")

ASSETS = config.assets_dir()


@pytest.fixture(scope="module")
def course_model(tmp_path_factory):
    """A small course model with class names; a real cat photo (a generated one without the assets)."""
    import keras

    tmp = tmp_path_factory.mktemp("demo")
    if ASSETS is not None and (ASSETS / "cats_and_dogs_filtered").is_dir():
        photo = ASSETS / "cats_and_dogs_filtered" / "validation" / "cats" / "cat.2000.jpg"
    else:
        root = standins.make_synthetic_folder(tmp / "photos", per_class=1, size=96)
        photo = sorted((root / "train").rglob("*.jpg"))[0]
    keras.utils.set_random_seed(0)
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=96, weights=None, alpha=0.35)
    path = tmp / "pets.keras"
    models.with_class_names(tm.model, ["cats", "dogs"]).save(path)
    keras.backend.clear_session()
    return path, photo


def test_explain_file_predicts_explains_and_refuses_clearly(course_model, tmp_path):
    from tlhelpers import demo

    path, photo = course_model
    model = models.load_model(path)
    result = demo.explain_file(model, photo, top_k=2)
    assert result.ok and list(result.top) == [evaluate.predict_image_file(model, photo, top_k=1)[0][0],
                                              *[k for k in ("cats", "dogs") if k != next(iter(result.top))]]
    assert abs(sum(result.top.values()) - 1) < 1e-4
    assert result.overlay.shape == (96, 96, 3) and result.overlay.dtype == np.uint8
    assert "Grad-CAM" in result.message and result.message.startswith("Prediction: ")
    text = tmp_path / "notes.txt"
    text.write_text("not a photo\n")
    refused = demo.explain_file(model, text)
    assert not refused.ok and refused.overlay is None and not refused.top
    assert "Not an image this demo can read (notes.txt)" in refused.message and "Upload a photo" in refused.message
    assert text.read_text() == "not a photo\n"  # the upload is read, never changed
    assert not demo.explain_file(model, None).ok


def test_overlay_keeps_the_photo_where_the_map_is_cold():
    from tlhelpers import demo

    photo = np.full((8, 8, 3), 200.0)
    heat = np.zeros((2, 2), "float32")
    heat[0, 0] = 1.0
    out = demo.overlay(photo, heat, alpha=0.5)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] > out[7, 7, 0]  # hot corner: red added; cold corner: blue
    assert out[7, 7, 2] > out[7, 7, 0]


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); "
                    ".ci/run installs them")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait_for(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - the page is still rendering
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")


def _upload(browser, path: Path, previous: str) -> str:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.CSS_SELECTOR, "#tlh-upload")
    clear = box.find_elements(By.CSS_SELECTOR, "button[aria-label='Clear'], button[aria-label='Remove']")
    if clear:
        clear[0].click()
    box.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(path))

    def status():  # the element also shows Gradio's progress timer ("0.1s") while the model works
        text = browser.find_element(By.CSS_SELECTOR, "#tlh-status").text
        answers = [line.strip() for line in text.splitlines() if line.startswith(("Prediction:", "Not an image"))]
        return answers[-1] if answers and answers[-1] != previous and not re.search(r"\d\.\ds", text) else None

    return _wait_for(status, 60, f"the page's answer to {path.name}")


def test_the_page_in_a_real_browser(course_model, tmp_path):
    path, photo = course_model
    expected = evaluate.predict_image_file(models.load_model(path), photo, top_k=1)[0][0]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "-m", "tlhelpers.cli", "demo", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              start_new_session=True)
    browser = None
    try:
        url = None
        lines = []
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            lines.append(line)
            match = re.search(r"Demo running at (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url, "tlh demo did not print its address:\n" + "".join(lines)[-3000:]
        browser = _browser()
        browser.get(url)
        from selenium.webdriver.common.by import By

        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#tlh-upload input[type=file]"), 60, "the page")
        answer = _upload(browser, photo, "")
        assert answer.startswith(f"Prediction: {expected} ("), answer
        label = browser.find_element(By.CSS_SELECTOR, "#tlh-labels").text
        assert expected in label and "%" in label, label

        text = tmp_path / "holiday.txt"
        text.write_text("this is not a photo")
        refusal = _upload(browser, text, answer)
        assert refusal.startswith("Not an image this demo can read (holiday.txt)"), refusal
        assert "Upload a photo" in refusal

        again = _upload(browser, photo, refusal)  # the server keeps serving after a bad upload
        assert again.startswith(f"Prediction: {expected} ("), again
        assert server.poll() is None
    finally:
        if browser is not None:
            browser.quit()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(server.pid, signal.SIGKILL)
