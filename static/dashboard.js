// Shop-floor dashboard: signs in, loads /dashboard/state, then follows the /ws live feed.
// No build step and no dependencies; every piece of data reaches the page through textContent.
"use strict";

(() => {
  const TOPICS = ["production", "orders", "inventory"];
  const ORDER_STATUSES = ["pending", "confirmed", "in_production", "shipped", "delivered", "cancelled"];
  const STATUS_LABELS = {
    pending: "Pending",
    confirmed: "Confirmed",
    in_production: "In production",
    shipped: "Shipped",
    delivered: "Delivered",
    cancelled: "Cancelled",
  };
  const CONNECTION_LABELS = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    "signed-out": "Signed out",
  };
  const SESSION_KEY = "factory.dashboard.session";
  const DISPLAY_KEY = "factory.dashboard.displayToken";
  const PING_EVERY_MS = 20_000;
  const SILENCE_LIMIT_MS = 50_000; // no frame at all (not even a pong) for this long: the link is dead
  const BACKOFF_MIN_MS = 1_000;
  const BACKOFF_MAX_MS = 30_000;
  const RELOAD_EVERY_MS = 15 * 60_000; // a full reload now and then heals any drift
  const RECENT_MAX = 20;
  const HIGHLIGHT_MS = 8_000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- errors

  class HttpError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }
  class NetworkError extends Error {}
  class AuthError extends Error {}

  // ---------------------------------------------------------------- HTTP

  async function requestJson(method, path, body, token) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      throw new NetworkError("Cannot reach the server.");
    }
    let payload = null;
    try {
      const text = await response.text();
      payload = text ? JSON.parse(text) : null;
    } catch (err) {
      payload = null;
    }
    if (!response.ok) {
      const detail = payload && (payload.detail || payload.title);
      throw new HttpError(response.status, detail, response.headers.get("Retry-After"));
    }
    return payload;
  }

  // ---------------------------------------------------------------- tokens

  const auth = {
    kind: null, // "session" (username + password) or "display" (pasted wall-screen token)
    accessToken: null,
    refreshToken: null,
    expiresAt: 0,
    lifetimeMs: 0,
    refreshTimer: null,
    refreshing: null,
    epoch: 0, // bumped on sign-in and sign-out so stale async work can tell it is stale
  };

  function restoreAuth() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.access_token) {
        Object.assign(auth, {
          kind: "session",
          accessToken: saved.access_token,
          refreshToken: saved.refresh_token || null,
          expiresAt: Number(saved.expires_at) || 0,
          lifetimeMs: Number(saved.lifetime_ms) || 0,
        });
        return true;
      }
    } catch (err) {
      sessionStorage.removeItem(SESSION_KEY);
    }
    const display = localStorage.getItem(DISPLAY_KEY);
    if (display) {
      Object.assign(auth, { kind: "display", accessToken: display, refreshToken: null, expiresAt: 0 });
      return true;
    }
    return false;
  }

  function saveSession(pair) {
    const lifetimeMs = Math.max(1, Number(pair.expires_in) || 0) * 1000;
    Object.assign(auth, {
      kind: "session",
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token || auth.refreshToken,
      expiresAt: Date.now() + lifetimeMs,
      lifetimeMs,
    });
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({
      access_token: auth.accessToken,
      refresh_token: auth.refreshToken,
      expires_at: auth.expiresAt,
      lifetime_ms: auth.lifetimeMs,
    }));
    scheduleRefresh();
  }

  function scheduleRefresh(delayMs) {
    clearTimeout(auth.refreshTimer);
    auth.refreshTimer = null;
    if (auth.kind !== "session" || !auth.refreshToken) return;
    const margin = Math.min(60_000, Math.max(5_000, auth.lifetimeMs * 0.2));
    const wait = delayMs ?? Math.max(1_000, auth.expiresAt - Date.now() - margin);
    auth.refreshTimer = setTimeout(async () => {
      const epoch = auth.epoch;
      try {
        await refreshSession();
      } catch (err) {
        if (epoch !== auth.epoch) return;
        if (err instanceof AuthError) signOut(err.message);
        else scheduleRefresh(10_000); // server unreachable: try again soon
      }
    }, wait);
  }

  function refreshSession() {
    if (!auth.refreshing) {
      const epoch = auth.epoch;
      auth.refreshing = (async () => {
        try {
          const pair = await requestJson("POST", "/auth/refresh", { refresh_token: auth.refreshToken });
          if (epoch === auth.epoch) saveSession(pair);
        } catch (err) {
          if (err instanceof HttpError && [400, 401, 403, 422].includes(err.status)) {
            throw new AuthError("Your session has expired. Please sign in again.");
          }
          throw err;
        } finally {
          auth.refreshing = null;
        }
      })();
    }
    return auth.refreshing;
  }

  async function ensureFreshToken() {
    if (auth.kind === "session" && auth.refreshToken && auth.expiresAt - Date.now() < 15_000) {
      await refreshSession();
    }
  }

  function rejectedTokenMessage() {
    return auth.kind === "display"
      ? "The display token was rejected. Paste a valid one."
      : "Your session has expired. Please sign in again.";
  }

  async function fetchState() {
    await ensureFreshToken();
    const get = () => requestJson("GET", "/dashboard/state", undefined, auth.accessToken);
    try {
      return await get();
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 403) throw new AuthError("This account may not view the dashboard.");
      if (err.status !== 401) throw err;
      if (auth.kind !== "session" || !auth.refreshToken) throw new AuthError(rejectedTokenMessage());
    }
    await refreshSession(); // a 401 with a refresh token in hand: one refresh, one retry
    try {
      return await get();
    } catch (err) {
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        throw new AuthError(rejectedTokenMessage());
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- model

  const model = {
    date: null,
    products: new Map(), // product_id -> {product_id, product_name, produced, defective, good}
    lines: new Map(), // line ("" when none) -> {line, produced, defective, good}
    recent: [], // production rows, newest first
    orders: {},
    stock: new Map(), // product id -> product row + low
    names: new Map(), // product id -> name, from whatever row named it last
    highlighted: new Map(), // "record:<id>" / "stock:<id>" -> highlight ends at (ms)
  };

  function count(value) {
    const n = Number(value);
    return Number.isFinite(n) ? n : 0;
  }

  function productName(productId) {
    return model.names.get(productId) || `Product #${productId}`;
  }

  function lineKey(line) {
    return line === null || line === undefined ? "" : String(line);
  }

  function resetModel() {
    model.date = null;
    model.products = new Map();
    model.lines = new Map();
    model.recent = [];
    model.orders = Object.fromEntries(ORDER_STATUSES.map((status) => [status, 0]));
    model.stock = new Map();
    model.highlighted = new Map();
  }

  function applyState(state) {
    const highlighted = model.highlighted;
    resetModel();
    model.highlighted = highlighted;
    model.date = state.date || null;
    const today = state.production_today || {};
    for (const row of today.by_product || []) {
      const id = count(row.product_id);
      if (row.product_name) model.names.set(id, String(row.product_name));
      model.products.set(id, {
        product_id: id,
        produced: count(row.produced),
        defective: count(row.defective),
        good: count(row.good),
      });
    }
    for (const row of today.by_line || []) {
      model.lines.set(lineKey(row.line), {
        line: lineKey(row.line),
        produced: count(row.produced),
        defective: count(row.defective),
        good: count(row.good),
      });
    }
    model.recent = (state.recent_production || []).slice(0, RECENT_MAX);
    for (const [status, n] of Object.entries(state.orders_by_status || {})) {
      model.orders[status] = count(n);
    }
    for (const row of state.stock || []) upsertStock(row, false);
    feed.lastEventId = count(state.last_event_id);
  }

  function addProduction(totals, key, fields, produced, defective) {
    const entry = totals.get(key) || { ...fields, produced: 0, defective: 0, good: 0 };
    entry.produced += produced;
    entry.defective += defective;
    entry.good += produced - defective;
    totals.set(key, entry);
  }

  function productionRecorded(row) {
    const produced = count(row.quantity_produced);
    const defective = count(row.quantity_defective);
    const productId = count(row.product_id);
    if (model.date && row.date_produced === model.date) {
      addProduction(model.products, productId, { product_id: productId }, produced, defective);
      const line = lineKey(row.line);
      addProduction(model.lines, line, { line }, produced, defective);
    } else if (model.date && row.date_produced > model.date) {
      requestReload(); // the server's day has rolled over: start today's totals afresh
    }
    model.recent = [row, ...model.recent.filter((r) => r.id !== row.id)].slice(0, RECENT_MAX);
    model.highlighted.set(`record:${row.id}`, Date.now() + HIGHLIGHT_MS);
  }

  function orderCounted(status, delta) {
    if (!status) return;
    model.orders[status] = Math.max(0, count(model.orders[status]) + delta);
  }

  function upsertStock(row, highlight) {
    const id = count(row.id);
    if (row.name) model.names.set(id, String(row.name));
    const quantity = count(row.stock_quantity);
    const reorderLevel = count(row.reorder_level);
    model.stock.set(id, {
      id,
      sku: row.sku == null ? "" : String(row.sku),
      name: row.name == null ? productName(id) : String(row.name),
      stock_quantity: quantity,
      reorder_level: reorderLevel,
      low: typeof row.low === "boolean" ? row.low : quantity <= reorderLevel,
    });
    if (highlight) model.highlighted.set(`stock:${id}`, Date.now() + HIGHLIGHT_MS);
  }

  function applyEvent(message) {
    const id = count(message.id);
    if (id <= feed.lastEventId) return; // already part of the state or seen before
    feed.lastEventId = id;
    const data = message.data || {};
    switch (message.event) {
      case "production.recorded":
        productionRecorded(data);
        break;
      case "production.updated":
      case "production.deleted":
        requestReload(); // totals can't be corrected from the new row alone
        break;
      case "order.created":
        orderCounted(data.status, +1);
        break;
      case "order.status_changed":
        orderCounted(data.previous_status, -1);
        orderCounted(data.status, +1);
        break;
      case "stock.changed":
        upsertStock({ ...data, low: undefined }, false);
        break;
      case "stock.low":
        upsertStock({ ...data, low: true }, true);
        break;
      default:
        break; // an event this page does not show
    }
    scheduleRender();
  }

  // ---------------------------------------------------------------- rendering

  let renderPending = false;

  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    const run = () => {
      if (!renderPending) return;
      renderPending = false;
      render();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250); // rAF does not fire in hidden tabs
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isHighlighted(key, now) {
    const until = model.highlighted.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    model.highlighted.delete(key);
    return false;
  }

  function bar(good, defective, scale) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "bar");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${good} good, ${defective} defective`);
    const goodWidth = scale > 0 ? (Math.max(0, good) / scale) * 100 : 0;
    const badWidth = scale > 0 ? (Math.max(0, defective) / scale) * 100 : 0;
    for (const [cls, x, width] of [["bar-good", 0, goodWidth], ["bar-bad", goodWidth, badWidth]]) {
      const rect = document.createElementNS(SVG_NS, "rect");
      rect.setAttribute("class", cls);
      rect.setAttribute("x", x.toFixed(2));
      rect.setAttribute("y", "0");
      rect.setAttribute("width", width.toFixed(2));
      rect.setAttribute("height", "10");
      svg.append(rect);
    }
    return svg;
  }

  function totalsRows(entries, label, attribute, key) {
    const scale = Math.max(0, ...entries.map((e) => e.produced));
    return entries.map((entry) => {
      const row = el("tr");
      row.dataset[attribute] = String(entry[key]);
      row.dataset.good = String(entry.good);
      row.dataset.defective = String(entry.defective);
      row.append(
        el("th", "name", label(entry)),
        el("td", "num good", entry.good),
        el("td", "num bad", entry.defective),
      );
      const cell = el("td", "bar-col");
      cell.append(bar(entry.good, entry.defective, scale));
      row.append(cell);
      return row;
    });
  }

  function byText(a, b) {
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function renderToday() {
    const products = [...model.products.values()];
    const good = products.reduce((sum, p) => sum + p.good, 0);
    const produced = products.reduce((sum, p) => sum + p.produced, 0);
    const defective = products.reduce((sum, p) => sum + p.defective, 0);
    $("units-today-total").textContent = String(good);
    $("units-today-produced").textContent = String(produced);
    $("units-today-defective").textContent = String(defective);
    $("dashboard-date").textContent = model.date || "";

    products.sort((a, b) => byText(productName(a.product_id), productName(b.product_id)));
    $("by-product").replaceChildren(
      ...totalsRows(products, (p) => productName(p.product_id), "productId", "product_id"),
    );
    $("by-product-empty").hidden = products.length > 0;

    const lines = [...model.lines.values()].sort((a, b) => byText(a.line, b.line));
    $("by-line").replaceChildren(
      ...totalsRows(lines, (l) => l.line || "No line", "line", "line"),
    );
    $("by-line-empty").hidden = lines.length > 0;
  }

  function renderOrders() {
    const statuses = [...ORDER_STATUSES, ...Object.keys(model.orders).filter((s) => !ORDER_STATUSES.includes(s))];
    $("orders").replaceChildren(...statuses.map((status) => {
      const item = el("li", `order-status status-${status.replace(/[^a-z_]/g, "")}`);
      item.dataset.status = status;
      const number = el("span", "count", count(model.orders[status]));
      number.id = `orders-${status}`;
      item.append(el("span", "status-label", STATUS_LABELS[status] || status), number);
      return item;
    }));
  }

  function renderStock(now) {
    const rows = [...model.stock.values()].sort((a, b) => (b.low - a.low) || byText(a.name, b.name));
    const low = rows.filter((r) => r.low).length;
    const badge = $("stock-low-count");
    badge.hidden = low === 0;
    badge.dataset.count = String(low);
    badge.textContent = `${low} low`;
    $("stock").replaceChildren(...rows.map((item) => {
      const row = el("tr", item.low ? "low" : "");
      if (isHighlighted(`stock:${item.id}`, now) && item.low) row.classList.add("alert");
      row.dataset.productId = String(item.id);
      row.dataset.low = String(item.low);
      const name = el("th", "name");
      name.append(el("span", "", item.name));
      if (item.sku) name.append(el("span", "sku", item.sku));
      if (item.low) name.append(el("span", "badge badge-low", "LOW"));
      row.append(name, el("td", "num qty", item.stock_quantity), el("td", "num", item.reorder_level));
      return row;
    }));
  }

  function clockTime(iso) {
    const when = iso ? new Date(iso) : null;
    if (!when || Number.isNaN(when.getTime())) return "";
    return when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function renderRecent(now) {
    $("latest-events").replaceChildren(...model.recent.map((row) => {
      const item = el("li", "event");
      if (isHighlighted(`record:${row.id}`, now)) item.classList.add("fresh");
      item.dataset.recordId = String(row.id);
      item.dataset.productId = String(row.product_id);
      const produced = count(row.quantity_produced);
      const defective = count(row.quantity_defective);
      const where = [
        row.line ? `Line ${row.line}` : "",
        row.shift ? `Shift ${row.shift}` : "",
        model.date && row.date_produced && row.date_produced !== model.date ? `for ${row.date_produced}` : "",
      ].filter(Boolean).join(" · ");
      const time = el("time", "event-time", clockTime(row.created_at) || row.date_produced || "");
      if (row.created_at) time.dateTime = String(row.created_at);
      item.append(
        time,
        el("span", "event-product", productName(count(row.product_id))),
        el("span", "event-good", `+${produced - defective}`),
        el("span", "event-where", where),
        el("span", "event-bad", defective ? `${defective} defective` : ""),
      );
      return item;
    }));
    $("latest-empty").hidden = model.recent.length > 0;
  }

  function render() {
    const now = Date.now();
    renderToday();
    renderOrders();
    renderStock(now);
    renderRecent(now);
    document.body.dataset.lastEventId = String(feed.lastEventId);
  }

  // ---------------------------------------------------------------- connection state and notices

  function setConnection(state) {
    const node = $("connection-state");
    node.dataset.state = state;
    node.textContent = CONNECTION_LABELS[state] || state;
    updateConnectionDetail();
  }

  function updateConnectionDetail() {
    const waiting = feed.retryAt ? Math.max(0, Math.ceil((feed.retryAt - Date.now()) / 1000)) : 0;
    $("connection-detail").textContent = waiting ? `retry in ${waiting} s` : "";
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  // ---------------------------------------------------------------- live feed

  const feed = {
    socket: null,
    generation: 0, // frames and closes from an abandoned socket are ignored
    lastEventId: 0,
    stateLoaded: false,
    everLive: false,
    live: false,
    backoffMs: BACKOFF_MIN_MS,
    retryTimer: null,
    retryAt: 0,
    pingTimer: null,
    lastFrameAt: 0,
    buffered: null, // events that arrive while the state reloads
    reloading: null,
    reloadTimer: null,
  };

  function send(message) {
    if (feed.socket && feed.socket.readyState === WebSocket.OPEN) {
      feed.socket.send(JSON.stringify(message));
    }
  }

  function subscribe() {
    send({ type: "subscribe", topics: TOPICS, since: feed.lastEventId });
  }

  function reloadState() {
    if (feed.reloading) return feed.reloading;
    const epoch = auth.epoch;
    feed.buffered = [];
    feed.reloading = (async () => {
      let ok = false;
      try {
        const state = await fetchState();
        if (epoch !== auth.epoch) return false;
        applyState(state);
        feed.stateLoaded = true;
        showNotice("");
        ok = true;
      } catch (err) {
        if (epoch !== auth.epoch) return false;
        if (err instanceof AuthError) {
          feed.buffered = null;
          signOut(err.message);
          return false;
        }
        showNotice(`Could not load the dashboard: ${err.message}`);
      } finally {
        feed.reloading = null;
      }
      const arrived = feed.buffered || [];
      feed.buffered = null;
      for (const message of arrived) applyEvent(message); // those already in the state are skipped
      scheduleRender();
      return ok;
    })();
    return feed.reloading;
  }

  function requestReload() {
    if (feed.reloadTimer) return;
    feed.reloadTimer = setTimeout(() => {
      feed.reloadTimer = null;
      if (auth.kind) reloadState();
    }, 300); // one reload for a burst of corrections
  }

  async function resync() {
    const ok = await reloadState();
    if (!auth.kind) return;
    if (ok) {
      subscribe();
    } else {
      abandonSocket();
      scheduleReconnect();
    }
  }

  function handleFrame(message) {
    switch (message && message.type) {
      case "subscribed":
        feed.live = true;
        feed.everLive = true;
        feed.backoffMs = BACKOFF_MIN_MS;
        setConnection("live");
        break;
      case "event":
        if (feed.buffered) feed.buffered.push(message);
        else applyEvent(message);
        break;
      case "resync":
        resync();
        break;
      case "pong":
        break;
      case "error":
        showNotice(`Live feed: ${message.message || message.detail || message.reason || "error"}`);
        break;
      default:
        break;
    }
  }

  function websocketUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/ws`;
  }

  function openSocket() {
    const generation = ++feed.generation;
    const socket = new WebSocket(websocketUrl());
    feed.socket = socket;
    socket.addEventListener("open", () => {
      if (generation !== feed.generation) return;
      feed.lastFrameAt = Date.now();
      send({ type: "auth", token: auth.accessToken });
      subscribe();
      clearInterval(feed.pingTimer);
      feed.pingTimer = setInterval(heartbeat, PING_EVERY_MS);
    });
    socket.addEventListener("message", (event) => {
      if (generation !== feed.generation) return;
      feed.lastFrameAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handleFrame(message);
    });
    socket.addEventListener("close", (event) => {
      if (generation !== feed.generation) return;
      socketClosed(event.code);
    });
  }

  function heartbeat() {
    if (Date.now() - feed.lastFrameAt > SILENCE_LIMIT_MS) {
      abandonSocket(); // half-open links can take minutes to report a close
      scheduleReconnect();
      return;
    }
    send({ type: "ping" });
  }

  function abandonSocket() {
    const socket = feed.socket;
    feed.generation += 1;
    feed.socket = null;
    feed.live = false;
    clearInterval(feed.pingTimer);
    feed.pingTimer = null;
    if (socket) {
      try {
        socket.close(1000, "bye");
      } catch (err) {
        // already closing
      }
    }
  }

  async function socketClosed(code) {
    feed.socket = null;
    feed.live = false;
    clearInterval(feed.pingTimer);
    feed.pingTimer = null;
    if (!auth.kind) return;
    if (code === 4403) {
      signOut("This account may not watch the live feed.");
      return;
    }
    if (code !== 4401) {
      scheduleReconnect();
      return;
    }
    // 4401: the token was refused. A session may still refresh; a display token can't.
    if (auth.kind !== "session" || !auth.refreshToken) {
      signOut(rejectedTokenMessage());
      return;
    }
    const epoch = auth.epoch;
    try {
      await refreshSession();
      if (epoch === auth.epoch) connect();
    } catch (err) {
      if (epoch !== auth.epoch) return;
      if (err instanceof AuthError) signOut(err.message);
      else scheduleReconnect();
    }
  }

  function scheduleReconnect() {
    clearTimeout(feed.retryTimer);
    const delay = Math.round(feed.backoffMs * (0.8 + Math.random() * 0.4)); // jitter: screens don't stampede
    const gaveUpForNow = feed.backoffMs >= BACKOFF_MAX_MS || navigator.onLine === false;
    feed.backoffMs = Math.min(feed.backoffMs * 2, BACKOFF_MAX_MS);
    feed.retryAt = Date.now() + delay;
    feed.retryTimer = setTimeout(connect, delay);
    setConnection(gaveUpForNow ? "offline" : "reconnecting");
  }

  async function connect() {
    clearTimeout(feed.retryTimer);
    feed.retryTimer = null;
    feed.retryAt = 0;
    if (!auth.kind || feed.socket) return;
    const epoch = auth.epoch;
    setConnection(feed.everLive ? "reconnecting" : "connecting");
    if (!feed.stateLoaded) {
      const ok = await reloadState();
      if (epoch !== auth.epoch) return;
      if (!ok) {
        scheduleReconnect();
        return;
      }
    }
    try {
      await ensureFreshToken();
    } catch (err) {
      if (epoch !== auth.epoch) return;
      if (err instanceof AuthError) signOut(err.message);
      else scheduleReconnect();
      return;
    }
    if (epoch !== auth.epoch || feed.socket) return;
    openSocket();
  }

  // ---------------------------------------------------------------- views, sign-in and sign-out

  function showView(name) {
    $("signin-view").hidden = name !== "signin";
    $("dashboard-view").hidden = name !== "dashboard";
    $("signout").hidden = name !== "dashboard";
  }

  function showSigninError(text) {
    const node = $("signin-error");
    node.textContent = text || "";
    node.hidden = !text;
  }

  function start() {
    auth.epoch += 1;
    showSigninError("");
    showView("dashboard");
    resetModel();
    render();
    scheduleRefresh();
    connect();
  }

  function signOut(message) {
    if (auth.kind === "session" && auth.accessToken) {
      // Revoke the session server-side; a display token is only forgotten here (an admin revokes it).
      fetch("/auth/logout", {
        method: "POST",
        headers: { Authorization: `Bearer ${auth.accessToken}` },
        keepalive: true,
        credentials: "omit",
      }).catch(() => {});
    }
    sessionStorage.removeItem(SESSION_KEY);
    localStorage.removeItem(DISPLAY_KEY);
    auth.epoch += 1;
    clearTimeout(auth.refreshTimer);
    Object.assign(auth, { kind: null, accessToken: null, refreshToken: null, expiresAt: 0, refreshTimer: null });
    abandonSocket();
    clearTimeout(feed.retryTimer);
    clearTimeout(feed.reloadTimer);
    Object.assign(feed, {
      retryTimer: null, retryAt: 0, reloadTimer: null, buffered: null, stateLoaded: false,
      everLive: false, backoffMs: BACKOFF_MIN_MS, lastEventId: 0,
    });
    resetModel();
    showNotice("");
    showView("signin");
    setConnection("signed-out");
    showSigninError(message || "");
    $("username").focus();
  }

  async function onPasswordSignIn(event) {
    event.preventDefault();
    const button = $("signin-submit");
    button.disabled = true;
    showSigninError("");
    try {
      const pair = await requestJson("POST", "/auth/login", {
        username: $("username").value.trim(),
        password: $("password").value,
      });
      $("password").value = "";
      localStorage.removeItem(DISPLAY_KEY);
      saveSession(pair);
      start();
    } catch (err) {
      if (err instanceof HttpError && err.status === 429) {
        const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
        showSigninError(`Too many sign-in attempts.${wait}`);
      } else {
        showSigninError(err.message || "Sign-in failed.");
      }
    } finally {
      button.disabled = false;
    }
  }

  function onDisplayToken(event) {
    event.preventDefault();
    const token = $("display-token").value.trim().replace(/^Bearer\s+/i, "");
    if (!token) return;
    $("display-token").value = "";
    sessionStorage.removeItem(SESSION_KEY);
    localStorage.setItem(DISPLAY_KEY, token);
    Object.assign(auth, { kind: "display", accessToken: token, refreshToken: null, expiresAt: 0 });
    start();
  }

  // ---------------------------------------------------------------- clock and page lifecycle

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function tick() {
    const now = new Date();
    const clock = $("clock");
    clock.textContent = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    clock.dateTime = now.toISOString();
    updateConnectionDetail();
    const nowMs = now.getTime();
    for (const until of model.highlighted.values()) {
      if (until <= nowMs) {
        scheduleRender(); // let a highlight fade
        break;
      }
    }
  }

  function reconnectNow() {
    if (!auth.kind || feed.socket || feed.reloading) return;
    feed.backoffMs = BACKOFF_MIN_MS;
    connect();
  }

  function init() {
    resetModel();
    $("signin-form").addEventListener("submit", onPasswordSignIn);
    $("display-token-form").addEventListener("submit", onDisplayToken);
    $("signout").addEventListener("click", () => signOut(""));
    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", () => {
      if (auth.kind && !feed.live) setConnection("offline");
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible" || !auth.kind) return;
      if (feed.socket) send({ type: "ping" }); // after a sleep, find out quickly whether the link survived
      else reconnectNow();
    });
    setInterval(() => {
      if (auth.kind && feed.live) reloadState();
    }, RELOAD_EVERY_MS);
    tick();
    setInterval(tick, 1000);
    if (restoreAuth()) start();
    else signOut("");
  }

  init();
})();
