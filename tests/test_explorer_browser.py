"""The training explorer in a real browser: every control shows the right precomputed frame.

Two pages, both driven by Debian's Chromium through Playwright, offline:

* the built book's page (``book/05b_training_explorer.html`` under ``$WGANBOOK_HTML`` or
  ``_build/html``), served on 127.0.0.1, with the data files of the build (``_explorer/``),
  checked against the committed ``data/results/explorer.{json,npz}`` it was built from
  (``$WGANBOOK_EXPLORER`` names another results file);
* a tiny grid made here by the CLI (five variants, so that every control has a choice), written
  as a standalone page (data inlined) and as a page with its data files beside it, both opened
  from ``file://``, with one run marked as diverged.

Values are checked, not only change: the readout shows the frame's W1 and estimate, the pixel at
each drawn generator sample has the sample colour, the critic canvas has the colour map's colour
of the stored critic value in every cell, and the curve's cursor sits at the frame's iteration.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from test_browser import CHROMIUM_FLAGS, HTML_DIR, LOCAL_HOST, _Recorder, browser, site  # noqa: F401

from wganlib.experiments import explorer as ex
from wganlib.experiments.explorer import unpack
from wganlib.explorer_page import (
    COLORMAP,
    COLORS,
    SAMPLES_PX,
    critic_pixel,
    data_scripts,
    explorer_html,
    load,
    sample_pixel,
)
from wganlib.explorer_widget import lr_rank, nearest_run

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = "book/05b_training_explorer.html"
RESULTS = Path(
    os.environ.get("WGANBOOK_EXPLORER", REPO_ROOT / "data" / "results" / "explorer.json")
)
BUDGET_BYTES = 6_000_000  #: the page and everything it loads, first view (data set 1)
READY_MS = 2000  #: DOMContentLoaded to the explorer drawn
TINY = [
    "gan_adam_lr0.0002",
    "wgan-clip_c0.01_rmsprop_lr5e-05",
    "wgan-clip_c0.1_rmsprop_lr5e-05",
    "wgan-clip_c0.01_rmsprop_lr0.0005",
    "wgan-clip_c0.01_adam_lr0.0001",
]


def _rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def book(browser, site):  # noqa: F811
    """The built explorer page over http: ``(page, recorder, meta, arrays, url)``."""
    if not (HTML_DIR / PAGE).is_file():
        pytest.fail(f"no {PAGE} in {HTML_DIR}: build the book (`make book`)")
    meta, arrays = load(RESULTS)
    rec = _Recorder(browser)
    page = rec.context.new_page()
    url = f"{site}/{PAGE}"
    page.goto(url)
    _ready(page)
    yield page, rec, meta, arrays, url
    rec.context.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny grid from the CLI, one run made diverged after its first frame."""
    root = tmp_path_factory.mktemp("explorer")
    out = root / "explorer.json"
    argv = ["--only", *TINY, "--datasets", "8gaussians", "--iterations", "20"]
    ex.main([*argv, "--state", str(root / "state"), "--out", str(out)])
    meta, arrays = load(out)
    i = next(i for i, r in enumerate(meta["runs"]) if r["key"].startswith(TINY[3]))
    r = meta["runs"][i]
    r["diverged"], r["iterations"] = "critic loss is nan", 13
    for key in ("frames", "w1", "estimate", "modes", "high_quality", "critic_min", "critic_max"):
        r[key] = r[key][:1]
    r["gradient_scale"], r["outside"] = r["gradient_scale"][:1], r["outside"][:1]
    for a in arrays.values():
        a[i, 1:] = a[i, 0]  # what pack() stores after a run stops
    inline = root / "inline.html"
    inline.write_text(f"<!doctype html><body>{explorer_html(meta, arrays, right=TINY[2])}</body>")
    (root / "book").mkdir()
    (root / "_explorer").mkdir()
    for name, text in data_scripts(meta, arrays).items():
        (root / "_explorer" / name).write_text(text)
    linked = root / "book" / "linked.html"
    page = explorer_html(meta, arrays, right=TINY[2], assets="../_explorer/")
    linked.write_text(f"<!doctype html><body>{page}</body>")
    return meta, arrays, inline.as_uri(), linked.as_uri(), i


