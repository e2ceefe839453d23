// trialmap report: tooltips, country selection, counting-rule switch, sortable tables.
// Data come from the JSON block #report-data; registry texts are only ever written with
// textContent (never innerHTML), so a title holding "<script>" stays text.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var svg = document.getElementById("map");
  var wrap = document.getElementById("map-wrap");
  var tip = document.getElementById("tooltip");
  var hover = [document.getElementById("hl-hover-halo"), document.getElementById("hl-hover")];
  var selectedOutline = document.getElementById("hl-selected");
  var shapes = Array.prototype.slice.call(svg.querySelectorAll(".country[data-iso3]"));
  var rule = D.rule;
  var selected = null;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function fmt(v) {
    v = Number(v);
    return Number.isInteger(v) ? v.toLocaleString("en-US")
      : v.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }

  function share(v) {
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }

  function plural(n, word) { return fmt(n) + " " + word + (Number(n) === 1 ? "" : "s"); }

  function numbers(shape) {
    return {
      iso3: shape.getAttribute("data-iso3"),
      name: shape.getAttribute("data-name"),
      trials: Number(shape.getAttribute("data-n-trials")),
      sites: Number(shape.getAttribute("data-n-sites")),
      share: Number(shape.getAttribute("data-trial-share"))
    };
  }

  // ---- tooltip and hover outline -------------------------------------------------
  function showTip(shape, x, y) {
    var n = numbers(shape);
    tip.textContent = "";
    tip.appendChild(el("strong", null, n.name));
    tip.appendChild(el("span", { "class": "tip-trials" }, plural(n.trials, "trial")));
    tip.appendChild(document.createTextNode(" · "));
    tip.appendChild(el("span", { "class": "tip-sites" }, plural(n.sites, "site")));
    if (n.trials > 0) {
      tip.appendChild(el("br"));
      tip.appendChild(el("span", { "class": "tip-share" }, "fractional share " + share(n.share)));
    }
    tip.hidden = false;
    var box = wrap.getBoundingClientRect();
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = x - box.left + 14, top = y - box.top + 14;
    if (left + w > box.width) { left = Math.max(0, x - box.left - w - 14); }
    if (top + h > box.height) { top = Math.max(0, y - box.top - h - 14); }
    tip.style.left = left + "px";
    tip.style.top = top + "px";
    var d = shape.getAttribute("d");
    hover.forEach(function (p) { p.setAttribute("d", d); });
  }

  function hideTip() {
    tip.hidden = true;
    hover.forEach(function (p) { p.setAttribute("d", ""); });
  }

  function shapeOf(target) {
    return target && target.closest ? target.closest(".country[data-iso3]") : null;
  }

  svg.addEventListener("pointermove", function (e) {
    var s = shapeOf(e.target);
    if (s) { showTip(s, e.clientX, e.clientY); } else { hideTip(); }
  });
  svg.addEventListener("pointerleave", hideTip);
  svg.addEventListener("click", function (e) {
    var s = shapeOf(e.target);
    if (s) { select(s.getAttribute("data-iso3"), false); }
  });
  svg.addEventListener("keydown", function (e) {
    var s = shapeOf(e.target);
    if (s && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      select(s.getAttribute("data-iso3"), false);
    }
  });
  svg.addEventListener("focusin", function (e) {
    var s = shapeOf(e.target);
    if (!s) { return; }
    var r = s.getBoundingClientRect();
    showTip(s, r.left + r.width / 2, r.top + r.height / 2);
  });
  svg.addEventListener("focusout", hideTip);

  // ---- the selected country's trials --------------------------------------------
  var section = document.getElementById("selection");

  function trialTable(list) {
    var table = el("table", { "class": "trials cards", id: "selection-table" });
    var head = el("thead"), tr = el("tr");
    ["NCT id", "Title", "Phase", "Status", "Start", "Disease categories", "Sites here"].forEach(function (h) {
      tr.appendChild(el("th", { scope: "col" }, h));
    });
    head.appendChild(tr);
    table.appendChild(head);
    var body = el("tbody");
    list.forEach(function (item) {
      var nct = item[0], t = D.trials[nct] || {};
      var row = el("tr", { "data-nct": nct });
      var th = el("th", { scope: "row" });
      th.appendChild(el("a", { href: D.study_url + encodeURIComponent(nct), target: "_blank",
        rel: "noopener noreferrer" }, nct));
      row.appendChild(th);
      row.appendChild(el("td", { "data-label": "Title", "class": "title" }, t.title || ""));
      row.appendChild(el("td", { "data-label": "Phase", "class": "meta" }, t.phase || "—"));
      row.appendChild(el("td", { "data-label": "Status", "class": "meta" }, t.status || "—"));
      row.appendChild(el("td", { "data-label": "Start", "class": "num meta" }, t.start === null ? "—" : t.start));
      row.appendChild(el("td", { "data-label": "Categories" }, (t.categories || []).join("; ") || "—"));
      row.appendChild(el("td", { "data-label": "Sites here", "class": "num" }, item[1]));
      body.appendChild(row);
    });
    table.appendChild(body);
    return table;
  }

  function select(iso, fromTable) {
    var c = D.countries[iso];
    var shape = svg.querySelector('.country[data-iso3="' + CSS.escape(iso) + '"]');
    var name = c ? c.name : (shape ? shape.getAttribute("data-name") : iso);
    selected = iso;
    selectedOutline.setAttribute("d", shape ? shape.getAttribute("d") : "");
    section.textContent = "";
    section.appendChild(el("h3", { id: "selection-heading" }, name + " (" + iso + ")"));
    if (!c || !c.trials.length) {
      section.appendChild(el("p", { id: "selection-summary" }, "No trial of the study set has a site here."));
    } else {
      section.appendChild(el("p", { id: "selection-summary" },
        plural(c.n_trials, "trial") + " · " + plural(c.n_sites, "site") + " · fractional share " +
        share(c.trial_share) + ". Newest start first; each NCT id opens the record on ClinicalTrials.gov."));
      var list = c.trials.slice().sort(function (a, b) {
        var ya = (D.trials[a[0]] || {}).start, yb = (D.trials[b[0]] || {}).start;
        ya = ya === null || ya === undefined ? -1 : ya;
        yb = yb === null || yb === undefined ? -1 : yb;
        return yb - ya || (a[0] < b[0] ? -1 : 1);
      });
      var scroll = el("div", { "class": "scroll list" });
      scroll.appendChild(trialTable(list));
      section.appendChild(scroll);
    }
    document.querySelectorAll("#countries-table tbody tr").forEach(function (tr) {
      tr.classList.toggle("selected", tr.getAttribute("data-iso3") === iso);
    });
    if (fromTable) {
      section.scrollIntoView({ block: "start" });
      section.focus({ preventScroll: true });
    } else {
      section.scrollIntoView({ block: "nearest" });
    }
  }

  document.querySelectorAll("button.pick").forEach(function (b) {
    b.addEventListener("click", function () { select(b.getAttribute("data-iso3"), true); });
  });

  // ---- counting-rule switch -----------------------------------------------------
  function setRule(name) {
    var r = D.rules[name];
    if (!r) { return; }
    rule = name;
    shapes.forEach(function (s) {
      var c = D.countries[s.getAttribute("data-iso3")];
      s.setAttribute("fill", c ? c.fill[name] : D.none);
      s.setAttribute("data-class", c ? c.cls[name] : -1);
    });
    document.getElementById("rule-describe").textContent = r.describe + ".";
    document.getElementById("legend-title").textContent = r.title;
    var ul = document.querySelector("#legend ul");
    ul.textContent = "";
    r.legend.forEach(function (item) {
      var li = el("li");
      var sw = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      sw.setAttribute("class", "swatch");
      sw.setAttribute("viewBox", "0 0 14 10");
      sw.setAttribute("width", "14");
      sw.setAttribute("height", "10");
      sw.setAttribute("aria-hidden", "true");
      var rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      rect.setAttribute("width", "14");
      rect.setAttribute("height", "10");
      rect.setAttribute("fill", item[1]);
      rect.setAttribute("stroke", "#999");
      sw.appendChild(rect);
      li.appendChild(sw);
      li.appendChild(document.createTextNode(item[0]));
      ul.appendChild(li);
    });
    svg.setAttribute("data-rule", name);
    var th = document.querySelector('#countries-table th[data-key="' + r.column + '"]');
    if (th) { sortBy(th, "descending"); }
  }

  document.querySelectorAll('#rule-switch input[name="rule"]').forEach(function (input) {
    input.addEventListener("change", function () { if (input.checked) { setRule(input.value); } });
  });

  // ---- sortable tables ----------------------------------------------------------
  function cellValue(row, i, type) {
    var cell = row.children[i];
    var v = cell ? (cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent) : "";
    if (type === "num") { return v === "" ? -Infinity : Number(v); }
    return v.toLocaleLowerCase();
  }

  function sortBy(th, direction) {
    var table = th.closest("table");
    var tbody = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute("data-type") || "text";
    var sign = direction === "ascending" ? 1 : -1;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.forEach(function (r, i) { r._pos = i; });
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type), y = cellValue(b, index, type);
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return a._pos - b._pos;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction);
  }

  document.querySelectorAll("table.sortable thead th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var th = b.closest("th");
      var now = th.getAttribute("aria-sort");
      var numeric = th.getAttribute("data-type") === "num";
      var next = now ? (now === "ascending" ? "descending" : "ascending") : (numeric ? "descending" : "ascending");
      sortBy(th, next);
    });
  });

  document.documentElement.classList.add("js");
  svg.setAttribute("data-rule", rule);
}());
