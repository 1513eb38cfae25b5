// The one helper module of the interop tests: start the real switchboard binary (or the SockJS
// conformance example), wait for events with timeouts, publish over HTTP, and a small client of the
// relay envelope (over `/ws`, or any socket with ws's `send`/`close` and events).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const interopDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = path.resolve(interopDir, "../..");

/** The binary under test: $SWITCHBOARD_BIN, or the debug build of this repository. */
export const BIN = path.resolve(
  interopDir,
  process.env.SWITCHBOARD_BIN ?? "../../target/debug/switchboard",
);

/** How long any single wait in a test may take before the test fails. */
export const WAIT = 5000;

/**
 * Resolves with the arguments of the next `event` (as an array); rejects after `timeoutMs`, or
 * as soon as one of the `failOn` events comes first.
 */
export function once(emitter, event, timeoutMs = WAIT, { failOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const listeners = new Map();
    const settle = (settler, value) => {
      clearTimeout(timer);
      for (const [name, listener] of listeners) emitter.off(name, listener);
      settler(value);
    };
    listeners.set(event, (...args) => settle(resolve, args));
    for (const name of failOn) {
      listeners.set(name, (why) => settle(reject, new Error(`"${name}" before "${event}": ${why?.message ?? why}`)));
    }
    const timer = setTimeout(() => settle(reject, new Error(`no "${event}" event within ${timeoutMs} ms`)), timeoutMs);
    for (const [name, listener] of listeners) emitter.on(name, listener);
  });
}

