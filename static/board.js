// The wall display's figures and how they are drawn: line tiles, orders today, products, low stock.
// dashboard.js feeds it (state, line status, live events); every value reaches the page via textContent.
"use strict";

window.Board = (() => {
  const OPEN_STATUSES = ["pending", "confirmed", "in_production"];
  // Page layouts for the line tiles, the most tiles first: [tiles per page, columns, rows].
  const LAYOUTS = [[8, 4, 2], [6, 3, 2], [4, 4, 1], [4, 2, 2], [3, 3, 1], [2, 2, 1], [1, 1, 1]];
  // Tile text sizes (rem) to try, largest first; the last is the floor (every tile text then is
  // 1.55rem or more, the primary figures 2.6rem or more). view=lines is a third larger throughout.
  const TILE_FONTS = { plant: [1.6, 1.4, 1.2, 1.0], lines: [2.1, 1.85, 1.6, 1.35] };
  let linePageMs = 15_000;
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
    plant: null, // GET /lines/status `plant`, when the server gives it
    calls: new Map(), // open andon call id -> the call
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
        minutes: new Intl.DateTimeFormat(undefined, { ...zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
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

  // How long a page of lines stays up (the kiosk link's `rotate`, in seconds: 5 to 300).
  function setRotation(seconds) {
    const value = Number(seconds);
    if (Number.isFinite(value) && value >= 5 && value <= 300) linePageMs = value * 1000;
  }

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

  function applyLines(list, plant) {
    model.lines = new Map();
    model.plant = plant || null;
    for (const status of list || []) setLine(status);
  }

  // Open andon calls (GET /calls?open=true), then kept by the call.* events.
  function applyCalls(list) {
    model.calls = new Map();
    for (const call of list || []) callChanged(call);
  }

  function callChanged(call) {
    if (!call || !call.id) return;
    if (call.resolved_at || !shows(call.line)) model.calls.delete(call.id);
    else model.calls.set(call.id, call);
  }

  function openCalls(code) {
    return [...model.calls.values()].filter((call) => !code || call.line === code)
      .sort((a, b) => String(a.opened_at).localeCompare(String(b.opened_at)));
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
    const open = { id: stop.id, reason: stop.reason, label: stop.label, planned: stop.planned, started_at: stop.started_at, note: stop.note };
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
      case "call.opened":
      case "call.acknowledged":
      case "call.escalated":
      case "call.resolved":
        callChanged(data);
        return {};
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

  const CALL_WORDS = { maintenance: "Maintenance", quality: "Quality", material: "Material", supervisor: "Supervisor" };

  // What the tile says and how it looks: a planned stop or a break is never breakdown red, a line
  // whose machines are all offline is grey, a running line under 90 % of its pace is amber.
  function look(status) {
    const stop = status.stop || {};
    const shift = status.shift || {};
    const pace = status.plan ? status.plan.pace : null;
    if (status.state === "offline") return ["offline", "OFFLINE"];
    if (status.state === "stopped" && (stop.planned || stop.category === "planned")) {
      return stop.reason === "break" ? ["break", "BREAK"] : ["planned", "PLANNED"];
    }
    if (status.state === "stopped") return ["stopped", "STOPPED"];
    if (status.state === "running" && shift.on_break) return ["break", "BREAK"];
    if (status.state === "running" && pace !== null && pace !== undefined && Number(pace) < 0.9) return ["slow", "SLOW"];
    if (status.state === "running") return ["running", "RUNNING"];
    if (status.state === "idle") return ["idle", "IDLE"];
    return ["idle", String(status.state || "").toUpperCase()];
  }

  function tile(status, now) {
    const node = el("article", "tile");
    node.dataset.line = status.line;
    node.dataset.state = status.state;
    const [kind, word] = look(status);
    node.dataset.look = kind;
    node.setAttribute("aria-label", lineTitle(status));

    const head = el("h3", "tile-head");
    head.append(el("span", "tile-code", status.line), el("span", "tile-name", status.name || ""));

    const band = el("div", "band");
    band.append(el("span", "band-state", word));
    const stopped = status.state === "stopped" && status.stop;
    if (stopped) {
      const started = Date.parse(status.stop.started_at);
      const timer = el("time", "band-timer", Number.isFinite(started) ? duration((now - started) / 1000) : "");
      timer.dataset.role = "stop-timer";
      band.append(timer);
    }
    // The reason's row is there whatever the state, so a tile keeps its size when its line stops.
    const breakEnds = status.shift && Date.parse(status.shift.break_ends_at);
    const reason = stopped ? reasonLabel(status.stop) : status.state === "idle" ? "No shift now"
      : status.state === "offline" ? "Machines offline"
      : kind === "break" ? (Number.isFinite(breakEnds) ? `Until ${formats.minutes.format(new Date(breakEnds))}` : "Break") : "";
    band.append(el("span", "band-reason", reason));
    node.append(head, band);
    if (stopped && status.stop.note) node.append(el("p", "band-note", status.stop.note));
    const calls = openCalls(status.line);
    if (calls.length) {
      const list = el("ul", "tile-calls");
      for (const call of calls.slice(0, 2)) {
        const item = el("li", "tile-call");
        item.dataset.callId = String(call.id);
        item.dataset.kind = call.kind;
        item.dataset.stage = call.acknowledged_at ? "acknowledged" : call.escalated_at ? "escalated" : "open";
        const opened = Date.parse(call.opened_at);
        item.append(el("span", "call-kind", CALL_WORDS[call.kind] || call.kind),
          el("time", "call-timer", Number.isFinite(opened) ? duration((now - opened) / 1000) : ""));
        list.append(item);
      }
      if (calls.length > 2) list.append(el("li", "tile-call more", `+${calls.length - 2}`));
      node.append(list);
    }
    if (status.state === "idle" && status.last_shift) node.append(lastShift(status.last_shift));

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

    const oee = (status.state === "idle" && status.last_shift ? status.last_shift.oee : status.oee) || {};
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

  // Between shifts: the last finished instance's result, until the next one starts.
  function lastShift(last) {
    const plan = last.plan || {};
    const box = el("div", "last-shift");
    box.append(el("span", "last-label", `Last shift ${last.name || ""}`.trim()));
    const good = el("span", "plan-good", fmt(plan.good));
    good.dataset.value = String(count(plan.good));
    const figures = el("div", "plan");
    figures.append(good, el("span", "plan-of", count(plan.planned_quantity) ? `/ ${fmt(plan.planned_quantity)}` : "no plan"));
    box.append(figures);
    return box;
  }

  function defectsNode(plan) {
    const produced = count(plan.good) + count(plan.defective);
    const rate = produced ? count(plan.defective) / produced : null;
    const node = el("dl", "figure-cell defects");
    node.dataset.rate = rate === null ? "" : String(rate);
    node.append(el("dt", "", "Defects"), el("dd", "", rate === null ? "—" : percentFine.format(rate)));
    return node;
  }

  // Whether a tile's text does not fit its box: it overflows, a line is cut sideways, or a name,
  // reason or note needs more than its two lines.
  function overflows(node) {
    if (node.scrollHeight > node.clientHeight + 1 || node.scrollWidth > node.clientWidth + 1) return true;
    for (const child of node.querySelectorAll("*")) {
      if (child.clientWidth && child.scrollWidth > child.clientWidth + 1) return true;
    }
    return [...node.querySelectorAll(".tile-head, .band-reason, .band-note")]
      .some((child) => child.scrollHeight > child.clientHeight + 1);
  }

  // Does every one of these tiles fit the cell a cols x rows page gives it, at this text size?
  function fitsIn(nodes, cols, rows, font) {
    const box = $("lines");
    const gap = parseFloat(getComputedStyle(box).columnGap) || 0;
    const width = Math.floor((box.clientWidth - gap * (cols - 1)) / cols);
    const height = Math.floor((box.clientHeight - gap * (rows - 1)) / rows);
    if (width <= 0 || height <= 0) return false;
    const probe = $("tile-probe");
    probe.style.setProperty("--tile-font", `${font}rem`);
    for (const node of nodes) {
      node.style.width = `${width}px`;
      node.style.height = `${height}px`;
    }
    probe.replaceChildren(...nodes);
    return !nodes.some(overflows);
  }

  let chosen = { key: null, layout: null };

  // The page layout and text size for these tiles: the most tiles per page at which every line's
  // tile fits (so whichever lines share a page, each fits), and then the largest text that still
  // fits. Text never goes below the floor: what does not fit goes to another page. Measured again
  // only when the screen, the view or the shape of a text changes (digits do not count).
  function chooseLayout(nodes, view) {
    const box = $("lines");
    const key = [box.clientWidth, box.clientHeight, view,
      ...nodes.map((node) => `${node.dataset.look}|${node.textContent.replace(/\d/g, "0")}`)].join("\n");
    if (chosen.key === key) return chosen.layout;
    const n = Math.max(1, nodes.length);
    const above = Math.min(...LAYOUTS.map(([cap]) => cap).filter((cap) => cap >= n));
    const layouts = LAYOUTS.filter(([cap]) => cap <= n || cap === above);
    const fonts = TILE_FONTS[view] || TILE_FONTS.plant;
    const probes = nodes.map((node) => node.cloneNode(true));
    let layout = null;
    search: for (const [cap, cols, rows] of layouts) {
      for (const font of fonts) {
        if (fitsIn(probes, cols, rows, font)) {
          layout = { cap, cols, rows, font };
          break search;
        }
      }
    }
    $("tile-probe").replaceChildren();
    // Not even one tile a page fits (a tiny window): one a page at the floor, cut rather than shrunk.
    layout = layout || { cap: 1, cols: 1, rows: 1, font: fonts[fonts.length - 1] };
    chosen = { key, layout };
    return layout;
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

  const byCode = (a, b) => a.line.localeCompare(b.line, undefined, { numeric: true });

  // A line that is stopped or has an open call is on every page; the others rotate in the slots left.
  function pinned(status) {
    return status.state === "stopped" || openCalls(status.line).length > 0;
  }

  // Breakdowns first, then calls, then planned stops and breaks: who keeps a slot when too many are
  // pinned for one page.
  function urgency(status) {
    return look(status)[0] === "stopped" ? 0 : openCalls(status.line).length ? 1 : 2;
  }

  function renderLines(now) {
    const lines = [...model.lines.values()].sort(byCode);
    const view = document.body.dataset.view === "lines" ? "lines" : "plant";
    const tiles = new Map(lines.map((status) => [status.line, tile(status, now)]));
    const { cap, cols, rows, font } = chooseLayout([...tiles.values()], view);
    let slice = lines;
    let page = 1;
    let pages = 1;
    if (lines.length > cap) {
      // Pinned lines keep their slots, but one slot always rotates, so every line gets its turn; a
      // pinned line that has no slot on this page is named under the tiles.
      const pins = lines.filter(pinned).sort((a, b) => urgency(a) - urgency(b) || byCode(a, b))
        .slice(0, cap - 1);
      const rest = lines.filter((status) => !pins.includes(status));
      ({ slice, page, pages } = pageOf(rest, cap - pins.length, "lines"));
      slice = [...pins, ...slice].sort(byCode);
    }
    const container = $("lines");
    container.style.setProperty("--cols", String(cols));
    container.style.setProperty("--rows", String(rows));
    container.style.setProperty("--tile-font", `${font}rem`);
    container.dataset.perPage = String(cap);
    container.replaceChildren(...slice.map((status) => tiles.get(status.line)));
    $("lines-empty").hidden = lines.length > 0;
    showPager("lines-pager", page, pages);
    const elsewhere = lines.filter((status) => pinned(status) && !slice.includes(status));
    const note = $("pinned-note");
    note.hidden = elsewhere.length === 0;
    note.textContent = elsewhere.length ? `Also: ${elsewhere.slice(0, 4).map((status) => {
      const word = look(status)[0] === "stopped" || status.state === "stopped" ? look(status)[1].toLowerCase() : "call";
      return `${status.line} ${word}`;
    }).join(" · ")}${elsewhere.length > 4 ? ` +${elsewhere.length - 4}` : ""}` : "";
    renderPlant(lines);
  }

  // The plant strip: plant OEE (when the server gives it), lines by state, open calls.
  function renderPlant(lines) {
    const strip = $("plant-strip");
    if (!strip) return;
    const states = { running: 0, stopped: 0, idle: 0, offline: 0 };
    for (const status of lines) if (status.state in states) states[status.state] += 1;
    const plant = model.plant || {};
    const parts = [];
    if (plant.oee !== undefined) parts.push(["oee", "Plant OEE", ratio(plant.oee)]);
    for (const [key, label] of [["running", "Running"], ["stopped", "Stopped"], ["idle", "Idle"], ["offline", "Offline"]]) {
      if (key !== "offline" || states.offline) parts.push([key, label, fmt(states[key])]);
    }
    const calls = openCalls(null);
    parts.push(["calls", "Open calls", fmt(calls.length)]);
    strip.replaceChildren(...parts.map(([key, label, value]) => {
      const cell = el("div", "strip-cell");
      cell.dataset.key = key;
      cell.append(el("span", "strip-label", label), el("span", "strip-value", value));
      return cell;
    }));
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
    if (now - lastLinePage >= linePageMs) {
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

  return { setFilter, setRotation, applyState, applyLines, applyCalls, applyEvent, render, tick, serverNow, clockText, plantDate, hasLine, dayChanged };
})();
