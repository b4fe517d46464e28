"""The training explorer's HTML generator and its live widget, without a browser.

A tiny grid (three variants on one data set, 20 iterations, two frames) is made with the real CLI
into a temporary folder; nothing here reads the committed results.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from wganlib.experiments import explorer as ex
from wganlib.experiments.explorer import unpack
from wganlib.explorer_page import data_scripts, explorer_html, load, target_samples

VARIANTS = [
    "gan_adam_lr0.0002",
    "wgan-clip_c0.01_rmsprop_lr5e-05",
    "wgan-clip_c0.1_rmsprop_lr5e-05",
]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """``(meta, arrays)`` of a tiny grid made by the CLI."""
    root = tmp_path_factory.mktemp("explorer")
    out = root / "explorer.json"
    argv = ["--only", *VARIANTS, "--datasets", "8gaussians", "--iterations", "20"]
    ex.main([*argv, "--state", str(root / "state"), "--out", str(out)])
    return load(out)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict, list[str]]] = []  # (tag, attrs, open label stack)
        self.labels = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), self.labels))
        self.labels += tag == "label"

    def handle_endtag(self, tag):
        self.labels -= tag == "label"


def test_html_has_the_root_attribute_and_a_labelled_named_control_each(grid):
    page = explorer_html(*grid, right=VARIANTS[2])
    parser = _Tags()
    parser.feed(page)
    roots = [a for t, a, _ in parser.tags if "data-wgan-explorer" in a]
    assert len(roots) == 1
    controls = [
        (t, a, in_label) for t, a, in_label in parser.tags if t in ("select", "input", "button")
    ]
    names = sorted(a.get("name", "") for _, a, _ in controls)
    expected = ["data", "frame", "play"] + 2 * ["clip", "lr", "method", "optimizer"]
    assert names == sorted(expected)
    for tag, attrs, in_label in controls:
        assert tag == "button" or in_label, f"{attrs['name']} has no label"
    frame = next(a for t, a, _ in controls if a["name"] == "frame")
    assert frame["type"] == "range" and frame["max"] == str(grid[0]["settings"]["n_frames"] - 1)
    panes = [a["data-pane"] for t, a, _ in parser.tags if "data-pane" in a]
    assert panes == ["left", "right"]
    assert "http://" not in page and "https://" not in page and "fetch(" not in page


def _payload(js: str) -> dict:
    return json.loads(re.search(r"= (\{.*\});\s*$", js, re.S).group(1))


def test_data_files_decode_to_the_npz_arrays(grid):
    meta, arrays = grid
    files = data_scripts(meta, arrays)
    assert list(files) == [
        n for n in files if re.fullmatch(r"explorer-8gaussians-[0-9a-f]{10}\.js", n)
    ]
    payload = _payload(next(iter(files.values())))
    r, t = len(meta["runs"]), meta["settings"]["n_frames"]
    got = {
        "samples": np.frombuffer(base64.b64decode(payload["samples"]), np.uint8),
        "critic": np.frombuffer(base64.b64decode(payload["critic"]), np.uint8),
        "gradient": np.frombuffer(base64.b64decode(payload["gradient"]), np.int8),
    }
    for key, values in got.items():
        assert values.reshape(arrays[key].shape).tolist() == arrays[key].tolist(), key
    assert got["samples"].size == r * t * meta["settings"]["n_shown"] * 2
    target = np.asarray(payload["target"])
    assert target.shape == (meta["settings"]["n_shown"], 2)
    assert np.array_equal(target, target_samples("8gaussians", meta["settings"]["n_shown"]))
    # the same bytes are inlined when no asset folder is given, and only named otherwise
    inline = explorer_html(meta, arrays, right=VARIANTS[2])
    assert next(iter(files.values())) in inline
    linked = explorer_html(meta, arrays, right=VARIANTS[2], assets="../_explorer/")
    assert payload["samples"] not in linked and next(iter(files)) in linked


def test_page_meta_holds_every_run_and_its_curves(grid):
    meta, arrays = grid
    page = explorer_html(*grid, right=VARIANTS[2], frame=0)
    blob = re.search(r"class='wgan-explorer-meta'>(.*?)</script>", page, re.S).group(1)
    cfg = json.loads(blob)
    assert [r["key"] for r in cfg["runs"]] == [r["key"] for r in meta["runs"]]
    for mine, theirs in zip(cfg["runs"], meta["runs"], strict=True):
        assert mine["w1"] == theirs["w1"] and mine["frames"] == theirs["frames"]
    start = {"data": "8gaussians", "left": "gan_adam_lr0.0002", "right": VARIANTS[2], "t": 0}
    assert cfg["start"] == start


def test_bad_choices_say_what_to_do(grid, tmp_path):
    with pytest.raises(ValueError, match="is not a run of 8gaussians; choose one of"):
        explorer_html(*grid, right="wgan-gp_adam_lr0.0001")
    with pytest.raises(ValueError, match="not in the grid; choose one of"):
        explorer_html(*grid, data="swissroll", right="gan_adam_lr0.0002")
    with pytest.raises(FileNotFoundError, match="python -m wganlib.experiments.explorer"):
        load(tmp_path / "explorer.json")


def test_live_widget_draws_the_frame_and_run_its_controls_ask_for(grid):
    from wganlib.explorer_widget import explorer_widget

    meta, arrays = grid
    keys = [r["key"] for r in meta["runs"]]
    w = explorer_widget(meta, arrays, left="gan_adam_lr0.0002", right=VARIANTS[2])
    c, art = w.controls, w.artists

    def shows(p: int, run: int, t: int) -> None:
        f = unpack(meta, arrays, run, t)
        assert np.allclose(art[p]["samples"].get_offsets(), f["samples"])
        assert np.allclose(np.asarray(art[p]["critic"].get_array()), f["critic"])
        r = meta["runs"][run]
        assert art[p]["cursor"].get_xdata()[0] == r["frames"][min(t, len(r["frames"]) - 1)]

    last = meta["settings"]["n_frames"] - 1
    assert w.state() == {"data": "8gaussians", "left": keys[0], "right": keys[2], "t": last}
    shows(0, 0, last)
    shows(1, 2, last)
    assert c["left"]["clip"].disabled and not c["right"]["clip"].disabled
    assert c["left"]["optimizer"].disabled  # one optimiser for the GAN in this grid
    c["frame"].value = 0
    shows(0, 0, 0)
    shows(1, 2, 0)
    c["right"]["clip"].value = 0.01
    assert w.state()["right"] == keys[1]
    shows(1, 1, 0)
    c["left"]["method"].value = "wgan-clip"
    assert w.state()["left"] in keys[1:] and not c["left"]["clip"].disabled
    shows(0, keys.index(w.state()["left"]), 0)
    assert w.notes[0].value == ""  # c = 0.01 is in the grid: an exact choice
