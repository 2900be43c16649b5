// The wall display's connection: signs in (a kiosk link's token, a pasted display token or a password),
// loads /dashboard/state and /lines/status, follows /ws, and never shows stale figures as live.
// No build step and no dependencies; board.js draws.
"use strict";

(() => {
  const TOPICS = ["production", "orders", "inventory", "lines"];
  const CONNECTION_LABELS = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    lost: "Connection lost",
    "signed-out": "Signed out",
  };
  const SESSION_KEY = "factory.dashboard.session";
  const DISPLAY_KEY = "factory.dashboard.displayToken";
  const PING_EVERY_MS = 10_000;
  const SILENCE_LIMIT_MS = 15_000; // no pong and no event for this long: the figures are stale
  const HANDSHAKE_LIMIT_MS = 8_000; // a server that accepts but never answers (paused, hung)
  const FETCH_LIMIT_MS = 8_000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 5_000; // once the server is back, the screen is live again within this
  const LINES_REFRESH_MS = 30_000; // shifts start and end without an event
  const Board = window.Board;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- HTTP

  class HttpError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }
  class AuthError extends Error {}

  async function requestJson(method, path, body, token) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_LIMIT_MS);
    let response;
    let payload = null;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", signal: abort.signal,
      });
      const text = await response.text();
      try {
        payload = text ? JSON.parse(text) : null;
      } catch (err) {
        payload = null;
      }
    } catch (err) {
      throw new Error("Cannot reach the server.");
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      const detail = payload && (payload.detail || payload.title);
      throw new HttpError(response.status, detail, response.headers.get("Retry-After"));
    }
    return payload;
  }

  // ---------------------------------------------------------------- tokens

  const auth = {
    kind: null, // "session" (username + password) or "display" (a wall screen's token)
    accessToken: null,
    refreshToken: null,
    expiresAt: 0,
    lifetimeMs: 0,
    refreshTimer: null,
    refreshing: null,
    epoch: 0, // bumped on sign-in and sign-out so stale async work can tell it is stale
  };

  // A kiosk link: /dashboard#token=…&line=L1,L2&view=lines&rotate=15. The token is kept for reloads and
  // taken out of the address bar (and so out of history and screenshots); line and view stay.
  function readKioskLink() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const token = (params.get("token") || "").trim();
    if (token) {
      sessionStorage.removeItem(SESSION_KEY);
      localStorage.setItem(DISPLAY_KEY, token);
      params.delete("token");
      const rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
    }
    document.body.dataset.view = params.get("view") === "lines" ? "lines" : "plant";
    Board.setRotation(params.get("rotate"));
    return Board.setFilter((params.get("line") || "").split(",").map((code) => code.trim()).filter(Boolean));
  }

  function restoreAuth() {
    const display = localStorage.getItem(DISPLAY_KEY);
    if (display) {
      Object.assign(auth, { kind: "display", accessToken: display, refreshToken: null, expiresAt: 0 });
      return true;
    }
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.access_token) {
        Object.assign(auth, {
          kind: "session", accessToken: saved.access_token, refreshToken: saved.refresh_token || null,
          expiresAt: Number(saved.expires_at) || 0, lifetimeMs: Number(saved.lifetime_ms) || 0,
        });
        return true;
      }
    } catch (err) {
      sessionStorage.removeItem(SESSION_KEY);
    }
    return false;
  }

  function saveSession(pair) {
    const lifetimeMs = Math.max(1, Number(pair.expires_in) || 0) * 1000;
    Object.assign(auth, {
      kind: "session", accessToken: pair.access_token, refreshToken: pair.refresh_token || auth.refreshToken,
      expiresAt: Date.now() + lifetimeMs, lifetimeMs,
    });
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({
      access_token: auth.accessToken, refresh_token: auth.refreshToken,
      expires_at: auth.expiresAt, lifetime_ms: auth.lifetimeMs,
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
      ? "This screen's display token was refused (revoked or expired). Open a new kiosk link."
      : "Your session has expired. Please sign in again.";
  }

  // GET with the current token; one refresh and retry on a 401 for a session.
  async function authorizedGet(path) {
    await ensureFreshToken();
    const get = () => requestJson("GET", path, undefined, auth.accessToken);
    try {
      return await get();
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 403) throw new AuthError("This account may not view the wall display.");
      if (err.status !== 401) throw err;
      if (auth.kind !== "session" || !auth.refreshToken) throw new AuthError(rejectedTokenMessage());
    }
    await refreshSession();
    try {
      return await get();
    } catch (err) {
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        throw new AuthError(rejectedTokenMessage());
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- loading

  const feed = {
    socket: null,
    generation: 0, // frames and closes from an abandoned socket are ignored
    lines: null, // the line codes this screen shows, or null for all
    lastEventId: 0,
    stateLoaded: false,
    everLive: false,
    live: false,
    stale: false,
    backoffMs: BACKOFF_MIN_MS,
    retryTimer: null,
    handshakeTimer: null,
    pingTimer: null,
    lastFrameAt: 0, // the last frame from the server (event, pong or reply): when the figures were true
    buffered: null, // events that arrive while the state reloads
    reloading: null,
    reloadTimer: null,
    linesLoadedAt: 0,
  };

  async function fetchLines() {
    const lines = await authorizedGet("/lines/status");
    Board.applyLines(Array.isArray(lines) ? lines : (lines && lines.items) || [], lines && lines.plant);
    const calls = await authorizedGet("/calls?open=true&per_page=100&sort_by=opened_at");
    Board.applyCalls((calls && calls.items) || []);
    feed.linesLoadedAt = Date.now();
  }

  // The state first, then the lines: events after the state's last_event_id are replayed on top of
  // both, and a line status never goes back in time (board.js keeps the newest by `as_of`).
  function reloadState() {
    if (feed.reloading) return feed.reloading;
    const epoch = auth.epoch;
    feed.buffered = [];
    feed.reloading = (async () => {
      let ok = false;
      try {
        const query = feed.lines ? `?line=${encodeURIComponent(feed.lines.join(","))}` : "";
        const state = await authorizedGet(`/dashboard/state${query}`);
        const receivedAt = Date.now();
        if (epoch !== auth.epoch) return false;
        Board.applyState(state, receivedAt);
        feed.lastEventId = Number(state.last_event_id) || 0;
        await fetchLines();
        if (epoch !== auth.epoch) return false;
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
        showNotice(`Could not load the board: ${err.message}`);
      } finally {
        feed.reloading = null;
      }
      const arrived = feed.buffered || [];
      feed.buffered = null;
      for (const message of arrived) applyEvent(message, false);
      render();
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

  function announce(text) {
    const region = $("announcer");
    region.textContent = "";
    // A new text node in a cleared region is announced even when it repeats the last one.
    setTimeout(() => { region.textContent = text; }, 50);
  }

  function applyEvent(message, live) {
    const id = Number(message.id) || 0;
    if (id <= feed.lastEventId) return; // already part of the state or seen before
    feed.lastEventId = id;
    const outcome = Board.applyEvent(message);
    if (outcome.reload) requestReload();
    if (outcome.announce && live) announce(outcome.announce);
  }

  function render() {
    Board.render();
    document.body.dataset.lastEventId = String(feed.lastEventId);
  }

  // ---------------------------------------------------------------- connection state

  function setConnection(state) {
    const node = $("connection-state");
    node.dataset.state = state;
    node.textContent = CONNECTION_LABELS[state] || state;
  }

  function setStale(stale) {
    if (feed.stale === stale) return;
    feed.stale = stale;
    document.body.classList.toggle("stale", stale);
    $("stale-banner").hidden = !stale;
    if (stale) {
      const since = $("stale-since");
      since.textContent = feed.lastFrameAt ? Board.clockText(feed.lastFrameAt + (Board.serverNow() - Date.now())) : "--:--:--";
      setConnection("lost");
    }
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  // ---------------------------------------------------------------- live feed

  function send(message) {
    if (feed.socket && feed.socket.readyState === WebSocket.OPEN) feed.socket.send(JSON.stringify(message));
  }

  function subscribe() {
    const request = { type: "subscribe", topics: TOPICS, since: feed.lastEventId };
    if (feed.lines) request.filters = { line: feed.lines };
    send(request);
  }

  async function resync() {
    const ok = await reloadState();
    if (!auth.kind) return;
    if (ok) subscribe();
    else dropSocket();
  }

  function handleFrame(message) {
    switch (message && message.type) {
      case "subscribed":
        clearTimeout(feed.handshakeTimer);
        feed.live = true;
        feed.everLive = true;
        feed.backoffMs = BACKOFF_MIN_MS;
        setStale(false);
        setConnection("live");
        if (Date.now() - feed.linesLoadedAt > 2_000) refreshLines(); // what changed while away
        break;
      case "event":
        if (feed.buffered) feed.buffered.push(message);
        else {
          applyEvent(message, true);
          render();
        }
        break;
      case "resync":
        resync();
        break;
      case "error":
        showNotice(`Live feed: ${message.message || message.detail || message.reason || "error"}`);
        break;
      default:
        break; // pong and anything else: lastFrameAt is all they are for
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
    clearTimeout(feed.handshakeTimer);
    feed.handshakeTimer = setTimeout(() => {
      if (generation !== feed.generation || feed.live) return;
      // Accepted but never answered (a paused server): the wait was the backoff, so try again at
      // once and keep an attempt in flight, to be live the moment the server answers.
      feed.backoffMs = BACKOFF_MIN_MS;
      dropSocket();
    }, HANDSHAKE_LIMIT_MS);
    socket.addEventListener("open", () => {
      if (generation !== feed.generation) return;
      send({ type: "auth", token: auth.accessToken });
      subscribe();
      clearInterval(feed.pingTimer);
      feed.pingTimer = setInterval(() => send({ type: "ping" }), PING_EVERY_MS);
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

  function abandonSocket() {
    const socket = feed.socket;
    feed.generation += 1;
    feed.socket = null;
    feed.live = false;
    clearInterval(feed.pingTimer);
    clearTimeout(feed.handshakeTimer);
    feed.pingTimer = null;
    if (socket) {
      try {
        socket.close(1000, "bye");
      } catch (err) {
        // already closing
      }
    }
  }

  function dropSocket() {
    abandonSocket();
    scheduleReconnect();
  }

  async function socketClosed(code) {
    abandonSocket();
    if (!auth.kind) return;
    if (code === 4403) {
      signOut("This account may not watch the live feed.");
      return;
    }
    if (code !== 4401) {
      scheduleReconnect();
      return;
    }
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
    // Jitter so a hall of screens does not reconnect in step, never beyond the cap.
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(feed.backoffMs * (0.8 + Math.random() * 0.4)));
    feed.backoffMs = Math.min(feed.backoffMs * 2, BACKOFF_MAX_MS);
    feed.retryTimer = setTimeout(connect, delay);
    if (!feed.stale) setConnection(feed.everLive ? "reconnecting" : "connecting");
  }

  async function connect() {
    clearTimeout(feed.retryTimer);
    feed.retryTimer = null;
    if (!auth.kind || feed.socket) return;
    const epoch = auth.epoch;
    if (!feed.stale) setConnection(feed.everLive ? "reconnecting" : "connecting");
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

  async function refreshLines() {
    const epoch = auth.epoch;
    try {
      await fetchLines();
      if (epoch === auth.epoch) render();
    } catch (err) {
      if (epoch === auth.epoch && err instanceof AuthError) signOut(err.message);
      // otherwise the watchdog and the reconnect loop deal with an unreachable server
    }
  }

  // Once a second: is the link silent too long, has the day turned, are the shifts due a refresh.
  function watch() {
    if (!auth.kind || !feed.stateLoaded) return;
    const silent = Date.now() - feed.lastFrameAt > SILENCE_LIMIT_MS;
    if (silent && (feed.everLive || feed.lastFrameAt)) {
      setStale(true);
      if (feed.live) dropSocket(); // a half-open link can take minutes to report a close
    }
    if (!feed.live) return;
    if (Board.dayChanged()) requestReload();
    else if (Date.now() - feed.linesLoadedAt > LINES_REFRESH_MS) refreshLines();
  }

  // ---------------------------------------------------------------- views, sign-in and sign-out

  function showView(name) {
    $("signin-view").hidden = name !== "signin";
    $("dashboard-view").hidden = name !== "dashboard";
    document.body.classList.toggle("on-board", name === "dashboard");
    // A wall screen (display token) shows no sign-out: nobody touches it, and the link signs it in.
    $("signout").hidden = name !== "dashboard" || auth.kind === "display";
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
    render();
    scheduleRefresh();
    connect();
  }

  function signOut(message) {
    if (auth.kind === "session" && auth.accessToken) {
      // Revoke the session server-side; a display token is only forgotten here (an admin revokes it).
      fetch("/auth/logout", {
        method: "POST", headers: { Authorization: `Bearer ${auth.accessToken}` }, keepalive: true, credentials: "omit",
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
      retryTimer: null, reloadTimer: null, buffered: null, stateLoaded: false, everLive: false,
      backoffMs: BACKOFF_MIN_MS, lastEventId: 0, lastFrameAt: 0,
    });
    setStale(false);
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
        username: $("username").value.trim(), password: $("password").value,
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

  function reconnectNow() {
    if (!auth.kind || feed.socket || feed.reloading) return;
    feed.backoffMs = BACKOFF_MIN_MS;
    connect();
  }

  function init() {
    feed.lines = readKioskLink();
    $("signin-form").addEventListener("submit", onPasswordSignIn);
    $("display-token-form").addEventListener("submit", onDisplayToken);
    $("signout").addEventListener("click", () => signOut(""));
    window.addEventListener("online", reconnectNow);
    window.addEventListener("resize", () => { if (auth.kind) render(); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible" || !auth.kind) return;
      if (feed.socket) send({ type: "ping" }); // after a sleep, find out quickly whether the link survived
      else reconnectNow();
    });
    setInterval(() => {
      watch();
      if (auth.kind) Board.tick();
    }, 1000);
    if (restoreAuth()) start();
    else signOut("");
  }

  init();
})();
