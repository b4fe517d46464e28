"""The built book in a real browser: offline, typeset, and with a slider that works.

Playwright drives Debian's Chromium (no browser download) headless over the built HTML, served
on 127.0.0.1 by a thread of this test. The HTML folder is ``$WGANBOOK_HTML`` if set, else
``_build/html`` (``make book`` builds it; ``make test`` builds it before running pytest). The
browser is ``$WGANBOOK_CHROMIUM`` if set, else ``chromium`` on the PATH (``make chromium``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import math
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from wganlib.distances import parallel_lines

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("WGANBOOK_HTML", REPO_ROOT / "_build" / "html"))
CHAPTER = "book/01_parallel_lines.html"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOST = "127.0.0.1"
# colours of P_0 and P_theta in the frames (wganlib.plotting)
P0_RGB = (0x1F, 0x77, 0xB4)
PTHETA_RGB = (0xD6, 0x27, 0x28)


def _html_pages(root: Path) -> list[str]:
    """Every HTML page of the book (not the copies under _sources, _static, ...)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.html")
        if not p.relative_to(root).parts[0].startswith("_")
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """The built HTML served on 127.0.0.1 (a free port); yields the base URL."""
    if not (HTML_DIR / "index.html").is_file():
        pytest.fail(f"no built book at {HTML_DIR}: run `make book` first (or set WGANBOOK_HTML)")
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOCAL_HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("WGANBOOK_CHROMIUM") or shutil.which("chromium")
    executable = executable or "/usr/bin/chromium"
    if not Path(executable).is_file():
        pytest.fail(f"no Chromium at {executable}: run `make chromium` (Debian's package)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class _Recorder:
    """A browser context that records every request and refuses any that leaves 127.0.0.1."""

    def __init__(self, browser):
        self.requests: list[str] = []
        self.failures: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(30_000)
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.on(
            "response", lambda r: r.status >= 400 and self.failures.append(f"{r.status} {r.url}")
        )
        self.context.on("requestfailed", lambda r: self.failures.append(f"failed {r.url}"))
        self.context.route("**/*", self._route)

    @staticmethod
    def _route(route):
        if urlsplit(route.request.url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            route.abort()

    def remote(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != LOCAL_HOST:
                out.append(url)
        return out


@pytest.fixture(scope="module")
def chapter(browser, site):
    """The chapter page, loaded and typeset, with its recorder."""
    rec = _Recorder(browser)
    page = rec.context.new_page()
    page.goto(f"{site}/{CHAPTER}", wait_until="networkidle")
    _wait_for_mathjax(page)
    yield page, rec
    rec.context.close()


def _wait_for_mathjax(page, timeout_ms: float = 15_000) -> bool:
    """Wait until MathJax has typeset the page; False if it loads none or never finishes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if page.locator("script[src*='tex-mml-chtml']").count() == 0:
        return False
    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        return False  # the page facts then show MathJax missing, with the page's name
    page.evaluate("() => MathJax.startup.promise.then(() => true)")
    return True


# ----------------------------------------------------------------------------- every page

_PAGE_FACTS = """() => {
    const main = document.querySelector('main') || document.body;
    const maths = [...main.querySelectorAll('.math')];
    const mj = document.querySelector("script[src*='tex-mml-chtml']");
    return {
        nMath: maths.length,
        untypeset: maths.filter(el => !el.querySelector('mjx-container')).length,
        mathjaxSrc: mj ? mj.src : null,
        mathjaxVersion: window.MathJax && MathJax.version ? MathJax.version : null,
        text: main.innerText,
        widgetViews: document.querySelectorAll(
            ".jupyter-widgets, .widget-area, script[type='application/vnd.jupyter.widget-view+json']"
        ).length,
        strayControls: [...document.querySelectorAll('input[type=range], select')]
            .filter(el => !el.closest('.wgan-theta-slider, [data-wgan-explorer]')).length,
    };
}"""


@pytest.fixture(scope="module")
def every_page(browser, site):
    """Visit every page of the book once; return what each showed and every request made."""
    pages = _html_pages(HTML_DIR)
    rec = _Recorder(browser)
    page = rec.context.new_page()
    facts = {}
    for name in pages:
        page.goto(f"{site}/{name}", wait_until="networkidle")
        _wait_for_mathjax(page)
        page.wait_for_load_state("networkidle")  # fonts and components MathJax loads on demand
        facts[name] = page.evaluate(_PAGE_FACTS)
    rec.context.close()
    return facts, rec


def test_no_page_requests_anything_from_another_host(every_page):
    facts, rec = every_page
    assert CHAPTER in facts and "index.html" in facts
    assert rec.requests, "the recorder saw no requests at all"
    assert rec.remote() == [], f"requests left {LOCAL_HOST}: {sorted(set(rec.remote()))}"
    assert rec.failures == [], f"requests failed or were not found: {rec.failures}"


def test_math_is_typeset_by_the_local_mathjax_on_every_page(every_page, site):
    facts, rec = every_page
    typeset = [name for name, f in facts.items() if f["nMath"] > 0]
    assert CHAPTER in typeset and len(typeset) >= 2  # the introduction and chapter 1 at least
    for name, f in facts.items():
        if f["nMath"] == 0:
            continue
        assert f["mathjaxSrc"] and f["mathjaxSrc"].startswith(site + "/_mathjax/"), (name, f)
        assert (f["mathjaxVersion"] or "").startswith("3."), f"{name}: MathJax did not start"
        assert f["untypeset"] == 0, f"{name}: {f['untypeset']} of {f['nMath']} formulas left raw"
        for raw in ("\\(", "\\)", "\\[", "$$"):
            assert raw not in f["text"], f"{name} shows raw TeX {raw!r}"
    assert any("/_mathjax/output/chtml/fonts/" in u for u in rec.requests), "no MathJax font"


def test_html_has_no_dead_widgets(every_page):
    facts, _ = every_page
    for name, f in facts.items():
        assert f["widgetViews"] == 0, f"{name} holds ipywidgets output: dead without a kernel"
        assert f["strayControls"] == 0, f"{name} has controls that are not a tested slider"


# ----------------------------------------------------------------------------- the slider


def _state(page) -> dict:
    return page.evaluate(
        """() => {
        const root = document.querySelector('.wgan-theta-slider');
        const img = root.querySelector('img.wgan-theta-frame');
        const cells = {};
        root.querySelectorAll('[data-distance]').forEach(c => {
            cells[c.dataset.distance] = {text: c.textContent, value: c.dataset.value};
        });
        return {
            theta: root.dataset.theta, index: root.dataset.index,
            input: root.querySelector('input.wgan-theta-input').value,
            shown: root.querySelector('output.wgan-theta-value').textContent,
            imgTheta: img.dataset.theta, src: img.src, cells: cells,
        };
    }"""
    )


def _line_offset(src: str) -> float:
    """Horizontal pixel offset of the P_theta segment from the P_0 segment in a frame."""
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")
    rgb = np.asarray(img, dtype=float)
    h, w, _ = rgb.shape
    band = rgb[int(0.40 * h) : int(0.70 * h), : int(0.42 * w)]  # left panel, below the legend

    def centre(colour):
        mask = np.linalg.norm(band - np.array(colour, dtype=float), axis=-1) < 60
        assert mask.sum() > 20, f"no segment of colour {colour} in the frame"
        return float(np.nonzero(mask)[1].mean())

    return centre(PTHETA_RGB) - centre(P0_RGB)


def _check_consistent(state: dict) -> float:
    """The shown frame, theta, four numbers and two derivatives agree with each other and with
    parallel_lines (the page computes the numbers itself, in JavaScript)."""
    theta = float(state["theta"])
    assert float(state["imgTheta"]) == theta
    assert state["shown"] == f"{theta:+.3f}"
    slope = {"dw1": ("none", "nan"), "djs": ("none", "nan")}
    if theta != 0:
        slope = {"dw1": (f"{math.copysign(1, theta):+.0f}", "1" if theta > 0 else "-1")}
        slope["djs"] = ("0", "0")
    for key, (text, value) in slope.items():
        assert (state["cells"][key]["text"], state["cells"][key]["value"]) == (text, value), (
            key, theta, state["cells"][key],
        )  # fmt: skip
    exact = parallel_lines(theta)
    for key, value in exact.items():
        cell = state["cells"][key]
        assert float(cell["value"]) == value, (key, theta, cell)
        text = cell["text"]
        shown = math.inf if text == "+\u221e" else float(text)
        if math.isinf(value):
            assert math.isinf(shown), (key, theta, text)
        else:
            assert abs(shown - value) <= 5e-4, (key, theta, text)
    return theta


def _set_index(page, index: int) -> None:
    page.locator("input.wgan-theta-input").evaluate(
        "(el, i) => { el.value = String(i); el.dispatchEvent(new Event('input', {bubbles: true})); }",
        index,
    )


def test_slider_shows_the_right_frame_and_values(chapter):
    page, _ = chapter
    assert page.locator(".wgan-theta-slider").count() == 1
    start = _state(page)
    assert _check_consistent(start) == 0.5
    n = int(page.locator("input.wgan-theta-input").get_attribute("max")) + 1
    offsets, sources = {}, set()
    for index in (0, n // 4, n // 2, (3 * n) // 4 + 1, n - 1):
        _set_index(page, index)
        state = _state(page)
        assert state["index"] == str(index) and state["input"] == str(index)
        theta = _check_consistent(state)
        offsets[theta] = _line_offset(state["src"])
        sources.add(state["src"])
    assert len(sources) == 5, "each position must show its own frame"
    assert min(offsets) == -1.0 and max(offsets) == 1.0 and 0.0 in offsets
    # the picture: P_theta sits on P_0 at theta = 0 and |theta| * (pixels per unit) away otherwise
    assert abs(offsets[0.0]) <= 1.5
    scales = [offsets[t] / t for t in offsets if abs(t) >= 0.2]
    assert min(scales) > 50, f"the red line does not move with theta: {offsets}"
    assert max(scales) - min(scales) <= 0.05 * np.mean(scales), offsets


def test_slider_follows_mouse_and_keyboard(chapter):
    page, _ = chapter
    _set_index(page, 30)
    slider = page.locator("input.wgan-theta-input")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 0.1 * box["width"], box["y"] + box["height"] / 2)
    clicked = _state(page)
    index = int(clicked["index"])
    assert index < 10, f"a click at 10% of the track gave index {index}"
    theta = _check_consistent(clicked)
    assert theta < -0.5
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    moved = _state(page)
    assert int(moved["index"]) == index + 3
    assert _check_consistent(moved) == pytest.approx(theta + 0.15)
    assert moved["src"] != clicked["src"]


def _theta_index(page, theta: float) -> int:
    thetas = page.evaluate(
        "() => JSON.parse(document.querySelector('script.wgan-theta-data').textContent).thetas"
    )
    return thetas.index(theta)


def test_slider_reaches_the_fine_case_near_zero(chapter):
    page, _ = chapter
    for theta in (0.001, -0.001, 0.002, 0.0):
        _set_index(page, _theta_index(page, theta))
        state = _state(page)
        assert _check_consistent(state) == theta
    _set_index(page, _theta_index(page, 0.001))
    state = _state(page)
    cells = {k: v["text"] for k, v in state["cells"].items()}
    # the lines nearly touch, W is 0.001 with slope +1, and JS has already jumped to log 2
    assert cells == {
        "w1": "0.001", "js": "0.693", "kl": "+\u221e", "tv": "1.000", "dw1": "+1", "djs": "0",
    }  # fmt: skip
    # (the picture: a thousandth is below a pixel, so the red line hides the blue one entirely)
    # arrow keys step through the fine grid: 0.001 -> 0.002 -> 0.005
    slider = page.locator("input.wgan-theta-input")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert float(_state(page)["theta"]) == 0.005


def _marker_pixels(src: str, colour) -> int:
    """Pixels of ``colour`` around (theta = 0, value = 0) in the frame's right panel."""
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")
    rgb = np.asarray(img, dtype=float)
    h, w, _ = rgb.shape
    # the right panel spans x in [0.521, 0.98] of the width, theta in [-1, 1]; y = 0 sits at
    # 0.16 + 0.74 * 0.08 / 1.4 of the height from the bottom (wganlib.plotting's fixed layout)
    cx, cy = int(0.7507 * w), int((1 - 0.2023) * h)
    win = rgb[cy - 8 : cy + 9, cx - 30 : cx + 31]
    return int((np.linalg.norm(win - np.array(colour, dtype=float), axis=-1) < 40).sum())


def test_slider_markers_stay_apart_at_zero(chapter):
    """At theta = 0 all four values are 0: each marker must still be visible (not stacked)."""
    page, _ = chapter
    _set_index(page, _theta_index(page, 0.0))
    src = _state(page)["src"]
    colours = {"W": (0x2C, 0xA0, 0x2C), "JS": (0x94, 0x67, 0xBD), "KL": (0xFF, 0x7F, 0x0E)}
    colours["TV"] = (0x55, 0x55, 0x55)
    seen = {name: _marker_pixels(src, c) for name, c in colours.items()}
    assert all(v >= 20 for v in seen.values()), f"hidden markers at theta = 0: {seen}"
