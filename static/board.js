// The wall display's figures and how they are drawn: line tiles, orders today, products, low stock.
// dashboard.js feeds it (state, line status, live events); every value reaches the page via textContent.
"use strict";

window.Board = (() => {
  const OPEN_STATUSES = ["pending", "confirmed", "in_production"];
  const LINES_PER_PAGE = 8;
  const LINE_PAGE_MS = 15_000;
  const LIST_PAGE_MS = 8_000;
  const LINE_CODE = /^[A-Za-z0-9_-]{1,32}$/;

  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });
  const percentFine = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });

  const model = {
    filter: null, // Set of line codes this screen shows, or null for every line
    timezone: "UTC",
    date: null, // the plant's today, YYYY-MM-DD, as the server said
    skewMs: 0, // server clock minus this browser's clock
    lines: new Map(), // code -> the line's status object
    labels: new Map(), // stop reason code -> label, learnt from status objects
    products: new Map(), // product id -> {product_id, product_name, good, produced, defective}
    orders: { placed: 0, shipped: 0, open: 0 },
    low: { total: 0, items: new Map() }, // product id -> {id, name, sku, stock_quantity, reorder_level}
    pages: { lines: 0, products: 0, low: 0 },
  };
  let formats = null;

  const count = (value) => (Number.isFinite(Number(value)) ? Number(value) : 0);
  const fmt = (value) => number.format(count(value));

  // ------------------------------------------------------------------ plant time

  function setZone(timezone) {
    model.timezone = timezone || "UTC";
    const zone = { timeZone: model.timezone };
    try {
      formats = {
        clock: new Intl.DateTimeFormat(undefined, { ...zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
        day: new Intl.DateTimeFormat(undefined, { ...zone, weekday: "short", day: "numeric", month: "short" }),
        iso: new Intl.DateTimeFormat("en-CA", { ...zone, year: "numeric", month: "2-digit", day: "2-digit" }),
      };
    } catch (err) {
      setZone("UTC"); // a zone this browser does not know: UTC beats the browser's own
    }
  }
  setZone("UTC");

  function serverNow() {
    return Date.now() + model.skewMs;
  }

  function clockText(ms) {
    return formats.clock.format(new Date(ms));
  }

  function plantDate(ms) {
    return formats.iso.format(new Date(ms)); // en-CA writes YYYY-MM-DD
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
  }

  // ------------------------------------------------------------------ model updates

  function setFilter(codes) {
    const wanted = (codes || []).filter((code) => LINE_CODE.test(code));
    model.filter = wanted.length ? new Set(wanted) : null;
    return model.filter ? [...model.filter] : null;
  }

  function shows(code) {
    return !model.filter || model.filter.has(code);
  }

  function applyState(state, receivedAt) {
    setZone(state.timezone);
    model.date = state.date || null;
    // Production counts by the production day: a night shift's records belong to the day it started.
    model.productionDay = state.production_day || model.date;
    const generated = Date.parse(state.generated_at);
    if (Number.isFinite(generated)) model.skewMs = generated - receivedAt;
    model.products = new Map();
    for (const row of (state.production_today || {}).by_product || []) {
      const id = count(row.product_id);
      model.products.set(id, {
        product_id: id, product_name: String(row.product_name || `#${id}`),
        produced: count(row.produced), defective: count(row.defective), good: count(row.good),
      });
    }
    const orders = state.orders_today || {};
    model.orders = { placed: count(orders.placed), shipped: count(orders.shipped), open: count(orders.open) };
    const low = state.low_stock || {};
    model.low = { total: count(low.total), items: new Map() };
    for (const item of low.items || []) model.low.items.set(count(item.id), item);
  }

  function learnLabel(stop) {
    if (stop && stop.reason && stop.label) model.labels.set(String(stop.reason), String(stop.label));
  }

  function setLine(status) {
    if (!status || !status.line || !shows(status.line)) return;
    const current = model.lines.get(status.line);
    // A replayed or late status never overwrites a newer one.
    if (current && current.as_of && status.as_of && status.as_of < current.as_of) return;
    learnLabel(status.stop);
    model.lines.set(status.line, status);
  }

  function applyLines(list) {
    model.lines = new Map();
    for (const status of list || []) setLine(status);
  }

  function reasonLabel(stop) {
    const code = String(stop.reason || "");
    if (stop.label) return String(stop.label);
    if (model.labels.has(code)) return model.labels.get(code);
    const words = code.replace(/[_-]+/g, " ").trim();
    return words ? words[0].toUpperCase() + words.slice(1) : "Stopped";
  }

  function lineTitle(status) {
    return status.name ? `Line ${status.line}, ${status.name}` : `Line ${status.line}`;
  }

  // A stop opened or closed: change the tile now; the line's next status event brings the figures.
  // Returns what to announce.
  function stopChanged(stop, started) {
    const status = model.lines.get(stop.line);
    if (!status) return null;
    if (started) {
      if (status.stop && status.stop.id !== stop.id) return null;
      model.lines.set(stop.line, { ...status, state: status.shift ? "running" : "idle", stop: null });
      return `${lineTitle(status)} running again.`;
    }
    const open = { id: stop.id, reason: stop.reason, label: stop.label, planned: stop.planned, started_at: stop.started_at };
    model.lines.set(stop.line, { ...status, state: "stopped", stop: open });
    return `${lineTitle(status)} stopped: ${reasonLabel(open)}.`;
  }

  function productionRecorded(row) {
    if (!model.productionDay || row.date_produced !== model.productionDay) {
      return row.date_produced > model.productionDay;
    }
    if (model.filter && !model.filter.has(row.line)) return false;
    const id = count(row.product_id);
    const entry = model.products.get(id) || { product_id: id, product_name: `#${id}`, produced: 0, defective: 0, good: 0 };
    const produced = count(row.quantity_produced);
    const defective = count(row.quantity_defective);
    entry.produced += produced;
    entry.defective += defective;
    entry.good += produced - defective;
    model.products.set(id, entry);
    return false;
  }

  function orderChanged(event, data) {
    const status = data.status;
    if (event === "order.created") {
      model.orders.placed += 1;
      if (OPEN_STATUSES.includes(status)) model.orders.open += 1;
      return;
    }
    const before = data.previous_status;
    if (OPEN_STATUSES.includes(before) && !OPEN_STATUSES.includes(status)) model.orders.open -= 1;
    if (status === "shipped") model.orders.shipped += 1;
  }

  // Returns true when the state must be reloaded (a figure can't be corrected from the event alone).
  function stockChanged(product) {
    const id = count(product.id);
    if (product.name) {
      const entry = model.products.get(id);
      if (entry) entry.product_name = String(product.name);
    }
    const isLow = count(product.stock_quantity) <= count(product.reorder_level);
    const listed = model.low.items.has(id);
    if (isLow) {
      if (!listed) {
        if (model.low.total > model.low.items.size) return true; // it may be one not listed
        model.low.total += 1;
      }
      model.low.items.set(id, product);
    } else if (listed) {
      model.low.items.delete(id);
      model.low.total -= 1;
    }
    return false;
  }

  // One live event. Returns {announce, reload}.
  function applyEvent(message) {
    const data = message.data || {};
    switch (message.event) {
      case "line.status":
        setLine(data);
        return {};
      case "line.stopped":
      case "line.started":
        return { announce: shows(data.line) ? stopChanged(data, message.event === "line.started") : null };
      case "production.recorded":
        return { reload: productionRecorded(data) };
      case "production.updated":
      case "production.deleted":
        return { reload: true };
      case "order.created":
      case "order.status_changed":
        orderChanged(message.event, data);
        return {};
      case "stock.changed":
      case "stock.low":
        return { reload: stockChanged(data) };
      default:
        return {};
    }
  }

  // ------------------------------------------------------------------ drawing

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function ratio(value) {
    return value === null || value === undefined || !Number.isFinite(Number(value)) ? "—" : percent.format(Number(value));
  }

  function shiftFraction(shift, now) {
    const start = Date.parse(shift.starts_at);
    const end = Date.parse(shift.ends_at);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return count(shift.elapsed);
    return Math.min(1, Math.max(0, (now - start) / (end - start)));
  }

  function tile(status, now) {
    const node = el("article", "tile");
    node.dataset.line = status.line;
    node.dataset.state = status.state;
    node.setAttribute("aria-label", lineTitle(status));

    const head = el("header", "tile-head");
    head.append(el("span", "tile-code", status.line), el("span", "tile-name", status.name || ""));

    const band = el("div", "band");
    const word = { running: "RUNNING", stopped: "STOPPED", idle: "IDLE" }[status.state] || String(status.state).toUpperCase();
    band.append(el("span", "band-state", word));
    if (status.state === "stopped" && status.stop) {
      band.append(el("span", "band-reason", reasonLabel(status.stop)));
      const started = Date.parse(status.stop.started_at);
      const timer = el("time", "band-timer", Number.isFinite(started) ? duration((now - started) / 1000) : "");
      timer.dataset.role = "stop-timer";
      band.append(timer);
    } else if (status.state === "idle") {
      band.append(el("span", "band-reason", "No shift now"));
    }
    node.append(head, band);

    const shift = status.shift;
    const plan = status.plan || {};
    if (shift) {
      const elapsed = shiftFraction(shift, now);
      const row = el("div", "shift");
      const meter = el("div", "shift-meter");
      const fill = el("div", "shift-meter-fill");
      fill.style.setProperty("--fill", `${(elapsed * 100).toFixed(1)}%`);
      meter.append(fill);
      row.append(el("span", "shift-name", shift.name), meter, el("span", "shift-pct", percent.format(elapsed)));
      node.append(row);

      const planned = count(plan.planned_quantity);
      const good = count(plan.good);
      const expected = Math.floor(planned * elapsed);
      const figures = el("div", "plan");
      const goodNode = el("span", "plan-good", fmt(good));
      goodNode.dataset.value = String(good);
      figures.append(goodNode, el("span", "plan-of", planned ? `/ ${fmt(planned)}` : "no plan"));
      const bar = el("div", "planbar");
      const scale = Math.max(planned, good, 1);
      const barFill = el("div", "planbar-fill");
      barFill.style.setProperty("--fill", `${Math.min(100, (good / scale) * 100).toFixed(1)}%`);
      const marker = el("div", "planbar-marker");
      marker.style.setProperty("--at", `${Math.min(100, (expected / scale) * 100).toFixed(1)}%`);
      marker.title = `Expected by now: ${fmt(expected)}`;
      bar.append(barFill, marker);
      const diff = good - expected;
      const pace = el("p", "pace", planned ? (diff > 0 ? `+${fmt(diff)} ahead` : diff < 0 ? `−${fmt(-diff)} behind` : "on plan") : "");
      pace.dataset.pace = !planned ? "none" : diff > 0 ? "ahead" : diff === 0 ? "on" : good < expected * 0.9 ? "far-behind" : "behind";
      pace.dataset.expected = String(expected);
      const paceRow = el("div", "pace-row");
      paceRow.append(pace, defectsNode(plan));
      node.append(figures, bar, paceRow);
    }

    const oee = status.oee || {};
    const figures = el("dl", "oee");
    const cells = [
      ["OEE", ratio(oee.oee), "oee-main"],
      ["A", ratio(oee.availability)],
      ["P", ratio(oee.performance)],
      ["Q", ratio(oee.quality)],
    ];
    for (const [label, value, cls] of cells) {
      const cell = el("div", `figure-cell ${cls || ""}`);
      cell.append(el("dt", "", label), el("dd", "", value));
      figures.append(cell);
    }
    node.append(figures);
    return node;
  }

  function defectsNode(plan) {
    const produced = count(plan.good) + count(plan.defective);
    const rate = produced ? count(plan.defective) / produced : null;
    const node = el("dl", "figure-cell defects");
    node.dataset.rate = rate === null ? "" : String(rate);
    node.append(el("dt", "", "Defects"), el("dd", "", rate === null ? "—" : percentFine.format(rate)));
    return node;
  }

  // A tile whose figures overflow it steps down a size (at most three), and stays there until resized.
  const fitLevels = new Map();
  window.addEventListener("resize", () => fitLevels.clear());

  function fitTile(node) {
    let level = fitLevels.get(node.dataset.line) || 0;
    const overflows = () => node.scrollHeight > node.clientHeight + 1 || node.scrollWidth > node.clientWidth + 1;
    if (level) node.classList.add(`fit-${level}`);
    while (level < 3 && overflows()) {
      node.classList.remove(`fit-${level}`);
      level += 1;
      node.classList.add(`fit-${level}`);
    }
    fitLevels.set(node.dataset.line, level);
  }

  // Columns, rows and text size for n tiles: fewer lines get bigger tiles and bigger figures.
  function grid(n) {
    if (n <= 2) return [Math.max(1, n), 1, 1.7];
    if (n === 3) return [3, 1, 1.3];
    if (n === 4) return [2, 2, 1.35];
    if (n <= 6) return [3, 2, 1.15];
    return [4, 2, 1];
  }

  function pageOf(items, perPage, key) {
    const pages = Math.max(1, Math.ceil(items.length / perPage));
    model.pages[key] %= pages;
    const start = model.pages[key] * perPage;
    return { slice: items.slice(start, start + perPage), page: model.pages[key] + 1, pages };
  }

  function showPager(id, page, pages) {
    const pager = $(id);
    pager.hidden = pages <= 1;
    pager.textContent = `page ${page} of ${pages}`;
  }

  function renderLines(now) {
    const lines = [...model.lines.values()].sort((a, b) => a.line.localeCompare(b.line, undefined, { numeric: true }));
    const { slice, page, pages } = pageOf(lines, LINES_PER_PAGE, "lines");
    const [cols, rows, size] = grid(slice.length);
    const container = $("lines");
    container.style.setProperty("--cols", String(cols));
    container.style.setProperty("--rows", String(rows));
    container.style.setProperty("--tile-font", `${size}rem`);
    container.replaceChildren(...slice.map((status) => tile(status, now)));
    for (const node of container.children) fitTile(node);
    $("lines-empty").hidden = lines.length > 0;
    showPager("lines-pager", page, pages);
  }

  // How many fixed-height rows fit the list's box; the rest rotate in pages.
  function rowsThatFit(list, probe) {
    list.replaceChildren(probe);
    const height = probe.getBoundingClientRect().height;
    const room = list.getBoundingClientRect().height;
    return height > 0 ? Math.max(1, Math.floor(room / height)) : 1;
  }

  function renderList(id, items, makeRow, key) {
    const list = $(id);
    if (!items.length) {
      list.replaceChildren();
      $(`${id}-empty`).hidden = false;
      showPager(`${id}-pager`, 1, 1);
      return;
    }
    $(`${id}-empty`).hidden = true;
    // The pager takes a line of its own when there is more than one page: measure with it shown.
    $(`${id}-pager`).hidden = false;
    let perPage = rowsThatFit(list, makeRow(items[0]));
    if (items.length <= perPage + 1) {
      $(`${id}-pager`).hidden = true;
      perPage = rowsThatFit(list, makeRow(items[0]));
    }
    const { slice, page, pages } = pageOf(items, perPage, key);
    list.replaceChildren(...slice.map(makeRow));
    showPager(`${id}-pager`, page, pages);
  }

  function productRow(entry) {
    const row = el("li", "row");
    row.dataset.productId = String(entry.product_id);
    row.dataset.good = String(entry.good);
    row.append(el("span", "row-name", entry.product_name), el("span", "row-figure", fmt(entry.good)));
    return row;
  }

  function lowRow(item) {
    const row = el("li", "row low");
    row.dataset.productId = String(item.id);
    row.append(el("span", "row-name", item.name || `#${item.id}`),
      el("span", "row-figure", fmt(item.stock_quantity)),
      el("span", "row-sub", `/ ${fmt(item.reorder_level)}`));
    return row;
  }

  function renderSide() {
    for (const key of ["placed", "shipped", "open"]) {
      const node = $(`orders-${key}`);
      node.textContent = fmt(model.orders[key]);
      node.dataset.value = String(model.orders[key]);
    }
    const products = [...model.products.values()].sort((a, b) => b.good - a.good || a.product_id - b.product_id);
    const total = products.reduce((sum, p) => sum + p.good, 0);
    $("units-today-total").textContent = fmt(total);
    $("units-today-total").dataset.value = String(total);
    const low = [...model.low.items.values()].sort(
      (a, b) => (count(a.stock_quantity) - count(a.reorder_level)) - (count(b.stock_quantity) - count(b.reorder_level))
        || String(a.name).localeCompare(String(b.name)));
    const badge = $("low-count");
    badge.hidden = model.low.total === 0;
    badge.dataset.count = String(model.low.total);
    badge.textContent = fmt(model.low.total);
    if (document.body.dataset.view === "lines") return; // the side column is not shown
    renderList("by-product", products, productRow, "products");
    renderList("low-stock", low, lowRow, "low");
  }

  function renderClock(now) {
    const clock = $("clock");
    clock.textContent = clockText(now);
    clock.dateTime = new Date(now).toISOString();
    const day = $("plant-day");
    day.textContent = formats.day.format(new Date(now));
    day.dataset.date = plantDate(now);
    day.dataset.timezone = model.timezone;
  }

  function render() {
    const now = serverNow();
    renderClock(now);
    renderLines(now);
    renderSide();
  }

  let lastLinePage = Date.now();
  let lastListPage = Date.now();

  // Once a second: the clock, the stop timers and shift progress, and the page rotations.
  function tick() {
    const now = Date.now();
    if (now - lastLinePage >= LINE_PAGE_MS) {
      lastLinePage = now;
      model.pages.lines += 1;
    }
    if (now - lastListPage >= LIST_PAGE_MS) {
      lastListPage = now;
      model.pages.products += 1;
      model.pages.low += 1;
    }
    render();
  }

  function hasLine(code) {
    return model.lines.has(code);
  }

  function dayChanged() {
    return Boolean(model.date) && plantDate(serverNow()) !== model.date;
  }

  return { setFilter, applyState, applyLines, applyEvent, render, tick, serverNow, clockText, plantDate, hasLine, dayChanged };
})();
