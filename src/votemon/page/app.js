// The live results page: follows /api/stream (Server-Sent Events), or polls the JSON API every second
// where streaming fails, and redraws SVG charts and the log panel. It says how fresh its data is: the
// newest counted vote's time, aged on the server's clock (Redis'), and "stale" when no update came.
// Data is only ever put in the page with textContent/setAttribute: never innerHTML.
"use strict";

const POLL_MS = 1000;
const TIMEOUT_MS = 4000;
const STALE_MS = 5000; // no event for this long: the page says it is stale
const DOWN_AFTER_MS = 2000; // a stream not back this long after an error: the service is unreachable
const STREAM_RETRY_MS = 10000; // while polling, how often the stream is tried again
const MAX_BARS = 50;
const PIE_SLICES = 8;
// Written once, in the service that serves the page (votemon.results): index.html's data attributes.
const LOG_ROWS = Number(document.body.dataset.logs);
const RATE_SECONDS = Number(document.body.dataset.rateSeconds);
const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#34d399", "#60a5fa", "#f472b6", "#fbbf24", "#a78bfa", "#f87171", "#2dd4bf", "#fb923c", "#6b7280"];

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat();

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

async function getJson(path, onReply = () => {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const reply = await fetch(path, { cache: "no-store", signal: controller.signal });
    onReply(reply);
    let body = null;
    try { body = await reply.json(); } catch { body = null; }
    if (!reply.ok) {
      const why = body && body.message ? `${body.message} (${body.error})` : `HTTP ${reply.status}`;
      throw new Error(`${path.split("?")[0]}: ${why}`);
    }
    return body;
  } catch (error) {
    if (error.name === "AbortError") throw new Error(`${path.split("?")[0]}: no answer in ${TIMEOUT_MS / 1000} s`);
    if (error instanceof TypeError) throw new Error(`${path.split("?")[0]}: the results service is unreachable`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// --- charts ---------------------------------------------------------------------------------------

function drawBars(svg, rows, label) {
  svg.replaceChildren();
  const shown = rows.slice(0, MAX_BARS);
  const more = rows.length - shown.length;
  const rowH = 22, width = 600, labelW = 250, valueW = 60;
  const height = (Math.max(shown.length, 1) + (more ? 1 : 0)) * rowH;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("data-rows", shown.length);
  if (!shown.length) {
    svg.append(el("svg:text", { x: 0, y: 15, class: "empty" }, "no votes yet"));
    return;
  }
  // Long names are cut at the bar, not drawn over it: the full name is in the tooltip.
  const clipId = `${svg.id}-clip`;
  const clip = el("svg:clipPath", { id: clipId });
  clip.append(el("svg:rect", { x: 0, y: 0, width: labelW - 8, height }));
  svg.append(clip);
  const max = Math.max(...shown.map((r) => r.votes), 1);
  shown.forEach((row, i) => {
    const y = i * rowH;
    const g = el("svg:g", { class: "bar", "data-label": label(row), "data-votes": row.votes });
    g.append(el("svg:title", {}, `${label(row)}: ${fmt.format(row.votes)}`));
    const barW = Math.max(((width - labelW - valueW) * row.votes) / max, 1);
    g.append(
      el("svg:text", { x: 0, y: y + 15, "clip-path": `url(#${clipId})` }, label(row)),
      el("svg:rect", { x: labelW, y: y + 4, width: barW, height: rowH - 8, rx: 3, fill: COLORS[i % (COLORS.length - 1)] }),
      el("svg:text", { x: labelW + barW + 6, y: y + 15, class: "value" }, fmt.format(row.votes)),
    );
    svg.append(g);
  });
  if (more) svg.append(el("svg:text", { x: 0, y: height - 7, class: "value" }, `+ ${more} more`));
}

function drawPie(svg, legend, bands) {
  svg.replaceChildren();
  legend.replaceChildren();
  const total = bands.reduce((sum, b) => sum + b.votes, 0);
  if (!total) {
    svg.append(el("svg:circle", { r: 1, fill: "#1f2937" }));
    legend.append(el("li", { class: "empty" }, "no votes yet"));
    return;
  }
  let slices = bands.slice(0, PIE_SLICES);
  const rest = bands.slice(PIE_SLICES).reduce((sum, b) => sum + b.votes, 0);
  if (rest) slices = [...slices, { band: `${bands.length - PIE_SLICES} other bands`, votes: rest, other: true }];
  let angle = -Math.PI / 2;
  slices.forEach((slice, i) => {
    const color = slice.other ? COLORS[COLORS.length - 1] : COLORS[i % (COLORS.length - 1)];
    const share = slice.votes / total;
    const title = el("svg:title", {}, `${slice.band}: ${slice.votes} (${(share * 100).toFixed(1)} %)`);
    let shape;
    if (share >= 0.9999) {
      shape = el("svg:circle", { r: 1, fill: color });
    } else {
      const end = angle + share * 2 * Math.PI;
      const [x1, y1, x2, y2] = [Math.cos(angle), Math.sin(angle), Math.cos(end), Math.sin(end)];
      const large = share > 0.5 ? 1 : 0;
      shape = el("svg:path", { d: `M0 0 L${x1} ${y1} A1 1 0 ${large} 1 ${x2} ${y2} Z`, fill: color, stroke: "#111827", "stroke-width": 0.01 });
      angle = end;
    }
    shape.append(title);
    svg.append(shape);
    const item = el("li");
    item.append(el("span", { class: "swatch", "data-color": color }), el("span", {}, `${slice.band} — ${fmt.format(slice.votes)} (${(share * 100).toFixed(1)} %)`));
    legend.append(item);
  });
  // Swatch colours through the CSSOM: allowed by the page's CSP, unlike style attributes.
  for (const swatch of legend.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.color;
}

function drawRate(svg, points) {
  svg.replaceChildren();
  const width = 600, height = 100;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(...points.map((p) => p.votes), 1);
  const step = width / Math.max(points.length, 1);
  points.forEach((p, i) => {
    const h = ((height - 4) * p.votes) / max;
    const bar = el("svg:rect", { x: i * step + 1, y: height - h, width: Math.max(step - 2, 1), height: h, fill: "#60a5fa" });
    bar.append(el("svg:title", {}, `${new Date(p.second * 1000).toISOString().slice(11, 19)}Z: ${p.votes} votes`));
    svg.append(bar);
  });
  $("rate-max").textContent = `peak ${fmt.format(Math.max(...points.map((p) => p.votes), 0))}/s`;
}

function drawLogs(list, logs) {
  const known = new Set([...list.children].map((li) => li.dataset.id));
  const rows = logs.slice(0, LOG_ROWS).map((log) => {
    const li = el("li", { "data-id": log.id, class: known.size && !known.has(log.id) ? "fresh" : "" });
    li.append(
      el("span", { class: "t" }, log.accepted_at.slice(11, 23)),
      el("span", { class: "band", title: log.name }, log.name),
      el("span", { class: "album", title: log.album }, log.album),
      el("span", { class: "year" }, log.year),
      el("span", { class: "rank" }, log.rank),
    );
    return li;
  });
  list.replaceChildren(...rows);
}

// --- freshness -----------------------------------------------------------------------------------

const fresh = {
  lastUpdate: performance.now(), // when the last event or answer came (the browser's monotonic clock)
  serverMs: null, // the server's clock at that moment (Redis' in the stream; the Date header polling)
  newestMs: null, // the newest counted vote's time
  errors: [],
};

function received(serverMs) {
  fresh.lastUpdate = performance.now();
  if (serverMs !== null && !Number.isNaN(serverMs)) fresh.serverMs = serverMs;
}

function showFreshness() {
  const asOf = $("as-of");
  if (fresh.newestMs === null) {
    asOf.textContent = "no votes counted yet";
  } else {
    const at = new Date(fresh.newestMs).toISOString().slice(11, 19);
    const now = fresh.serverMs === null ? null : fresh.serverMs + (performance.now() - fresh.lastUpdate);
    const ago = now === null ? "" : ` (${Math.max(0, Math.round((now - fresh.newestMs) / 1000))} s ago)`;
    asOf.textContent = `as of ${at} UTC${ago}`;
  }
  asOf.dataset.newest = fresh.newestMs === null ? "" : String(fresh.newestMs);
}

function render(totals, logs, rate) {
  if (totals) {
    $("total").textContent = fmt.format(totals.total);
    $("total").dataset.value = totals.total;
    $("counts").textContent = `${totals.bands.length} · ${totals.albums.length}`;
    drawBars($("band-bars"), totals.bands, (r) => r.band);
    drawBars($("album-bars"), totals.albums, (r) => `${r.band} — ${r.album}`);
    drawPie($("band-pie"), $("band-legend"), totals.bands);
  }
  if (logs) {
    drawLogs($("log"), logs);
    if (logs.length) fresh.newestMs = Date.parse(logs[0].accepted_at);
  }
  if (rate) {
    // The current second is still filling: the "now" rate is the 10 complete seconds before it.
    const complete = rate.slice(0, -1);
    const last10 = complete.slice(-10).reduce((sum, p) => sum + p.votes, 0);
    $("rate-now").textContent = (last10 / 10).toFixed(1);
    $("rate-minute").textContent = fmt.format(rate.reduce((sum, p) => sum + p.votes, 0));
    drawRate($("rate-chart"), rate);
  }
  showFreshness();
}

function showStatus() {
  const banner = $("banner");
  const dot = $("status-dot");
  const silentMs = performance.now() - fresh.lastUpdate;
  let state = "live";
  if (fresh.errors.length) state = "down";
  else if (silentMs > STALE_MS) state = "stale";
  banner.hidden = state !== "down";
  if (state === "down") $("banner-text").textContent = fresh.errors.join(" · ");
  dot.className = { live: "dot ok", stale: "dot stale", down: "dot bad" }[state];
  $("status-text").textContent = {
    live: `live (${mode})`,
    stale: `stale · no update for ${Math.round(silentMs / 1000)} s`,
    down: "data source unreachable",
  }[state];
  document.body.dataset.state = state;
  document.body.dataset.mode = mode;
  showFreshness();
}

// --- streaming, and polling where it fails -----------------------------------------------------------

let mode = "stream";
let source = null;
let downTimer = null;
let pollTimer = null;
let retryTimer = null;

function onEvent(handler) {
  return (message) => {
    clearTimeout(downTimer);
    downTimer = null;
    const data = JSON.parse(message.data);
    handler(data);
    showStatus();
  };
}

function openStream() {
  clearTimeout(retryTimer);
  if (!window.EventSource) return startPolling();
  source = new EventSource("/api/stream");
  source.addEventListener("open", () => {
    stopPolling();
    mode = "stream";
  });
  source.addEventListener("state", onEvent((state) => {
    received(state.now_ms);
    fresh.errors = [];
    render(state.totals, state.logs, state.rate);
  }));
  source.addEventListener("tick", onEvent((tick) => {
    received(tick.now_ms);
    fresh.errors = [];
  }));
  source.addEventListener("unavailable", onEvent((error) => {
    received(null);
    fresh.errors = [`/api/stream: ${error.message} (${error.error})`];
  }));
  source.addEventListener("error", (event) => {
    if (event.target.readyState === EventSource.CLOSED) {
      // refused (an HTTP error, not text/event-stream): poll, and try the stream again later
      source = null;
      startPolling();
      return;
    }
    // The browser reconnects by itself (a stream ends every few minutes); only a reconnect that
    // does not come back soon means the service is away.
    if (downTimer !== null) return;
    downTimer = setTimeout(() => {
      fresh.errors = ["/api/stream: the results service is unreachable"];
      showStatus();
    }, DOWN_AFTER_MS);
  });
}

function startPolling() {
  if (mode !== "poll") {
    mode = "poll";
    poll();
  }
  clearTimeout(retryTimer);
  retryTimer = setTimeout(openStream, STREAM_RETRY_MS);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

async function poll() {
  if (mode !== "poll") return;
  const started = performance.now();
  let serverMs = null;
  const results = await Promise.allSettled([
    getJson("/api/totals", (reply) => { serverMs = Date.parse(reply.headers.get("date")); }),
    getJson(`/api/logs?limit=${LOG_ROWS}`),
    getJson(`/api/rate?seconds=${RATE_SECONDS}`),
  ]);
  if (mode !== "poll") return;
  const [totals, logs, rate] = results.map((r) => (r.status === "fulfilled" ? r.value : null));
  fresh.errors = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (!fresh.errors.length) received(serverMs);
  render(totals, logs && logs.logs, rate && rate.rate);
  showStatus();
  pollTimer = setTimeout(poll, Math.max(POLL_MS - (performance.now() - started), 100));
}

setInterval(showStatus, 1000); // ages "n s ago" and turns stale when nothing came
openStream();