@pytest.fixture
def tiny_page(browser, tiny):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(tiny[2])
    _ready(page)
    yield page
    context.close()


# ----------------------------------------------------------------------------- helpers

_READ = """root => {
    const panes = {};
    root.querySelectorAll('[data-pane]').forEach(el => {
        const fields = {}, selects = {};
        el.querySelectorAll('[data-field]').forEach(s => {
            fields[s.dataset.field] = s.hidden ? null : s.textContent;
        });
        el.querySelectorAll('select').forEach(s => {
            selects[s.name] = {value: s.value, disabled: s.disabled,
                               options: [...s.options].map(o => o.value)};
        });
        panes[el.dataset.pane] = {fields, selects, run: el.dataset.run, frame: +el.dataset.frame};
    });
    return {...window.wganExplorer.state(), panes, hash: location.hash,
            note: root.querySelector('[data-field=note]').textContent,
            slider: root.querySelector('input[name=frame]').value,
            time: root.querySelector('[data-field=time]').textContent,
            data_attr: root.dataset.data, t_attr: root.dataset.t};
}"""

_PIXELS = """(root, [side, panel, points]) => {
    const c = root.querySelector(`[data-pane=${side}] canvas[data-panel=${panel}]`);
    const ctx = c.getContext('2d');
    return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data));
}"""


def _ready(page) -> None:
    page.wait_for_selector("[data-wgan-explorer][data-ready]", state="attached")


def _root(page):
    return page.locator("[data-wgan-explorer]")


def _read(page) -> dict:
    """What the explorer shows, once it has drawn (a data file may still be loading)."""
    page.wait_for_selector("[data-wgan-explorer][data-ready]:not([data-busy])", state="attached")
    return _root(page).evaluate(_READ)


def _pixels(page, side: str, panel: str, points) -> list[list[int]]:
    return _root(page).evaluate(_PIXELS, [side, panel, [list(map(int, p)) for p in points]])


def _index(meta, key: str) -> int:
    return next(i for i, r in enumerate(meta["runs"]) if r["key"] == key)


def _check_pane(page, meta, arrays, side: str, t: int) -> int:
    """The pane shows frame ``t`` of its run exactly as stored; returns the run's index."""
    s = _read(page)
    pane = s["panes"][side]
    i = _index(meta, pane["run"])
    r = meta["runs"][i]
    k = min(t, len(r["frames"]) - 1)
    assert (s["t"], pane["frame"]) == (t, k)
    f = pane["fields"]
    assert f["run"] == r["key"].split("__")[0]
    assert f["iteration"] == f"iteration {r['frames'][k]}"
    assert abs(float(f["w1"].split()[-1]) - r["w1"][k]) <= 5.01e-4, (f["w1"], r["w1"][k])
    assert abs(float(f["estimate"].split()[-1]) - r["estimate"][k]) <= 5.01e-4
    if "modes" in r:
        assert f["modes"] == f"modes {r['modes'][k]}"
        assert abs(float(f["high_quality"].split()[-1][:-1]) - 100 * r["high_quality"][k]) <= 0.051
    else:
        assert f["modes"] is None and f["high_quality"] is None
    if r["diverged"]:
        assert f["diverged"].startswith(f"diverged at iteration {r['iterations']}")
        assert ("showing its last frame" in f["diverged"]) == (t > k)
    else:
        assert f["diverged"] is None
    # samples: the pixel at every 7th generator sample has the generator's colour
    sr = meta["settings"]["sample_range"]
    frame = unpack(meta, arrays, i, t)
    points = [sample_pixel(x, y, sr) for x, y in frame["samples"][::7]]
    got = _pixels(page, side, "samples", points)
    assert all(p[:3] == _rgb(COLORS["generator"]) for p in got), "a sample is not drawn"
    # critic: every cell has the colour map's colour of the stored value
    g = meta["settings"]["grid"]
    cells = [critic_pixel(a, b, g) for a in range(g) for b in range(g)]
    got = np.asarray(_pixels(page, side, "critic", cells))[:, :3]
    want = COLORMAP[arrays["critic"][i, t].reshape(-1)]
    assert np.array_equal(got, want), f"{(got != want).any(axis=1).sum()} cells off"
    # the curve's cursor is at the frame's iteration (log axis, layout of the page's script)
    schedule = max((q["frames"] for q in meta["runs"]), key=len)
    width = SAMPLES_PX + g * 5 + 8
    x0, x1 = math.log(schedule[0]), math.log(schedule[-1])
    col = round(36 + (math.log(r["frames"][k]) - x0) / ((x1 - x0) or 1) * (width - 44))
    (cursor,) = _pixels(page, side, "curve", [(col, 60)])
    assert cursor[:3] == _rgb(COLORS["cursor"]), cursor
    return i


