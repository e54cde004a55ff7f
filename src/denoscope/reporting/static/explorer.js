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
  let charts = [];   // the charts and maps on screen, redrawn on resize

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
  // The value of `promise`; null when it failed (its error handed to `show`) or the page changed while it loaded.
  async function settled(promise, alive, show) {
    try {
      const value = await promise;
      return alive() ? value : null;
    } catch (e) {
      if (alive()) show(errorBox(e.message));
      return null;
    }
  }

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

  const labelNameOf = (v) => (v < 0 ? "unknown" : (META.class_names && META.class_names[v]) || `class ${v}`);

  function labelName(i) {
    const L = labels();
    return L ? labelNameOf(L[i]) : null;
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

  // A data file that calls window[callback](payload) once: data/map.js, data/channels.js.
  const files = new Map();
  function dataFile(src, callback) {
    if (!files.has(src)) {
      files.set(src, new Promise((resolve, reject) => {
        let called = false;
        window[callback] = (payload) => { called = true; resolve(payload); };
        const fail = (message) => { files.delete(src); reject(new Error(message)); };
        const script = el("script", { src });
        script.onerror = () => fail(`could not load ${src}`);
        script.onload = () => { script.remove(); if (!called) fail(`${src} did not call ${callback}(…)`); };
        document.head.append(script);
      }));
    }
    return files.get(src);
  }

  const mapData = () => dataFile("data/map.js", "DENOSCOPE_MAP").then((raw) =>
    (raw.decoded ? raw : Object.assign(raw, { decoded: true, coords: decode(raw.coords, Float32Array) })));

  const channelData = () => dataFile("data/channels.js", "DENOSCOPE_CHANNELS").then((raw) => {
    if (raw.decoded) return raw;
    raw.decoded = true;
    raw.counts = decode(raw.counts, Int32Array);
    if (raw.maps) Object.assign(raw.maps, { ids: decode(raw.maps.ids, Int32Array), phi: decode(raw.maps.phi, Float32Array), values: decode(raw.maps.values, Float32Array) });
    return raw;
  });

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

  function viewHome(root, args) {
    document.title = `${META.title} · explorer`;
    const facts = [
      [N.toLocaleString("en"), "images"], ["source", META.source], ["block", META.block],
      ["σ", fmt(META.sigma)], [C, "channels"], ["k", `${META.k} neighbours`],
    ];
    if (K) facts.push([K, "clusters"]);
    add(root,
      el("h1", {}, META.title),
      el("p", { class: "facts" }, facts.map(([a, b]) => el("span", {}, el("b", {}, a), " ", b))),
      el("p", {}, el("a", { href: META.report || "index.html" }, "← back to report"),
        META.map ? [" · ", el("a", { href: "#map" }, `map of φ (${META.map.toUpperCase()})`)] : null,
        N > 1 ? [" · ", el("a", { href: "#compare/0/1" }, "compare two images")] : null),
      imagesSection(args),
      channelsSection(),
      K ? clustersSection() : null,
      notComputedSection());
  }

  // ---------------------------------------------------------------- every image, filtered and paged

  // Route #home/LABEL/CLUSTER/PAGE ("all" for no filter); the grid redraws in place and the address follows.
  function filterState([label, cluster, page]) {
    const id = (v, count) => (v != null && v !== "all" && Number.isInteger(Number(v)) && Number(v) >= -1 && Number(v) < count ? Number(v) : null);
    return { label: labels() ? id(label, (META.class_names || []).length || 1 << 15) : null, cluster: K ? id(cluster, K) : null, page: Math.max(1, parseInt(page, 10) || 1) };
  }

  function matching(state) {
    const L = labels(), A = assignment();
    if (state.label == null && state.cluster == null) return null;
    const ids = [];
    for (let i = 0; i < N; i++) {
      if (state.label != null && L[i] !== state.label) continue;
      if (state.cluster != null && A[i] !== state.cluster) continue;
      ids.push(i);
    }
    return ids;
  }

  function labelValues() {
    const L = labels(), counts = new Map();
    for (let i = 0; i < N; i++) counts.set(L[i], (counts.get(L[i]) || 0) + 1);
    return [...counts].sort((a, b) => a[0] - b[0]);
  }

  function imagesSection(args) {
    const state = filterState(args);
    const grid = el("div", { id: "image-grid" });
    const count = el("span", { class: "muted", id: "image-count" });
    const select = (id, what, options, value) => el("label", {}, `${what} `, el("select", {
      id, onchange: (e) => { state[what] = e.target.value === "all" ? null : Number(e.target.value); state.page = 1; redraw(); },
    }, el("option", { value: "all" }, `all ${what}s`),
      options.map(([v, text]) => el("option", { value: v, selected: v === value }, text))));
    const controls = el("div", { class: "filters" },
      labels() ? select("filter-label", "label", labelValues().map(([v, n]) => [v, `${v < 0 ? "unknown" : labelNameOf(v)} (${n.toLocaleString("en")})`]), state.label) : null,
      K ? select("filter-cluster", "cluster", META.clusters.sizes.map((n, c) => [c, `cluster ${c} (${n.toLocaleString("en")})`]), state.cluster) : null,
      count);
    function redraw() {
      const ids = matching(state);
      const total = ids ? ids.length : N;
      const pages = Math.max(1, Math.ceil(total / PAGE));
      state.page = Math.min(state.page, pages);
      const first = (state.page - 1) * PAGE, last = Math.min(total, first + PAGE);
      const go = (p) => (e) => { e.preventDefault(); state.page = p; redraw(); };
      const link = (p, text) => (p >= 1 && p <= pages && p !== state.page ? el("a", { href: "#", class: "page-link", "data-page": p, onclick: go(p) }, text) : muted(text));
      const pagerRow = () => el("div", { class: "pager" },
        el("span", {}, link(1, "« first"), " ", link(state.page - 1, "← previous")),
        muted(`page ${state.page} of ${pages.toLocaleString("en")}`),
        el("span", {}, link(state.page + 1, "next →"), " ", link(pages, "last »")));
      count.textContent = `${total.toLocaleString("en")} of ${N.toLocaleString("en")} images` + (total ? ` · showing ${(first + 1).toLocaleString("en")}–${last.toLocaleString("en")}` : "");
      grid.replaceChildren();
      add(grid,
        pages > 1 && pagerRow(),
        el("div", { class: "thumbs", id: "image-thumbs" },
          total ? Array.from({ length: last - first }, (_, r) => thumb(ids ? ids[first + r] : first + r, 48)) : el("p", { class: "missing" }, "no image matches")),
        pages > 1 && pagerRow());
      const part = (v) => (v == null ? "all" : v);
      history.replaceState(null, "", `#home/${part(state.label)}/${part(state.cluster)}/${state.page}`);
    }
    redraw();
    return section("Images", controls, grid,
      el("p", { class: "muted small" }, "click an image for its φ and neighbours; ← / → step through images on an image page"));
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

  async function viewChannel(root, [arg], alive) {
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
    const later = el("div", {}, muted("loading its histogram and activation maps…"));
    root.append(later);
    const data = await settled(channelData(), alive, (box) => later.replaceChildren(box));
    if (data === null) return;
    later.replaceChildren(
      section(`φ of channel ${c} over all ${N.toLocaleString("en")} images`, histogram(data, c, values.slice(0, ids.length))),
      section("Where it fires: activation maps of its top images", activationMaps(data.maps, c)));
  }

  // The channel's histogram of φ over images (log counts, so a few strong images stay visible), its top values marked.
  function histogram(data, c, tops) {
    const B = data.bins, lo = data.lo[c], hi = data.hi[c];
    const counts = data.counts.subarray(c * B, (c + 1) * B);
    const W = 1000, H = 140, top = Math.log1p(Math.max(1, ...counts));
    const x = (v) => (hi > lo ? ((v - lo) / (hi - lo)) * W : W / 2);
    const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "histogram", id: "channel-histogram" });
    counts.forEach((n, b) => {
      const h = (Math.log1p(n) / top) * (H - 4);
      const from = lo + ((hi - lo) * b) / B, to = lo + ((hi - lo) * (b + 1)) / B;
      plot.append(svg("rect", { x: (b * W) / B + 0.5, y: H - h, width: W / B - 1, height: h, class: "hist-bar" },
        svg("title", {}, `${n.toLocaleString("en")} images with φ in [${fmt(from)}, ${fmt(to)}${b === B - 1 ? "]" : ")"}`)));
    });
    for (const v of tops) plot.append(svg("line", { x1: x(v), x2: x(v), y1: 0, y2: 10, class: "hist-top" }));
    return el("div", { class: "strip-box" }, plot,
      el("div", { class: "strip-scale muted small" }, el("span", {}, fmt(lo)),
        el("span", {}, `images per bin (log scale), ${B} bins · ticks on top: the top images`), el("span", {}, fmt(hi))));
  }

  // Heat maps of the channel's activation over space, for the images the REP kept maps of, strongest first.
  function activationMaps(maps, c) {
    if (!maps) return el("p", { class: "missing" }, "the REP kept no activation maps (represent --maps 0)");
    const [, t, h, w] = maps.shape;
    const values = maps.values.subarray(c * t * h * w, (c + 1) * t * h * w);
    let top = 0;
    for (const v of values) top = Math.max(top, v);
    const figures = [];
    for (let r = 0; r < t; r++) {
      const i = maps.ids[c * t + r], phi = maps.phi[c * t + r];
      if (!(phi > 0)) continue;
      const canvas = el("canvas", { width: w, height: h, class: "heat pixelated", title: `image ${i}: channel ${c}'s activation map` });
      const g = canvas.getContext("2d"), pixels = g.createImageData(w, h);
      for (let p = 0; p < h * w; p++) pixels.data.set([...heat(top > 0 ? values[r * h * w + p] / top : 0), 255], 4 * p);
      g.putImageData(pixels, 0, 0);
      figures.push(el("figure", { class: "map-pair" }, el("div", {}, thumb(i, 64), canvas), el("figcaption", {}, `image ${i} · φ ${fmt(phi)}`)));
    }
    if (!figures.length) return el("p", { class: "missing", id: "channel-maps" }, `φ of channel ${c} is 0 on all ${maps.images.toLocaleString("en")} images the REP kept maps of`);
    return el("div", {},
      el("div", { id: "channel-maps", class: "recons" }, figures),
      el("p", { class: "muted small" },
        `Block ${META.block} at σ = ${fmt(maps.sigma)} (one noise draw), ${h}×${w} positions, dark (0) to yellow ${fmt(top)}; `,
        `the strongest of the ${maps.images.toLocaleString("en")} images whose maps the REP kept (the first ones), by φ at σ = ${fmt(META.sigma)}.`));
  }

  // A black–red–yellow ramp for t in [0, 1].
  function heat(t) {
    const v = Math.min(Math.max(t, 0), 1);
    return [Math.round(255 * Math.min(1, 2 * v)), Math.round(255 * Math.max(0, 2 * v - 1)), Math.round(64 * Math.max(0, 1 - 2 * v))];
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

  const chunkOf = (i) => loadChunk(Math.floor(i / META.chunk_size));

  async function viewImage(root, [arg], alive) {
    const i = parseIndex(arg, N, "image");
    document.title = `image ${i} · explorer`;
    arrows = { prev: i > 0 && `#image/${i - 1}`, next: i < N - 1 && `#image/${i + 1}` };
    const cluster = clusterOf(i);
    const label = labelName(i);
    const body = el("div", {}, el("p", { class: "muted" }, "loading φ…"));
    const recons = (META.reconstructions || {})[String(i)];
    const compare = el("span", {});
    add(root,
      pager(arrows.prev && [arrows.prev, `image ${i - 1}`], arrows.next && [arrows.next, `image ${i + 1}`], "← / → keys"),
      el("div", { class: "image-head" },
        tile(i, 96),
        el("div", {},
          el("h1", {}, `Image ${i}`),
          el("p", { class: "facts" },
            label != null && el("span", {}, el("b", {}, "label "), label),
            cluster != null && el("span", {}, el("b", {}, "cluster "), clusterLink(cluster, String(cluster))),
            compare))),
      body,
      recons && recons.length ? section("Reconstructions from φ", reconstructionFigures(recons, i)) : null);
    const chunk = await settled(chunkOf(i), alive, (box) => body.replaceChildren(box));
    if (chunk === null) return;
    const row = imageRow(chunk, i);
    const nearest = row.phiNeighbours && row.phiNeighbours.find(([j]) => j !== i);
    const other = nearest ? nearest[0] : (i + 1) % N;
    if (N > 1) compare.append(el("a", { id: "compare-link", href: `#compare/${i}/${other}` }, `compare with image ${other}`),
      muted(nearest ? " (its nearest in φ)" : ""));
    const canvas = el("canvas", { id: "phi-chart", class: "phi-chart" });
    body.replaceChildren(
      phiSection(row.phi, canvas),
      neighbourSection("phi-neighbours", "Nearest in φ", row.phiNeighbours, label),
      neighbourSection("pixel-neighbours", "Nearest in pixels", row.pixelNeighbours, label));
    showChart(canvas, row.phi, META.channel.mean);
  }

  const aboveChips = (values, order, n) => [...Array(C).keys()]
    .filter((c) => Number.isFinite(values[c]))
    .sort((a, b) => order(b) - order(a))
    .slice(0, n)
    .map((c) => channelChip(c, `${values[c] >= 0 ? "+" : ""}${fmt(values[c])}`));

  function phiSection(phi, canvas) {
    const mean = META.channel.mean;
    const above = Float32Array.from(phi, (v, c) => v - mean[c]);
    return section(`φ (${C} channel means of block ${META.block}, σ = ${fmt(META.sigma)})`,
      canvas,
      el("p", { class: "legend small" },
        KINDS.map((k) => el("span", { class: `swatch kind-${k}` }, k)),
        muted("· dark tick: mean over images · click a bar for its channel")),
      el("div", { class: "chips" }, muted("most above the mean:"), aboveChips(above, (c) => above[c], 10)));
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

  // ---------------------------------------------------------------- compare

  async function viewCompare(root, [a, b], alive) {
    const i = parseIndex(a, N, "image"), j = parseIndex(b, N, "image");
    document.title = `image ${i} vs ${j} · explorer`;
    const side = (k) => el("div", { class: "compare-side" }, el("a", { href: `#image/${k}`, class: "image-link", "data-image": k }, tile(k, 96)),
      el("div", {}, el("h2", {}, `Image ${k}`),
        el("p", { class: "facts" }, labels() && el("span", {}, el("b", {}, "label "), labelName(k)),
          clusterOf(k) != null && el("span", {}, el("b", {}, "cluster "), clusterLink(clusterOf(k), String(clusterOf(k)))))));
    const input = (id, value) => el("input", { id, type: "number", min: 0, max: N - 1, step: 1, value });
    const form = el("form", { class: "compare-form", onsubmit: (e) => {
      e.preventDefault();
      const x = Number(form.querySelector("#compare-a").value), y = Number(form.querySelector("#compare-b").value);
      if (validImage(x) && validImage(y)) location.hash = `#compare/${x}/${y}`;
    } }, "compare image ", input("compare-a", i), " with ", input("compare-b", j), " ", el("button", { type: "submit" }, "go"));
    const body = el("div", {}, muted("loading φ…"));
    add(root, el("h1", {}, `Image ${i} and image ${j}`), form, el("div", { class: "compare" }, side(i), side(j)), body);
    const rows = await settled(Promise.all([i, j].map((k) => chunkOf(k).then((chunk) => imageRow(chunk, k).phi))), alive, (box) => body.replaceChildren(box));
    if (rows === null) return;
    const [p, q] = rows;
    const diff = Float32Array.from(p, (v, c) => v - q[c]);
    let dot = 0, np = 0, nq = 0;
    for (let c = 0; c < C; c++) { dot += p[c] * q[c]; np += p[c] * p[c]; nq += q[c] * q[c]; }
    const canvases = [0, 1, 2].map((r) => el("canvas", { class: "phi-chart", id: `compare-chart-${r}` }));
    body.replaceChildren(
      el("p", { class: "facts", id: "compare-facts" },
        el("span", {}, el("b", {}, "cosine of φ "), np && nq ? (dot / Math.sqrt(np * nq)).toFixed(4) : "–"),
        el("span", {}, el("b", {}, "‖φ₁ − φ₂‖ "), fmt(Math.sqrt(diff.reduce((s, v) => s + v * v, 0)))),
        el("span", {}, el("b", {}, "‖φ₁‖, ‖φ₂‖ "), `${fmt(Math.sqrt(np))}, ${fmt(Math.sqrt(nq))}`)),
      section(`φ₁: image ${i}`, canvases[0]),
      section(`φ₂: image ${j}`, canvases[1]),
      section(`φ₁ − φ₂ (orange: larger in image ${i}, blue: larger in image ${j})`, canvases[2],
        el("div", { class: "chips", id: "compare-top" }, muted(`most larger in image ${i}:`), aboveChips(diff, (c) => diff[c], 10)),
        el("div", { class: "chips" }, muted(`most larger in image ${j}:`), aboveChips(diff, (c) => -diff[c], 10))));
    const top = Math.max(...p, ...q);
    showChart(canvases[0], p, null, [0, top]);
    showChart(canvases[1], q, null, [0, top]);
    showChart(canvases[2], diff, null, null, (c, v) => (v >= 0 ? "--selective" : "--common"));
  }

  // ---------------------------------------------------------------- φ bar charts

  const CHART = { height: 170, left: 44, right: 6, top: 8, bottom: 18 };

  // A bar per channel on `canvas` (values; optional ticks, a fixed [lo, hi], a colour variable per bar), redrawn on
  // resize and hover; a click on a bar opens its channel.
  function showChart(canvas, values, ticks = null, range = null, colour = null) {
    const ch = { canvas, values, ticks, range, colour: colour || ((c) => `--${META.channel.kind[c] || "dead"}`), hover: -1 };
    canvas.addEventListener("mousemove", (e) => hoverChart(ch, e));
    canvas.addEventListener("mouseleave", () => { hideTip(); ch.hover = -1; drawChart(ch); });
    canvas.addEventListener("click", (e) => {
      const c = chartChannel(ch, e);
      if (c >= 0) location.hash = `#channel/${c}`;
    });
    charts.push(ch);
    drawChart(ch);
  }

  function drawChart(ch) {
    const { canvas, values, ticks } = ch;
    if (!canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = CHART.height;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    let [lo, hi] = ch.range || [0, 0];
    if (!ch.range) {
      for (let c = 0; c < C; c++) {
        for (const v of [values[c], ticks ? ticks[c] : NaN]) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    }
    if (hi === lo) hi = lo + 1;
    const plotW = w - CHART.left - CHART.right, plotH = h - CHART.top - CHART.bottom;
    const bw = plotW / C;
    const y = (v) => CHART.top + ((hi - v) / (hi - lo)) * plotH;
    ch.bw = bw;

    const colours = new Map();
    const colourOf = (name) => colours.get(name) || colours.set(name, cssVar(name)).get(name);
    const gap = bw > 4 ? 1 : 0;
    for (let c = 0; c < C; c++) {
      const v = values[c];
      if (!Number.isFinite(v)) continue;
      g.fillStyle = colourOf(ch.colour(c, v));
      g.globalAlpha = ch.hover < 0 || ch.hover === c ? 1 : 0.55;
      const top = Math.min(y(v), y(0));
      g.fillRect(CHART.left + c * bw + gap / 2, top, Math.max(bw - gap, 0.5), Math.max(Math.abs(y(v) - y(0)), 0.5));
    }
    g.globalAlpha = 1;
    g.fillStyle = colourOf("--fg");
    for (let c = 0; ticks && c < C; c++) {
      if (Number.isFinite(ticks[c])) g.fillRect(CHART.left + c * bw, y(ticks[c]) - 0.75, Math.max(bw, 1), 1.5);
    }

    g.strokeStyle = colourOf("--line");
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(CHART.left, Math.round(y(0)) + 0.5);
    g.lineTo(w - CHART.right, Math.round(y(0)) + 0.5);
    g.stroke();

    g.fillStyle = colourOf("--muted");
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

  function chartChannel(ch, e) {
    if (!ch.bw) return -1;
    const x = e.offsetX - CHART.left;
    const c = Math.floor(x / ch.bw);
    return x >= 0 && c >= 0 && c < C ? c : -1;
  }

  function hoverChart(ch, e) {
    const c = chartChannel(ch, e);
    if (c !== ch.hover) {
      ch.hover = c;
      drawChart(ch);
    }
    if (c < 0) return hideTip();
    const kind = META.channel.kind[c];
    showTip(e, `channel ${c} · ${kind} · ${fmt(ch.values[c])}` + (ch.ticks ? ` · mean ${fmt(ch.ticks[c])}` : ""));
  }

  function showTip(e, ...content) {
    tooltip.replaceChildren(...content);
    tooltip.hidden = false;
    const x = Math.min(e.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = `${x}px`;
    tooltip.style.top = `${e.clientY + 16}px`;
  }

  function hideTip() {
    tooltip.hidden = true;
  }

  // ---------------------------------------------------------------- map of φ

  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];

  // Route #map/BY with BY = label, cluster or none: every image's φ as a point, coloured by BY; a click opens the image.
  async function viewMap(root, [byArg], alive) {
    if (!META.map) throw new Error("the map of φ was not computed");
    const choices = [labels() && "label", K && "cluster", "none"].filter(Boolean);
    const by = choices.includes(byArg) ? byArg : choices[0];
    document.title = `map of φ · explorer`;
    const canvas = el("canvas", { id: "phi-map", class: "phi-map" });
    const legend = el("div", { class: "legend small", id: "map-legend" });
    add(root, el("h1", {}, "Map of φ"),
      el("p", { class: "legend" }, muted("colour by:"),
        choices.map((c) => (c === by ? el("b", {}, c) : el("a", { href: `#map/${c}`, class: "map-colour", "data-by": c }, c)))),
      canvas, legend);
    const map = await settled(mapData(), alive, (box) => root.append(box));
    if (map === null) return;
    const group = by === "label" ? labels() : by === "cluster" ? assignment() : null;
    const names = by === "label" ? labelValues().map(([v]) => v) : by === "cluster" ? [...Array(K).keys()] : [];
    const colourOf = new Map(names.map((v, r) => [v, PALETTE[r % PALETTE.length]]));
    legend.replaceChildren(...names.map((v) => el("span", { class: "dot", style: `--dot:${colourOf.get(v)}` },
      by === "label" ? labelNameOf(v) : `cluster ${v}`)));
    const axis = (a) => (map.method === "pca" ? `PC ${a + 1}${map.explained ? ` (${(100 * map.explained[a]).toFixed(1)}% of φ's variance)` : ""}` : `t-SNE ${a + 1}`);
    legend.append(muted(`· ${map.method === "pca" ? "PCA" : "t-SNE"} of φ at σ = ${fmt(META.sigma)}; x: ${axis(0)}, y: ${axis(1)} · click a point for its image`));
    const plot = { canvas, coords: map.coords, colour: (i) => (group ? colourOf.get(group[i]) || PALETTE[0] : cssVar("--common")), hover: -1 };
    canvas.addEventListener("mousemove", (e) => hoverMap(plot, e));
    canvas.addEventListener("mouseleave", () => hideTip());
    canvas.addEventListener("click", (e) => {
      const i = nearestPoint(plot, e.offsetX, e.offsetY);
      if (i >= 0) location.hash = `#image/${i}`;
    });
    charts.push(plot);
    drawMap(plot);
    window.DENOSCOPE_MAP_POINT = (i) => plot.xy(i);  // canvas pixels of image i, for scripts and tests
  }

  // The points are drawn once per size into an off-screen canvas; a hover only copies it and marks one point.
  function drawMap(plot) {
    const { canvas, coords } = plot;
    if (!canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight, pad = 10;
    if (!plot.base || plot.base.width !== Math.round(w * dpr) || plot.base.height !== Math.round(h * dpr)) {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < N; i++) {
        x0 = Math.min(x0, coords[2 * i]); x1 = Math.max(x1, coords[2 * i]);
        y0 = Math.min(y0, coords[2 * i + 1]); y1 = Math.max(y1, coords[2 * i + 1]);
      }
      const sx = (w - 2 * pad) / (x1 - x0 || 1), sy = (h - 2 * pad) / (y1 - y0 || 1);
      plot.xy = (i) => [pad + (coords[2 * i] - x0) * sx, h - pad - (coords[2 * i + 1] - y0) * sy];
      plot.base = el("canvas", { width: Math.round(w * dpr), height: Math.round(h * dpr) });
      const b = plot.base.getContext("2d");
      b.setTransform(dpr, 0, 0, dpr, 0, 0);
      const r = N > 5000 ? 1 : N > 1000 ? 2 : 3;
      b.globalAlpha = N > 5000 ? 0.6 : 0.85;
      for (let i = 0; i < N; i++) {
        const [x, y] = plot.xy(i);
        b.fillStyle = plot.colour(i);
        b.fillRect(x - r, y - r, 2 * r, 2 * r);
      }
    }
    canvas.width = plot.base.width;
    canvas.height = plot.base.height;
    const g = canvas.getContext("2d");
    g.drawImage(plot.base, 0, 0);
    if (plot.hover >= 0) {
      const [x, y] = plot.xy(plot.hover);
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.strokeStyle = cssVar("--fg");
      g.lineWidth = 2;
      g.strokeRect(x - 4, y - 4, 8, 8);
    }
  }

  // The image whose point is nearest (x, y), within 8 px; −1 when none is.
  function nearestPoint(plot, x, y) {
    let best = -1, bestD = 64;
    for (let i = 0; i < N; i++) {
      const [px, py] = plot.xy(i);
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < bestD) { best = i; bestD = d; }
    }
    return best;
  }

  function hoverMap(plot, e) {
    const i = nearestPoint(plot, e.offsetX, e.offsetY);
    if (i !== plot.hover) {
      plot.hover = i;
      drawMap(plot);
    }
    if (i < 0) return hideTip();
    const text = [`image ${i}`, labelName(i), clusterOf(i) != null && `cluster ${clusterOf(i)}`].filter(Boolean).join(" · ");
    showTip(e, tile(i, 48), el("div", {}, text));
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

  const VIEWS = { home: viewHome, channel: viewChannel, image: viewImage, cluster: viewCluster, compare: viewCompare, map: viewMap };

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
    charts = [];
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
    document.getElementById("nav-map").hidden = !META.map;
    document.getElementById("nav-compare").hidden = N < 2;
    document.getElementById("goto").addEventListener("submit", onGoto);
    window.addEventListener("hashchange", render);
    window.addEventListener("keydown", onKey);
    window.addEventListener("resize", () => charts.forEach((c) => (c.coords ? drawMap(c) : drawChart(c))));
    render();
  }

  start();
})();
