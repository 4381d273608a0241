// The page's only script: fetch /api/summary (same origin) every 5 s and draw it. Every label value is written with
// textContent or an SVG text node's textContent, never as HTML: tenant and feature names come from users.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function money(text) {
    const v = Number(text);
    if (!isFinite(v)) return "–";
    if (v !== 0 && Math.abs(v) < 0.01) return "$" + v.toPrecision(3);
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function count(text) { return Number(text).toLocaleString("en-US"); }

  function setNumber(id, value, format) {
    const el = document.getElementById(id);
    if (value === null || value === undefined) { el.textContent = "–"; el.removeAttribute("data-value"); return; }
    el.textContent = format(value);
    el.setAttribute("data-value", value);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bars(container, rows, isMoney) {
    container.replaceChildren();
    if (!rows.length) { container.appendChild(el("p", "empty", "nothing yet")); return; }
    const max = Math.max(...rows.map(r => Number(r[1])), 0) || 1;
    for (const [name, value] of rows) {
      const row = el("div", "row" + (name === "actual" ? " actual" : ""));
      row.setAttribute("data-key", name);
      row.appendChild(el("span", "name", name)).title = name;
      const track = row.appendChild(el("span", "track"));
      track.appendChild(el("span", "fill")).style.width = (100 * Math.max(0, Number(value)) / max).toFixed(1) + "%";
      const cell = row.appendChild(el("span", "value", isMoney ? money(value) : count(value)));
      cell.setAttribute("data-value", value);
      container.appendChild(row);
    }
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function history(container, points) {
    // Per-minute spend: the difference between consecutive minutes' running totals.
    const W = 1000, H = 160, L = 60, B = 22;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    const deltas = [];
    for (let i = 1; i < points.length; i++) deltas.push([points[i][0], Math.max(0, points[i][1] - points[i - 1][1])]);
    const max = Math.max(...deltas.map(d => d[1]), 0);
    chart.appendChild(svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "#cbd2d9" }));
    chart.appendChild(svg("text", { x: 4, y: 14, "font-size": 12, fill: "#616e7c" }, max ? money(String(max)) : "$0"));
    chart.appendChild(svg("text", { x: 4, y: H - B, "font-size": 12, fill: "#616e7c" }, "$0"));
    const now = points.length ? points[points.length - 1][0] : Date.now() / 1000;
    const x = t => L + (W - L) * (1 - Math.min(3600, now - t) / 3600);
    const step = (W - L) / 60;
    for (const [t, d] of deltas) {
      const h = max ? (H - B - 20) * d / max : 0;
      const bar = svg("rect", { x: x(t) - step * 0.8, y: H - B - h, width: step * 0.7, height: h, fill: "#3f6fd8" });
      bar.appendChild(svg("title", {}, new Date(t * 1000).toLocaleTimeString() + " " + money(String(d))));
      chart.appendChild(bar);
    }
    for (const minutes of [60, 45, 30, 15, 0]) {
      chart.appendChild(svg("text", { x: x(now - minutes * 60) - (minutes ? 20 : 30), y: H - 4, "font-size": 12,
        fill: "#616e7c" }, minutes ? `-${minutes} min` : "now"));
    }
    if (deltas.length === 0) {
      chart.appendChild(svg("text", { x: W / 2 - 120, y: H / 2, "font-size": 14, fill: "#616e7c" },
        "collecting: one bar per minute"));
    }
    container.replaceChildren(chart);
  }

  function attribution(container, groups) {
    container.replaceChildren();
    for (const key of Object.keys(groups)) {
      const box = el("div");
      box.appendChild(el("h2", null, "By " + key));
      const list = el("div", "bars");
      list.id = "by_attribution_" + key;
      box.appendChild(list);
      container.appendChild(box);
      bars(list, groups[key], true);
    }
  }

  function draw(s) {
    document.getElementById("project").textContent = s.project;
    document.getElementById("pacific-day").textContent = s.pacific_day;
    document.getElementById("updated").textContent = new Date(s.now * 1000).toLocaleTimeString();
    setNumber("spend-total", s.spend.total, money);
    setNumber("spend-today", s.spend.today, money);
    setNumber("spend-month", s.spend.month, money);
    setNumber("spend-projection", s.spend.projection, money);
    setNumber("spend-budget", s.spend.budget, money);
    setNumber("calls", s.calls, count);
    setNumber("unpriced", s.unpriced, count);
    setNumber("unmetered", s.unmetered, count);
    const bar = document.getElementById("budget-bar");
    const share = s.spend.budget ? Number(s.spend.month) / Number(s.spend.budget) : 0;
    bar.style.width = Math.min(100, 100 * share).toFixed(1) + "%";
    bar.className = share > 1 ? "over" : "";
    history(document.getElementById("history"), s.history.map(p => [p[0], Number(p[1])]));
    for (const key of ["by_model", "by_cost_type", "by_tier", "whatif"]) bars(document.getElementById(key), s[key], true);
    for (const key of ["tokens", "errors", "quota", "pricing_status"]) bars(document.getElementById(key), s[key], false);
    attribution(document.getElementById("attribution"), s.by_attribution);
    const t = s.price_table;
    document.getElementById("price-table").textContent =
      `checked on ${t.checked_on || "?"} · digest ${t.digest || "?"} · origin ${t.origin || "?"}`;
    document.body.setAttribute("data-loaded", String(s.now));
  }

  function refresh() {
    fetch("api/summary", { cache: "no-store" }).then(r => r.json()).then(draw).catch(() => {
      document.getElementById("updated").textContent = "(unreachable)";
    });
  }
  refresh();
  setInterval(refresh, 5000);
})();
