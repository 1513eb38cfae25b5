// Launcher for examples/socketio_app (the Socket.IO application written against the Rust API):
// start it on a free port, wait until Engine.IO answers a handshake, stop it with SIGTERM.
import { existsSync } from "node:fs";
import { get } from "node:http";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort, spawnUntilReady } from "./server.mjs";

const interopDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The example under test: $SOCKETIO_APP_BIN, or the debug build of examples/socketio_app. */
export const SOCKETIO_APP_BIN = path.resolve(
  interopDir,
  process.env.SOCKETIO_APP_BIN ?? "../../target/debug/examples/socketio_app",
);

/**
 * Whether an Engine.IO v4 polling handshake answers 200 with an open packet. The session it opens
 * is then closed as engine.io-client closes one (a poll held, a POSTed `1` releasing it), so probes
 * leave nothing behind for the server to wait on at shutdown.
 */
async function handshakeAnswers(url) {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const response = await fetch(base, { signal: AbortSignal.timeout(1000) });
  const body = await response.text();
  if (response.status !== 200 || !body.startsWith("0{")) return false;
  const sid = /"sid":"([^"]+)"/.exec(body)?.[1];
  if (sid) {
    const session = `${base}&sid=${encodeURIComponent(sid)}`;
    // The poll goes out first (its request written) so the close finds it held and releases it.
    let sent;
    const written = new Promise((resolve) => (sent = resolve));
    const held = new Promise((resolve) => {
      const request = get(session, { agent: false, timeout: 2000 }, (response) => {
        response.resume().once("end", resolve).once("error", resolve);
      });
      request.once("finish", sent).once("timeout", () => request.destroy()).once("error", resolve).once("close", sent);
    });
    await written;
    await fetch(session, {
      method: "POST",
      body: "1",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      signal: AbortSignal.timeout(1000),
    }).catch(() => {});
    await held;
  }
  return true;
}

/**
 * Starts the example with PORT=<free port> from the repository root and waits (at most
 * `deadlineMs`, also for the binary to appear if a rebuild is replacing it) until
 * GET /socket.io/?EIO=4&transport=polling answers 200. Resolves with `{url, port, stop, log}`;
 * `stop()` sends SIGTERM, awaits the exit (SIGKILL after 5 s) and resolves with `{code, signal}`.
 */
export async function startSocketIoApp({ deadlineMs = 15_000 } = {}) {
  const deadline = Date.now() + deadlineMs;
  while (!existsSync(SOCKETIO_APP_BIN)) {
    if (Date.now() > deadline) throw new Error(`${SOCKETIO_APP_BIN} does not exist (build the examples first)`);
    await delay(100);
  }
  const port = await freePort();
  return spawnUntilReady(SOCKETIO_APP_BIN, {
    port,
    env: { PORT: String(port) },
    what: "an Engine.IO handshake",
    deadlineMs: Math.max(1, deadline - Date.now()),
    ready: handshakeAnswers,
  });
}

/**
 * The raw WebSockets (ws instances) that `socket`'s connection uses now or later (after an upgrade),
 * so cleanup can wait until they are really closed.
 */
function watchWebSockets(socket) {
  const found = new Set();
  const grab = (transport) => transport?.ws && found.add(transport.ws);
  const watchEngine = () => {
    const engine = socket.io?.engine;
    if (!engine) return;
    grab(engine.transport);
    engine.on?.("upgrade", grab);
  };
  watchEngine();
  socket.io?.on?.("open", watchEngine);
  return found;
}

/**
 * Starts the example for test `t` and stops it when the test ends. `app.track(socket)` registers a
 * Socket.IO client socket (any version) whose connection is closed before the server stops.
 */
export async function socketIoAppFor(t) {
  const app = await startSocketIoApp();
  const tracked = [];
  app.track = (socket) => (tracked.push({ socket, webSockets: watchWebSockets(socket) }), socket);
  t.after(async () => {
    const closed = [];
    for (const { socket, webSockets } of tracked) {
      // A close still in flight when SIGTERM arrives holds the server's graceful stop (a WebSocket
      // for actix's 1 s grace, a poll for up to 2 s): wait (bounded) until the client's engine
      // has closed (its close packet sent) and each WebSocket's TCP connection is gone.
      const engine = socket.io?.engine;
      if (engine && engine.readyState !== "closed") {
        closed.push(new Promise((resolve) => engine.once("close", resolve)));
      }
      for (const ws of webSockets) {
        if (ws.readyState !== 3) closed.push(new Promise((resolve) => ws.once("close", resolve)));
      }
      socket.close(); // leaves the namespace
      socket.io?.engine?.close(); // and ends the connection, even if it never joined one
    }
    let timer;
    await Promise.race([
      Promise.all(closed),
      new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
    ]).finally(() => clearTimeout(timer));
    await app.stop();
  });
  return app;
}
