// Node details on click: reads the page's own JSON (no network).
(function () {
  var data = JSON.parse(document.getElementById("tl-data").textContent);
  function text(tag, s) { var e = document.createElement(tag); e.textContent = s; return e; }
  function fmt(x) { return typeof x === "number" ? x.toExponential(4) : String(x); }
  document.querySelectorAll("section.graph").forEach(function (sec) {
    var g = sec.getAttribute("data-graph");
    var nodes = data[g] || {};
    var panel = sec.querySelector(".details");
    sec.querySelectorAll(".tl-node").forEach(function (el) {
      el.addEventListener("click", function () {
        var name = el.getAttribute("data-node");
        var n = nodes[name];
        sec.querySelectorAll(".tl-node.selected").forEach(function (s) { s.classList.remove("selected"); });
        el.classList.add("selected");
        sec.querySelectorAll(".box-row").forEach(function (r) {
          var b = r.getAttribute("data-box-node");
          r.classList.toggle("selected", b === name);
        });
        panel.innerHTML = "";
        panel.appendChild(text("h4", name));
        if (!n) { panel.appendChild(text("p", "no details")); return; }
        panel.appendChild(text("p", n.op + " " + n.dtype + n.shape));
        panel.appendChild(text("p", "parents: " + (n.parents.join(", ") || "none")));
        var cov = n.coverage;
        if (cov) {
          panel.appendChild(text("p", "coverage per proof layer:"));
          var ul = document.createElement("ul");
          cov.forEach(function (l) {
            ul.appendChild(text("li", l.layer + ": " + l.status + (l.reason ? " (" + l.reason + ")" : "") +
              (l.entries && l.entries.length ? " [" + l.entries.join(", ") + "]" : "")));
          });
          panel.appendChild(ul);
        } else {
          panel.appendChild(text("p", "coverage: not listed for this node"));
        }
        (n.boxes || []).forEach(function (b) {
          panel.appendChild(text("p", "layer " + b.layer + " (" + b.kind + ", diagnostic): IBP [" + fmt(b.ibp.lower_min) + ", " +
            fmt(b.ibp.upper_max) + "] mean width " + fmt(b.ibp.mean_width) + "; CROWN [" + fmt(b.crown.lower_min) + ", " +
            fmt(b.crown.upper_max) + "] mean width " + fmt(b.crown.mean_width)));
        });
      });
    });
  });
  // An editor showing the page (VS Code's webview) posts the graph the cursor is in.
  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (!msg || msg.type !== "tl.revealGraph") { return; }
    var found = null;
    document.querySelectorAll("section.graph").forEach(function (sec) {
      var hit = sec.getAttribute("data-graph") === msg.graph;
      sec.classList.toggle("current", hit);
      if (hit && !found) { found = sec; }
    });
    if (found) { found.scrollIntoView({ block: "start" }); }
  });
  // `report.html#node=NAME` selects a node on load (links, screenshots).
  var m = /^#node=(.+)$/.exec(window.location.hash);
  if (m) {
    var want = decodeURIComponent(m[1]);
    var hit = Array.prototype.find.call(document.querySelectorAll(".tl-node"), function (el) {
      return el.getAttribute("data-node") === want;
    });
    if (hit) { hit.dispatchEvent(new MouseEvent("click")); }
  }
})();
