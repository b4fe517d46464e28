"""The training explorer's script (plain JavaScript, no library), kept apart from its Python.

:func:`wganlib.explorer_page.explorer_html` puts :data:`SCRIPT` in the page. It reads the page's
JSON block (settings, runs, colour map) and the quantised arrays of one data set at a time, which
come either inline (``<script>`` blocks of the page) or from a file the build serves, loaded with
a ``<script src>`` (which, unlike ``fetch``, also works from ``file://``). Each file or block runs
``window.wganExplorerData[data] = {samples, critic, gradient, target}``: base64 strings of the
data set's runs in page order, decoded with ``atob``.

State: one object (data set, the left and right run, frame index) mirrored in the URL hash
(``#explorer=data:8gaussians,left:KEY,right:KEY,t:12``), in the root's ``data-*`` attributes and
in ``window.wganExplorer.state()``.
"""

from __future__ import annotations

SCRIPT = r"""
(function () {
  "use strict";
  var root = document.currentScript ? document.currentScript.closest("[data-wgan-explorer]") : null;
  if (!root) { root = document.getElementById(__ROOT_ID__); }
  var cfg = JSON.parse(root.querySelector("script.wgan-explorer-meta").textContent);
  var S = cfg.settings, RUNS = cfg.runs, T = S.n_frames, SR = S.sample_range, R = S.range;
  var G = S.grid, A = S.arrows, NS = S.n_shown;
  var LUT = [];
  for (var c = 0; c < 256; c++) {
    LUT.push([0, 2, 4].map(function (o) { return parseInt(cfg.colormap.substr(6 * c + o, 2), 16); }));
  }
  var store = window.wganExplorerData = window.wganExplorerData || {};
  var decoded = {};
  var state = {data: null, panes: [null, null], t: 0};
  var playing = null;
  var note = root.querySelector("[data-field=note]");
  var frame = root.querySelector("input[name=frame]");
  var dataSel = root.querySelector("select[name=data]");
  var play = root.querySelector("button[name=play]");
  var panes = Array.prototype.slice.call(root.querySelectorAll("[data-pane]"));

  function bytes(s, signed) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return signed ? new Int8Array(out.buffer) : out;
  }
  function decode(data) {
    var raw = store[data];
    var idx = {}, n = 0;
    RUNS.forEach(function (r, i) { if (r.data === data) { idx[i] = n++; } });
    return {pos: idx, samples: bytes(raw.samples), critic: bytes(raw.critic),
            gradient: bytes(raw.gradient, true), target: raw.target};
  }
  function ensure(data, done) {
    if (decoded[data]) { return done(); }
    if (store[data]) { decoded[data] = decode(data); return done(); }
    if (!cfg.files) { return fail("no data for " + data + " in this page"); }
    var s = document.createElement("script");
    s.src = cfg.assets + cfg.files[data];
    s.onload = function () {
      if (!store[data]) { return fail("the data file of " + data + " is stale: rebuild the book"); }
      decoded[data] = decode(data); done();
    };
    s.onerror = function () { fail("could not load " + s.src + ": rebuild the book"); };
    document.head.appendChild(s);
  }
  function fail(msg) { note.textContent = msg; root.setAttribute("data-error", msg); }

  // ---------------------------------------------------------------- choosing runs
  function variantKey(r) { return r.key.split("__")[0]; }
  function runsOf(data) { return RUNS.map(function (r, i) { return i; }).filter(function (i) { return RUNS[i].data === data; }); }
  function uniq(a) { return a.filter(function (v, i) { return a.indexOf(v) === i; }); }
  function lrRank(i) {
    var r = RUNS[i];
    var lrs = runsOf(r.data).map(function (j) { return RUNS[j]; }).filter(function (q) {
      return q.method === r.method && q.clip === r.clip && q.optimizer === r.optimizer;
    }).map(function (q) { return q.lr; });
    lrs = uniq(lrs).sort(function (a, b) { return a - b; });
    return lrs.indexOf(r.lr);
  }
  // the run of `data` nearest to `want` ({method, clip, optimizer, rank}); exact when score is 0
  function nearest(data, want) {
    var best = null, bestScore = Infinity;
    runsOf(data).forEach(function (i) {
      var r = RUNS[i], s = 0;
      if (r.method !== want.method) { s += 1000; }
      if (r.clip !== want.clip) {
        s += (r.clip === null || want.clip === null) ? 100 : 10 * Math.abs(Math.log10(r.clip / want.clip));
      }
      if (r.optimizer !== want.optimizer) { s += 5; }
      s += Math.abs(lrRank(i) - want.rank);
      if (s < bestScore) { best = i; bestScore = s; }
    });
    return {run: best, exact: bestScore === 0};
  }
  function wantOf(i) { var r = RUNS[i]; return {method: r.method, clip: r.clip, optimizer: r.optimizer, rank: lrRank(i)}; }
  function byKey(data, key) {
    var i = RUNS.findIndex(function (r) { return r.data === data && variantKey(r) === key; });
    return i < 0 ? null : i;
  }
  function fmtLr(x) { return x.toExponential(0); }

  // ---------------------------------------------------------------- controls
  function options(sel, values, labels, value) {
    sel.innerHTML = "";
    values.forEach(function (v, k) {
      var o = document.createElement("option");
      o.value = String(v); o.textContent = labels[k]; sel.appendChild(o);
    });
    sel.value = String(value);
  }
  function fillPane(p) {
    var el = panes[p], i = state.panes[p], r = RUNS[i], mine = runsOf(state.data).map(function (j) { return RUNS[j]; });
    var methods = uniq(mine.map(function (q) { return q.method; }));
    options(el.querySelector("select[name=method]"), methods, methods.map(function (m) { return cfg.labels[m] || m; }), r.method);
    var same = mine.filter(function (q) { return q.method === r.method; });
    var clips = uniq(same.map(function (q) { return q.clip; }));
    var clipSel = el.querySelector("select[name=clip]");
    if (r.clip === null) { options(clipSel, ["none"], ["n/a"], "none"); } else {
      clips.sort(function (a, b) { return a - b; });
      options(clipSel, clips, clips.map(String), r.clip);
    }
    clipSel.disabled = r.clip === null || clips.length < 2;
    same = same.filter(function (q) { return q.clip === r.clip; });
    var opts = uniq(same.map(function (q) { return q.optimizer; }));
    var optSel = el.querySelector("select[name=optimizer]");
    options(optSel, opts, opts.map(function (o) { return cfg.labels[o] || o; }), r.optimizer);
    optSel.disabled = opts.length < 2;
    same = same.filter(function (q) { return q.optimizer === r.optimizer; });
    var lrs = uniq(same.map(function (q) { return q.lr; })).sort(function (a, b) { return a - b; });
    var lrSel = el.querySelector("select[name=lr]");
    options(lrSel, lrs, lrs.map(function (x) { return fmtLr(x) + (x === lrs[0] ? " (default)" : " (\u00d7" + Math.round(x / lrs[0]) + ")"); }), r.lr);
    lrSel.disabled = lrs.length < 2;
  }
  function fromControls(p) {
    var el = panes[p];
    var method = el.querySelector("select[name=method]").value;
    var clipV = el.querySelector("select[name=clip]").value;
    var want = wantOf(state.panes[p]);
    var changedMethod = method !== want.method;
    want.method = method;
    if (changedMethod) { if (method !== "wgan-clip") { want.clip = null; } else if (want.clip === null) { want.clip = 0.01; } }
    else if (clipV !== "none") { want.clip = parseFloat(clipV); }
    if (!changedMethod) {
      want.optimizer = el.querySelector("select[name=optimizer]").value;
      var lr = parseFloat(el.querySelector("select[name=lr]").value);
      var r = RUNS[state.panes[p]];
      if (want.optimizer === r.optimizer && want.clip === r.clip) {
        var k = byKeyLr(state.data, r, lr); if (k !== null) { want.rank = lrRank(k); }
      }
    }
    return want;
  }
  function byKeyLr(data, r, lr) {
    var i = RUNS.findIndex(function (q) { return q.data === data && q.method === r.method && q.clip === r.clip && q.optimizer === r.optimizer && q.lr === lr; });
    return i < 0 ? null : i;
  }
  // a new method takes the nearest of its own settings quietly; other changes must match
  function choose(p, want, what, quiet) {
    var got = nearest(state.data, want);
    state.panes[p] = got.run;
    if (!got.exact && !quiet) { say((p ? "Right" : "Left") + ": " + what + " is not in the grid; showing the nearest run, " + variantKey(RUNS[got.run]) + "."); }
    return got.exact;
  }
  function say(msg) { note.textContent = msg; }

  // ---------------------------------------------------------------- drawing
  function k(i) { return Math.min(state.t, RUNS[i].frames.length - 1); }
  function px(v, lo, hi, n) { return Math.round((v - lo) / (hi - lo) * (n - 1)); }
  function drawSamples(canvas, i) {
    var d = decoded[state.data], ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = cfg.colors.target;
    for (var n = 0; n < d.target.length; n++) {
      ctx.fillRect(px(d.target[n][0], -SR, SR, W) - 1, H - 1 - px(d.target[n][1], -SR, SR, H) - 1, 2, 2);
    }
    ctx.fillStyle = cfg.colors.generator;
    var off = (d.pos[i] * T + state.t) * NS * 2;
    for (n = 0; n < NS; n++) {
      var x = d.samples[off + 2 * n] / 255 * 2 * SR - SR, y = d.samples[off + 2 * n + 1] / 255 * 2 * SR - SR;
      ctx.fillRect(px(x, -SR, SR, W) - 1, H - 1 - px(y, -SR, SR, H) - 1, 3, 3);
    }
  }
  function drawCritic(canvas, overlay, i) {
    var d = decoded[state.data], ctx = canvas.getContext("2d"), W = canvas.width, cell = W / G;
    var img = ctx.createImageData(W, W), off = (d.pos[i] * T + state.t) * G * G;
    for (var yy = 0; yy < W; yy++) {
      var gi = G - 1 - Math.floor(yy / cell);
      for (var xx = 0; xx < W; xx++) {
        var col = LUT[d.critic[off + gi * G + Math.floor(xx / cell)]], o = 4 * (yy * W + xx);
        img.data[o] = col[0]; img.data[o + 1] = col[1]; img.data[o + 2] = col[2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    var o2 = overlay.getContext("2d");
    o2.clearRect(0, 0, W, W);
    contours(o2, d.critic, off, cell);
    var goff = (d.pos[i] * T + state.t) * A * A * 2, span = (G - 1) * cell, len = 0.9 * span / (A - 1);
    o2.strokeStyle = "#ffffff"; o2.fillStyle = "#ffffff"; o2.lineWidth = 1.2;
    for (var a = 0; a < A; a++) {
      for (var b = 0; b < A; b++) {
        var gx = d.gradient[goff + 2 * (a * A + b)] / 127, gy = d.gradient[goff + 2 * (a * A + b) + 1] / 127;
        var x0 = cell / 2 + b / (A - 1) * span, y0 = cell / 2 + (A - 1 - a) / (A - 1) * span;
        var x1 = x0 + gx * len, y1 = y0 - gy * len, m = Math.hypot(x1 - x0, y1 - y0);
        if (m < 1) { continue; }
        o2.beginPath(); o2.moveTo(x0, y0); o2.lineTo(x1, y1); o2.stroke();
        var ux = (x1 - x0) / m, uy = (y1 - y0) / m, h = Math.min(4, m / 2);
        o2.beginPath(); o2.moveTo(x1, y1);
        o2.lineTo(x1 - h * ux - h * 0.6 * uy, y1 - h * uy + h * 0.6 * ux);
        o2.lineTo(x1 - h * ux + h * 0.6 * uy, y1 - h * uy - h * 0.6 * ux); o2.fill();
      }
    }
  }
  // marching squares on the quantised field, levels 1/6 ... 5/6 of the frame's range
  function contours(ctx, f, off, cell) {
    ctx.strokeStyle = "rgba(0,0,0,0.45)"; ctx.lineWidth = 1;
    function at(i, j) { return f[off + i * G + j]; }
    function X(j) { return cell / 2 + j * cell; }
    function Y(i) { return cell / 2 + (G - 1 - i) * cell; }
    for (var L = 1; L < 6; L++) {
      var lev = L * 255 / 6;
      ctx.beginPath();
      for (var i = 0; i < G - 1; i++) {
        for (var j = 0; j < G - 1; j++) {
          var c = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]], pts = [];
          for (var e = 0; e < 4; e++) {
            var p = c[e], q = c[(e + 1) % 4], vp = at(p[0], p[1]) - lev, vq = at(q[0], q[1]) - lev;
            if ((vp < 0) !== (vq < 0)) {
              var s = vp / (vp - vq);
              pts.push([X(p[1] + s * (q[1] - p[1])), Y(p[0] + s * (q[0] - p[0]))]);
            }
          }
          for (var m = 0; m + 1 < pts.length; m += 2) { ctx.moveTo(pts[m][0], pts[m][1]); ctx.lineTo(pts[m + 1][0], pts[m + 1][1]); }
        }
      }
      ctx.stroke();
    }
  }
  function drawCurve(canvas, i) {
    var r = RUNS[i], ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    var l = 36, rt = 8, top = 8, bot = 22;
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
    var xs = cfg.schedule, x0 = Math.log(xs[0]), x1 = Math.log(xs[xs.length - 1]);
    var vals = r.w1.concat(r.estimate).filter(isFinite).concat([0]);
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi - lo < 1e-9) { hi = lo + 1; }
    function X(it) { return l + (Math.log(it) - x0) / (x1 - x0 || 1) * (W - l - rt); }
    function Y(v) { return top + (hi - v) / (hi - lo) * (H - top - bot); }
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(l, top); ctx.lineTo(l, H - bot); ctx.lineTo(W - rt, H - bot); ctx.moveTo(l, Y(0)); ctx.lineTo(W - rt, Y(0)); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "10px sans-serif";
    ctx.fillText(hi.toPrecision(2), 2, top + 8); ctx.fillText(lo.toPrecision(2), 2, H - bot);
    ctx.fillText(String(xs[0]), l, H - 8); ctx.fillText(String(xs[xs.length - 1]) + " (log scale)", W - rt - 90, H - 8);
    [["w1", cfg.colors.w1], ["estimate", cfg.colors.estimate]].forEach(function (kc) {
      ctx.strokeStyle = kc[1]; ctx.lineWidth = 1.8; ctx.beginPath();
      r[kc[0]].forEach(function (v, n) { if (n === 0) { ctx.moveTo(X(r.frames[n]), Y(v)); } else { ctx.lineTo(X(r.frames[n]), Y(v)); } });
      ctx.stroke();
    });
    ctx.fillStyle = cfg.colors.w1; ctx.fillText("exact W1", l + 6, top + 10);
    ctx.fillStyle = cfg.colors.estimate; ctx.fillText("critic's estimate", l + 60, top + 10);
    ctx.strokeStyle = cfg.colors.cursor; ctx.lineWidth = 1.5; ctx.beginPath();
    var cx = Math.round(X(r.frames[k(i)])) + 0.5; ctx.moveTo(cx, top); ctx.lineTo(cx, H - bot); ctx.stroke();
  }
  function readout(el, i) {
    var r = RUNS[i], n = k(i);
    function set(f, text) { var s = el.querySelector("[data-field=" + f + "]"); s.textContent = text; s.hidden = text === ""; }
    set("run", variantKey(r));
    set("iteration", "iteration " + r.frames[n]);
    set("w1", "exact W1 " + r.w1[n].toFixed(3));
    set("estimate", "estimate " + r.estimate[n].toFixed(3));
    set("modes", r.modes ? "modes " + r.modes[n] : "");
    set("high_quality", r.high_quality ? "high quality " + (100 * r.high_quality[n]).toFixed(1) + "%" : "");
    set("diverged", r.diverged ? "diverged at iteration " + r.iterations + (state.t > n ? "; showing its last frame" : "") : "");
    el.setAttribute("data-run", r.key); el.setAttribute("data-frame", n); el.setAttribute("data-iteration", r.frames[n]);
  }
  function render() {
    panes.forEach(function (el, p) {
      var i = state.panes[p];
      fillPane(p);
      drawSamples(el.querySelector("canvas[data-panel=samples]"), i);
      drawCritic(el.querySelector("canvas[data-panel=critic]"), el.querySelector("canvas[data-panel=arrows]"), i);
      drawCurve(el.querySelector("canvas[data-panel=curve]"), i);
      readout(el, i);
    });
    dataSel.value = state.data;
    frame.value = String(state.t);
    var it = cfg.schedule[state.t];
    root.querySelector("[data-field=time]").textContent = "iteration " + it;
    frame.setAttribute("aria-valuetext", "iteration " + it);
    root.setAttribute("data-data", state.data); root.setAttribute("data-t", state.t);
    root.setAttribute("data-iteration", it);
    root.setAttribute("data-left", RUNS[state.panes[0]].key); root.setAttribute("data-right", RUNS[state.panes[1]].key);
    var h = "#explorer=data:" + state.data + ",left:" + variantKey(RUNS[state.panes[0]]) + ",right:" + variantKey(RUNS[state.panes[1]]) + ",t:" + state.t;
    if (location.hash !== h) { history.replaceState(null, "", h); }
  }
  // data-busy is set while a data file loads (tests wait for it to go)
  function update(fn) {
    root.setAttribute("data-busy", "true");
    ensure(state.data, function () { fn(); render(); root.removeAttribute("data-busy"); });
  }

  // ---------------------------------------------------------------- events
  dataSel.addEventListener("change", function () {
    var old = state.panes.map(wantOf), keys = state.panes.map(function (i) { return variantKey(RUNS[i]); });
    state.data = dataSel.value; say("");
    state.panes = keys.map(function (key, p) { var i = byKey(state.data, key); return i === null ? (choose(p, old[p], key), state.panes[p]) : i; });
    update(function () {});
  });
  panes.forEach(function (el, p) {
    ["method", "clip", "optimizer", "lr"].forEach(function (name) {
      el.querySelector("select[name=" + name + "]").addEventListener("change", function () {
        say(""); choose(p, fromControls(p), "that setting", name === "method"); update(function () {});
      });
    });
  });
  frame.addEventListener("input", function () { state.t = parseInt(frame.value, 10); update(function () {}); });
  function stop() { if (playing !== null) { clearInterval(playing); playing = null; } play.textContent = "Play"; play.setAttribute("aria-pressed", "false"); }
  play.addEventListener("click", function () {
    if (playing !== null) { return stop(); }
    if (state.t >= T - 1) { state.t = 0; update(function () {}); }
    play.textContent = "Pause"; play.setAttribute("aria-pressed", "true");
    playing = setInterval(function () {
      if (state.t >= T - 1) { return stop(); }
      state.t += 1; render();
    }, cfg.interval);
  });

  // ---------------------------------------------------------------- start
  function fromHash() {
    var m = /explorer=([^&]*)/.exec(location.hash), out = {};
    if (!m) { return out; }
    decodeURIComponent(m[1]).split(",").forEach(function (kv) { var c = kv.indexOf(":"); if (c > 0) { out[kv.slice(0, c)] = kv.slice(c + 1); } });
    return out;
  }
  var h = fromHash(), bad = [];
  state.data = cfg.datasets.indexOf(h.data) >= 0 ? h.data : cfg.start.data;
  if (h.data && h.data !== state.data) { bad.push("data set " + h.data); }
  ["left", "right"].forEach(function (side, p) {
    var i = h[side] ? byKey(state.data, h[side]) : null;
    if (h[side] && i === null) { bad.push(side + " run " + h[side]); }
    state.panes[p] = i !== null ? i : byKey(state.data, cfg.start[side]);
    if (state.panes[p] === null) { state.panes[p] = runsOf(state.data)[p ? runsOf(state.data).length - 1 : 0]; }
  });
  var t = parseInt(h.t, 10);
  state.t = (isFinite(t) && t >= 0 && t < T) ? t : cfg.start.t;
  if (h.t !== undefined && state.t !== t) { bad.push("frame " + h.t); }
  dataSel.innerHTML = "";
  cfg.datasets.forEach(function (d) { var o = document.createElement("option"); o.value = d; o.textContent = cfg.labels[d] || d; dataSel.appendChild(o); });
  if (bad.length) { say("The link names " + bad.join(", ") + ", which this grid does not have; showing the default instead."); }
  window.wganExplorer = root.wganExplorer = {
    state: function () {
      return {data: state.data, t: state.t, iteration: cfg.schedule[state.t], playing: playing !== null,
              left: RUNS[state.panes[0]].key, right: RUNS[state.panes[1]].key,
              leftFrame: k(state.panes[0]), rightFrame: k(state.panes[1])};
    },
  };
  update(function () {
    root.setAttribute("data-ready", "true");
    root.setAttribute("data-ready-ms", performance.now().toFixed(1));
  });
})();
"""