/** Resolves like `promise`, or rejects if it takes longer than `timeoutMs`. */
export function within(promise, what, timeoutMs = WAIT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Emits on a Socket.IO socket (any client version) and resolves with the ack's one argument. */
export function emitWithAck(socket, event, arg, timeoutMs = WAIT) {
  return within(new Promise((resolve) => socket.emit(event, arg, resolve)), `ack of "${event}"`, timeoutMs);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `bin` with `args` and `env`, then polls `ready(url)` (an async predicate) until it holds.
 * Resolves with `{url, port, wsUrl, stop, log}`; `stop()` sends SIGTERM, awaits the exit (SIGKILL
 * after 5 s) and resolves with `{code, signal}`.
 */
export async function spawnUntilReady(bin, { port, args = [], env = {}, ready, what, deadlineMs }) {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, args, {
    cwd: repoDir,
    env: { ...process.env, NO_COLOR: "1", RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const keep = (chunk) => (log = (log + chunk).slice(-4000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const reap = () => child.kill("SIGKILL"); // never outlive the test process
  process.once("exit", reap);
  const exited = new Promise((resolve) => {
    child.once("error", (error) => resolve({ error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  }).finally(() => process.off("exit", reap));

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
    const result = await exited;
    clearTimeout(killer);
    return result;
  }

  const deadline = Date.now() + deadlineMs;
  let gone = null;
  exited.then((result) => (gone = result));
  while (gone === null) {
    try {
      if (await ready(url)) return { url, port, wsUrl: `ws://127.0.0.1:${port}`, stop, log: () => log };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin} did not answer ${what} within ${deadlineMs} ms\n${log}`);
    }
    await delay(25);
  }
  const why = gone.error ? gone.error.message : `exit code ${gone.code}, signal ${gone.signal}`;
  throw new Error(`${bin} exited before it was ready (${why})\n${log}`);
}

/**
 * Starts the binary on 127.0.0.1 and a free port with extra `flags`, and waits until
 * GET /healthz answers 200. `stop()` sends SIGTERM, awaits the exit (SIGKILL after 5 s) and
 * resolves with `{code, signal}`.
 */
export async function startServer(flags = [], { deadlineMs = 10_000 } = {}) {
  const port = await freePort();
  return spawnUntilReady(BIN, {
    port,
    args: ["--listen", `127.0.0.1:${port}`, ...flags],
    what: "/healthz",
    deadlineMs,
    ready: async (url) => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200,
  });
}

/** The SockJS conformance server: $SOCKJS_CONFORMANCE_BIN, or the debug build of the example. */
export const SOCKJS_CONFORMANCE_BIN = path.resolve(
  interopDir,
  process.env.SOCKJS_CONFORMANCE_BIN ?? "../../target/debug/examples/sockjs_conformance",
);

/**
 * Starts examples/sockjs_conformance (services /echo, /close, /amplify, /broadcast, ...) on a free
 * port and waits until GET /echo greets with `Welcome to SockJS!\n`. Same result as startServer.
 */
export async function startSockJsConformance({ deadlineMs = 10_000 } = {}) {
  const port = await freePort();
  return spawnUntilReady(SOCKJS_CONFORMANCE_BIN, {
    port,
    env: { PORT: String(port) },
    what: "GET /echo",
    deadlineMs,
    ready: async (url) => {
      const response = await fetch(`${url}/echo`, { signal: AbortSignal.timeout(1000) });
      return response.status === 200 && (await response.text()) === "Welcome to SockJS!\n";
    },
  });
}

/** Closes the server's tracked clients, then stops it, when test `t` ends. */
function stopAfter(t, server) {
  const clients = [];
  server.track = (client) => (clients.push(client), client);
  t.after(async () => {
    // Closing first spares the server a graceful shutdown with connections still open.
    await within(Promise.all(clients.map((client) => client.close())), "clients closing").catch(() => {});
    await server.stop();
  });
  return server;
}

/** Like serverFor, with the SockJS conformance server. */
export async function sockJsConformanceFor(t) {
  return stopAfter(t, await startSockJsConformance());
}

/**
 * Starts a server for test `t` and stops it when the test ends. `server.track(client)` registers
 * a client (anything with `close()`, which may return a promise) to close before the server stops.
 */
export async function serverFor(t, flags = []) {
  return stopAfter(t, await startServer(flags));
}

/** POST /api/publish with `body`; resolves with the parsed answer, rejects on a non-200. */
export async function publish(server, body, { token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${server.url}/api/publish`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /api/publish answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * A client of the relay envelope over `/ws`: `connect()` reads the welcome; `request()` sends a
 * request with a fresh id and resolves with its ack or error; everything else (room messages,
 * errors without an id) waits in `inbox` for `next()`.
 */
export class RelayClient {
  static async connect(server, { timeoutMs = WAIT, query = "" } = {}) {
    const client = new RelayClient(new WebSocket(`${server.wsUrl}/ws${query}`));
    server.track?.(client);
    const welcome = await client.next(timeoutMs);
    if (welcome.type !== "welcome") throw new Error(`expected a welcome, got ${JSON.stringify(welcome)}`);
    client.session = welcome.session;
    return client;
  }

  constructor(ws) {
    this.ws = ws;
    this.session = null;
    this.inbox = [];
    this.waiters = [];
    this.pending = new Map();
    this.nextId = 0;
    this.errors = [];
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        const why = this.errors.length > 0 ? `: ${this.errors[0].message}` : "";
        const failure = new Error(`connection closed (${code} ${reason})${why}`);
        for (const { reject } of [...this.pending.values(), ...this.waiters]) reject(failure);
        this.pending.clear();
        this.waiters = [];
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on("error", (error) => this.errors.push(error));
    ws.on("message", (data) => this.#receive(JSON.parse(data.toString())));
  }

  #receive(message) {
    const answered = this.pending.get(message.id);
    if ((message.type === "ack" || message.type === "error") && answered) {
      this.pending.delete(message.id);
      answered.resolve(message);
    } else if (this.waiters.length > 0) {
      this.waiters.shift().resolve(message);
    } else {
      this.inbox.push(message);
    }
  }

  /** Sends a text frame as is (a string) or as JSON. */
  send(message) {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Sends `request` with a fresh id; resolves with the ack or error that answers it. */
  request(request, timeoutMs = WAIT) {
    const id = ++this.nextId;
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send({ ...request, id });
    return within(answer, `answer to ${JSON.stringify(request)}`, timeoutMs).finally(() =>
      this.pending.delete(id),
    );
  }

  /** The next message that answers no request. */
  next(timeoutMs = WAIT) {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    let waiter;
    const message = new Promise((resolve, reject) => this.waiters.push((waiter = { resolve, reject })));
    return within(message, "next relay message", timeoutMs).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  async join(room) {
    const answer = await this.request({ type: "join", room });
    if (answer.type !== "ack") throw new Error(`join ${room} refused: ${JSON.stringify(answer)}`);
  }

  /**
   * A harmless request answered in order: once it resolves, everything the server queued for this
   * client before it has arrived (in `inbox`).
   */
  async roundTrip() {
    const answer = await this.request({ type: "leave", room: "round-trip" });
    if (answer.type !== "ack") throw new Error(`round trip refused: ${JSON.stringify(answer)}`);
  }

  /** Resolves with `{code, reason}` once the connection has closed; rejects after `timeoutMs`. */
  waitClose(timeoutMs = WAIT) {
    return within(this.closed, "connection close", timeoutMs);
  }

  /** Closes the connection; resolves like `waitClose()`. */
  close() {
    this.ws.close();
    return this.waitClose();
  }
}
