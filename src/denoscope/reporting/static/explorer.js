// denoscope explorer: a static page opened from disk. Data arrives only through <script> tags
// (data/meta.js at load, data/chunk-NNNNN.js on demand), because file:// pages may not fetch.
"use strict";
(() => {
  const META = window.DENOSCOPE_META;
  const app = document.getElementById("app");
  const tooltip = document.getElementById("tooltip");
  const PAGE = 200;
  const KINDS = ["selective", "common", "dead"];
  let renderId = 0;
  let arrows = {};   // hrefs for the ← / → keys on the current page
  let chart = null;  // the φ chart on screen, redrawn on resize

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    return add(e, ...kids);
  }

  // Append children, skipping null/false, flattening arrays, turning the rest into text.
  function add(parent, ...kids) {
    for (const kid of kids.flat()) if (kid != null && kid !== false) parent.append(kid.nodeType ? kid : String(kid));
    return parent;
  }

  function svg(tag, attrs = {}, ...kids) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...kids);
    return e;
  }

  const muted = (text) => el("span", { class: "muted" }, text);
  const errorBox = (message) => el("p", { class: "error" }, message);

  function fmt(x) {
    if (x == null || !Number.isFinite(x)) return "–";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
    return a >= 100 ? x.toFixed(1) : x.toPrecision(3);
  }

  const pct = (a, b) => (b ? `${((100 * a) / b).toFixed(1)}%` : "–");
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // ---------------------------------------------------------------- data

  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  function decode(base64, Type) {
    const bin = atob(base64 || "");
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const w = Type.BYTES_PER_ELEMENT;
    if (!LITTLE_ENDIAN) for (let i = 0; i + w <= bytes.length; i += w) bytes.subarray(i, i + w).reverse();
    return new Type(bytes.buffer, 0, Math.floor(bytes.length / w));
  }

  function lazy(make) {
    let done = false, value;
    return () => (done ? value : ((done = true), (value = make())));
  }

  const N = META ? META.n : 0;
  const C = META ? META.channels : 0;
  const K = META && META.clusters ? META.clusters.k : 0;
  const labels = lazy(() => (META.labels ? decode(META.labels, Int16Array) : null));
  const assignment = lazy(() => (META.clusters ? decode(META.clusters.assignment, Int16Array) : null));
  const validImage = (i) => Number.isInteger(i) && i >= 0 && i < N;

  function labelName(i) {
    const L = labels();
    if (!L) return null;
    const v = L[i];
    if (v < 0) return "unknown";
    return (META.class_names && META.class_names[v]) || `class ${v}`;
  }

  function clusterOf(i) {
    const a = assignment();
    return a && a[i] >= 0 ? a[i] : null;
  }

  const clusterMembers = lazy(() => {
    const a = assignment();
    const members = Array.from({ length: K }, () => []);
    for (let i = 0; i < a.length; i++) if (a[i] >= 0 && a[i] < K) members[a[i]].push(i);
    return members;
  });

  // Map label name → count over `ids`, most frequent first.
  function labelCounts(ids) {
    const counts = new Map();
    for (const i of ids) {
      const name = labelName(i);
      counts.set(name, (counts.get(name) || 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]);
  }

  const clusterComposition = lazy(() => clusterMembers().map(labelCounts));

  // pr ascending, dead (null pr) channels last.
  const channelOrder = lazy(() => {
    const pr = META.channel.pr;
    const key = (c) => (pr[c] == null ? Infinity : pr[c]);
    return [...Array(C).keys()].sort((a, b) => key(a) - key(b) || a - b);
  });

  // ---------------------------------------------------------------- chunks

  const chunks = new Map();   // index → Promise of the decoded chunk
  const waiting = new Map();  // index → resolve of a chunk script not yet run

  window.DENOSCOPE_CHUNK = (index, data) => {
    const resolve = waiting.get(index);
    waiting.delete(index);
    if (resolve) resolve(data);
  };

  function loadChunk(index) {
    if (!chunks.has(index)) {
      const src = `data/chunk-${String(index).padStart(5, "0")}.js`;
      const promise = new Promise((resolve, reject) => {
        const fail = (message) => {
          waiting.delete(index);
          chunks.delete(index); // a later visit may try again
          reject(new Error(message));
        };
        waiting.set(index, resolve);
        const script = el("script", { src });
        script.onerror = () => fail(`could not load ${src}`);
        script.onload = () => {
          script.remove();
          if (waiting.has(index)) fail(`${src} did not call DENOSCOPE_CHUNK(${index}, …)`);
        };
        document.head.append(script);
      }).then((raw) => decodeChunk(index, raw));
      chunks.set(index, promise);
    }
    return chunks.get(index);
  }

  function decodeChunk(index, raw) {
    const start = index * META.chunk_size;
    const m = Math.min(N, start + META.chunk_size) - start;
    const chunk = { start, m, phi: decode(raw.phi, Float32Array) };
    if (chunk.phi.length !== m * C) throw new Error(`chunk ${index}: φ has ${chunk.phi.length} values, expected ${m}×${C}`);
    const k = META.k;
    for (const [key, Type] of [["neighbours", Int32Array], ["cosine", Float32Array], ["pixel_neighbours", Int32Array], ["pixel_cosine", Float32Array]]) {
      if (k > 0 && raw[key] != null) chunk[key] = decode(raw[key], Type);
    }
    return chunk;
  }

  // Image i's row of a chunk: φ and both neighbour lists (null where not computed).
  function imageRow(chunk, i) {
    const j = i - chunk.start, k = META.k;
    const list = (ids, cos) => {
      if (!ids || ids.length < (j + 1) * k) return null;
      const out = [];
      for (let r = j * k; r < (j + 1) * k; r++) if (validImage(ids[r])) out.push([ids[r], cos ? cos[r] : null]);
      return out;
    };
    return {
      phi: chunk.phi.subarray(j * C, (j + 1) * C),
      phiNeighbours: list(chunk.neighbours, chunk.cosine),
      pixelNeighbours: list(chunk.pixel_neighbours, chunk.pixel_cosine),
    };
  }

  // ---------------------------------------------------------------- thumbnails

  // A sprite tile at its native size, scaled by a transform: correct whatever the sheet's size.
  function tile(i, size) {
    const box = el("div", { class: "thumb" });
    box.style.width = box.style.height = `${size}px`;
    const s = META.sprite;
    if (!s) {
      box.classList.add("nosprite");
      box.textContent = i;
      return box;
    }
    const j = i % s.per_sheet;
    const inner = el("div", { class: "tile" });
    inner.style.cssText =
      `width:${s.tile}px;height:${s.tile}px;transform:scale(${size / s.tile});` +
      `background-image:url("${s.sheets[Math.floor(i / s.per_sheet)]}");` +
      `background-position:${-(j % s.columns) * s.tile}px ${-Math.floor(j / s.columns) * s.tile}px`;
    box.append(inner);
    return box;
  }

  function thumb(i, size = 48, caption = null) {
    const label = labelName(i);
    const title = [`image ${i}`, label, caption].filter((x) => x != null).join(" · ");
    return el("a", { class: "image-link", href: `#image/${i}`, "data-image": i, title },
      tile(i, size), caption != null && el("span", { class: "cap" }, caption));
  }

  // ---------------------------------------------------------------- shared pieces

  function channelChip(c, extra) {
    const ch = META.channel;
    const kind = ch.kind[c] || "dead";
    return el("a", {
      class: `channel-link chip kind-${kind}`, href: `#channel/${c}`, "data-channel": c,
      title: `channel ${c} · ${kind} · pr ${fmt(ch.pr[c])} · mean φ ${fmt(ch.mean[c])}`,
    }, el("b", {}, c), el("span", {}, extra ?? fmt(ch.pr[c])));
  }

  const clusterLink = (c, text = `cluster ${c}`) =>
    el("a", { class: "cluster-link", href: `#cluster/${c}`, "data-cluster": c }, text);

  function pager(prev, next, middle) {
    return el("div", { class: "pager" },
      prev ? el("a", { href: prev[0] }, `← ${prev[1]}`) : el("span", { class: "muted" }, "←"),
      el("span", { class: "muted" }, middle || ""),
      next ? el("a", { href: next[0] }, `${next[1]} →`) : el("span", { class: "muted" }, "→"));
  }

  function section(title, ...kids) {
    return el("section", {}, el("h2", {}, title), ...kids);
  }

  function summaryOfLabels(ids) {
    if (!labels() || !ids.length) return null;
    const top = labelCounts(ids).slice(0, 4).map(([name, n]) => `${name} ×${n}`);
    return el("p", { class: "muted small" }, `labels: ${top.join(", ")}`);
  }

  function reconstructionFigures(items, original) {
    return el("div", { class: "recons" },
      original != null && el("figure", {}, tile(original, 96), el("figcaption", {}, "original")),
      items.map((r) => el("figure", {},
        el("img", { src: r.src, alt: "reconstruction", width: 96, height: 96, class: "pixelated" }),
        el("figcaption", {}, `φ-match error ${fmt(r.phi_match_error)}`))));
  }

  // ---------------------------------------------------------------- home

  function viewHome(root) {
    document.title = `${META.title} · explorer`;
    const facts = [
      [N.toLocaleString("en"), "images"], ["source", META.source], ["block", META.block],
      ["σ", fmt(META.sigma)], [C, "channels"], ["k", `${META.k} neighbours`],
    ];
    if (K) facts.push([K, "clusters"]);
    add(root,
      el("h1", {}, META.title),
      el("p", { class: "facts" }, facts.map(([a, b]) => el("span", {}, el("b", {}, a), " ", b))),
      el("p", {}, el("a", { href: META.report || "index.html" }, "← back to report")),
      channelsSection(),
      K ? clustersSection() : null,
      section("Images", el("div", { class: "thumbs" },
        Array.from({ length: Math.min(N, 32) }, (_, i) => thumb(i, 48))),
        el("p", { class: "muted small" }, "type an id in the box above; ← / → step through images on an image page")),
      notComputedSection());
  }

  function channelsSection() {
    const kinds = META.channel.kind;
    const counts = Object.fromEntries(KINDS.map((k) => [k, kinds.filter((x) => x === k).length]));
    const split = META.selectivity_split;
    return section("Channels",
      el("p", { class: "legend" },
        KINDS.map((k) => el("span", { class: `badge kind-${k}` }, `${counts[k]} ${k}`)),
        muted(split == null ? "no selectivity split" : `selective: pr < ${fmt(split)}`),
        muted("· sorted by participation ratio (pr), most selective first")),
      el("div", { class: "chips" }, channelOrder().map((c) => channelChip(c))));
  }

  function clustersSection() {
    const sizes = META.clusters.sizes;
    const biggest = Math.max(1, ...sizes);
    const withLabels = !!labels();
    const members = clusterMembers();
    const comp = withLabels ? clusterComposition() : null;
    const rows = sizes.map((size, c) => el("tr", {},
      el("td", {}, clusterLink(c)),
      el("td", {}, size.toLocaleString("en")),
      el("td", { class: "barcell" }, el("span", { class: "bar", style: `width:${(100 * size) / biggest}%` })),
      withLabels && el("td", { class: "left" }, comp[c].length ? `${comp[c][0][0]} ${pct(comp[c][0][1], size)}` : "–"),
      el("td", { class: "left" }, el("div", { class: "thumbs tight" }, members[c].slice(0, 8).map((i) => thumb(i, 32))))));
    return section("Clusters",
      el("table", { class: "numbers clusters" },
        el("thead", {}, el("tr", {}, el("th", {}, "cluster"), el("th", {}, "size"), el("th", {}),
          withLabels && el("th", { class: "left" }, "top label"), el("th", { class: "left" }, "first members"))),
        el("tbody", {}, rows)));
  }

  function notComputedSection() {
    const items = META.not_computed || [];
    if (!items.length) return null;
    return section("Not computed", el("ul", { class: "not-computed" }, items.map((x) => el("li", { class: "missing" }, x))));
  }

  // ---------------------------------------------------------------- channel

  function parseIndex(arg, count, what) {
    const i = Number(arg);
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new Error(`no ${what} “${arg ?? ""}” (there are ${count}, 0–${count - 1})`);
    return i;
  }

  function viewChannel(root, [arg]) {
    const c = parseIndex(arg, C, "channel");
    const ch = META.channel, kind = ch.kind[c] || "dead";
    const rank = channelOrder().indexOf(c) + 1;
    document.title = `channel ${c} · explorer`;
    arrows = { prev: c > 0 && `#channel/${c - 1}`, next: c < C - 1 && `#channel/${c + 1}` };
    const ids = (ch.top[c] || []).filter(validImage);
    const values = ch.top_values[c] || [];
    add(root,
      pager(arrows.prev && [arrows.prev, `channel ${c - 1}`], arrows.next && [arrows.next, `channel ${c + 1}`]),
      el("h1", {}, `Channel ${c} `, el("span", { class: `badge kind-${kind}` }, kind)),
      el("p", { class: "facts" },
        el("span", {}, el("b", {}, "pr "), fmt(ch.pr[c])),
        el("span", {}, el("b", {}, "rank "), `${rank} of ${C}`, muted(" (1 = most selective)")),
        el("span", {}, el("b", {}, "mean φ "), fmt(ch.mean[c]))),
      section("Where its pr falls", prStrip(c)),
      section(`Top images (φ at σ = ${fmt(META.sigma)})`,
        el("div", { id: "channel-top", class: "thumbs" },
          ids.length ? ids.map((i, r) => thumb(i, 64, fmt(values[r]))) : el("p", { class: "missing" }, "no top images")),
        summaryOfLabels(ids)));
  }

  // All channels' pr as ticks on one axis (log when it spans a wide range), this one marked.
  function prStrip(c) {
    const ch = META.channel;
    const known = [...Array(C).keys()].filter((j) => ch.pr[j] != null);
    if (!known.length) return el("p", { class: "missing" }, "no channel has a pr");
    const vals = known.map((j) => ch.pr[j]);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const useLog = lo > 0 && hi / lo > 20;
    const f = useLog ? Math.log : (v) => v;
    const W = 1000, H = 40;
    const x = (v) => 6 + (W - 12) * (hi > lo ? (f(v) - f(lo)) / (f(hi) - f(lo)) : 0.5);
    const strip = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "strip" });
    strip.append(svg("line", { x1: 0, x2: W, y1: H / 2, y2: H / 2, class: "axis" }));
    const split = META.selectivity_split;
    if (split != null && split >= lo && split <= hi) {
      strip.append(svg("line", { x1: x(split), x2: x(split), y1: 0, y2: H, class: "split" }));
    }
    for (const j of known) {
      if (j === c) continue;
      strip.append(svg("a", { href: `#channel/${j}` },
        svg("rect", { x: x(ch.pr[j]) - 1.5, y: 10, width: 3, height: H - 20, class: `kind-${ch.kind[j]}` },
          svg("title", {}, `channel ${j} · pr ${fmt(ch.pr[j])}`))));
    }
    const here = ch.pr[c] == null
      ? null
      : svg("rect", { x: x(ch.pr[c]) - 2.5, y: 0, width: 5, height: H, class: "here" }, svg("title", {}, `channel ${c} · pr ${fmt(ch.pr[c])}`));
    if (here) strip.append(here);
    return el("div", { class: "strip-box" }, strip,
      el("div", { class: "strip-scale muted small" },
        el("span", {}, fmt(lo)),
        el("span", {}, `${useLog ? "log scale · " : ""}${split != null ? "dashed: selectivity split · " : ""}${ch.pr[c] == null ? "this channel has no pr (dead)" : "black: this channel"}`),
        el("span", {}, fmt(hi))));
  }

  // ---------------------------------------------------------------- image

  async function viewImage(root, [arg], alive) {
    const i = parseIndex(arg, N, "image");
    document.title = `image ${i} · explorer`;
    arrows = { prev: i > 0 && `#image/${i - 1}`, next: i < N - 1 && `#image/${i + 1}` };
    const cluster = clusterOf(i);
    const label = labelName(i);
    const body = el("div", {}, el("p", { class: "muted" }, "loading φ…"));
    const recons = (META.reconstructions || {})[String(i)];
    add(root,
      pager(arrows.prev && [arrows.prev, `image ${i - 1}`], arrows.next && [arrows.next, `image ${i + 1}`], "← / → keys"),
      el("div", { class: "image-head" },
        tile(i, 96),
        el("div", {},
          el("h1", {}, `Image ${i}`),
          el("p", { class: "facts" },
            label != null && el("span", {}, el("b", {}, "label "), label),
            cluster != null && el("span", {}, el("b", {}, "cluster "), clusterLink(cluster, String(cluster))),
            el("span", {}, el("b", {}, "chunk "), Math.floor(i / META.chunk_size))))),
      body,
      recons && recons.length ? section("Reconstructions from φ", reconstructionFigures(recons, i)) : null);
    let chunk;
    try {
      chunk = await loadChunk(Math.floor(i / META.chunk_size));
    } catch (e) {
      if (alive()) body.replaceChildren(errorBox(e.message));
      return;
    }
    if (!alive()) return;
    const row = imageRow(chunk, i);
    body.replaceChildren(
      phiSection(row.phi),
      neighbourSection("phi-neighbours", "Nearest in φ", row.phiNeighbours, label),
      neighbourSection("pixel-neighbours", "Nearest in pixels", row.pixelNeighbours, label));
    chart = { canvas: document.getElementById("phi-chart"), phi: row.phi, hover: -1 };
    drawChart(chart);
  }

  function phiSection(phi) {
    const mean = META.channel.mean;
    const above = [...Array(C).keys()]
      .filter((c) => Number.isFinite(phi[c]))
      .sort((a, b) => phi[b] - mean[b] - (phi[a] - mean[a]))
      .slice(0, 10);
    const canvas = el("canvas", { id: "phi-chart" });
    canvas.addEventListener("mousemove", (e) => hoverChart(e));
    canvas.addEventListener("mouseleave", () => { hideTip(); if (chart) { chart.hover = -1; drawChart(chart); } });
    canvas.addEventListener("click", (e) => {
      const c = chartChannel(e);
      if (c >= 0) location.hash = `#channel/${c}`;
    });
    return section(`φ (${C} channel means of block ${META.block}, σ = ${fmt(META.sigma)})`,
      canvas,
      el("p", { class: "legend small" },
        KINDS.map((k) => el("span", { class: `swatch kind-${k}` }, k)),
        muted("· dark tick: mean over images · click a bar for its channel")),
      el("div", { class: "chips" }, muted("most above the mean:"),
        above.map((c) => channelChip(c, `${phi[c] - mean[c] >= 0 ? "+" : ""}${fmt(phi[c] - mean[c])}`))));
  }

  function neighbourSection(id, title, list, label) {
    const box = el("div", { id, class: "thumbs" });
    let note = null;
    if (!list) box.append(el("p", { class: "missing" }, "neighbours not computed"));
    else if (!list.length) box.append(el("p", { class: "missing" }, "no neighbours"));
    else {
      add(box, list.map(([j, cos]) => thumb(j, 64, cos == null ? "" : fmt(cos))));
      if (label != null) {
        const same = list.filter(([j]) => labelName(j) === label).length;
        note = muted(` same label ${same}/${list.length}`);
      }
    }
    return el("section", {}, el("h2", {}, title, note), box);
  }

  // ---------------------------------------------------------------- φ chart

  const CHART = { height: 170, left: 44, right: 6, top: 8, bottom: 18 };

  function drawChart(ch) {
    const { canvas, phi } = ch;
    if (!canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = CHART.height;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const mean = META.channel.mean;
    let lo = 0, hi = 0;
    for (let c = 0; c < C; c++) {
      for (const v of [phi[c], mean[c]]) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (hi === lo) hi = lo + 1;
    const plotW = w - CHART.left - CHART.right, plotH = h - CHART.top - CHART.bottom;
    const bw = plotW / C;
    const y = (v) => CHART.top + ((hi - v) / (hi - lo)) * plotH;
    Object.assign(ch, { bw });

    const colours = Object.fromEntries(KINDS.map((k) => [k, cssVar(`--${k}`)]));
    const fg = cssVar("--fg"), mutedColour = cssVar("--muted"), line = cssVar("--line");
    const gap = bw > 4 ? 1 : 0;
    for (let c = 0; c < C; c++) {
      const v = phi[c];
      if (!Number.isFinite(v)) continue;
      g.fillStyle = colours[META.channel.kind[c]] || colours.dead;
      g.globalAlpha = ch.hover < 0 || ch.hover === c ? 1 : 0.55;
      const top = Math.min(y(v), y(0));
      g.fillRect(CHART.left + c * bw + gap / 2, top, Math.max(bw - gap, 0.5), Math.max(Math.abs(y(v) - y(0)), 0.5));
    }
    g.globalAlpha = 1;
    g.fillStyle = fg;
    for (let c = 0; c < C; c++) {
      if (Number.isFinite(mean[c])) g.fillRect(CHART.left + c * bw, y(mean[c]) - 0.75, Math.max(bw, 1), 1.5);
    }

    g.strokeStyle = line;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(CHART.left, Math.round(y(0)) + 0.5);
    g.lineTo(w - CHART.right, Math.round(y(0)) + 0.5);
    g.stroke();

    g.fillStyle = mutedColour;
    g.font = "11px system-ui, sans-serif";
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const v of new Set([hi, 0, lo])) g.fillText(fmt(v), CHART.left - 6, y(v));
    g.textAlign = "center";
    g.textBaseline = "top";
    const step = Math.max(1, niceStep(C / Math.max(1, Math.floor(plotW / 40))));
    for (let c = 0; c < C; c += step) g.fillText(c, CHART.left + (c + 0.5) * bw, h - CHART.bottom + 4);
  }

  function niceStep(raw) {
    const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function chartChannel(e) {
    if (!chart || !chart.bw) return -1;
    const x = e.offsetX - CHART.left;
    const c = Math.floor(x / chart.bw);
    return x >= 0 && c >= 0 && c < C ? c : -1;
  }

  function hoverChart(e) {
    const c = chartChannel(e);
    if (c !== chart.hover) {
      chart.hover = c;
      drawChart(chart);
    }
    if (c < 0) return hideTip();
    const ch = META.channel;
    tooltip.textContent = `channel ${c} · ${ch.kind[c]} · φ ${fmt(chart.phi[c])} · mean ${fmt(ch.mean[c])}`;
    tooltip.hidden = false;
    const x = Math.min(e.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = `${x}px`;
    tooltip.style.top = `${e.clientY + 16}px`;
  }

  function hideTip() {
    tooltip.hidden = true;
  }

  // ---------------------------------------------------------------- cluster

  function viewCluster(root, [arg, pageArg]) {
    if (!K) throw new Error("clusters were not computed");
    const c = parseIndex(arg, K, "cluster");
    document.title = `cluster ${c} · explorer`;
    const members = clusterMembers()[c];
    const pages = Math.max(1, Math.ceil(members.length / PAGE));
    const page = Math.min(Math.max(parseInt(pageArg, 10) || 1, 1), pages);
    arrows = { prev: c > 0 && `#cluster/${c - 1}`, next: c < K - 1 && `#cluster/${c + 1}` };
    const size = META.clusters.sizes[c] ?? members.length;
    const centroid = (META.clusters.centroid_reconstructions || {})[String(c)];
    const pageLinks = () => pager(
      page > 1 && [`#cluster/${c}/${page - 1}`, "previous page"],
      page < pages && [`#cluster/${c}/${page + 1}`, "next page"],
      `page ${page} of ${pages} · images ${(page - 1) * PAGE}–${Math.min(members.length, page * PAGE) - 1} of this cluster`);
    add(root,
      pager(arrows.prev && [arrows.prev, `cluster ${c - 1}`], arrows.next && [arrows.next, `cluster ${c + 1}`]),
      el("h1", {}, `Cluster ${c}`),
      el("p", { class: "facts" },
        el("span", {}, el("b", {}, size.toLocaleString("en")), " images"),
        el("span", {}, pct(size, N), " of all")),
      labels() ? section("Label composition", composition(clusterComposition()[c], members.length)) : null,
      centroid && centroid.length ? section("Reconstructions from the centroid φ", reconstructionFigures(centroid, null)) : null,
      section("Members",
        pages > 1 ? pageLinks() : null,
        el("div", { id: "cluster-members", class: "thumbs" },
          members.slice((page - 1) * PAGE, page * PAGE).map((i) => thumb(i, 48, String(i)))),
        pages > 1 ? pageLinks() : null));
  }

  function composition(counts, total) {
    const shown = counts.slice(0, 15);
    const rest = counts.slice(15).reduce((s, [, n]) => s + n, 0);
    if (rest) shown.push([`${counts.length - 15} other labels`, rest]);
    const top = Math.max(1, ...shown.map(([, n]) => n));
    return el("table", { class: "numbers composition" },
      el("tbody", {}, shown.map(([name, n]) => el("tr", {},
        el("td", { class: "left" }, name),
        el("td", {}, n.toLocaleString("en")),
        el("td", {}, pct(n, total)),
        el("td", { class: "barcell" }, el("span", { class: "bar", style: `width:${(100 * n) / top}%` }))))));
  }

  // ---------------------------------------------------------------- routing

  const VIEWS = { home: viewHome, channel: viewChannel, image: viewImage, cluster: viewCluster };

  function parseRoute() {
    let hash = location.hash.replace(/^#\/?/, "");
    try {
      hash = decodeURIComponent(hash);
    } catch (e) {
      // a malformed escape: route on the raw text
    }
    const parts = hash.split("/").filter(Boolean);
    return { name: parts[0] || "home", args: parts.slice(1) };
  }

  async function render() {
    const id = ++renderId;
    const alive = () => id === renderId;
    const { name, args } = parseRoute();
    arrows = {};
    chart = null;
    hideTip();
    const root = el("div", { class: `view view-${name}` });
    app.replaceChildren(root);
    window.scrollTo(0, 0);
    try {
      if (!VIEWS[name]) throw new Error(`no page “${name}”`);
      await VIEWS[name](root, args, alive);
    } catch (e) {
      if (alive()) root.append(errorBox(e.message));
    }
    if (alive()) finished(`${name}:${args[0] ?? ""}`);
  }

  function finished(view) {
    document.body.dataset.view = view;
    if (!document.body.dataset.ready) {
      document.body.dataset.ready = "1";
      window.DENOSCOPE_READY_MS = performance.now();
    }
  }

  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    const href = e.key === "ArrowLeft" ? arrows.prev : e.key === "ArrowRight" ? arrows.next : null;
    if (href) {
      e.preventDefault();
      location.hash = href;
    }
  }

  function onGoto(e) {
    e.preventDefault();
    const input = document.getElementById("goto-image");
    const i = Number(input.value);
    if (input.value.trim() !== "" && validImage(i)) {
      input.classList.remove("invalid");
      location.hash = `#image/${i}`;
    } else {
      input.classList.add("invalid");
      input.title = `an image id from 0 to ${N - 1}`;
    }
  }

  function start() {
    if (!META) {
      app.replaceChildren(errorBox("data/meta.js is missing or did not define DENOSCOPE_META: open explorer.html inside the folder the exporter wrote."));
      finished("error:");
      return;
    }
    document.getElementById("nav-title").textContent = META.title;
    document.getElementById("nav-report").href = META.report || "index.html";
    document.getElementById("goto-image").max = N - 1;
    document.getElementById("goto").addEventListener("submit", onGoto);
    window.addEventListener("hashchange", render);
    window.addEventListener("keydown", onKey);
    window.addEventListener("resize", () => chart && drawChart(chart));
    render();
  }

  start();
})();
