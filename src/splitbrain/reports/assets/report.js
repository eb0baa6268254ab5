/* splitbrain report: charts (plotly), linearizability tooltips, op timeline. No network. */
(function () {
  "use strict";
  var COLORS = {ok: "#16a34a", fail: "#dc2626", info: "#d97706"};
  // one shade per f within each outcome's hue (per-point symbols and opacity make WebGL
  // painting of 50,000 points about twice as slow, see benchmarks/report_render.py)
  var SHADES = {ok: ["#16a34a", "#0f766e", "#65a30d", "#166534", "#22c55e"],
                fail: ["#dc2626", "#be185d", "#ea580c", "#991b1b", "#f87171"],
                info: ["#d97706", "#a16207", "#ca8a04", "#92400e", "#f59e0b"]};
  var FAULT_COLORS = ["#ef4444", "#8b5cf6", "#0ea5e9", "#f59e0b", "#10b981", "#ec4899"];
  function data(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }

  function faultDecor(faults) {
    var fams = [], shapes = [], ann = [];
    faults.forEach(function (p) {
      if (fams.indexOf(p.name) < 0) fams.push(p.name);
      var col = FAULT_COLORS[fams.indexOf(p.name) % FAULT_COLORS.length];
      var x0 = p.start / 1e9, x1 = Math.max(p.end / 1e9, x0 + 0.05);
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: x0, x1: x1, y0: 0, y1: 1,
        fillcolor: col, opacity: 0.12, line: {width: 0}, layer: "below"});
      ann.push({x: x0, y: 1, xref: "x", yref: "paper", xanchor: "left", yanchor: "bottom",
        text: p.label.length > 40 ? p.label.slice(0, 39) + "…" : p.label, showarrow: false,
        font: {size: 10, color: col}, textangle: 0});
    });
    return {shapes: shapes, annotations: ann.length > 40 ? [] : ann};
  }

  function drawCharts(chart) {
    if (typeof Plotly === "undefined") {
      var fb = document.getElementById("chart-fallback"); if (fb) fb.hidden = false;
      return Promise.resolve();
    }
    window.__sbMarks.plotly = performance.now();
    var deco = faultDecor(chart.faults);
    var traces = chart.latency.map(function (t) {
      return {type: "scattergl", mode: "markers", name: t.f + " " + t.type, legendgroup: t.type,
        x: t.x, y: t.y, customdata: t.i, text: t.p,
        marker: {color: (SHADES[t.type] || ["#334155"])[chart.fs.indexOf(t.f) % 5], size: 4},
        hovertemplate: t.f + " <b>" + t.type + "</b><br>t=%{x:.3f} s, latency %{y:.2f} ms" +
          "<br>process %{text}, history index %{customdata}<extra></extra>"};
    });
    var cfg = {responsive: true, displaylogo: false};
    var common = {margin: {l: 60, r: 20, t: 28, b: 40}, hovermode: "closest",
      legend: {orientation: "h", y: -0.15}, plot_bgcolor: "#fff", paper_bgcolor: "#fff"};
    var p1 = Plotly.newPlot("latency-chart", traces, Object.assign({}, common, {
      xaxis: {title: {text: "time since start (s)"}, zeroline: false, range: [0, chart.end_s]},
      yaxis: {title: {text: "latency (ms)"}, type: "log"},
      shapes: deco.shapes, annotations: deco.annotations}), cfg);
    var th = chart.throughput;
    var ttr = Object.keys(th.series).map(function (k) {
      return {type: "scatter", mode: "lines", name: k + " ops/s", x: th.x, y: th.series[k],
        line: {color: COLORS[k] || "#334155", width: 1.5, shape: "hvh"},
        hovertemplate: k + ": %{y:.1f} ops/s at %{x:.1f} s<extra></extra>"};
    });
    var p2 = Plotly.newPlot("throughput-chart", ttr, Object.assign({}, common, {
      xaxis: {title: {text: "time since start (s) — completions per " + th.bin_s + " s"}, range: [0, chart.end_s]},
      yaxis: {title: {text: "ops/s"}, rangemode: "tozero"},
      shapes: deco.shapes}), cfg);
    // zooming one chart's time axis zooms the other
    var lat = document.getElementById("latency-chart"), thr = document.getElementById("throughput-chart");
    var syncing = false;
    function sync(src, dst) {
      src.on("plotly_relayout", function (ev) {
        if (syncing) return;
        var u = {};
        if (ev["xaxis.range[0]"] !== undefined) { u["xaxis.range"] = [ev["xaxis.range[0]"], ev["xaxis.range[1]"]]; }
        else if (ev["xaxis.autorange"]) { u["xaxis.range"] = [0, chart.end_s]; } else return;
        syncing = true; Plotly.relayout(dst, u).then(function () { syncing = false; });
      });
    }
    p1.then(function () { window.__sbMarks.latency = performance.now(); });
    p2.then(function () { window.__sbMarks.throughput = performance.now(); });
    return Promise.all([p1, p2]).then(function () { sync(lat, thr); sync(thr, lat); });
  }

  /* --- tooltip for the linearizability view --- */
  var tip = document.getElementById("tooltip"), pinned = null, hovered = null;
  function line(label, text) {
    var d = document.createElement("div"), b = document.createElement("b");
    b.textContent = label + " "; d.appendChild(b); d.appendChild(document.createTextNode(text)); return d;
  }
  function showTip(el) {
    var ds = el.dataset;
    tip.textContent = "";
    tip.appendChild(line("op", ds.opId + " · process " + ds.process + (ds.index ? " · history index " + ds.index : "")));
    tip.appendChild(line("", ds.desc));
    tip.appendChild(line("call", ds.call + " ns, return " + (ds["return"] ? ds["return"] + " ns" : "never (info)")));
    if (ds.step) tip.appendChild(line("step", ds.step + " of the longest linearizable prefix"));
    if (ds.failing === "true") tip.appendChild(line("✗", "cannot be linearized"));
    tip.appendChild(line("state before:", ds.before || "(not in the linearization)"));
    tip.appendChild(line("state after:", ds.after || "(not in the linearization)"));
    tip.hidden = false;
    var r = el.getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
    var x = Math.min(Math.max(4, r.left), window.innerWidth - tw - 8);
    var y = r.bottom + 6; if (y + th > window.innerHeight) y = Math.max(4, r.top - th - 6);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hideTip() { if (!pinned) tip.hidden = true; }
  // hovering an op of a partial linearization highlights the whole linearization (Porcupine)
  function markLin(el, on) {
    if (el.dataset.lin === "") return;
    var box = el.closest(".lin-failure");
    box.querySelectorAll('.lin-op[data-lin="' + el.dataset.lin + '"]').forEach(function (o) { o.classList.toggle("same-lin", on); });
  }
  document.querySelectorAll(".lin-op").forEach(function (el) {
    el.addEventListener("mouseenter", function () { hovered = el; markLin(el, true); if (!pinned) showTip(el); });
    el.addEventListener("mouseleave", function () { if (hovered === el) hovered = null; markLin(el, false); hideTip(); });
    el.addEventListener("focus", function () { showTip(el); });
    el.addEventListener("blur", hideTip);
    el.addEventListener("click", function (ev) {
      ev.stopPropagation();
      if (pinned) pinned.classList.remove("hl");
      pinned = pinned === el ? null : el;
      if (pinned) { el.classList.add("hl"); showTip(el); } else hideTip();
    });
  });
  document.addEventListener("click", function () { if (pinned) { pinned.classList.remove("hl"); pinned = null; tip.hidden = true; } });
  function follow() { var el = pinned || hovered; if (el) showTip(el); else tip.hidden = true; }
  window.addEventListener("scroll", follow, {passive: true});
  document.querySelectorAll(".lin-scroll").forEach(function (b) { b.addEventListener("scroll", follow, {passive: true}); });

  function jumpToFirstError(ev) {
    var el = document.querySelector('.lin-op[data-failing="true"]');
    if (!el) return;
    if (ev) { ev.preventDefault(); ev.stopPropagation(); }
    if (pinned) pinned.classList.remove("hl");
    el.scrollIntoView({block: "center", inline: "center"});
    el.classList.remove("pulse"); void el.offsetWidth; el.classList.add("pulse");
    pinned = el; el.classList.add("hl"); showTip(el);
  }
  var jump = document.getElementById("jump-first-error");
  if (jump) jump.addEventListener("click", jumpToFirstError);
  window.sbJumpToFirstError = jumpToFirstError;

  /* --- op timeline (Jepsen timeline.html style) --- */
  function drawTimeline(tl) {
    var box = document.getElementById("timeline-box");
    if (!box || !tl) return;
    var procs = [], seen = {}, idx = [];
    tl.pairs.forEach(function (p) {
      var k = String(p[0]); if (!seen[k]) { seen[k] = 1; procs.push(p[0]); }
      idx.push(p[2]); if (p[3] !== null) idx.push(p[3]);
    });
    tl.nemesis.forEach(function (n) { idx.push(n[0]); });
    procs.sort(function (a, b) { return (typeof a === "number" && typeof b === "number") ? a - b : String(a) < String(b) ? -1 : 1; });
    idx.sort(function (a, b) { return a - b; });
    var rank = {}, r = 0;
    idx.forEach(function (i) { if (rank[i] === undefined) rank[i] = r++; });
    var H = 16, W = 130, col = {};
    procs.forEach(function (p, i) { col[String(p)] = i; });
    var nemCol = procs.length, ncols = procs.length + (tl.nemesis.length ? 1 : 0);
    var head = document.createElement("div"); head.className = "tl-head";
    head.style.width = (ncols * W) + "px";
    procs.forEach(function (p) { var d = document.createElement("div"); d.style.width = W + "px"; d.textContent = "process " + p; head.appendChild(d); });
    if (tl.nemesis.length) { var d = document.createElement("div"); d.style.width = W + "px"; d.textContent = "nemesis"; head.appendChild(d); }
    var body = document.createElement("div"); body.className = "tl-body";
    body.style.width = (ncols * W) + "px"; body.style.height = ((r + 1) * H) + "px";
    var frag = document.createDocumentFragment();
    tl.pairs.forEach(function (p) {
      var d = document.createElement("div");
      d.className = "tl-op " + p[1];
      var top = rank[p[2]] * H, bot = p[3] === null ? r * H : rank[p[3]] * H + H - 2;
      d.style.cssText = "left:" + (col[String(p[0])] * W + 2) + "px;top:" + top + "px;width:" + (W - 4) + "px;height:" + Math.max(bot - top, H - 2) + "px";
      d.textContent = p[4];
      d.title = "process " + p[0] + " · " + p[1] + " · index " + p[2] + (p[3] !== null ? "→" + p[3] : " (never completed)") +
        "\n" + p[4] + "\ninvoke " + (p[5] / 1e9).toFixed(4) + " s" + (p[6] !== null ? ", latency " + ((p[6] - p[5]) / 1e6).toFixed(2) + " ms" : "") + (p[7] ? "\nnode " + p[7] : "");
      frag.appendChild(d);
    });
    tl.nemesis.forEach(function (n) {
      var d = document.createElement("div"); d.className = "tl-op nem";
      d.style.cssText = "left:" + (nemCol * W + 2) + "px;top:" + (rank[n[0]] * H) + "px;width:" + (W - 4) + "px;height:" + (H - 2) + "px";
      d.textContent = n[1]; d.title = "nemesis · index " + n[0] + "\n" + n[1]; frag.appendChild(d);
    });
    body.appendChild(frag);
    box.appendChild(head); box.appendChild(body);
  }

  window.__sbRendered = false;
  var marks = window.__sbMarks = {script: performance.now()};
  var chart = data("sb-chart");
  marks.parsed = performance.now();
  // the op timeline (up to thousands of boxes) is laid out when it nears the viewport
  var tlBox = document.getElementById("timeline-box"), tlDone = false;
  function timelineOnce() { if (!tlDone) { tlDone = true; drawTimeline(data("sb-timeline")); marks.timeline = performance.now(); } }
  window.sbDrawTimeline = timelineOnce;
  if (tlBox && "IntersectionObserver" in window) {
    var io = new IntersectionObserver(function (es) {
      if (es.some(function (e) { return e.isIntersecting; })) { io.disconnect(); timelineOnce(); }
    }, {rootMargin: "400px"});
    io.observe(tlBox);
  } else timelineOnce();
  if (location.hash === "#first-error") jumpToFirstError();
  Promise.resolve(chart ? drawCharts(chart) : null).then(function () {
    requestAnimationFrame(function () { requestAnimationFrame(function () { window.__sbRenderedAt = performance.now(); window.__sbRendered = true; }); });
  }, function (e) { window.__sbRenderError = String(e); window.__sbRendered = true; });
})();
