// The operator station at a line: /station#token=…&line=L1. Records good and reject counts, opens,
// ends and classifies stops, raises and acknowledges andon calls, and shows the shift's target
// against actual (its breaks left out), following the line on the live feed (/ws). Every action goes
// through a queue kept in localStorage, sent in order with its own Idempotency-Key: while the link is
// down actions wait, and a retry after a lost answer is replayed by the server, never counted twice.
// No build step and no dependencies.
"use strict";

(() => {
  const TOKEN_KEY = "factory.station.token";
  const LINE_KEY = "factory.station.line";
  const OPERATOR_KEY = "factory.station.operator";
  const FETCH_LIMIT_MS = 8_000;
  const POLL_MS = 30_000; // a slow re-read besides the live feed: a shift starts or ends without an event
  const FEED_TOPICS = ["lines", "production"];
  const FEED_BACKOFF_MAX_MS = 5_000;
  const RETRY_MS = 1_500;
  const MAX_RECORD_PAGES = 30; // 3,000 records of one line in one shift: more than any line makes
  const KIND_LABELS = { maintenance: "Maintenance", quality: "Quality", material: "Material", supervisor: "Supervisor" };

  const $ = (id) => document.getElementById(id);
  const numberFormat = new Intl.NumberFormat("en-US");
  const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? "—" : numberFormat.format(n));

  const state = {
    token: null,
    line: null,
    status: null, // this line's object from GET /lines/status
    serverOffsetMs: 0, // server clock − browser clock
    shifts: [],
    reasons: [],
    calls: [],
    unassigned: [], // stops waiting for a reason (machine-detected)
    order: null, // the running work order
    records: [],
    queue: [],
    sending: false,
    online: true,
    classifying: null, // the stop a reason tap classifies
    classifyRoute: true, // false once the server says POST /stops/{id}/classify does not exist
    retryTimer: null,
    feed: null, // the live feed's WebSocket
    feedBackoffMs: 500,
    refreshTimer: null,
  };

  // ---------------------------------------------------------------- link, token and queue

  function readLink() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const token = (params.get("token") || "").trim();
    const line = (params.get("line") || "").trim();
    if (token) localStorage.setItem(TOKEN_KEY, token);
    if (line) localStorage.setItem(LINE_KEY, line);
    if (token) { // out of the address bar, history and screenshots; kept for reloads
      params.delete("token");
      const rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? `#${rest}` : ""));
    }
    state.token = localStorage.getItem(TOKEN_KEY);
    state.line = localStorage.getItem(LINE_KEY);
  }

  const queueKey = () => `factory.station.queue.${state.line}`;

  function loadQueue() {
    try {
      const saved = JSON.parse(localStorage.getItem(queueKey()) || "[]");
      state.queue = Array.isArray(saved) ? saved : [];
    } catch (err) {
      state.queue = [];
    }
  }

  function saveQueue() {
    localStorage.setItem(queueKey(), JSON.stringify(state.queue));
  }

  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // also where randomUUID is not (plain http)
    return `station-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  // ---------------------------------------------------------------- HTTP

  class Offline extends Error {}

  async function request(method, path, body, key) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_LIMIT_MS);
    try {
      const response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", signal: abort.signal,
      });
      const text = await response.text();
      let payload = null;
      try {
        payload = text ? JSON.parse(text) : null;
      } catch (err) {
        payload = null;
      }
      return { status: response.status, ok: response.ok, payload };
    } catch (err) {
      throw new Offline("Cannot reach the server.");
    } finally {
      clearTimeout(timer);
    }
  }

  async function read(path) {
    const answer = await request("GET", path);
    if (answer.status === 401) throw new Offline("The station's token is not valid (revoked or expired).");
    if (!answer.ok) throw new Error((answer.payload && answer.payload.detail) || `HTTP ${answer.status}`);
    return answer.payload;
  }

  async function readAll(path) {
    const items = [];
    let next = `${path}${path.includes("?") ? "&" : "?"}per_page=100`;
    for (let n = 0; next && n < MAX_RECORD_PAGES; n += 1) {
      const page = await read(next);
      items.push(...page.items);
      const cursor = page.meta && page.meta.next_cursor;
      next = cursor ? `${path}${path.includes("?") ? "&" : "?"}per_page=100&cursor=${encodeURIComponent(cursor)}` : null;
    }
    return items;
  }

  // ---------------------------------------------------------------- actions (queued)

  function act(action) {
    state.queue.push({ ...action, key: newKey(), at: Date.now() });
    saveQueue();
    render();
    flush();
  }

  async function flush() {
    if (state.sending) return;
    state.sending = true;
    clearTimeout(state.retryTimer);
    let sentAny = false;
    try {
      while (state.queue.length) {
        const action = state.queue[0];
        let answer;
        try {
          answer = await request(action.method, action.path, action.body, action.key);
        } catch (err) {
          setOnline(false);
          state.retryTimer = setTimeout(flush, RETRY_MS);
          return;
        }
        if (answer.status >= 500 || answer.status === 429 || answer.status === 408 || answer.status === 401) {
          // Not an answer about the action: keep it, and try again (a 401 waits for a new token).
          setOnline(answer.status !== 401, answer.status === 401 ? "The station's token is not valid." : null);
          state.retryTimer = setTimeout(flush, RETRY_MS * 2);
          return;
        }
        setOnline(true);
        if (answer.status === 404 && action.kind === "classify") state.classifyRoute = false;
        state.queue.shift();
        saveQueue();
        sentAny = true;
        if (!answer.ok) {
          const detail = (answer.payload && answer.payload.detail) || `HTTP ${answer.status}`;
          notice(`${action.label}: ${detail}`);
        }
        render();
      }
    } finally {
      state.sending = false;
      render();
    }
    if (sentAny) refresh();
  }

  function operatorId() {
    const value = Number($("operator").value);
    return Number.isInteger(value) && value > 0 ? value : null;
  }

  function recordCount(good, reject) {
    const shift = state.status && state.status.shift;
    const order = state.order;
    const employee = operatorId();
    if (!shift || !order) return notice("No work order is running on this line now.");
    if (!employee) {
      $("operator").focus();
      return notice("Enter your operator number first.");
    }
    const produced = good + reject;
    act({
      kind: "count", method: "POST", path: "/production", good, reject,
      label: reject ? `+${reject} reject` : `+${good} good`,
      body: {
        product_id: order.product_id, employee_id: employee, quantity_produced: produced,
        quantity_defective: reject, date_produced: shift.date, line: state.line, shift: shift.name,
        work_order_id: order.id,
      },
    });
  }

  function reasonTapped(code, label) {
    const view = effective();
    if (state.classifying) {
      const stop = state.classifying;
      state.classifying = null;
      return act({ kind: "classify", method: "POST", path: `/stops/${stop.id}/classify`, body: { reason: code },
                   label: `Reason ${label}`, stopId: stop.id });
    }
    if (view.stopped) return notice("The line is stopped already: end that stop first.");
    act({ kind: "stop", method: "POST", path: `/lines/${encodeURIComponent(state.line)}/stops`, body: { reason: code },
          label: `Stop: ${label}`, reason: code, reasonLabel: label });
  }

  // ---------------------------------------------------------------- reading the server

  async function refresh() {
    try {
      const [status, calls] = await Promise.all([
        read("/lines/status"),
        read(`/calls?line=${encodeURIComponent(state.line)}&open=true&per_page=50`),
      ]);
      const line = (status.items || []).find((item) => item.line === state.line) || null;
      state.status = line;
      if (line && line.as_of) state.serverOffsetMs = Date.parse(line.as_of) - Date.now();
      state.calls = calls.items;
      if (!state.reasons.length) {
        state.reasons = (await read("/stop-reasons?active=true&per_page=100&sort_by=id")).items;
        state.shifts = (await read("/shifts?per_page=100")).items;
      }
      if (state.reasons.some((reason) => reason.code === "unassigned")) {
        state.unassigned = (await read(
          `/stops?line=${encodeURIComponent(state.line)}&reason=unassigned&per_page=10&sort_by=started_at&sort_order=desc`)).items;
      }
      const shift = line && line.shift;
      if (shift) {
        const orders = (await read(`/work-orders?line=${encodeURIComponent(state.line)}&date=${shift.date}`
          + `&shift=${encodeURIComponent(shift.name)}&per_page=50`)).items;
        const live = orders.filter((order) => !["completed", "cancelled"].includes(order.status));
        state.order = live.find((order) => order.status === "in_progress") || live[0] || null;
        const end = new Date(Date.parse(shift.ends_at) + 86_400_000).toISOString().slice(0, 10);
        state.records = await readAll(`/production?line=${encodeURIComponent(state.line)}&from=${shift.date}&to=${end}`);
      } else {
        state.order = null;
        state.records = [];
      }
      setOnline(true);
    } catch (err) {
      if (err instanceof Offline) setOnline(false, err.message.startsWith("The station") ? err.message : null);
      else notice(err.message);
    }
    render();
  }

  // ---------------------------------------------------------------- the live feed

  // Follows this line's events (status, stops, calls, production) on /ws and re-reads the line on
  // each, so a stop opened by a machine or a call acknowledged elsewhere shows at once.
  function openFeed() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${window.location.host}/ws`);
    } catch (err) {
      feedClosed();
      return;
    }
    state.feed = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: state.token }));
      socket.send(JSON.stringify({ type: "subscribe", topics: FEED_TOPICS, filters: { line: [state.line] } }));
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (message.type === "subscribed") {
        state.feedBackoffMs = 500;
        $("conn").dataset.feed = "live";
        refreshSoon(); // what changed while the feed was away
      } else if (message.type === "event" || message.type === "resync") {
        refreshSoon();
      }
    });
    socket.addEventListener("close", () => {
      if (state.feed === socket) feedClosed();
    });
  }

  function feedClosed() {
    state.feed = null;
    $("conn").dataset.feed = "down";
    const delay = state.feedBackoffMs;
    state.feedBackoffMs = Math.min(FEED_BACKOFF_MAX_MS, state.feedBackoffMs * 2);
    setTimeout(openFeed, delay);
  }

  // One re-read for a burst of events.
  function refreshSoon() {
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = null;
      if (state.sending) refreshSoon();
      else refresh();
    }, 200);
  }

  // ---------------------------------------------------------------- what the screen shows

  function setOnline(online, message) {
    state.online = online;
    const conn = $("conn");
    conn.dataset.state = online ? "online" : "offline";
    conn.textContent = online ? "Online" : "Offline";
    if (message) notice(message);
  }

  let noticeTimer = null;
  function notice(text) {
    const box = $("notice");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 6_000);
  }

  const now = () => Date.now() + state.serverOffsetMs;

  // The line as the operator should see it: the server's state with the queued actions applied.
  function effective() {
    const status = state.status;
    let stopped = Boolean(status && status.state === "stopped");
    let stop = status && status.stop ? { ...status.stop } : null;
    let good = status && status.plan ? status.plan.good : 0;
    let waiting = 0;
    for (const action of state.queue) {
      if (action.kind === "stop") {
        stopped = true;
        stop = { reason: action.reason, label: action.reasonLabel, started_at: new Date(action.at).toISOString(), pending: true };
      } else if (action.kind === "end") {
        stopped = false;
        stop = null;
      } else if (action.kind === "count") {
        good += action.good;
        waiting += action.good;
      }
    }
    return { stopped, stop, good, waiting };
  }

  function clockText(ms) {
    const seconds = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = (v) => String(v).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
  }

  // Minutes the plant's wall clock is ahead of UTC, from the running shift's definition.
  function plantOffsetMinutes() {
    const shift = state.status && state.status.shift;
    const definition = shift && state.shifts.find((item) => item.name === shift.name);
    if (!definition) return null;
    const [h, m] = definition.starts_at.split(":").map(Number);
    const start = new Date(shift.starts_at);
    const utcMinutes = start.getUTCHours() * 60 + start.getUTCMinutes();
    let offset = (h * 60 + m - utcMinutes) % 1440;
    if (offset > 840) offset -= 1440;
    if (offset < -720) offset += 1440;
    return offset;
  }

  function plantTime(ms, offset) {
    const moment = new Date(ms + offset * 60_000);
    return `${String(moment.getUTCHours()).padStart(2, "0")}:${String(moment.getUTCMinutes()).padStart(2, "0")}`;
  }

  // The running shift's breaks at their times, as [from, to) in ms; a shift whose break has no time
  // has none here (its break is spread evenly, so the shares stay as they are).
  function breakSpans() {
    const shift = state.status && state.status.shift;
    const definition = shift && state.shifts.find((item) => item.name === shift.name);
    if (!definition || !Array.isArray(definition.breaks)) return [];
    const minutes = (hhmm) => {
      const [h, m] = String(hhmm).split(":").map(Number);
      return h * 60 + m;
    };
    const start = Date.parse(shift.starts_at);
    const first = minutes(definition.starts_at);
    return definition.breaks.map((item) => {
      const from = start + (((minutes(item.starts_at) - first) % 1440) + 1440) % 1440 * 60_000;
      return [from, from + Number(item.minutes) * 60_000];
    });
  }

  // The shift's planned time (its length less its breaks) from its start up to `moment`, in ms.
  function plannedUpTo(moment, start, spans) {
    let planned = Math.max(0, moment - start);
    for (const [from, to] of spans) planned -= Math.max(0, Math.min(to, moment) - Math.max(from, start));
    return planned;
  }

  function hourSlots() {
    const shift = state.status && state.status.shift;
    if (!shift) return [];
    const start = Date.parse(shift.starts_at);
    const end = Date.parse(shift.ends_at);
    const planned = (state.status.plan && state.status.plan.planned_quantity) || 0;
    const spans = breakSpans();
    const total = plannedUpTo(end, start, spans);
    // Each hour's target is the plan's share of the planned time in it: a break's minutes make none.
    const share = (moment) => (total > 0 ? Math.floor(planned * plannedUpTo(moment, start, spans) / total) : 0);
    const slots = [];
    for (let from = start; from < end; from += 3_600_000) {
      const to = Math.min(end, from + 3_600_000);
      slots.push({ from, to, target: share(to) - share(from), good: 0 });
    }
    for (const record of state.records) {
      const at = Date.parse(record.produced_at || record.created_at);
      const slot = slots.find((item) => at >= item.from && at < item.to);
      if (slot && record.shift === shift.name && record.date_produced === shift.date) {
        slot.good += record.quantity_produced - record.quantity_defective;
      }
    }
    return slots;
  }

  // The count at shift end at the pace so far: good so far over the planned time gone by, times the
  // shift's planned time (breaks count in neither). "—" until a fiftieth of the shift has gone by.
  function projected(good) {
    const shift = state.status && state.status.shift;
    if (!shift) return null;
    const start = Date.parse(shift.starts_at);
    const end = Date.parse(shift.ends_at);
    const spans = breakSpans();
    const total = plannedUpTo(end, start, spans);
    const gone = plannedUpTo(Math.min(end, now()), start, spans);
    return total > 0 && gone > total * 0.02 ? Math.round(good * total / gone) : null;
  }

  function render() {
    const status = state.status;
    const view = effective();
    $("line-code").textContent = state.line || "";
    $("line-name").textContent = status ? status.name : "";
    const stateBox = $("state");
    const word = !status ? "—" : view.stopped ? (view.stop && view.stop.planned ? "Planned stop" : "Stopped")
      : status.state === "idle" ? "No shift" : status.state === "offline" ? "Offline" : "Running";
    stateBox.textContent = word;
    stateBox.dataset.state = !status ? "unknown" : view.stopped ? (view.stop && view.stop.planned ? "planned" : "stopped")
      : status.state;

    const queued = $("queued");
    queued.hidden = state.queue.length === 0;
    queued.dataset.count = String(state.queue.length);
    queued.textContent = `${state.queue.length} waiting to send`;

    // Figures
    const plan = status && status.plan;
    const shift = status && status.shift;
    $("target").textContent = plan ? fmt(plan.expected_by_now) : "—";
    const actual = $("actual");
    actual.textContent = status ? fmt(view.good) : "—";
    actual.dataset.value = String(view.good);
    $("plan").textContent = plan ? fmt(plan.planned_quantity) : "—";
    $("projected").textContent = fmt(projected(view.good));
    $("order").textContent = state.order ? `work order ${state.order.id}` : shift ? "no work order" : "no shift now";
    for (const button of document.querySelectorAll(".count-buttons button")) button.disabled = !state.order;

    // By hour
    const offset = plantOffsetMinutes();
    const rows = $("hour-rows");
    rows.replaceChildren(...hourSlots().map((slot) => {
      const row = document.createElement("tr");
      const current = now() >= slot.from && now() < slot.to;
      if (current) row.className = "current";
      const cells = [offset === null ? "" : plantTime(slot.from, offset), fmt(slot.target), fmt(slot.good)];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      if (slot.from > now()) row.lastChild.textContent = "";
      return row;
    }));

    // Stop
    $("stopped").hidden = !view.stopped;
    if (view.stopped && view.stop) {
      $("stop-reason").textContent = view.stop.label + (view.stop.pending ? " (waiting to send)" : "");
    }
    const open = status && status.stop;
    if (!state.classifying && open && open.reason === "unassigned" && state.classifyRoute) state.classifying = open;
    if (state.classifying && !state.classifyRoute) state.classifying = null;
    const classifying = state.classifying;
    $("classify-hint").hidden = !classifying;
    if (classifying) $("classify-what").textContent = `the stop since ${offset === null ? "" : plantTime(Date.parse(classifying.started_at), offset)}`;
    const grid = $("reasons");
    const showGrid = classifying || !view.stopped;
    grid.hidden = !showGrid;
    const reasons = state.reasons.filter((reason) => reason.code !== "unassigned");
    if (grid.childElementCount !== reasons.length + unassignedChips().length) {
      grid.replaceChildren(...reasons.map((reason) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = `reason${reason.planned ? " planned" : ""}`;
        button.dataset.reason = reason.code;
        button.textContent = reason.label;
        button.addEventListener("click", () => reasonTapped(reason.code, reason.label));
        return button;
      }), ...unassignedChips());
    }

    // Calls
    const calls = [...state.calls.map((call) => ({ ...call }))];
    for (const action of state.queue) {
      if (action.kind === "call") calls.push({ id: null, kind: action.callKind, opened_at: new Date(action.at).toISOString(), pending: true });
      if (action.kind === "ack") {
        const call = calls.find((item) => item.id === action.callId);
        if (call) call.ackPending = true;
      }
    }
    $("open-calls").replaceChildren(...calls.slice(0, 4).map((call) => {
      const item = document.createElement("li");
      item.className = "open-call";
      item.dataset.kind = call.kind;
      if (call.id) item.dataset.callId = String(call.id);
      const what = document.createElement("span");
      what.className = "call-what";
      what.textContent = KIND_LABELS[call.kind] || call.kind;
      const timer = document.createElement("time");
      timer.className = "timer";
      timer.dataset.since = call.opened_at;
      timer.textContent = clockText(now() - Date.parse(call.opened_at));
      item.append(what, timer);
      if (call.pending) {
        item.append(Object.assign(document.createElement("span"), { className: "call-state", textContent: "waiting to send" }));
      } else if (call.acknowledged_at || call.ackPending) {
        item.append(Object.assign(document.createElement("span"), { className: "call-state", textContent: call.ackPending ? "acknowledged (waiting)" : "on the way" }));
      } else {
        const ack = document.createElement("button");
        ack.type = "button";
        ack.className = "ack";
        ack.textContent = "Acknowledge";
        ack.addEventListener("click", () => act({ kind: "ack", method: "POST", path: `/calls/${call.id}/acknowledge`, callId: call.id, label: "Acknowledge" }));
        item.append(ack);
      }
      return item;
    }));
    tick();
  }

  function unassignedChips() {
    if (!state.classifyRoute) return [];
    return state.unassigned.filter((stop) => stop.reason === "unassigned" && stop.ended_at).slice(0, 2).map((stop) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "reason unassigned";
      chip.dataset.stopId = String(stop.id);
      chip.textContent = `Unassigned stop ${clockText(stop.duration_seconds * 1000)}: give reason`;
      chip.addEventListener("click", () => { state.classifying = stop; render(); });
      return chip;
    });
  }

  function tick() {
    const view = effective();
    if (view.stopped && view.stop) $("stop-timer").textContent = clockText(now() - Date.parse(view.stop.started_at));
    for (const timer of document.querySelectorAll("#open-calls .timer")) {
      timer.textContent = clockText(now() - Date.parse(timer.dataset.since));
    }
    const offset = plantOffsetMinutes();
    const clock = new Date(now());
    $("clock").textContent = offset === null
      ? clock.toTimeString().slice(0, 5) : plantTime(now(), offset);
  }

  // ---------------------------------------------------------------- start

  function start() {
    readLink();
    if (!state.token || !state.line) {
      setOnline(false, "Open this page with its station link: /station#token=…&line=L1");
      return;
    }
    loadQueue();
    const operator = $("operator");
    operator.value = localStorage.getItem(OPERATOR_KEY) || "";
    operator.addEventListener("change", () => localStorage.setItem(OPERATOR_KEY, operator.value.trim()));
    for (const button of document.querySelectorAll("[data-good]")) {
      button.addEventListener("click", () => recordCount(Number(button.dataset.good), 0));
    }
    for (const button of document.querySelectorAll("[data-reject]")) {
      button.addEventListener("click", () => recordCount(0, Number(button.dataset.reject)));
    }
    for (const button of document.querySelectorAll("[data-kind]")) {
      button.addEventListener("click", () => act({
        kind: "call", method: "POST", path: `/lines/${encodeURIComponent(state.line)}/calls`,
        body: { kind: button.dataset.kind }, callKind: button.dataset.kind, label: `Call ${button.textContent}`,
      }));
    }
    $("end-stop").addEventListener("click", () => act({
      kind: "end", method: "POST", path: `/lines/${encodeURIComponent(state.line)}/stops/current/end`, label: "End stop",
    }));
    window.addEventListener("online", flush);
    render();
    refresh().then(flush);
    openFeed();
    setInterval(() => { if (!state.sending) refresh(); }, POLL_MS);
    setInterval(tick, 1_000);
  }

  start();
})();
