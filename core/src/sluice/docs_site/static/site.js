/* sluice docs site: search and the lineage graph's pan and zoom. No dependencies, no network:
   the data comes from data.js (window.SLUICE_DOCS), which a script tag loads even from file://.
   Project text is only ever assigned with textContent, never parsed as HTML. */
(function () {
  "use strict";

  var MIN_SCALE = 0.2;
  var MAX_SCALE = 4;
  var DRAG_THRESHOLD = 4; // pixels a press may move and still count as a click

  function words(text) {
    return text.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
  }

  /* -- search ------------------------------------------------------------------------------ */

  function matchingIds(query) {
    var wanted = words(query);
    var found = {};
    var nodes = (window.SLUICE_DOCS && window.SLUICE_DOCS.nodes) || [];
    nodes.forEach(function (node) {
      found[node.uid] = wanted.every(function (w) { return node.search.indexOf(w) !== -1; });
    });
    return found;
  }

  function filterIndex(query) {
    var found = matchingIds(query);
    var shown = 0;
    document.querySelectorAll("tr[data-uid]").forEach(function (row) {
      var match = found[row.getAttribute("data-uid")] === true;
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    document.querySelectorAll("section.group").forEach(function (group) {
      group.hidden = group.querySelector("tr[data-uid]:not([hidden])") === null;
    });
    document.querySelectorAll("#graph .node").forEach(function (node) {
      node.classList.toggle("dim", found[node.getAttribute("data-uid")] !== true);
    });
    document.querySelectorAll("#graph .edge").forEach(function (edge) {
      var both = found[edge.getAttribute("data-source")] && found[edge.getAttribute("data-target")];
      edge.classList.toggle("dim", !both);
    });
    var status = document.getElementById("search-status");
    if (status) {
      var total = Object.keys(found).length;
      status.textContent = query.trim() ? shown + " of " + total + " nodes match" : "";
    }
  }

  function setUpSearch() {
    var input = document.getElementById("search");
    if (!input || document.body.getAttribute("data-page") !== "index") {
      return; // elsewhere the search box is a form that opens the index with ?q=
    }
    var query = new URLSearchParams(window.location.search).get("q");
    if (query) { input.value = query; }
    input.addEventListener("input", function () { filterIndex(input.value); });
    input.form.addEventListener("submit", function (event) { event.preventDefault(); });
    filterIndex(input.value);
  }

  /* -- the graph ----------------------------------------------------------------------------- */

  function Graph(svg) {
    this.svg = svg;
    this.viewport = svg.querySelector("#viewport");
    this.width = Number(svg.getAttribute("data-width")) || 1;
    this.height = Number(svg.getAttribute("data-height")) || 1;
    this.x = 0;
    this.y = 0;
    this.scale = 1;
  }

  Graph.prototype.apply = function () {
    this.viewport.setAttribute(
      "transform",
      "translate(" + this.x.toFixed(1) + " " + this.y.toFixed(1) + ") scale(" + this.scale.toFixed(3) + ")"
    );
  };

  Graph.prototype.fit = function () {
    var box = this.svg.getBoundingClientRect();
    var scale = Math.min(box.width / this.width, box.height / this.height, 1);
    this.scale = Math.max(scale, MIN_SCALE);
    this.x = (box.width - this.width * this.scale) / 2;
    this.y = (box.height - this.height * this.scale) / 2;
    this.apply();
  };

  /* zoom by factor, keeping the point (px, py) of the svg where it is on screen */
  Graph.prototype.zoom = function (factor, px, py) {
    var scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    var ratio = scale / this.scale;
    this.x = px - (px - this.x) * ratio;
    this.y = py - (py - this.y) * ratio;
    this.scale = scale;
    this.apply();
  };

  Graph.prototype.zoomAtCentre = function (factor) {
    var box = this.svg.getBoundingClientRect();
    this.zoom(factor, box.width / 2, box.height / 2);
  };

  function setUpPanning(graph) {
    var svg = graph.svg;
    var press = null;
    var dragged = false;
    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      press = { x: event.clientX, y: event.clientY, startX: graph.x, startY: graph.y };
      dragged = false;
    });
    window.addEventListener("pointermove", function (event) {
      if (!press) { return; }
      var dx = event.clientX - press.x;
      var dy = event.clientY - press.y;
      if (!dragged && Math.abs(dx) + Math.abs(dy) < DRAG_THRESHOLD) { return; }
      dragged = true;
      svg.classList.add("dragging");
      graph.x = press.startX + dx;
      graph.y = press.startY + dy;
      graph.apply();
    });
    window.addEventListener("pointerup", function () {
      press = null;
      svg.classList.remove("dragging");
    });
    // a drag that ends on a node must not open it
    svg.addEventListener("click", function (event) {
      if (dragged) {
        event.preventDefault();
        event.stopPropagation();
        dragged = false;
      }
    }, true);
    svg.addEventListener("wheel", function (event) {
      event.preventDefault();
      var box = svg.getBoundingClientRect();
      graph.zoom(Math.exp(-event.deltaY / 500), event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
  }

  function setUpHighlight(svg) {
    var edges = svg.querySelectorAll(".edge");
    svg.querySelectorAll(".node").forEach(function (node) {
      var uid = node.getAttribute("data-uid");
      function light(on) {
        edges.forEach(function (edge) {
          if (edge.getAttribute("data-source") === uid || edge.getAttribute("data-target") === uid) {
            edge.classList.toggle("lit", on);
          }
        });
      }
      node.addEventListener("mouseenter", function () { light(true); });
      node.addEventListener("mouseleave", function () { light(false); });
    });
  }

  function setUpGraph() {
    var svg = document.getElementById("graph");
    if (!svg) { return; }
    var graph = new Graph(svg);
    graph.fit();
    setUpPanning(graph);
    setUpHighlight(svg);
    var buttons = {
      "zoom-in": function () { graph.zoomAtCentre(1.25); },
      "zoom-out": function () { graph.zoomAtCentre(0.8); },
      "zoom-fit": function () { graph.fit(); }
    };
    Object.keys(buttons).forEach(function (id) {
      var button = document.getElementById(id);
      if (button) { button.addEventListener("click", buttons[id]); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSearch();
    setUpGraph();
  });
})();
