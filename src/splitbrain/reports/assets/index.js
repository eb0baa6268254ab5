/* Client-side filtering of the run index: words (all must match) and verdict. */
(function () {
  "use strict";
  var input = document.getElementById("filter"), sel = document.getElementById("verdict-filter");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tbody tr.run"));
  var shown = document.getElementById("shown");
  rows.forEach(function (r) { r._text = r.textContent.toLowerCase(); });
  function apply() {
    var words = (input.value || "").toLowerCase().split(/\s+/).filter(Boolean), v = sel.value, n = 0;
    rows.forEach(function (r) {
      var ok = (!v || r.dataset.verdict === v) && words.every(function (w) { return r._text.indexOf(w) >= 0; });
      r.hidden = !ok; if (ok) n++;
    });
    shown.textContent = n + " of " + rows.length + " runs";
    var q = []; if (input.value) q.push("q=" + encodeURIComponent(input.value)); if (v) q.push("verdict=" + v);
    history.replaceState(null, "", q.length ? "#" + q.join("&") : location.pathname);
  }
  var h = new URLSearchParams(location.hash.slice(1));
  if (h.get("q")) input.value = h.get("q");
  if (h.get("verdict")) sel.value = h.get("verdict");
  input.addEventListener("input", apply); sel.addEventListener("change", apply);
  apply();
})();