def _set_frame(page, t: int) -> None:
    page.locator("input[name=frame]").evaluate(
        "(el, t) => { el.value = String(t); el.dispatchEvent(new Event('input', {bubbles: true})); }",
        t,
    )


def _select(page, side: str, name: str, value: str) -> None:
    page.locator(f"[data-pane={side}] select[name={name}]").select_option(value)


def _expected(meta, data: str, i: int, **change) -> int:
    r = meta["runs"][i]
    want = {"method": r["method"], "clip": r["clip"], "optimizer": r["optimizer"]}
    want["rank"] = lr_rank(meta, i)
    want.update(change)
    return nearest_run(meta, data, **want)[0]


# ----------------------------------------------------------------------------- the book page


def test_book_page_loads_offline_fast_and_within_budget(browser, site, book):  # noqa: F811
    _, _, meta, arrays, url = book
    rec = _Recorder(browser)
    page = rec.context.new_page()
    page.goto(url)
    _ready(page)
    timing = page.evaluate(
        """() => ({ready: +document.querySelector('[data-wgan-explorer]').dataset.readyMs,
                   dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventStart})"""
    )
    page.wait_for_load_state("networkidle")
    first = _served_bytes(rec.requests)
    for data in meta["settings"]["datasets"]:
        page.locator("select[name=data]").select_option(data)
        page.wait_for_function(f"() => window.wganExplorer.state().data === '{data}'")
    page.wait_for_load_state("networkidle")
    every = _served_bytes(rec.requests)
    rec.context.close()
    assert rec.remote() == [], f"requests left {LOCAL_HOST}: {sorted(set(rec.remote()))}"
    assert rec.failures == [], rec.failures
    loaded = timing["ready"] - timing["dcl"]  # negative when drawn before DOMContentLoaded
    print(f"\nexplorer: ready {loaded:.0f} ms after DOMContentLoaded ({timing['ready']:.0f} ms "
          f"after navigation); first view {first / 1e6:.2f} MB, every data set {every / 1e6:.2f} MB")  # fmt: skip
    assert loaded < READY_MS
    assert first <= BUDGET_BYTES, f"the first view weighs {first / 1e6:.2f} MB"
    served = {Path(urlsplit(u).path).name for u in rec.requests if "/_explorer/" in u}
    assert served == {p.name for p in (HTML_DIR / "_explorer").glob("explorer-*.js")}


def _served_bytes(urls: list[str]) -> int:
    """Bytes of the local files behind the requested URLs (the test server sends them as is)."""
    total = 0
    for url in set(urls):
        parts = urlsplit(url)
        path = HTML_DIR / unquote(parts.path).lstrip("/")
        if parts.hostname == LOCAL_HOST and path.is_file():
            total += path.stat().st_size
    return total


