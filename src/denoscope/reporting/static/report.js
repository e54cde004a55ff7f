// denoscope report: the training curves as small SVG charts drawn from the numbers embedded in the page (nothing is
// fetched). Hover shows the values at the nearest step; drag or wheel zooms the steps; "reset" (or a double click)
// shows them all. Each chart keeps its current step range in data-x0 / data-x1.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const SVG = "http://www.w3.org/2000/svg";
  const W = 480, H = 260, M = { left: 56, right: 12, top: 14, bottom: 34 };
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  const DASHES = ["", "6 3", "2 3", "8 3 2 3"];

  function node(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function format(v) {
    if (!isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }

  function series(kind, runs) {
    // [{name, colour, dash, points: [[x, y]…], baseline}] of one chart, every run overlaid
    const several = runs.length > 1;
    const out = [];
    runs.forEach((run, r) => {
      const suffix = several ? ` (${run.run})` : "";
      if (kind === "loss") {
        out.push({ name: several ? run.run : "loss", colour: COLOURS[r % COLOURS.length], dash: "", points: run.loss });
      } else {
        (run.sigmas || Object.keys(run.psnr)).forEach((sigma, i) => {
          out.push({ name: `σ = ${sigma}${suffix}`, colour: COLOURS[i % COLOURS.length], dash: DASHES[r % DASHES.length],
                     points: run.psnr[sigma], baseline: run.psnr_input[sigma] });
        });
      }
    });
    return out.filter((s) => s.points.length);
  }

  function ticks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        for (const m of [1, 2, 5]) { const v = m * 10 ** e; if (v >= lo && v <= hi) out.push(v); }
      }
      return out.length >= 3 ? out : ticks(lo, hi, false).filter((v) => v > 0);
    }
    const step0 = (hi - lo) / 5 || 1;
    const p = 10 ** Math.floor(Math.log10(step0));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= step0);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  function chart(el, runs) {
    const log = el.dataset.log === "1";
    const all = series(el.dataset.chart, runs);
    if (!all.length) {
      const figure = el.closest("figure");
      if (figure && figure.querySelector(".fallback")) figure.querySelector(".fallback").classList.remove("fallback");
      el.remove();
      return;
    }
    const xs = all.flatMap((s) => s.points.map((p) => p[0]));
    const full = [Math.min(...xs), Math.max(...xs)];
    if (full[0] === full[1]) full[1] = full[0] + 1;
    let domain = full.slice();
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": el.dataset.ylabel || "" });
    el.appendChild(svg);
    const legend = document.createElement("div");
    legend.className = "legend";
    legend.innerHTML = all.map((s) => `<span><i style="border-color:${s.colour};border-top-style:${s.dash ? "dashed" : "solid"}"></i>${s.name}</span>`).join("");
    el.appendChild(legend);
    const tip = document.createElement("div");
    tip.className = "tip";
    tip.hidden = true;
    el.appendChild(tip);
    const reset = document.createElement("button");
    reset.className = "reset";
    reset.type = "button";
    reset.textContent = "reset";
    el.appendChild(reset);
    let yScale = null, xScale = null, xInverse = null;

    function draw() {
      svg.textContent = "";
      el.dataset.x0 = domain[0];
      el.dataset.x1 = domain[1];
      const seen = all.flatMap((s) => s.points.filter((p) => p[0] >= domain[0] && p[0] <= domain[1]).map((p) => p[1]))
        .concat(all.filter((s) => s.baseline !== undefined && s.baseline !== null).map((s) => s.baseline))
        .filter((v) => isFinite(v) && (!log || v > 0));
      let lo = Math.min(...seen), hi = Math.max(...seen);
      if (!seen.length) { lo = log ? 1e-3 : 0; hi = 1; }
      if (lo === hi) { lo = log ? lo / 2 : lo - 1; hi = log ? hi * 2 : hi + 1; }
      if (!log) { const pad = (hi - lo) * 0.05; lo -= pad; hi += pad; }
      const f = log ? Math.log10 : (v) => v;
      const [fl, fh] = [f(lo), f(hi)];
      xScale = (x) => M.left + ((x - domain[0]) / (domain[1] - domain[0])) * (W - M.left - M.right);
      xInverse = (px) => domain[0] + ((px - M.left) / (W - M.left - M.right)) * (domain[1] - domain[0]);
      yScale = (y) => H - M.bottom - ((f(y) - fl) / (fh - fl)) * (H - M.top - M.bottom);
      const defs = node("defs", {}, svg);
      const clipId = `clip-${el.dataset.chart}-${Math.random().toString(36).slice(2)}`;
      node("rect", { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom }, node("clipPath", { id: clipId }, defs));
      for (const t of ticks(lo, hi, log)) {
        node("line", { class: "grid-line", x1: M.left, x2: W - M.right, y1: yScale(t), y2: yScale(t) }, svg);
        node("text", { x: M.left - 4, y: yScale(t) + 4, "text-anchor": "end" }, svg).textContent = format(t);
      }
      for (const t of ticks(domain[0], domain[1], false)) {
        node("text", { x: xScale(t), y: H - M.bottom + 14, "text-anchor": "middle" }, svg).textContent = format(t);
      }
      node("line", { class: "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }, svg);
      node("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }, svg);
      node("text", { x: (M.left + W - M.right) / 2, y: H - 4, "text-anchor": "middle" }, svg).textContent = "step";
      node("text", { x: 12, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
                     transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})` }, svg).textContent = el.dataset.ylabel || "";
      const plot = node("g", { "clip-path": `url(#${clipId})` }, svg);
      for (const s of all) {
        if (s.baseline !== undefined && s.baseline !== null && isFinite(s.baseline)) {
          node("line", { class: "baseline", stroke: s.colour, x1: M.left, x2: W - M.right, y1: yScale(s.baseline), y2: yScale(s.baseline) }, plot);
        }
        const d = s.points.filter((p) => isFinite(p[1]) && (!log || p[1] > 0))
          .map((p, i) => `${i ? "L" : "M"}${xScale(p[0]).toFixed(1)},${yScale(p[1]).toFixed(1)}`).join("");
        node("path", { class: "series", stroke: s.colour, "stroke-dasharray": s.dash, d }, plot);
        if (s.points.length <= 60) {
          for (const p of s.points) if (isFinite(p[1]) && (!log || p[1] > 0)) node("circle", { cx: xScale(p[0]), cy: yScale(p[1]), r: 2.5, fill: s.colour }, plot);
        }
      }
      node("line", { class: "cursor", x1: 0, x2: 0, y1: M.top, y2: H - M.bottom, visibility: "hidden" }, svg);
      node("rect", { class: "band", x: 0, y: M.top, width: 0, height: H - M.top - M.bottom, visibility: "hidden" }, svg);
    }

    function svgX(event) {
      const box = svg.getBoundingClientRect();
      return ((event.clientX - box.left) / box.width) * W;
    }

    function nearest(points, x) {
      let best = null;
      for (const p of points) if (p[0] >= domain[0] && p[0] <= domain[1] && (!best || Math.abs(p[0] - x) < Math.abs(best[0] - x))) best = p;
      return best;
    }

    function hover(event) {
      const px = svgX(event);
      const x = xInverse(Math.min(Math.max(px, M.left), W - M.right));
      const rows = all.map((s) => [s, nearest(s.points, x)]).filter(([, p]) => p);
      if (!rows.length) return;
      const step = rows.reduce((a, [, p]) => (Math.abs(p[0] - x) < Math.abs(a - x) ? p[0] : a), rows[0][1][0]);
      const cursor = svg.querySelector(".cursor");
      cursor.setAttribute("x1", xScale(step));
      cursor.setAttribute("x2", xScale(step));
      cursor.setAttribute("visibility", "visible");
      tip.innerHTML = `<b>step ${format(step)}</b><br>` + rows.filter(([, p]) => p[0] === step)
        .map(([s, p]) => `<span style="color:${s.colour}">${s.name}</span>: ${format(p[1])}`).join("<br>");
      tip.hidden = false;
      const box = el.getBoundingClientRect();
      const left = event.clientX - box.left + 12;
      tip.style.left = `${Math.min(left, box.width - tip.offsetWidth - 4)}px`;
      tip.style.top = `${event.clientY - box.top + 12}px`;
    }

    function zoomTo(a, b) {
      const lo = Math.max(full[0], Math.min(a, b)), hi = Math.min(full[1], Math.max(a, b));
      if (hi - lo > (full[1] - full[0]) * 1e-3) { domain = [lo, hi]; draw(); }
    }

    let dragFrom = null;
    svg.addEventListener("mousedown", (e) => { dragFrom = svgX(e); e.preventDefault(); });
    svg.addEventListener("mousemove", (e) => {
      hover(e);
      if (dragFrom === null) return;
      const band = svg.querySelector(".band"), px = svgX(e);
      band.setAttribute("x", Math.min(dragFrom, px));
      band.setAttribute("width", Math.abs(px - dragFrom));
      band.setAttribute("visibility", "visible");
    });
    window.addEventListener("mouseup", (e) => {
      if (dragFrom === null) return;
      const px = svgX(e);
      if (Math.abs(px - dragFrom) > 4) zoomTo(xInverse(dragFrom), xInverse(px));
      else svg.querySelector(".band").setAttribute("visibility", "hidden");
      dragFrom = null;
    });
    svg.addEventListener("mouseleave", () => { tip.hidden = true; svg.querySelector(".cursor").setAttribute("visibility", "hidden"); });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const x = xInverse(svgX(e)), k = e.deltaY < 0 ? 1 / 1.25 : 1.25;
      if (k > 1 && domain[0] <= full[0] && domain[1] >= full[1]) return;
      zoomTo(x - (x - domain[0]) * k, x + (domain[1] - x) * k);
    }, { passive: false });
    const whole = () => { domain = full.slice(); draw(); };
    reset.addEventListener("click", whole);
    svg.addEventListener("dblclick", whole);
    draw();
  }

  function start() {
    const data = document.getElementById("denoscope-curves");
    const runs = data ? JSON.parse(data.textContent) : [];
    document.querySelectorAll(".chart[data-chart]").forEach((el) => chart(el, runs));
    document.body.dataset.charts = "ready";
  }

  // A full-size figure is the :target of its #full-… link; Esc closes it as its own click does.
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && location.hash.startsWith("#full-")) location.hash = "_";
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
