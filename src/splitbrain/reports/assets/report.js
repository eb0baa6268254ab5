/* splitbrain report: charts (plotly), the linearizability view, the op timeline, op
   tooltips and the selected op. Only what is on screen is drawn. No network. */
(function () {
  "use strict";
  var marks = window.__sbMarks = {script: performance.now()};
  window.__sbRendered = false;
  function data(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function el(tag, cls, text) {
    var e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e;
  }

  var D = data("sb-data") || {ops: {cols: {i: []}, faults: [], nemesis: [], nodes: [], keys: []}, lin: [], cx: []};
  var O = D.ops, C = O.cols, N = C.i.length, TIMED = O.timed;
  var OUT = ["ok", "fail", "info"];
  var rowOfIndex = new Map();
  for (var r0 = 0; r0 < N; r0++) rowOfIndex.set(C.i[r0], r0);
  marks.parsed = performance.now();

  /* --- words ------------------------------------------------------------------------ */
  function when(t) { return t < 0 ? "never" : TIMED ? (t / 1e6).toFixed(3) + " s" : "#" + t; }
  function dur(a, b) {
    if (b < 0 || !TIMED) return "";
    var us = b - a;
    return us < 1000 ? us + " µs" : us < 1e6 ? (us / 1000).toFixed(us < 1e4 ? 2 : 1) + " ms" : (us / 1e6).toFixed(2) + " s";
  }
  function faultsAt(t) {
    var out = [];
    if (t < 0) return out;
    O.faults.forEach(function (p) { if (p.start <= t && t <= p.end) out.push(p.label); });
    return out;
  }
  function faultText(r) {
    var a = faultsAt(C.a[r]), b = faultsAt(C.b[r]);
    if (C.b[r] < 0) return a.length ? "at call: " + a.join("; ") + " · never returned" : "none at call · never returned";
    if (!a.length && !b.length) return "none in force";
    if (a.join("\n") === b.join("\n")) return a.join("; ") + " (at call and return)";
    return "at call: " + (a.join("; ") || "none") + " · at return: " + (b.join("; ") || "none");
  }
  function nodeOf(r) { return C.n[r] < 0 ? "—" : O.nodes[C.n[r]]; }
  function opLines(r) {
    var L = [["", C.d[r] + " · " + OUT[C.o[r]]],
      ["process", C.p[r] + " · node " + nodeOf(r) + " · history index " + C.i[r] + (C.j[r] >= 0 ? "→" + C.j[r] : "")],
      [TIMED ? "time" : "position", "call " + when(C.a[r]) + ", return " + (C.b[r] < 0 ? "never (info)" : when(C.b[r])) +
        (dur(C.a[r], C.b[r]) ? " · took " + dur(C.a[r], C.b[r]) : "")],
      ["faults", faultText(r)]];
    if (C.k[r] >= 0) L.push(["key", O.keys[C.k[r]]]);
    return L;
  }

  /* --- tooltip and selection ----------------------------------------------------------- */
  var tip = $("#tooltip"), tipAnchor = null, tipLines = null;
  function fill(box, lines) {
    box.textContent = "";
    lines.forEach(function (l) {
      var d = el("div");
      if (l[0]) { d.appendChild(el("b", "", l[0] + " ")); }
      d.appendChild(document.createTextNode(l[1])); box.appendChild(d);
    });
  }
  function showTip(lines, rect, anchor) {
    if (!tip) return;
    tipAnchor = anchor || null; tipLines = lines;
    fill(tip, lines);
    tip.hidden = false;
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    var x = Math.min(Math.max(4, rect.left), window.innerWidth - tw - 8);
    var y = rect.bottom + 6; if (y + th > window.innerHeight) y = Math.max(4, rect.top - th - 6);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hideTip() { if (tip) tip.hidden = true; tipAnchor = null; }
  // on scroll the tooltip follows the op under the pointer, or goes
  function followTip() {
    if (!tip || tip.hidden) return;
    if (tipAnchor && tipAnchor.isConnected && tipAnchor.matches(":hover")) showTip(tipLines, tipAnchor.getBoundingClientRect(), tipAnchor);
    else hideTip();
  }
  window.addEventListener("scroll", followTip, {passive: true});

  var panel = $("#selection"), selected = -1, selectedCtx = null;
  function select(r, ctx) {
    if (r < 0 || r >= N || !panel) return;
    selected = r; selectedCtx = ctx || null;
    var lines = opLines(r);
    if (ctx && ctx.lines) lines = lines.concat(ctx.lines);
    fill($(".sel-body", panel), lines);
    panel.hidden = false;
    panel.dataset.row = r;
    $$(".sel-go button", panel).forEach(function (b) {
      b.disabled = b.dataset.go === "lin" && !linPlaces()[r];
    });
    $$(".is-selected").forEach(function (e) { e.classList.remove("is-selected"); });
    $$('[data-row="' + r + '"]').forEach(function (e) { if (e.classList.contains("lin-op") || e.classList.contains("tl-op")) e.classList.add("is-selected"); });
  }
  if (panel) {
    $(".sel-close", panel).addEventListener("click", function () { panel.hidden = true; selected = -1; });
    $$(".sel-go button", panel).forEach(function (b) {
      b.addEventListener("click", function () { focusOp(selected, b.dataset.go); });
    });
  }

  /* --- where each op is drawn in the linearizability views ------------------------------- */
  var places = null;
  function linPlaces() {
    if (places) return places;
    places = {};
    D.lin.forEach(function (v, vi) {
      v.keys.forEach(function (K, ki) {
        K.rows.forEach(function (r, p) { if (r >= 0 && !places[r]) places[r] = [vi, ki, p]; });
      });
    });
    return places;
  }
  var views = [];

  function flash(e) { if (!e) return; e.classList.remove("pulse"); void e.offsetWidth; e.classList.add("pulse"); }

  function focusOp(r, where) {
    if (r < 0) return;
    if (where === "lin") {
      var pl = linPlaces()[r]; if (!pl || !views[pl[0]]) return;
      var v = views[pl[0]];
      v.show(pl[1], pl[2]);
      v.el.scrollIntoView({block: "center"});
      flash(v.opEl(pl[2]));
    } else if (where === "timeline") {
      timeline.focus(r);
    } else if (where === "chart") {
      focusChart(r);
    }
  }
  window.sbFocusOp = focusOp;
  window.sbSelect = select;
  window.sbRowOfIndex = function (i) { var r = rowOfIndex.get(i); return r === undefined ? -1 : r; };

  /* --- the linearizability view ------------------------------------------------------- */
  var LABEL_W = 74, CH = 6.7;  // px of the process column; px per character at 11px monospace
  var DENSE = 2500;            // more ops than this in the window: drawn on a canvas, no labels
  var FAULT_COLORS = ["#ef4444", "#8b5cf6", "#0ea5e9", "#f59e0b", "#10b981", "#ec4899"];
  var famColor = {};
  O.faults.forEach(function (p) { if (!(p.name in famColor)) famColor[p.name] = FAULT_COLORS[Object.keys(famColor).length % FAULT_COLORS.length]; });
  function lowerBound(a, x) { var lo = 0, hi = a.length; while (lo < hi) { var m = (lo + hi) >> 1; if (a[m] < x) lo = m + 1; else hi = m; } return lo; }
  function upperBound(a, x) { var lo = 0, hi = a.length; while (lo < hi) { var m = (lo + hi) >> 1; if (a[m] <= x) lo = m + 1; else hi = m; } return lo; }
  function tint(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }
  function procOrder(a, b) { return (typeof a === "number" && typeof b === "number") ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0; }

  function LinView(root, v) {
    var self = this;
    this.el = root; this.v = v; this.k = -1;
    this.sel = $(".lv-key", root); this.main = $(".lv-main", root); this.rowsEl = $(".lv-rows", root);
    this.bandsEl = $(".lv-bands", root); this.ov = $(".lv-overview", root);
    this.info = $(".lv-info", root); this.noteEl = $(".lv-note", root);
    v.keys.forEach(function (K, i) {
      var o = el("option", "", (K.status === "invalid" ? "✗ " : K.status === "valid" ? "✓ " : "? ") + K.key + " — " + K.rows.length + " ops");
      o.value = i; self.sel.appendChild(o);
    });
    this.sel.addEventListener("change", function () { self.show(+self.sel.value); });
    $$("button[data-act]", root).forEach(function (b) {
      b.addEventListener("click", function () { self.act(b.dataset.act); });
    });
    root.tabIndex = 0;
    root.addEventListener("keydown", function (ev) {
      if (ev.target.tagName === "SELECT") return;
      var m = {"+": "in", "=": "in", "-": "out", "_": "out", "ArrowLeft": "left", "ArrowRight": "right", "0": "fit"}[ev.key];
      if (m) { ev.preventDefault(); self.act(m); }
    });
    this.main.addEventListener("wheel", function (ev) {
      if (self.k < 0) return;
      if (ev.ctrlKey || ev.metaKey) {
        ev.preventDefault();
        var x = self.xAt(ev.clientX);
        self.zoom(ev.deltaY < 0 ? 0.8 : 1.25, x);
      } else if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        ev.preventDefault();
        self.pan(ev.deltaX / self.scale());
      }
    }, {passive: false});
    var drag = null;
    this.main.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0) return;
      drag = {x: ev.clientX, w0: self.w0, moved: false};
    });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) { hideTip(); self.setWindow(drag.w0 - dx / self.scale(), drag.w0 - dx / self.scale() + (self.w1 - self.w0)); }
    });
    window.addEventListener("mouseup", function () { if (drag && drag.moved) self.justDragged = true; drag = null; setTimeout(function () { self.justDragged = false; }, 0); });
    this.rowsEl.addEventListener("mouseover", function (ev) {
      var t = ev.target.closest(".lin-op"); if (!t) return;
      showTip(self.lines(+t.dataset.pos), t.getBoundingClientRect(), t);
      self.markLin(+t.dataset.pos, true);
    });
    this.rowsEl.addEventListener("mouseout", function (ev) {
      var t = ev.target.closest(".lin-op"); if (!t) return;
      if (ev.relatedTarget && t.contains(ev.relatedTarget)) return;
      hideTip(); self.markLin(+t.dataset.pos, false);
    });
    this.rowsEl.addEventListener("click", function (ev) {
      if (self.justDragged) return;
      var t = ev.target.closest(".lin-op"); if (!t) return;
      var p = +t.dataset.pos, r = self.K.rows[p];
      if (r >= 0) select(r, {lines: self.linLines(p)});
    });
    var ovDrag = false;
    function ovMove(ev) {
      var rc = self.ov.getBoundingClientRect();
      var x = (ev.clientX - rc.left) / rc.width * self.K.nx, half = (self.w1 - self.w0) / 2;
      self.setWindow(x - half, x + half);
    }
    this.ov.addEventListener("mousedown", function (ev) { ovDrag = true; ovMove(ev); ev.preventDefault(); });
    window.addEventListener("mousemove", function (ev) { if (ovDrag) ovMove(ev); });
    window.addEventListener("mouseup", function () { ovDrag = false; });
    window.addEventListener("resize", function () { if (self.k >= 0) self.render(); });
  }
  LinView.prototype.scale = function () { return Math.max(1, this.rowsEl.clientWidth - LABEL_W) / (this.w1 - this.w0); };
  LinView.prototype.xAt = function (clientX) {
    var rc = this.rowsEl.getBoundingClientRect();
    return this.w0 + (clientX - rc.left - LABEL_W) / this.scale();
  };
  LinView.prototype.setWindow = function (a, b) {
    var K = this.K, span = Math.max(4, Math.min(b - a, K.nx + 2));
    a = Math.max(-1, Math.min(a, K.nx + 1 - span));
    this.w0 = a; this.w1 = a + span; this.render();
  };
  LinView.prototype.zoom = function (f, at) {
    var c = at === undefined ? (this.w0 + this.w1) / 2 : at;
    this.setWindow(c - (c - this.w0) * f, c + (this.w1 - c) * f);
  };
  LinView.prototype.pan = function (dx) { this.setWindow(this.w0 + dx, this.w1 + dx); };
  LinView.prototype.around = function (ps, pad) {
    var K = this.K, a = Infinity, b = -Infinity;
    ps.forEach(function (p) { a = Math.min(a, K.x0[p]); b = Math.max(b, Math.min(K.x1[p], K.nx)); });
    if (a === Infinity) return;
    var span = Math.max(b - a, 8), m = Math.max(pad || 0, span * 0.25);
    this.setWindow(a - m, b + m);
  };
  LinView.prototype.act = function (a) {
    if (this.k < 0) return;
    var K = this.K;
    if (a === "fit") this.setWindow(-1, K.nx + 1);
    else if (a === "in") this.zoom(0.6);
    else if (a === "out") this.zoom(1 / 0.6);
    else if (a === "left") this.pan(-(this.w1 - this.w0) * 0.25);
    else if (a === "right") this.pan((this.w1 - this.w0) * 0.25);
    else if (a === "failing" && K.failing >= 0) { this.around([K.failing], 20); flash(this.opEl(K.failing)); }
    else if (a === "cx" && K.minimal.length) { this.around(K.minimal, 6); K.minimal.forEach(function (p) { flash(this.opEl(p)); }, this); }
  };
  LinView.prototype.show = function (k, focusPos) {
    var self = this, v = this.v, K = v.keys[k];
    if (!K) return;
    if (this.k !== k) {
      this.k = k; this.K = K; this.sel.value = k;
      var n = K.rows.length, lanes = {}, procs = [];
      for (var p = 0; p < n; p++) {
        var r = K.rows[p], pr = r >= 0 ? C.p[r] : "?";
        if (!lanes[pr]) { lanes[pr] = []; procs.push(pr); }
        lanes[pr].push(p);
      }
      procs.sort(procOrder);
      this.lanes = procs.map(function (pr) {
        var ops = lanes[pr].sort(function (a, b) { return K.x0[a] - K.x0[b]; });
        return {proc: pr, ops: ops};
      });
      this.step = new Int32Array(n);
      K.lins.forEach(function (L, li) {
        L.ops.forEach(function (p, s) { if (K.opLin[p] === li && p !== K.failing) self.step[p] = s + 1; });
      });
      this.isCx = new Uint8Array(n); K.minimal.forEach(function (p) { self.isCx[p] = 1; });
      if (!K.times) {  // the time at each rank, from the op table (ranks of call/return times)
        K.times = new Float64Array(K.nx);
        for (var q = 0; q < n; q++) {
          var rq = K.rows[q]; if (rq < 0) continue;
          K.times[K.x0[q]] = C.a[rq];
          if (K.x1[q] < K.nx) K.times[K.x1[q]] = C.b[rq];
        }
      }
      this.rowsEl.textContent = "";
      this.tracks = this.lanes.map(function (lane) {
        var row = el("div", "lin-row"), lab = el("div", "lin-proc", "process " + lane.proc), track = el("div", "lin-track");
        row.appendChild(lab); row.appendChild(track); self.rowsEl.appendChild(row);
        return track;
      });
      this.canvas = null;
      var btnF = $(".needs-failing", this.el), btnC = $(".needs-cx", this.el);
      if (btnF) btnF.hidden = K.failing < 0;
      if (btnC) btnC.hidden = !K.minimal.length;
      this.noteEl.textContent = K.note || (K.status === "invalid" ?
        "Invalid: green boxes form the longest linearizable prefix the checker found; the red op cannot be placed after it." :
        K.lins.length ? "A linearization: the numbers give the order in which the ops took effect." : "");
    }
    if (focusPos !== undefined) this.around([focusPos], 20);
    else if (K.minimal.length) this.around(K.failing >= 0 ? K.minimal.concat([K.failing]) : K.minimal, 6);
    else if (K.failing >= 0) this.around([K.failing], 20);
    else this.setWindow(-1, -1 + this.readableSpan());
  };
  // a window in which a typical op's box is wide enough for its label
  LinView.prototype.readableSpan = function () {
    var K = this.K, w = [];
    for (var p = 0; p < K.rows.length; p++) w.push(Math.min(K.x1[p], K.nx) - K.x0[p] + 0.7);
    w.sort(function (a, b) { return a - b; });
    var med = w.length ? w[w.length >> 1] : 1, W = Math.max(200, this.rowsEl.clientWidth - LABEL_W);
    return Math.min(K.nx + 2, Math.max(8, W * med / 110));
  };
  LinView.prototype.opEl = function (p) { return $('.lin-op[data-pos="' + p + '"]', this.rowsEl); };
  LinView.prototype.desc = function (p) { var r = this.K.rows[p]; return r >= 0 ? C.d[r] : (this.K.desc[p] || "?"); };
  LinView.prototype.linLines = function (p) {
    var K = this.K, s = this.step[p], L = [];
    if (this.isCx[p]) L.push(["✕", "one of the " + K.minimal.length + " ops of the minimal counterexample"]);
    if (p === K.failing) {
      L.push(["✗", "cannot be linearized after the longest linearizable prefix (" + (K.lins[0] ? K.lins[0].ops.length : 0) + " ops)"]);
      L.push(["state before:", K.beforeFailing]);
      L.push(["state after:", "no transition: this op cannot be linearized here"]);
    } else if (s) {
      var lin = K.lins[K.opLin[p]];
      L.push(["step", s + (K.status === "invalid" ? " of the longest linearizable prefix" : " of the linearization") + (K.lins.length > 1 ? " #" + (K.opLin[p] + 1) : "")]);
      L.push(["state before:", s > 1 ? lin.states[s - 2] : K.init]);
      L.push(["state after:", lin.states[s - 1]]);
    } else {
      L.push(["", K.status === "invalid" ? "not in any linearizable prefix found" : "not in the drawn linearization (an op that ended info may never have taken effect)"]);
    }
    return L;
  };
  LinView.prototype.lines = function (p) {
    var r = this.K.rows[p];
    var base = r >= 0 ? opLines(r) : [["", this.desc(p)]];
    return base.concat(this.linLines(p));
  };
  // hovering an op of a partial linearization highlights that whole linearization (as
  // Porcupine does); in a key's single linearization, the ops just before and after it
  LinView.prototype.markLin = function (p, on) {
    var li = this.K.opLin[p]; if (li < 0) return;
    var K = this.K, self = this, s = this.step[p];
    $$(".lin-op", this.rowsEl).forEach(function (e) {
      var q = +e.dataset.pos;
      if (K.lins.length > 1) { if (K.opLin[q] === li) e.classList.toggle("same-lin", on); }
      else if (self.step[q] && (self.step[q] === s - 1 || self.step[q] === s + 1)) {
        e.classList.toggle(self.step[q] < s ? "lin-prev" : "lin-next", on);
      }
    });
  };
  LinView.prototype.render = function () {
    var self = this, K = this.K, w0 = this.w0, w1 = this.w1;
    var W = Math.max(1, this.rowsEl.clientWidth - LABEL_W), sc = W / (w1 - w0);
    var visible = 0;
    this.lanes.forEach(function (lane) {
      lane.vis = [];
      for (var i = 0; i < lane.ops.length; i++) {
        var p = lane.ops[i];
        if (K.x0[p] > w1) break;
        if (Math.min(K.x1[p], K.nx) + 1 < w0) continue;
        lane.vis.push(p);
      }
      visible += lane.vis.length;
    });
    var dense = visible > DENSE;
    this.el.classList.toggle("dense", dense);
    this.lanes.forEach(function (lane, li) {
      var track = self.tracks[li];
      track.textContent = "";
      track.parentNode.classList.toggle("idle", !lane.vis.length);  // no op here: a thin lane
      if (dense) return;
      var frag = document.createDocumentFragment();
      lane.vis.forEach(function (p) {
        var r = K.rows[p], x1 = Math.min(K.x1[p], K.nx);
        var left = (K.x0[p] - w0) * sc, width = Math.max(3, (x1 - K.x0[p] + 0.7) * sc);
        if (left < 0) { width += left; left = 0; }                // clipped at the window's edges,
        if (left + width > W) width = Math.max(3, W - left);        // so labels stay in view
        var d = el("div", "lin-op o-" + (r >= 0 ? OUT[C.o[r]] : "ok"));
        if (K.opLin[p] >= 0 && p !== K.failing) d.classList.add("in-lin");
        if (p === K.failing) d.classList.add("failing");
        if (self.isCx[p]) d.classList.add("cx");
        if (r >= 0 && r === selected) d.classList.add("is-selected");
        d.dataset.pos = p; d.dataset.row = r; d.dataset.failing = p === K.failing ? "true" : "false";
        d.dataset.index = r >= 0 ? C.i[r] : "";
        d.style.left = left + "px"; d.style.width = width + "px";
        var s = self.step[p], desc = self.desc(p), full = (s ? s + " " : "") + desc;
        if (width >= full.length * CH + 8) {
          if (s) d.appendChild(el("b", "", s + " "));
          d.appendChild(document.createTextNode(desc));
        } else if (s && width >= String(s).length * CH + 6) {
          d.appendChild(el("b", "", String(s)));
        }
        if ((self.isCx[p] || p === K.failing) && width < full.length * CH + 8) {
          d.classList.add("tagged");  // the ops that matter keep a readable label beside them
          d.appendChild(el("span", "lin-tag", desc));
        }
        frag.appendChild(d);
      });
      track.appendChild(frag);
    });
    if (dense) this.drawDense(sc); else if (this.canvas) { this.canvas.remove(); this.canvas = null; }
    // fault bands, placed by the ranks of the key's call/return times
    this.bandsEl.textContent = "";
    this.bandsEl.style.left = LABEL_W + "px";
    O.faults.forEach(function (f) {
      var xa = lowerBound(K.times, f.start), xb = f.open ? K.nx : upperBound(K.times, f.end) - 0.3;
      if (xb < xa) xb = xa + 0.2;
      if (xb < w0 || xa > w1) return;
      var a = Math.max(xa, w0), b = Math.min(xb, w1);
      var band = el("div", "lv-band"); band.style.left = ((a - w0) * sc) + "px";
      band.style.width = Math.max(2, (b - a) * sc) + "px"; band.style.background = tint(famColor[f.name], 0.13);
      var lab = el("span", "lv-band-label", f.label); lab.style.color = famColor[f.name];
      band.appendChild(lab); band.title = f.label + " · " + when(f.start) + " – " + (f.open ? "end" : when(f.end));
      self.bandsEl.appendChild(band);
    });
    this.drawOverview();
    var shown = Math.max(0, Math.ceil(Math.min(w1, K.nx) - Math.max(w0, 0)));
    this.info.textContent = visible + " of " + K.rows.length + " ops in view · events " + Math.max(0, Math.round(w0)) + "–" +
      Math.min(K.nx, Math.round(w1)) + " of " + K.nx + (dense ? " · zoom in to see single ops" : "") + (shown ? "" : "");
  };
  LinView.prototype.drawDense = function (sc) {
    var K = this.K, w0 = this.w0, self = this;
    if (!this.canvas) { this.canvas = el("canvas", "lv-dense"); this.rowsEl.appendChild(this.canvas); }
    var tops = this.tracks.map(function (t) { return t.parentNode.offsetTop; });
    var cv = this.canvas, dpr = window.devicePixelRatio || 1, W = this.rowsEl.clientWidth - LABEL_W, H = this.rowsEl.clientHeight;
    cv.style.left = LABEL_W + "px"; cv.style.width = W + "px"; cv.style.height = H + "px";
    cv.width = W * dpr; cv.height = H * dpr;
    var g = cv.getContext("2d"); g.scale(dpr, dpr);
    this.lanes.forEach(function (lane, li) {
      lane.vis.forEach(function (p) {
        var r = K.rows[p], x1 = Math.min(K.x1[p], K.nx);
        g.fillStyle = p === K.failing || self.isCx[p] ? "#dc2626" : K.opLin[p] >= 0 ? "#16a34a" : r >= 0 && C.o[r] === 2 ? "#d97706" : "#94a3b8";
        g.fillRect((K.x0[p] - w0) * sc, tops[li] + 6, Math.max(1, (x1 - K.x0[p]) * sc), 18);
      });
    });
  };
  LinView.prototype.drawOverview = function () {
    var K = this.K, cv = this.ov, dpr = window.devicePixelRatio || 1, W = cv.clientWidth || 800, H = 34;
    cv.width = W * dpr; cv.height = H * dpr;
    var g = cv.getContext("2d"); g.scale(dpr, dpr);
    g.fillStyle = "#f8fafc"; g.fillRect(0, 0, W, H);
    var sx = W / Math.max(K.nx, 1);
    O.faults.forEach(function (f) {
      var xa = lowerBound(K.times, f.start), xb = f.open ? K.nx : upperBound(K.times, f.end);
      if (xb <= xa) return;
      g.globalAlpha = 0.18; g.fillStyle = famColor[f.name]; g.fillRect(xa * sx, 0, Math.max(1, (xb - xa) * sx), H); g.globalAlpha = 1;
    });
    var bins = new Float32Array(Math.ceil(W)), mx = 1;
    for (var p = 0; p < K.rows.length; p++) { var b = Math.min(bins.length - 1, Math.floor(K.x0[p] * sx)); bins[b]++; mx = Math.max(mx, bins[b]); }
    g.fillStyle = "#94a3b8";
    for (var i = 0; i < bins.length; i++) if (bins[i]) { var h = 4 + 22 * bins[i] / mx; g.fillRect(i, H - h - 2, 1, h); }
    g.fillStyle = "#dc2626";
    K.minimal.concat(K.failing >= 0 ? [K.failing] : []).forEach(function (q) { g.fillRect(K.x0[q] * sx - 1, 0, 3, H); });
    g.strokeStyle = "#1d4ed8"; g.lineWidth = 2;
    g.strokeRect(Math.max(0, this.w0 * sx) + 1, 1, Math.max(4, (this.w1 - this.w0) * sx) - 2, H - 2);
  };

  /* --- the op timeline (Jepsen's timeline, only the visible part drawn) ---------------- */
  var timeline = {
    built: false, box: $("#timeline-box"), H: 16, W: 132, FW: 200,
    build: function () {
      if (this.built || !this.box) return;
      this.built = true;
      var box = this.box, H = this.H, W = this.W, FW = this.FW, self = this;
      var all = [], r, i;
      for (r = 0; r < N; r++) { all.push(C.i[r]); if (C.j[r] >= 0) all.push(C.j[r]); }
      O.nemesis.forEach(function (x) { all.push(x[0]); });
      all.sort(function (a, b) { return a - b; });
      var idx = [];
      for (i = 0; i < all.length; i++) if (!i || all[i] !== all[i - 1]) idx.push(all[i]);
      this.idx = idx;
      var R = this.R = idx.length;
      // the time at each rank (for placing fault periods): the op event's own time
      var tAt = new Float64Array(R).fill(-1);
      for (r = 0; r < N; r++) { tAt[lowerBound(idx, C.i[r])] = C.a[r]; if (C.j[r] >= 0) tAt[lowerBound(idx, C.j[r])] = C.b[r]; }
      O.nemesis.forEach(function (x) { tAt[lowerBound(idx, x[0])] = x[1]; });
      for (i = 1; i < R; i++) if (tAt[i] < tAt[i - 1]) tAt[i] = tAt[i - 1];
      this.tAt = tAt;
      var procs = [], seen = new Map();
      for (r = 0; r < N; r++) if (!seen.has(C.p[r])) { seen.set(C.p[r], 1); procs.push(C.p[r]); }
      procs.sort(procOrder);
      var col = new Map(); procs.forEach(function (p, k) { col.set(p, k); });
      this.col = new Int32Array(N); this.top = new Int32Array(N); this.bot = new Int32Array(N);
      var B = this.B = 32, buckets = this.buckets = [];
      for (r = 0; r < N; r++) {
        this.col[r] = col.get(C.p[r]);
        var t = lowerBound(idx, C.i[r]), b = C.j[r] < 0 ? R : lowerBound(idx, C.j[r]);
        this.top[r] = t; this.bot[r] = b;
        for (var k = (t / B) | 0; k <= ((b / B) | 0); k++) { (buckets[k] || (buckets[k] = [])).push(r); }
      }
      this.stamp = new Int32Array(N); this.gen = 0;
      var width = procs.length * W, height = (R + 1) * H;
      var head = el("div", "tl-head");
      var hn = el("div", "tl-hnem", "faults · nemesis"); hn.style.width = FW + "px"; head.appendChild(hn);
      var hp = el("div", "tl-hprocs"); hp.style.width = width + "px";
      procs.forEach(function (p) { var d = el("div", "", "process " + p); d.style.width = W + "px"; hp.appendChild(d); });
      head.appendChild(hp);
      var body = el("div", "tl-body"); body.style.height = height + "px"; body.style.width = (FW + width) + "px";
      var nem = el("div", "tl-nem"); nem.style.width = FW + "px"; nem.style.height = height + "px";
      var opsEl = this.opsEl = el("div", "tl-ops"); opsEl.style.width = width + "px"; opsEl.style.height = height + "px";
      O.faults.forEach(function (f) {
        var a = lowerBound(tAt, f.start), b = f.open ? R : upperBound(tAt, f.end);
        [nem, opsEl].forEach(function (host, hi) {
          var band = el("div", "tl-band"); band.style.top = (a * H) + "px"; band.style.height = Math.max(H / 2, (b - a) * H) + "px";
          band.style.background = tint(famColor[f.name], hi === 0 ? 0.25 : 0.1);
          if (hi === 0) { var lab = el("span", "tl-band-label", f.label); lab.style.color = famColor[f.name]; band.appendChild(lab); }
          band.title = f.label + " · " + when(f.start) + " – " + (f.open ? "end" : when(f.end));
          host.appendChild(band);
        });
      });
      O.nemesis.forEach(function (x) {
        var d = el("div", "tl-op nem", x[2]); d.style.top = (lowerBound(idx, x[0]) * H) + "px"; d.style.height = (H - 2) + "px";
        d.title = "nemesis · history index " + x[0] + " · " + when(x[1]) + "\n" + x[2]; nem.appendChild(d);
      });
      body.appendChild(nem); body.appendChild(opsEl);
      box.appendChild(head); box.appendChild(body);
      var bad = this.bad = new Set();
      D.lin.forEach(function (v) { v.keys.forEach(function (K) { if (K.failing >= 0 && K.rows[K.failing] >= 0) bad.add(K.rows[K.failing]); }); });
      var cxs = this.cxs = new Set();
      D.cx.forEach(function (c) { c.rows.forEach(function (r) { if (r >= 0) cxs.add(r); }); });
      var pending = false;
      box.addEventListener("scroll", function () {
        followTip();
        if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; self.render(); }); }
      }, {passive: true});
      opsEl.addEventListener("mouseover", function (ev) {
        var t = ev.target.closest(".tl-op"); if (!t || t.dataset.row === undefined) return;
        showTip(opLines(+t.dataset.row).concat(self.marks(+t.dataset.row)), t.getBoundingClientRect(), t);
      });
      opsEl.addEventListener("mouseout", function (ev) { var t = ev.target.closest(".tl-op"); if (t && !(ev.relatedTarget && t.contains(ev.relatedTarget))) hideTip(); });
      opsEl.addEventListener("click", function (ev) {
        var t = ev.target.closest(".tl-op"); if (!t || t.dataset.row === undefined) return;
        select(+t.dataset.row, {lines: self.marks(+t.dataset.row)});
      });
      window.addEventListener("resize", function () { self.render(); });
      this.render();
    },
    marks: function (r) {
      var L = [];
      if (this.bad && this.bad.has(r)) L.push(["✗", "the op the linearizability checker could not place"]);
      if (this.cxs && this.cxs.has(r)) L.push(["✕", "part of a minimal counterexample"]);
      return L;
    },
    render: function () {
      if (!this.built) return;
      var box = this.box, H = this.H, W = this.W, FW = this.FW, B = this.B;
      var t0 = Math.max(0, Math.floor(box.scrollTop / H) - 4), t1 = Math.ceil((box.scrollTop + box.clientHeight) / H) + 4;
      var c0 = Math.max(0, Math.floor((box.scrollLeft - FW) / W) - 1), c1 = Math.ceil((box.scrollLeft + box.clientWidth) / W) + 1;
      // ops still on screen keep their element (stable under scrolling); others come and go
      var gen = ++this.gen, stamp = this.stamp, frag = document.createDocumentFragment(), n = 0;
      var live = this.live || new Map(), keep = new Map();
      for (var k = (t0 / B) | 0; k <= ((t1 / B) | 0); k++) {
        var lst = this.buckets[k]; if (!lst) continue;
        for (var i = 0; i < lst.length; i++) {
          var r = lst[i];
          if (stamp[r] === gen) continue;
          stamp[r] = gen;
          if (this.bot[r] < t0 || this.top[r] > t1 || this.col[r] < c0 || this.col[r] > c1) continue;
          n++;
          if (live.has(r)) { keep.set(r, live.get(r)); continue; }
          var d = el("div", "tl-op " + OUT[C.o[r]], C.d[r]);
          if (this.bad.has(r)) d.classList.add("failing");
          if (this.cxs.has(r)) d.classList.add("cx");
          if (r === selected) d.classList.add("is-selected");
          var top = this.top[r] * H, bot = this.bot[r] * H + H - 2;
          d.style.cssText = "left:" + (this.col[r] * W + 2) + "px;top:" + top + "px;width:" + (W - 4) + "px;height:" + Math.max(bot - top, H - 2) + "px";
          d.dataset.row = r;
          frag.appendChild(d); keep.set(r, d);
        }
      }
      live.forEach(function (e, r) { if (!keep.has(r)) e.remove(); });
      this.opsEl.appendChild(frag);
      this.live = keep;
      this.drawn = n;
    },
    focus: function (r) {
      this.build();
      var box = this.box;
      box.scrollIntoView({block: "start"});
      box.scrollTop = Math.max(0, this.top[r] * this.H - box.clientHeight / 3);
      box.scrollLeft = Math.max(0, this.col[r] * this.W - (box.clientWidth - this.FW) / 3);
      this.render();
      flash($('.tl-op[data-row="' + r + '"]', this.opsEl));
    }
  };
  window.sbTimeline = timeline;

  /* --- charts ----------------------------------------------------------------------------- */
  var COLORS = {ok: "#16a34a", fail: "#dc2626", info: "#d97706"};
  // one shade per f within each outcome's hue (per-point symbols and opacity make WebGL
  // painting of 50,000 points about twice as slow, see benchmarks/report_render.py)
  var SHADES = {ok: ["#16a34a", "#0f766e", "#65a30d", "#166534", "#22c55e"],
                fail: ["#dc2626", "#be185d", "#ea580c", "#991b1b", "#f87171"],
                info: ["#d97706", "#a16207", "#ca8a04", "#92400e", "#f59e0b"]};
  function faultDecor(faults) {
    var shapes = [], ann = [];
    faults.forEach(function (p) {
      var col = famColor[p.name] || "#ef4444";
      var x0 = p.start / 1e9, x1 = Math.max(p.end / 1e9, x0 + 0.05);
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: x0, x1: x1, y0: 0, y1: 1,
        fillcolor: col, opacity: 0.12, line: {width: 0}, layer: "below"});
      ann.push({x: x0, y: 1, xref: "x", yref: "paper", xanchor: "left", yanchor: "bottom",
        text: p.label.length > 40 ? p.label.slice(0, 39) + "…" : p.label, showarrow: false,
        font: {size: 10, color: col}, textangle: 0});
    });
    return {shapes: shapes, annotations: ann.length > 40 ? [] : ann};
  }
  var chartReady = false, chartDeco = null, chartEnd = 0;
  function drawCharts(chart) {
    if (!$("#latency-chart")) return Promise.resolve();
    if (typeof Plotly === "undefined") {
      var fb = $("#chart-fallback"); if (fb) fb.hidden = false;
      return Promise.resolve();
    }
    marks.plotly = performance.now();
    var deco = chartDeco = faultDecor(chart.faults);
    chartEnd = chart.end_s;
    var traces = chart.latency.map(function (t) {
      return {type: "scattergl", mode: "markers", name: t.f + " " + t.type, legendgroup: t.type,
        x: t.x, y: t.y, customdata: t.r, text: t.p,
        marker: {color: (SHADES[t.type] || ["#334155"])[chart.fs.indexOf(t.f) % 5], size: 4},
        hovertemplate: t.f + " <b>" + t.type + "</b><br>t=%{x:.3f} s, latency %{y:.2f} ms" +
          "<br>process %{text}<extra></extra>"};
    });
    var cxRows = [];
    D.cx.forEach(function (c) { c.rows.forEach(function (r) { if (r >= 0 && C.b[r] >= 0) cxRows.push(r); }); });
    if (cxRows.length) {
      traces.push({type: "scatter", mode: "markers", name: "counterexample", x: cxRows.map(function (r) { return C.a[r] / 1e6; }),
        y: cxRows.map(function (r) { return Math.max(C.b[r] - C.a[r], 1) / 1000; }), customdata: cxRows,
        marker: {symbol: "x", size: 11, color: "#7f1d1d", line: {width: 1, color: "#fff"}},
        hovertemplate: "<b>counterexample</b> %{text}<extra></extra>", text: cxRows.map(function (r) { return C.d[r] + " · node " + nodeOf(r); })});
    }
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
    var lat = $("#latency-chart"), thr = $("#throughput-chart");
    var syncing = false;
    function sync(src, dst) {
      src.on("plotly_relayout", function (ev) {
        if (syncing) return;
        var u = {};
        if (ev["xaxis.range[0]"] !== undefined) { u["xaxis.range"] = [ev["xaxis.range[0]"], ev["xaxis.range[1]"]]; }
        else if (ev["xaxis.range"]) { u["xaxis.range"] = ev["xaxis.range"]; }
        else if (ev["xaxis.autorange"]) { u["xaxis.range"] = [0, chart.end_s]; } else return;
        syncing = true; Plotly.relayout(dst, u).then(function () { syncing = false; });
      });
    }
    p1.then(function () { marks.latency = performance.now(); });
    p2.then(function () { marks.throughput = performance.now(); });
    return Promise.all([p1, p2]).then(function () {
      chartReady = true;
      sync(lat, thr); sync(thr, lat);
      lat.on("plotly_click", function (ev) {
        var pt = ev.points && ev.points[0]; if (!pt || pt.customdata === undefined) return;
        select(+pt.customdata, {lines: timeline.marks(+pt.customdata)});
      });
    });
  }
  function focusChart(r) {
    var lat = $("#latency-chart");
    if (!lat || !chartReady || C.a[r] < 0) return;
    var t = C.a[r] / 1e6, span = Math.max(2, chartEnd / 20);
    var mark = {type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1, line: {color: "#1d4ed8", width: 2, dash: "dot"}};
    var ann = {x: t, y: 0.98, xref: "x", yref: "paper", text: "selected: " + C.d[r], showarrow: true, arrowhead: 2, ax: 40, ay: -20, font: {size: 11, color: "#1d4ed8"}};
    Plotly.relayout(lat, {"xaxis.range": [Math.max(0, t - span / 2), t + span / 2], shapes: chartDeco.shapes.concat([mark]),
      annotations: chartDeco.annotations.concat([ann])});
    lat.scrollIntoView({block: "center"});
  }

  /* --- wiring ------------------------------------------------------------------------------ */
  $$(".linview").forEach(function (root) {
    var vi = +root.dataset.view, v = D.lin[vi];
    if (!v || !v.keys.length) { var note = $(".lv-note", root); if (note) note.textContent = "No key to draw."; return; }
    views[vi] = new LinView(root, v);
    views[vi].show(0);
  });
  marks.lin = performance.now();
  function jumpToFirstError(ev) {
    var vi = views.findIndex(function (v) { return v && v.v.keys.some(function (K) { return K.failing >= 0; }); });
    if (vi < 0) return;
    if (ev) { ev.preventDefault(); ev.stopPropagation(); }
    var v = views[vi], k = v.v.keys.findIndex(function (K) { return K.failing >= 0; });
    v.show(k, v.v.keys[k].failing);
    var e = v.opEl(v.K.failing);
    if (!e) return;
    e.scrollIntoView({block: "center"});
    flash(e);
    var r = v.K.rows[v.K.failing];
    if (r >= 0) select(r, {lines: v.linLines(v.K.failing)});
    e.classList.add("hl");
  }
  var jump = $("#jump-first-error");
  if (jump) jump.addEventListener("click", jumpToFirstError);
  window.sbJumpToFirstError = jumpToFirstError;
  $$(".cx-show").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var c = D.cx[+a.dataset.cx], v = c && views[c.view];
      if (!v) return;
      v.show(c.key); v.act("cx"); v.el.scrollIntoView({block: "center"});
    });
  });
  $$(".cx-link").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var r = +a.dataset.row; if (r >= 0) { select(r); focusOp(r, "lin"); }
    });
  });
  $$(".cx-op").forEach(function (tr) {
    tr.addEventListener("mouseenter", function () { var r = +tr.dataset.row; if (r >= 0) showTip(opLines(r), tr.getBoundingClientRect(), tr); });
    tr.addEventListener("mouseleave", hideTip);
  });

  var tlBox = timeline.box;
  window.sbDrawTimeline = function () { timeline.build(); marks.timeline = performance.now(); };
  if (tlBox && "IntersectionObserver" in window) {
    var io = new IntersectionObserver(function (es) {
      if (es.some(function (e) { return e.isIntersecting; })) { io.disconnect(); window.sbDrawTimeline(); }
    }, {rootMargin: "400px"});
    io.observe(tlBox);
  } else window.sbDrawTimeline();
  if (location.hash === "#first-error") jumpToFirstError();
  var chart = data("sb-chart");
  Promise.resolve(chart && chart.timed ? drawCharts(chart) : null).then(function () {
    requestAnimationFrame(function () { requestAnimationFrame(function () { window.__sbRenderedAt = performance.now(); window.__sbRendered = true; }); });
  }, function (e) { window.__sbRenderError = String(e); window.__sbRendered = true; });
})();
