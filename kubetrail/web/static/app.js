// kubetrail web: small enhancements of server-rendered pages. No inline script is allowed
// (Content-Security-Policy), so everything is wired here. Fragments come from our own
// server, already escaped by its templates.
"use strict";

function loadFragments(root) {
  root.querySelectorAll("[data-fragment]").forEach(function (box) {
    fetch(box.dataset.fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text().then(function (t) { return [r.ok, t]; }); })
      .then(function (res) {
        box.innerHTML = res[1];
        box.classList.toggle("failed", !res[0]);
        box.dataset.loaded = "1";
        if (box.id === "histogram") { enableZoom(box); }
      })
      .catch(function () { box.textContent = "could not load"; });
  });
}

// Drag across the histogram to search that stretch of time: from/to go into the URL.
function enableZoom(box) {
  var chart = box.querySelector(".chart");
  var svg = chart && chart.querySelector("svg");
  if (!svg) { return; }
  var start = Number(chart.dataset.start), end = Number(chart.dataset.end);
  var band = document.createElement("div");
  band.className = "zoom-band";
  chart.appendChild(band);
  var from = null;
  function at(event) {
    var rect = svg.getBoundingClientRect();
    var x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    return { x: x, t: start + (end - start) * x / rect.width };
  }
  svg.addEventListener("mousedown", function (event) {
    from = at(event);
    band.hidden = false;
    band.style.left = from.x + "px";
    band.style.width = "0px";
    event.preventDefault();
  });
  window.addEventListener("mousemove", function (event) {
    if (from === null) { return; }
    var now = at(event);
    band.style.left = Math.min(from.x, now.x) + "px";
    band.style.width = Math.abs(now.x - from.x) + "px";
  });
  window.addEventListener("mouseup", function (event) {
    if (from === null) { return; }
    var to = at(event), a = Math.min(from.t, to.t), b = Math.max(from.t, to.t);
    var moved = Math.abs(to.x - from.x) > 4;
    from = null;
    band.hidden = true;
    if (!moved) { return; }  // a click: the bar's own link zooms into that bar
    var url = new URL(chart.dataset.href, window.location.href);
    url.searchParams.set("from", new Date(Math.floor(a)).toISOString());
    url.searchParams.set("to", new Date(Math.ceil(b)).toISOString());
    window.location.assign(url.toString());
  });
}

// Escape closes the event drawer; a click on a row opens it.
function enableTable() {
  document.addEventListener("keydown", function (event) {
    var close = document.querySelector(".drawer .close");
    if (event.key === "Escape" && close) { window.location.assign(close.href); }
  });
  document.querySelectorAll("table.events tbody tr[data-id]").forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a")) { return; }
      var link = row.querySelector("a.open");
      if (link) { window.location.assign(link.href); }
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  loadFragments(document);
  enableTable();
});
