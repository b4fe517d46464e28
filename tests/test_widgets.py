"""Tests for wganlib.widgets: the static HTML slider and the live ipywidgets slider.

The slider's JavaScript runs in a real browser in tests/test_browser.py; here we check what
Python writes into the page and what the live widget does when its value changes.
"""

from __future__ import annotations

import base64
import html.parser
import json
import math

import numpy as np
import pytest

from wganlib.widgets import (
    DERIVATIVE_KEYS,
    DISTANCE_KEYS,
    default_thetas,
    derivatives,
    format_distances,
    format_theta,
    parallel_lines_slider_html,
    parallel_lines_widget,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(html.parser.HTMLParser):
    """Collects start tags (with attributes) and the text of <script> elements."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._in_script = attrs
            self.scripts.append((attrs, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def _parse(markup: str) -> _Collector:
    parser = _Collector()
    parser.feed(markup)
    return parser


def _find(parser: _Collector, tag: str, cls: str) -> dict:
    found = [a for t, a in parser.tags if t == tag and cls in a.get("class", "").split()]
    assert len(found) == 1, f"expected one <{tag} class={cls}>, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def small_slider():
    thetas = [-0.5, 0.0, 0.25]
    return thetas, parallel_lines_slider_html(thetas, theta=0.2, dpi=30)


def test_default_thetas_is_symmetric_holds_zero_and_is_fine_near_zero():
    grid = default_thetas()
    assert grid[0] == -1.0 and grid[-1] == 1.0
    assert 0.0 in grid and np.all(np.diff(grid) > 0)
    np.testing.assert_allclose(grid, -grid[::-1])
    # reaches theta = 0.001 (the chapter's "the lines nearly touch" case) on both sides
    assert 0.001 in grid and -0.001 in grid
    pos = grid[grid > 0]
    np.testing.assert_allclose(pos[:5], [0.001, 0.002, 0.005, 0.01, 0.02])
    np.testing.assert_allclose(pos[5:], np.arange(1, 21) * 0.05)
    # a coarse grid keeps only the fine points below its first step
    assert default_thetas(1.0, 100)[104:108].tolist() == [0.001, 0.002, 0.005, 0.01]


def test_format_distances_and_derivatives():
    assert format_distances(0.0) == {
        "w1": "0.000", "js": "0.000", "kl": "0.000", "tv": "0.000", "dw1": "none", "djs": "none",
    }  # fmt: skip
    assert format_distances(-0.25) == {
        "w1": "0.250", "js": "0.693", "kl": "+\u221e", "tv": "1.000", "dw1": "-1", "djs": "0",
    }  # fmt: skip
    assert format_distances(0.001)["w1"] == "0.001" and format_distances(0.001)["js"] == "0.693"
    assert derivatives(0.3) == {"dw1": 1.0, "djs": 0.0}
    assert all(math.isnan(v) for v in derivatives(0.0).values())
    assert format_theta(-0.001) == "-0.001" and format_theta(0.0) == "+0.000"


def test_slider_starts_at_the_nearest_grid_point(small_slider):
    thetas, markup = small_slider
    page = _parse(markup)
    root = _find(page, "div", "wgan-theta-slider")
    assert float(root["data-theta"]) == 0.25 and root["data-index"] == "2"
    rng = _find(page, "input", "wgan-theta-input")
    assert (
        rng["type"] == "range" and rng["min"] == "0" and rng["max"] == "2" and rng["value"] == "2"
    )
    img = _find(page, "img", "wgan-theta-frame")
    assert float(img["data-theta"]) == 0.25
    cells = {a["data-distance"]: a for t, a in page.tags if "data-distance" in a}
    assert set(cells) == set(DISTANCE_KEYS) | set(DERIVATIVE_KEYS)
    assert float(cells["w1"]["data-value"]) == 0.25 and math.isinf(float(cells["kl"]["data-value"]))
    assert float(cells["dw1"]["data-value"]) == 1.0 and float(cells["djs"]["data-value"]) == 0.0


def test_slider_embeds_one_frame_per_theta(small_slider):
    thetas, markup = small_slider
    page = _parse(markup)
    data_blocks = [t for a, t in page.scripts if a.get("type") == "application/json"]
    assert len(data_blocks) == 1
    data = json.loads(data_blocks[0])
    assert data["thetas"] == thetas
    frames = [base64.b64decode(f) for f in data["frames"]]
    assert all(f.startswith(PNG_MAGIC) for f in frames)
    assert len(set(frames)) == len(thetas), "each theta must have its own picture"
    assert data["labels"] == ["-0.500", "+0.000", "+0.250"]
    # the values are computed in the page (tests/test_browser.py checks them there)
    assert "values" not in data and "text" not in data
    assert [a.split(";")[0] for a in data["alts"]] == [
        f"P0 and P_theta for theta = {format_theta(t)}" for t in thetas
    ]
    # the first frame shown is the one for data-theta
    img = _find(page, "img", "wgan-theta-frame")
    assert img["src"] == "data:image/png;base64," + data["frames"][2]


def test_slider_has_a_script_that_listens_to_the_input(small_slider):
    _, markup = small_slider
    code = [t for a, t in _parse(markup).scripts if "type" not in a]
    assert len(code) == 1
    assert 'addEventListener("input"' in code[0] and "data-theta" in code[0]
    assert "Math.LN2" in code[0] and "Math.abs(t)" in code[0]  # closed forms, computed in the page


def test_slider_needs_no_network_and_is_reproducible(small_slider):
    thetas, markup = small_slider
    assert "http://" not in markup and "https://" not in markup and "//cdn" not in markup
    assert parallel_lines_slider_html(thetas, theta=0.2, dpi=30) == markup


@pytest.mark.parametrize("thetas", [[0.0], [0.0, 0.0], [0.5, 0.1], [0.0, float("nan")]])
def test_slider_rejects_bad_grids(thetas):
    with pytest.raises(ValueError, match="increasing"):
        parallel_lines_slider_html(thetas)


def test_live_widget_redraws_when_the_slider_moves():
    import ipywidgets

    box = parallel_lines_widget(theta=0.5, dpi=30)
    slider, image, values = box.children
    assert isinstance(slider, ipywidgets.FloatSlider)
    assert isinstance(image, ipywidgets.Image) and isinstance(values, ipywidgets.HTML)
    assert bytes(image.value).startswith(PNG_MAGIC)
    assert "0.500" in values.value and "+\u221e" in values.value and "dW/d" in values.value
    before = bytes(image.value)
    slider.value = 0.0
    assert bytes(image.value) != before
    assert "+\u221e" not in values.value and values.value.count("0.000") == 4
    assert values.value.count("none") == 2  # no derivative at the kink / jump
    slider.value = -0.25
    assert "0.250" in values.value and "0.693" in values.value and ">-1<" in values.value
    slider.value = 0.001  # the live slider reaches the fine case too
    assert slider.value == 0.001 and "0.001" in values.value and "0.693" in values.value
