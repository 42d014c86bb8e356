"""The course in a real browser: JupyterLab runs notebook 07 in headless Chromium, the fusion panel's slider and
strategy menu change its numbers and its confusion matrix, and the matrix the page *draws* (the test's own
screenshot of it) is the whole expected picture before and after each change; the rendered course (``emo course``)
opens with working links and figures.

The browser is Debian's ``chromium`` with ``chromium-driver`` (``.ci/run`` installs them); nothing is
downloaded at run time, and the driver path is passed explicitly so selenium-manager is never used. Where no
browser is found the tests fail and say how to install it. Screenshots of the panel before and after lie in
the test's tmp folder, and are copied to ``$EMO_SCREENSHOTS`` when that is set.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, TINY_RUN
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_course import kernels_import_this_checkout, local_links, write_failing_notebook  # noqa: F401

from emo_utils.analysis.fusion_analysis import FusionInputs, evaluate_weights
from emo_utils.analysis.widgets import FIGURE_PIXELS, PANEL_CLASS, STRATEGY_LABELS, confusion_png
from emo_utils.artifacts import fusable, load_branches
from emo_utils.course import render_course
from emo_utils.evaluate import confusion

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("EMO_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("EMO_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = (
    "install Debian's browser and its driver: `apt-get update && apt-get install -y "
    "--no-install-recommends chromium chromium-driver` (as .ci/run does), or point EMO_CHROMIUM and "
    "EMO_CHROMEDRIVER at a Chromium and its matching chromedriver"
)
NOTEBOOK = "07_fusion_and_evaluation.ipynb"
# The shared tiny run's settings (conftest.TINY_RUN): the notebook reuses its branches when its parameters match.
NOTEBOOK_PARAMETERS = {
    "clip_limit": TINY_RUN["clip_limit"],
    "epochs": TINY_RUN["epochs"],
    "n_actors": TINY_RUN["demo_actors"],
    "robustness_clips": 8,
    "run_enrolment_curve": False,  # the panel is what this test drives; test_notebooks runs section 5
}


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token and its root folder."""

    url: str
    token: str
    root: Path

    def open(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"the browser test needs Chromium and chromedriver; not found: {', '.join(missing)}. "
            f"To fix: {INSTALL_HINT}",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def browser_run(tiny_run: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared tiny run (every branch trained with the notebook's parameters below), so that the
    notebook loads its branches instead of training them, and writes its fusion outputs into the copy."""
    out = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(tiny_run[0], out)
    return out


def write_parametrised_notebook(source: Path, target: Path, parameters: dict[str, Any]) -> Path:
    """A copy of the notebook with papermill's injected-parameters cell, cells unexecuted (JupyterLab takes no
    papermill parameters)."""
    nb = parameterize_notebook(load_notebook_node(str(source)), parameters)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, browser_run: Path) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab")
    write_parametrised_notebook(
        REPO_ROOT / "notebooks" / NOTEBOOK,
        root / "notebooks" / NOTEBOOK,
        {"out_dir": str(browser_run), **NOTEBOOK_PARAMETERS},
    )
    settings = root / ".lab" / "settings"
    for plugin, values in (
        ("apputils-extension/notification", '{"fetchNews": "false"}'),  # no news pop-up
        ("notebook-extension/tracker", '{"autoStartDefaultKernel": true}'),
    ):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values)
    port, token = _free_port(), secrets.token_hex(24)
    log = (root / ".lab" / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={root / '.lab' / 'workspaces'}",
            "--allow-root",
        ],
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(root / ".lab" / "runtime")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: see {log.name}", pytrace=False)
            time.sleep(0.5)
    yield Lab(url, token, root)
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float, what: str, shots: Path) -> Any:
    """Wait for ``condition``; on timeout fail with a screenshot and any traceback the notebook shows."""
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]
        ).until(condition)
    except TimeoutException:
        shot = shots / "timeout.png"
        driver.save_screenshot(str(shot))
        errors = [
            e.text for e in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output") if "Traceback" in e.text
        ]
        pytest.fail(
            f"timed out after {timeout} s waiting for {what} (screenshot {shot})"
            + (f"; the notebook shows an error:\n{errors[0]}" if errors else ""),
            pytrace=False,
        )


def _status_bar(driver: WebDriver) -> str:
    return driver.execute_script("return document.querySelector('#jp-main-statusbar')?.innerText || ''")


def _run_all_cells(driver: WebDriver, shots: Path) -> None:
    """Run > Run All Cells, as a student does."""
    driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][.//div[text()='Run']]").click()
    item = _wait(
        driver,
        lambda d: d.find_elements(By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//div[text()='Run All Cells']]"),
        20,
        "the Run menu",
        shots,
    )
    webdriver.ActionChains(driver).move_to_element(item[0]).pause(0.2).click().perform()
    _wait(
        driver,
        lambda d: any(p.text.startswith(("[*]", "[1]")) for p in d.find_elements(By.CSS_SELECTOR, ".jp-InputPrompt")),
        30,
        "the cells to start running",
        shots,
    )


@dataclass
class PanelView:
    """What the fusion panel shows: its text readout and its confusion-matrix image."""

    readout: str
    image: str | None
    image_shown: bool


def _panel_view(driver: WebDriver, box: WebElement) -> PanelView:
    """Read it all at once: the panel redraws its output on every change."""
    readout, image, shown = driver.execute_script(
        "const out = arguments[0].querySelector('.widget-output'); const img = arguments[0].querySelector('img');"
        "return [out.innerText, img ? img.src : null, !!img && img.complete && img.naturalWidth > 0];",
        box,
    )
    return PanelView(readout, image, shown)


def _wait_for_view(
    driver: WebDriver, box: WebElement, ready: Callable[[PanelView], bool], what: str, shots: Path
) -> PanelView:
    """The panel's view once it shows what ``ready`` wants with its figure drawn, the kernel is idle and the
    view no longer changes (the panel prints its readout first, then draws the figure)."""
    last: list[PanelView] = []

    def settled(_: WebDriver) -> PanelView | None:
        view = _panel_view(driver, box)
        stable = bool(last) and last[-1] == view and "| Idle" in _status_bar(driver)
        last.append(view)
        return view if view.image_shown and ready(view) and stable else None

    return _wait(driver, settled, 120, what, shots)


# What the page must draw: the expected matrix, pixel for pixel up to anti-aliasing (mean absolute difference of
# the 0-255 RGB values), and a picture that is not blank (share of pixels that are not background white).
MAX_MEAN_DIFFERENCE = 8.0
MIN_INKED_SHARE = 0.05


def _visible_part(driver: WebDriver, img: WebElement) -> tuple[float, float, float, float]:
    """The image's rectangle clipped by the window and every scrolling ancestor (JupyterLab scrolls the notebook
    inside its own panel): what a student can see of it, in CSS pixels (left, top, right, bottom). Ancestors with
    ``overflow: hidden`` are layout boxes that JupyterLab sizes apart from their content, not viewports."""
    return tuple(
        driver.execute_script(
            "const img = arguments[0]; let r = img.getBoundingClientRect();"
            "let [l, t, rt, b] = [r.left, r.top, r.right, r.bottom];"
            "[l, t, rt, b] = [Math.max(l, 0), Math.max(t, 0), Math.min(rt, innerWidth), Math.min(b, innerHeight)];"
            "for (let e = img.parentElement; e; e = e.parentElement) {"
            "  const s = getComputedStyle(e); if (!/(auto|scroll)/.test(s.overflow + s.overflowY)) continue;"
            "  const c = e.getBoundingClientRect();"
            "  [l, t, rt, b] = [Math.max(l, c.left), Math.max(t, c.top), Math.min(rt, c.right), Math.min(b, c.bottom)];"
            "}"
            "return [l, t, rt, b];",
            img,
        )
    )


def _drawn_figure(driver: WebDriver, box: WebElement, expected_png: bytes, shots: Path, name: str) -> np.ndarray:
    """Scroll the panel's picture into view, let the browser decode and paint it, screenshot what the page draws
    and check it against the expected PNG: the whole picture at its own size, not blank, the expected matrix."""
    img = box.find_element(By.TAG_NAME, "img")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})", img)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const img = arguments[0];"
        "const paint = () => requestAnimationFrame(() => requestAnimationFrame(() => done()));"
        "img.decode().then(paint, paint);",
        img,
    )
    time.sleep(0.5)
    driver.save_screenshot(str(shots / f"lab_{name}.png"))
    box.screenshot(str(shots / f"panel_{name}.png"))
    drawn = np.asarray(Image.open(io.BytesIO(img.screenshot_as_png)).convert("RGB"), dtype=float)
    Image.fromarray(drawn.astype(np.uint8)).save(shots / f"figure_{name}.png")
    left, top, right, bottom = _visible_part(driver, img)
    shown = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", img)
    assert (right - left, bottom - top) == tuple(shown) == FIGURE_PIXELS, (
        f"{name}: the page shows {right - left:.0f} x {bottom - top:.0f} px of a {shown[0]:.0f} x {shown[1]:.0f} px "
        f"picture drawn at {FIGURE_PIXELS} (cut off or scaled: see {shots / f'lab_{name}.png'})"
    )
    expected = np.asarray(Image.open(io.BytesIO(expected_png)).convert("RGB"), dtype=float)
    assert drawn.shape == expected.shape, f"{name}: drawn {drawn.shape[1::-1]}, expected {expected.shape[1::-1]}"
    inked = float((drawn.min(axis=2) < 235).mean())
    assert inked > MIN_INKED_SHARE, f"{name}: the drawn picture is blank ({inked:.1%} inked; see figure_{name}.png)"
    difference = float(np.abs(drawn - expected).mean())
    assert difference < MAX_MEAN_DIFFERENCE, (
        f"{name}: the drawn picture differs from the expected confusion matrix (mean difference {difference:.1f}; "
        f"see figure_{name}.png)"
    )
    return drawn


def _keep_screenshots(shots: Path) -> None:
    if os.environ.get("EMO_SCREENSHOTS"):
        target = Path(os.environ["EMO_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copy2(shot, target / shot.name)


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    _keep_screenshots(folder)


def test_fusion_panel_reacts_to_slider_and_strategy_in_jupyterlab(
    browser: WebDriver, lab: Lab, browser_run: Path, shots: Path
) -> None:
    stack = FusionInputs.from_artifacts(fusable(load_branches(browser_run)))
    branches = stack.stack.branches
    assert {"audio_mfcc_cnn", "face_au"} <= set(branches)
    browser.get(lab.open(f"notebooks/{NOTEBOOK}"))
    _wait(
        browser,
        lambda d: "| Idle" in _status_bar(d) and d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-item"),
        120,
        "JupyterLab to load the notebook and start its kernel",
        shots,
    )
    _run_all_cells(browser, shots)
    box = _wait(
        browser,
        lambda d: (d.find_elements(By.CSS_SELECTOR, f".{PANEL_CLASS}") or [None])[0],
        300,
        "the fusion panel (emo_utils.analysis.widgets.FusionPanel)",
        shots,
    )

    equal, equal_table = evaluate_weights(stack, {b: 1.0 for b in branches}, "late_fixed")
    before = _wait_for_view(
        browser, box, lambda v: f"accuracy {equal['accuracy']:.3f}" in v.readout, "the panel's first readout", shots
    )
    assert all(f"{b} 1.00" in before.readout for b in branches) and "actor-independent" in before.readout
    assert before.image_shown
    expected = confusion_png(equal_table, STRATEGY_LABELS["late_fixed"])
    drawn_before = _drawn_figure(browser, box, expected, shots, "before")

    def without(branch: str) -> tuple[dict[str, Any], pd.DataFrame]:
        return evaluate_weights(stack, {b: float(b != branch) for b in branches}, "late_fixed")

    # the slider to move: the branch whose removal changes the most cells of the matrix, so the page must redraw it
    matrix = confusion(equal_table)
    left_out = max(branches, key=lambda b: int((confusion(without(b)[1]) != matrix).to_numpy().sum()))
    without_branch, without_table = without(left_out)
    assert not confusion(without_table).equals(matrix), f"no slider of this run changes the matrix ({branches})"
    handle = box.find_element(
        By.XPATH,
        f".//div[contains(@class,'widget-slider')][label[text()='{left_out}']]//div[contains(@class,'noUi-handle')]",
    )
    handle.click()
    handle.send_keys(Keys.HOME)  # the slider's keyboard: Home = minimum weight, 0 (the branch left out)
    moved = _wait_for_view(
        browser,
        box,
        lambda v: f"{left_out} 0.00" in v.readout and v.image != before.image,
        "the readout and confusion matrix after the slider",
        shots,
    )
    assert f"accuracy {without_branch['accuracy']:.3f}" in moved.readout
    drawn_slider = _drawn_figure(
        browser, box, confusion_png(without_table, STRATEGY_LABELS["late_fixed"]), shots, "slider"
    )
    assert not np.array_equal(drawn_slider, drawn_before), "the page still draws the old matrix"

    Select(box.find_element(By.TAG_NAME, "select")).select_by_visible_text(STRATEGY_LABELS["stacking"])
    stacking, stacking_table = evaluate_weights(stack, None, "stacking")
    after = _wait_for_view(
        browser,
        box,
        lambda v: v.readout.startswith("fusion stacking") and v.image != moved.image,  # another matrix and title
        "the readout and confusion matrix after the strategy menu",
        shots,
    )
    assert f"accuracy {stacking['accuracy']:.3f}" in after.readout
    assert handle.find_element(By.XPATH, "ancestor::div[contains(@class,'noUi-target')]").get_attribute("disabled")
    expected = confusion_png(stacking_table, STRATEGY_LABELS["stacking"])
    drawn_after = _drawn_figure(browser, box, expected, shots, "after")
    assert not np.array_equal(drawn_after, drawn_slider), "the page still draws the slider's matrix"


def test_rendered_course_opens_with_working_links_and_figures(
    browser: WebDriver, tmp_path_factory: pytest.TempPathFactory, shots: Path
) -> None:
    tmp = tmp_path_factory.mktemp("browser_course")
    notebooks = [REPO_ROOT / "notebooks" / "00_overview.ipynb", write_failing_notebook(tmp / "broken.ipynb")]
    course = render_course(tmp / "site", notebooks=notebooks, summarize=False)
    browser.get(course.index.as_uri())
    links = [a.get_property("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href]")]
    assert len(links) == len(local_links(course.index)) >= 2 * len(notebooks)
    for link in links:
        assert link.startswith("file://") and Path(urllib.request.url2pathname(link[len("file://") :])).is_file(), link
    assert browser.find_elements(By.CSS_SELECTOR, ".failed") and "deliberate failure" in browser.page_source
    browser.save_screenshot(str(shots / "course_index.png"))

    browser.find_element(By.LINK_TEXT, course.notebooks[0].title).click()
    _wait(browser, lambda d: d.current_url.endswith("00_overview.html"), 20, "the rendered notebook", shots)
    figures = browser.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png']")
    assert figures and all(
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", f) for f in figures
    )
    browser.save_screenshot(str(shots / "course_notebook.png"))