def test_book_page_matches_the_committed_results(book):
    page, _, meta, arrays, _ = book
    keys = page.evaluate(
        "() => JSON.parse(document.querySelector('script.wgan-explorer-meta').textContent)"
        ".runs.map(r => r.key)"
    )
    assert keys == [r["key"] for r in meta["runs"]], "the build is stale: rebuild the book"
    s = _read(page)
    last = meta["settings"]["n_frames"] - 1
    first = meta["settings"]["datasets"][0]
    assert s["data"] == first and s["t"] == last and s["slider"] == str(last)
    assert s["left"] == f"gan_adam_lr0.0002__{first}"
    assert s["right"] == f"wgan-gp_adam_lr0.0001__{first}"
    assert s["hash"] == (
        f"#explorer=data:{first},left:gan_adam_lr0.0002,right:wgan-gp_adam_lr0.0001,t:{last}"
    )
    for side in ("left", "right"):
        _check_pane(page, meta, arrays, side, last)
    gan = s["panes"]["left"]["selects"]
    assert gan["clip"]["disabled"] and gan["clip"]["options"] == ["none"]


def test_book_page_every_control_shows_its_frame(book):
    page, _, meta, arrays, url = book
    _drive_every_control(page, meta, arrays)


def test_book_page_url_round_trip_and_keyboard(book, browser):  # noqa: F811
    page, rec, meta, arrays, url = book
    _round_trip_and_keyboard(page, rec.context, meta, arrays)


# ----------------------------------------------------------------------------- shared drives


def _drive_every_control(page, meta, arrays) -> None:
    datasets = meta["settings"]["datasets"]
    data = datasets[-1]
    page.locator("select[name=data]").select_option(data)
    s = _read(page)
    assert s["data"] == data == s["data_attr"]
    for side in ("left", "right"):
        assert s[side].endswith(f"__{data}")
        _check_pane(page, meta, arrays, side, s["t"])
    # the scrubber
    _set_frame(page, 1)
    assert _read(page)["t"] == 1
    _check_pane(page, meta, arrays, "left", 1)
    # method, clip, optimiser and learning rate of the left pane
    i = _index(meta, _read(page)["left"])
    methods = _read(page)["panes"]["left"]["selects"]["method"]["options"]
    method = "wgan-clip" if "wgan-clip" in methods else methods[-1]
    clip = 0.01 if method == "wgan-clip" else None
    _select(page, "left", "method", method)
    want = _expected(meta, data, i, method=method, clip=clip)
    assert _read(page)["left"] == meta["runs"][want]["key"]
    i = _check_pane(page, meta, arrays, "left", 1)
    for name in ("optimizer", "lr", "clip"):
        sel = _read(page)["panes"]["left"]["selects"][name]
        others = [v for v in sel["options"] if v != sel["value"]]
        assert sel["disabled"] == (not others)
        if not others:
            continue
        _select(page, "left", name, others[0])
        value = float(others[0]) if name != "optimizer" else others[0]
        r = meta["runs"][i]
        if name == "lr":
            lrs = sorted({q["lr"] for q in meta["runs"] if q["data"] == data and
                          (q["method"], q["clip"], q["optimizer"]) ==
                          (r["method"], r["clip"], r["optimizer"])})  # fmt: skip
            want = _expected(meta, data, i, rank=lrs.index(value))
        else:
            want = _expected(meta, data, i, **{name: value})
        s = _read(page)
        assert s["left"] == meta["runs"][want]["key"], (name, others[0], s["left"])
        assert meta["runs"][want][name] == value
        i = _check_pane(page, meta, arrays, "left", 1)
    # play runs the frames forward one by one to the end, pause stops it
    _set_frame(page, 0)
    page.locator("button[name=play]").click()
    last = meta["settings"]["n_frames"] - 1
    page.wait_for_function(
        f"() => !window.wganExplorer.state().playing && window.wganExplorer.state().t === {last}",
        timeout=30_000,
    )
    _check_pane(page, meta, arrays, "right", last)
    assert page.locator("button[name=play]").text_content() == "Play"


def _round_trip_and_keyboard(page, context, meta, arrays) -> None:
    datasets = meta["settings"]["datasets"]
    page.locator("select[name=data]").select_option(datasets[0])
    t2 = min(2, meta["settings"]["n_frames"] - 1)
    _set_frame(page, t2)
    methods = _read(page)["panes"]["right"]["selects"]["method"]["options"]
    _select(page, "right", "method", methods[0])
    s = _read(page)
    assert s["hash"].startswith("#explorer=data:") and s["hash"].endswith(f",t:{t2}")
    url = page.url
    assert url.endswith(s["hash"])
    other = context.new_page()
    other.goto(url)
    _ready(other)
    t = _read(other)
    for key in ("data", "left", "right", "t", "hash"):
        assert t[key] == s[key], key
    _check_pane(other, meta, arrays, "right", t2)
    # a link that names no run of this grid says so and shows the default
    other.goto(url.split("#")[0] + "#explorer=data:nowhere,left:nothing,t:999")
    other.reload()
    _ready(other)
    t = _read(other)
    assert "nowhere" in t["note"] and "nothing" in t["note"] and t["data"] == datasets[0]
    other.close()
    # keyboard: arrows on the scrubber, space and enter on play, arrows on a select
    slider = page.locator("input[name=frame]")
    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    assert _read(page)["t"] == 1
    _check_pane(page, meta, arrays, "left", 1)
    page.keyboard.press("End")
    assert _read(page)["t"] == meta["settings"]["n_frames"] - 1
    page.keyboard.press("Home")
    play = page.locator("button[name=play]")
    play.focus()
    page.keyboard.press("Space")
    assert _read(page)["playing"] and play.get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => window.wganExplorer.state().t >= 1")
    page.keyboard.press("Enter")
    s = _read(page)
    assert not s["playing"]
    time.sleep(1.0)
    assert _read(page)["t"] == s["t"]
    _check_pane(page, meta, arrays, "left", s["t"])
    method = page.locator("[data-pane=left] select[name=method]")
    before = _read(page)["left"]
    method.focus()
    page.keyboard.press("ArrowDown" if methods.index(_read(page)["panes"]["left"]["selects"]["method"]["value"]) < len(methods) - 1 else "ArrowUp")  # fmt: skip
    assert _read(page)["left"] != before
    _check_pane(page, meta, arrays, "left", s["t"])


# ----------------------------------------------------------------------------- tiny grid, file://


def test_file_page_every_control_including_clip_optimiser_and_lr(tiny, tiny_page):
    meta, arrays, *_ = tiny
    _drive_every_control(tiny_page, meta, arrays)


def test_file_page_url_round_trip_and_keyboard(tiny, tiny_page):
    meta, arrays, *_ = tiny
    _round_trip_and_keyboard(tiny_page, tiny_page.context, meta, arrays)


def test_file_page_diverged_run_says_so_and_keeps_its_last_frame(tiny, tiny_page):
    meta, arrays, _, _, i = tiny
    key = meta["runs"][i]["key"].split("__")[0]
    page = tiny_page
    page.goto(page.url.split("#")[0] + f"#explorer=data:8gaussians,left:{key},right:{TINY[2]},t:1")
    page.reload()
    _ready(page)
    assert _read(page)["left"] == meta["runs"][i]["key"]
    _check_pane(page, meta, arrays, "left", 1)  # t = 1 is past its one frame
    assert (
        "diverged at iteration 13; showing its last frame"
        in _read(page)["panes"]["left"]["fields"]["diverged"]
    )


def test_file_page_with_data_files_beside_it_loads_them(browser, tiny):  # noqa: F811
    meta, arrays, _, linked, _ = tiny
    context = browser.new_context()
    requests = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.goto(linked)
    _ready(page)
    assert any("/_explorer/explorer-8gaussians-" in u for u in requests), requests
    assert all(u.startswith("file://") for u in requests), requests
    s = _read(page)
    assert not page.locator("[data-wgan-explorer]").get_attribute("data-error")
    for side in ("left", "right"):
        _check_pane(page, meta, arrays, side, s["t"])
    context.close()
