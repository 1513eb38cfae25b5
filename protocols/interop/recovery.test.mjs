// Reconnect handling (--connection-state-recovery) with real clients against the real binary:
// Socket.IO connection state recovery with socket.io-client 4.x (websocket and polling), relay
// resume over plain WebSocket (`ws`) and over SockJS (sockjs-client), and the expiry of kept
// sessions after a storm of dropped clients. See protocols/socketio.md ("Connection state
// recovery") and protocols/relay.md ("Resume after a dropped connection").
//
// The cuts are real: the test destroys the TCP connections of the client (its `ws` socket, or
// every unfinished HTTP request of the polling transport), so the client sees "transport close" or
// "transport error" and reconnects by itself, as it would after a network drop.
import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import SockJS from "sockjs-client";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { RelayClient, WAIT, emitWithAck, once, publish, serverFor, within } from "./lib/server.mjs";

const RECOVERY = "--connection-state-recovery";

// --- helpers ----------------------------------------------------------------------------------

/** GET /api/stats, parsed. */
async function stats(server) {
  const response = await fetch(`${server.url}/api/stats`, { signal: AbortSignal.timeout(WAIT) });
  assert.equal(response.status, 200);
  return response.json();
}

/** Polls `read()` every 20 ms until `done(value)`; resolves with the value, rejects after `timeoutMs`. */
async function until(read, done, timeoutMs = WAIT, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Publishes `count` numbered messages (data = n, from `from`) to `room`, one after the other. */
async function publishNumbered(server, room, event, from, count) {
  const answers = [];
  for (let n = from; n < from + count; n++) answers.push((await publish(server, { room, event, data: n })).delivered);
  return answers;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Every HTTP request this process makes (the polling transport of socket.io-client uses
// xmlhttprequest-ssl over node:http, without an agent: one TCP connection per request), so a test
// can cut the ones still open to a given port.
const openRequests = new Set();
diagnostics.subscribe("http.client.request.start", ({ request }) => {
  openRequests.add(request);
  request.once("close", () => openRequests.delete(request));
});

/** Destroys every unfinished HTTP request to `port` (as a dropped network would); returns how many. */
function cutHttpTo(port) {
  let cut = 0;
  for (const request of openRequests) {
    if (Number(request.getHeader("host")?.split(":")[1]) !== port && request.socket?.remotePort !== port) continue;
    request.destroy(new Error("connection cut by the test"));
    openRequests.delete(request);
    cut += 1;
  }
  return cut;
}

// --- Socket.IO connection state recovery with socket.io-client 4.x --------------------------------

/**
 * A socket.io-client socket on `server` with automatic reconnection after a fixed `delay` (no
 * jitter), cleaned up with the server. `received` collects [data, ...extra arguments] of each
 * `event`: with recovery on, socket.io appends the offset as a last string argument.
 */
function recoveringSocket(server, transports, { delay = 1000, event = "n" } = {}) {
  const socket = server.track(
    io(server.url, {
      forceNew: true,
      transports,
      reconnection: true,
      reconnectionDelay: delay,
      reconnectionDelayMax: delay,
      randomizationFactor: 0,
    }),
  );
  const received = [];
  socket.on(event, (data, ...rest) => {
    received.push([data, ...rest]);
  });
  return { socket, received };
}

/** Waits (bounded) until `received` holds at least `count` entries. */
async function waitReceived(received, count, timeoutMs = WAIT) {
  await until(async () => received.length, (n) => n >= count, timeoutMs, `messages received (want ${count})`);
}

/**
 * Cuts the transport of a connected socket.io-client socket from below: the TCP connection of its
 * `ws` object (no close frame), or the open requests of the polling transport (waiting, bounded,
 * for one to be open: between a poll's answer and the next poll there may be none).
 */
async function cutSocketIo(socket, server) {
  const transport = socket.io.engine.transport;
  if (transport.name === "websocket") {
    transport.ws._socket.destroy();
    return;
  }
  const deadline = Date.now() + WAIT;
  while (cutHttpTo(server.port) === 0) {
    if (Date.now() > deadline) assert.fail("no open poll to cut");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

for (const transport of ["websocket", "polling"]) {
  test(`socket.io-client ${transport}: a cut transport recovers: same id, every missed broadcast once, in order`, async (t) => {
    const server = await serverFor(t, [RECOVERY]);
    const { socket, received } = recoveringSocket(server, [transport]);
    await once(socket, "connect", WAIT, { failOn: ["connect_error"] });
    assert.equal(socket.io.engine.transport.name, transport);
    assert.equal(socket.recovered, false);
    const id = socket.id;
    assert.deepEqual(await emitWithAck(socket, "join", "feed"), { ok: true });

    // Live broadcasts before the cut: each carries its offset as an extra last argument.
    assert.deepEqual(await publishNumbered(server, "feed", "n", 1, 3), [1, 1, 1]);
    await waitReceived(received, 3);
    assert.deepEqual(received.map(([n]) => n), [1, 2, 3]);
    for (const [, offset] of received) assert.equal(typeof offset, "string", "offset argument");

    let attempted = false;
    socket.io.on("reconnect_attempt", () => (attempted = true));
    const disconnected = once(socket, "disconnect");
    await cutSocketIo(socket, server);
    const [reason] = await disconnected;
    assert.ok(["transport close", "transport error"].includes(reason), `disconnect reason ${reason}`);

    // The server keeps broadcasting while the client is away (reconnection waits 1 s).
    const reconnected = once(socket, "connect", 3 * WAIT);
    reconnected.catch(() => {}); // awaited below; no unhandled rejection if the test fails first
    await until(async () => (await stats(server)).sessions, (n) => n === 0, WAIT, "server noticing the cut");
    const N = 20;
    await publishNumbered(server, "feed", "n", 4, N);
    assert.equal(attempted, false, "the client reconnected before the missed broadcasts were all published");

    await reconnected;
    assert.equal(socket.recovered, true, "socket.recovered");
    assert.equal(socket.id, id, "same socket id");
    assert.equal(socket.io.engine.transport.name, transport);
    await waitReceived(received, 3 + N);

    // A live broadcast after the recovery arrives once, after the replay.
    assert.deepEqual(await publish(server, { room: "feed", event: "n", data: 4 + N }), { delivered: 1 });
    await waitReceived(received, 4 + N);
    assert.deepEqual(await emitWithAck(socket, "leave", "round-trip"), { ok: true });
    assert.deepEqual(received.map(([n]) => n), range(1, 4 + N), "every message once, in order");
    const offsets = received.map(([, offset]) => BigInt(offset));
    for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i] > offsets[i - 1], `offsets increase: ${offsets}`);
  });

  test(`socket.io-client ${transport}: broadcasts racing with the cut and the recovery arrive exactly once, in order`, async (t) => {
    const server = await serverFor(t, [RECOVERY]);
    const { socket, received } = recoveringSocket(server, [transport], { delay: 200 });
    await once(socket, "connect", WAIT, { failOn: ["connect_error"] });
    const id = socket.id;
    assert.deepEqual(await emitWithAck(socket, "join", "feed"), { ok: true });

    // A publisher that never stops while the connection is cut and recovered.
    const N = 150;
    let published = 0;
    const publisher = (async () => {
      for (let n = 1; n <= N; n++) {
        await publish(server, { room: "feed", event: "n", data: n });
        published = n;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await waitReceived(received, 10);
    const reconnected = once(socket, "connect", 3 * WAIT);
    reconnected.catch(() => {}); // awaited below; no unhandled rejection if the test fails first
    await cutSocketIo(socket, server);
    await reconnected;
    assert.ok(published < N, "the recovery happened while the publisher was still running");
    assert.equal(socket.recovered, true, "socket.recovered");
    assert.equal(socket.id, id);
    await within(publisher, "publisher", 4 * WAIT);
    await waitReceived(received, N);
    assert.deepEqual(await emitWithAck(socket, "leave", "round-trip"), { ok: true });
    assert.deepEqual(received.map(([n]) => n), range(1, N), "every message once, in order");
  });

  test(`socket.io-client ${transport}: after --recovery-window-ms the reconnection is a fresh socket`, async (t) => {
    const server = await serverFor(t, [RECOVERY, "--recovery-window-ms", "300"]);
    const { socket, received } = recoveringSocket(server, [transport], { delay: 1200 });
    await once(socket, "connect", WAIT, { failOn: ["connect_error"] });
    const id = socket.id;
    assert.deepEqual(await emitWithAck(socket, "join", "feed"), { ok: true });
    await publishNumbered(server, "feed", "n", 1, 2);
    await waitReceived(received, 2);

    const reconnected = once(socket, "connect", 3 * WAIT);
    reconnected.catch(() => {}); // awaited below; no unhandled rejection if the test fails first
    const disconnected = once(socket, "disconnect");
    await cutSocketIo(socket, server);
    const [reason] = await disconnected;
    assert.ok(["transport close", "transport error"].includes(reason), `disconnect reason ${reason}`);
    const cutAt = Date.now();
    await until(async () => (await stats(server)).sessions, (n) => n === 0, WAIT, "server noticing the cut");
    assert.deepEqual(await publishNumbered(server, "feed", "n", 3, 3), [0, 0, 0]);
    // The kept session expires within the window (counted, not timed).
    await until(async () => (await stats(server)).recovery_kept, (n) => n === 0, WAIT, "recovery_kept");

    await reconnected;
    assert.ok(Date.now() - cutAt >= 300, "reconnected after the window");
    assert.equal(socket.recovered, false, "socket.recovered");
    assert.notEqual(socket.id, id, "a new socket id");
    // A fresh socket: no replay, and no longer in the old room.
    assert.deepEqual(await publish(server, { room: "feed", event: "n", data: 6 }), { delivered: 0 });
    assert.deepEqual(await emitWithAck(socket, "leave", "round-trip"), { ok: true });
    assert.deepEqual(received.map(([n]) => n), [1, 2]);
  });
}

// --- relay resume over plain WebSocket -------------------------------------------------------------

/** A RelayClient over `/ws` (tracked by the server) that keeps the whole welcome. */
async function relayWs(server) {
  const client = server.track(new RelayClient(new WebSocket(`${server.wsUrl}/ws`)));
  client.welcome = await client.next();
  assert.equal(client.welcome.type, "welcome", `first message: ${JSON.stringify(client.welcome)}`);
  client.session = client.welcome.session;
  return client;
}

function assertRecoveryWelcome(welcome) {
  assert.deepEqual(Object.keys(welcome).sort(), ["offset", "session", "token", "type"]);
  assert.match(welcome.session, /^[A-Za-z0-9_-]{20}$/);
  assert.equal(typeof welcome.token, "string");
  assert.ok(welcome.token.length >= 16, `token ${welcome.token}`);
  assert.notEqual(welcome.token, welcome.session);
  assert.match(welcome.offset, /^[0-9]+$/);
}

/** Reads `count` room messages and checks they are events `event` numbered `from`.., with offsets. */
async function expectNumbered(client, room, event, from, count) {
  const messages = [];
  for (let i = 0; i < count; i++) messages.push(await client.next());
  assert.deepEqual(
    messages.map(({ offset, ...rest }) => rest),
    range(from, from + count - 1).map((n) => ({ type: "message", room, event, data: n })),
  );
  for (const { offset } of messages) assert.match(offset, /^[0-9]+$/);
  return messages;
}

/** Sends a resume request with id 1 and reads its answer (not an ack: it waits in the inbox). */
async function resume(client, token, offset) {
  client.send({ type: "resume", token, offset, id: 1 });
  const answer = await client.next();
  if (Array.isArray(answer.rooms)) answer.rooms.sort(); // a set: its order is not specified
  return answer;
}

/** Runs a drop-and-resume scenario on clients made by `connect(server)`; `drop(client)` cuts it. */
async function resumeScenario(server, connect, drop) {
  const first = await connect(server);
  assertRecoveryWelcome(first.welcome);
  await first.join("lobby");
  await first.join("side");
  const before = await expectNumberedAfterPublish(server, first, 1, 2);
  const last = before.at(-1).offset;
  assert.ok(BigInt(last) > BigInt(first.welcome.offset), "offsets move past the welcome's");

  await drop(first);
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
  assert.deepEqual(await publishNumbered(server, "lobby", "n", 3, 3), [0, 0, 0]);

  const second = await connect(server);
  assertRecoveryWelcome(second.welcome);
  assert.notEqual(second.welcome.token, first.welcome.token);
  assert.deepEqual(await resume(second, first.welcome.token, last), {
    type: "resumed",
    rooms: ["lobby", "side"],
    missed: 3,
    id: 1,
  });
  const missed = await expectNumbered(second, "lobby", "n", 3, 3);
  assert.ok(BigInt(missed[0].offset) > BigInt(last));
  // Live messages follow, once; the new session is in both old rooms.
  assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 6 }), { delivered: 1 });
  assert.deepEqual(await publish(server, { room: "side", event: "n", data: 7 }), { delivered: 1 });
  await expectNumbered(second, "lobby", "n", 6, 1);
  await expectNumbered(second, "side", "n", 7, 1);
  await second.roundTrip();
  assert.deepEqual(second.inbox, []);
  assert.equal((await stats(server)).recovery_kept, 0, "the resumed session is no longer kept");

  // The token was used: a second resume with it is refused, and the session goes on.
  assert.deepEqual(await resume(second, first.welcome.token, last), {
    type: "error",
    id: 1,
    message: "cannot resume: unknown or expired session",
  });
  assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 8 }), { delivered: 1 });
  await expectNumbered(second, "lobby", "n", 8, 1);
  return second;
}

async function expectNumberedAfterPublish(server, client, from, count) {
  assert.deepEqual(await publishNumbered(server, "lobby", "n", from, count), Array(count).fill(1));
  return expectNumbered(client, "lobby", "n", from, count);
}

test("ws relay: a terminated client resumes: its rooms, the missed messages once and in order, then live ones", async (t) => {
  const server = await serverFor(t, [RECOVERY]);
  await resumeScenario(server, relayWs, async (client) => {
    client.ws.terminate();
    await client.waitClose();
  });
});

test("ws relay: a wrong token gives the documented error and the session continues fresh", async (t) => {
  const server = await serverFor(t, [RECOVERY]);
  const first = await relayWs(server);
  await first.join("lobby");
  first.ws.terminate();
  await first.waitClose();
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
  await publishNumbered(server, "lobby", "n", 1, 2);

  const second = await relayWs(server);
  assert.deepEqual(await resume(second, "0".repeat(20), first.welcome.offset), {
    type: "error",
    id: 1,
    message: "cannot resume: unknown or expired session",
  });
  // Fresh: not in the old room, nothing replayed, and it works as a new session.
  assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 3 }), { delivered: 0 });
  await second.join("elsewhere");
  assert.deepEqual(await publish(server, { room: "elsewhere", event: "n", data: 4 }), { delivered: 1 });
  const [message] = await expectNumbered(second, "elsewhere", "n", 4, 1);
  assert.ok(BigInt(message.offset) > BigInt(second.welcome.offset));
  await second.roundTrip();
  assert.deepEqual(second.inbox, []);
  // The wrong token did not consume the kept session: the right one still resumes it.
  const third = await relayWs(server);
  assert.deepEqual(await resume(third, first.welcome.token, first.welcome.offset), {
    type: "resumed",
    rooms: ["lobby"],
    missed: 3,
    id: 1,
  });
  await expectNumbered(third, "lobby", "n", 1, 3);
});

test("ws relay: a client that closed on purpose is not kept; resuming it is refused", async (t) => {
  const server = await serverFor(t, [RECOVERY]);
  const first = await relayWs(server);
  await first.join("lobby");
  assert.deepEqual(await first.close(), { code: 1000, reason: "client disconnect" });
  await until(async () => (await stats(server)).sessions, (n) => n === 0, WAIT, "sessions");
  assert.equal((await stats(server)).recovery_kept, 0);
  const second = await relayWs(server);
  assert.deepEqual(await resume(second, first.welcome.token, first.welcome.offset), {
    type: "error",
    id: 1,
    message: "cannot resume: unknown or expired session",
  });
});

test("ws relay: after --recovery-window-ms the token is refused and the session is fresh", async (t) => {
  const server = await serverFor(t, [RECOVERY, "--recovery-window-ms", "300"]);
  const first = await relayWs(server);
  await first.join("lobby");
  first.ws.terminate();
  await first.waitClose();
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
  await publishNumbered(server, "lobby", "n", 1, 2);
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 0, WAIT, "recovery_kept");
  const second = await relayWs(server);
  assert.deepEqual(await resume(second, first.welcome.token, first.welcome.offset), {
    type: "error",
    id: 1,
    message: "cannot resume: unknown or expired session",
  });
  assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 3 }), { delivered: 0 });
  await second.roundTrip();
  assert.deepEqual(second.inbox, []);
});

test("ws relay: more missed messages than --recovery-max-messages: refused, never a partial replay", async (t) => {
  const server = await serverFor(t, [RECOVERY, "--recovery-max-messages", "5"]);
  const first = await relayWs(server);
  await first.join("lobby");
  const [{ offset }] = await expectNumberedAfterPublish(server, first, 1, 1);
  first.ws.terminate();
  await first.waitClose();
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
  await publishNumbered(server, "lobby", "n", 2, 8);
  const second = await relayWs(server);
  assert.deepEqual(await resume(second, first.welcome.token, offset), {
    type: "error",
    id: 1,
    message: "cannot resume: missed messages are no longer available",
  });
  assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 10 }), { delivered: 0 });
  await second.roundTrip();
  assert.deepEqual(second.inbox, [], "nothing replayed");
});

test("ws relay: an offset past the last broadcast gives \"cannot resume: invalid offset\"", async (t) => {
  const server = await serverFor(t, [RECOVERY]);
  const first = await relayWs(server);
  await first.join("lobby");
  const [{ offset }] = await expectNumberedAfterPublish(server, first, 1, 1);
  first.ws.terminate();
  await first.waitClose();
  await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
  const second = await relayWs(server);
  // Not a number at all: an error naming the field (the kept session stays).
  const garbled = await resume(second, first.welcome.token, "nope");
  assert.equal(garbled.type, "error", JSON.stringify(garbled));
  assert.equal(garbled.id, 1);
  assert.match(garbled.message, /offset/);
  assert.equal((await stats(server)).recovery_kept, 1);
  assert.deepEqual(await resume(second, first.welcome.token, String(BigInt(offset) + 1000n)), {
    type: "error",
    id: 1,
    message: "cannot resume: invalid offset",
  });
  await second.roundTrip();
  assert.deepEqual(second.inbox, []);
});

test("ws relay: messages published throughout the drop and the resume arrive exactly once, in order", async (t) => {
  const server = await serverFor(t, [RECOVERY]);
  const first = await relayWs(server);
  await first.join("lobby");
  const N = 300;
  let published = 0;
  const publisher = (async () => {
    for (let n = 1; n <= N; n++) {
      await publish(server, { room: "lobby", event: "n", data: n });
      published = n;
    }
  })();
  const got = [];
  while (got.length < 20) got.push(await first.next());
  first.ws.terminate();
  await first.waitClose();
  got.push(...first.inbox.splice(0));
  const second = await relayWs(server);
  second.send({ type: "resume", token: first.welcome.token, offset: got.at(-1).offset, id: 1 });
  const answer = await second.next();
  assert.equal(answer.type, "resumed", JSON.stringify(answer));
  assert.equal(answer.id, 1);
  assert.deepEqual(answer.rooms, ["lobby"]);
  assert.ok(published < N, "the resume happened while the publisher was still running");
  await within(publisher, "publisher", 6 * WAIT);
  while (got.length < N) got.push(await second.next());
  await second.roundTrip();
  assert.deepEqual(second.inbox, [], "no duplicates after the last message");
  assert.deepEqual(got.map((m) => m.data), range(1, N), "every message once, in order");
  const offsets = got.map((m) => BigInt(m.offset));
  for (let i = 1; i < N; i++) assert.ok(offsets[i] > offsets[i - 1], `offset ${i}`);
});

// --- relay resume over SockJS with sockjs-client --------------------------------------------------

/** One sockjs-client connection seen as a `ws`-like EventEmitter ("message", "close", "error"). */
class SockJsSocket extends EventEmitter {
  constructor(url, transport) {
    super();
    this.sock = new SockJS(url, null, { transports: [transport], timeout: WAIT });
    this.closed = new Promise((resolve) => {
      this.sock.onclose = (e) => {
        this.emit("close", e.code, e.reason);
        resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      };
    });
    this.opened = new Promise((resolve, reject) => {
      this.sock.onopen = () => resolve(this.sock.transport);
      this.closed.then(({ code, reason }) => reject(new Error(`closed before open: ${code} ${reason}`)));
    });
    this.opened.catch(() => {});
    this.sock.onmessage = (e) => this.emit("message", e.data);
  }

  send(data) {
    this.sock.send(data);
  }

  close() {
    if (this.sock.readyState === SockJS.CLOSED) return this.closed;
    this.sock.close();
    return within(this.closed, "SockJS close");
  }
}

/** A RelayClient over SockJS at /sockjs, opened over `transport`, that keeps the whole welcome. */
async function relaySockJs(server, transport) {
  const socket = server.track(new SockJsSocket(`${server.url}/sockjs`, transport));
  const client = new RelayClient(socket);
  assert.equal(await within(socket.opened, `SockJS open over ${transport}`), transport);
  client.welcome = await client.next();
  assert.equal(client.welcome.type, "welcome", `first message: ${JSON.stringify(client.welcome)}`);
  client.session = client.welcome.session;
  client.socket = socket;
  return client;
}

/**
 * Drops a SockJS relay client: over xhr-streaming, closes the client (which aborts its receiving
 * request: the server ends the session at once, and cannot tell it from a dropped network); over
 * websocket, where a close is a clean WebSocket close (on purpose), destroys the TCP connection of
 * the client's faye-websocket instead.
 */
async function dropSockJs(client, server) {
  const { sock } = client.socket;
  if (sock.transport === "websocket") {
    sock._transport.ws._stream.destroy();
    await within(client.socket.closed, "SockJS close after the cut");
  } else {
    await client.socket.close();
  }
  await until(async () => (await stats(server)).sessions, (n) => n === 0, WAIT, "sessions");
}

for (const transport of ["websocket", "xhr-streaming"]) {
  test(`sockjs-client ${transport}: a dropped client resumes with a new SockJS object, twice`, async (t) => {
    const server = await serverFor(t, [RECOVERY, "--sockjs-disconnect-delay-ms", "10000"]);
    const second = await resumeScenario(
      server,
      (s) => relaySockJs(s, transport),
      (client) => dropSockJs(client, server),
    );
    // And once more from the resumed session's own token.
    const last = (await expectNumberedAfterPublish(server, second, 9, 1)).at(-1).offset;
    await dropSockJs(second, server);
    await until(async () => (await stats(server)).recovery_kept, (n) => n === 1, WAIT, "recovery_kept");
    await publishNumbered(server, "side", "n", 10, 1);
    const third = await relaySockJs(server, transport);
    assert.deepEqual(await resume(third, second.welcome.token, last), {
      type: "resumed",
      rooms: ["lobby", "side"],
      missed: 1,
      id: 1,
    });
    await expectNumbered(third, "side", "n", 10, 1);
    await third.roundTrip();
    assert.deepEqual(third.inbox, []);
  });

  test(`sockjs-client ${transport}: a wrong token gives the documented error and the session continues fresh`, async (t) => {
    const server = await serverFor(t, [RECOVERY]);
    const first = await relaySockJs(server, transport);
    assertRecoveryWelcome(first.welcome);
    await first.join("lobby");
    await dropSockJs(first, server);
    const second = await relaySockJs(server, transport);
    assert.deepEqual(await resume(second, `x${first.welcome.token}`, first.welcome.offset), {
      type: "error",
      id: 1,
      message: "cannot resume: unknown or expired session",
    });
    assert.deepEqual(await publish(server, { room: "lobby", event: "n", data: 1 }), { delivered: 0 });
    await second.join("fresh");
    assert.deepEqual(await publish(server, { room: "fresh", event: "n", data: 2 }), { delivered: 1 });
    await expectNumbered(second, "fresh", "n", 2, 1);
  });
}

// --- kept sessions expire ----------------------------------------------------------------------------

test("a storm of 200 dropped ws clients: recovery_kept rises to 200, then returns to 0 after the window", async (t) => {
  const server = await serverFor(t, [RECOVERY, "--recovery-window-ms", "500"]);
  const baseline = await stats(server);
  assert.equal(baseline.recovery_kept, 0);
  const COUNT = 200;
  const clients = await Promise.all(
    range(1, COUNT).map(async () => {
      const client = await relayWs(server);
      await client.join("storm");
      return client;
    }),
  );
  assert.equal((await stats(server)).sessions, COUNT);
  assert.deepEqual(await publish(server, { room: "storm", event: "n", data: 0 }), { delivered: COUNT });
  for (const client of clients) await client.next();

  for (const client of clients) client.ws.terminate();
  let most = 0;
  const readKept = async () => {
    const s = await stats(server);
    most = Math.max(most, s.recovery_kept);
    return s;
  };
  await until(readKept, (s) => s.recovery_kept === COUNT || most === COUNT, 2000, "recovery_kept rising");
  assert.equal(most, COUNT, "every dropped client kept");
  // Broadcasts while they are away are kept once for all of them.
  await publishNumbered(server, "storm", "n", 1, 5);
  const kept = await readKept();
  assert.equal(kept.sessions, 0);
  assert.ok(kept.recovery_log <= baseline.recovery_log + 6, `recovery_log ${kept.recovery_log}: once per broadcast`);

  const after = await until(readKept, (s) => s.recovery_kept === 0, 3000, "recovery_kept falling");
  assert.equal(after.sessions, 0);
  assert.equal(after.rooms, 0);
  // The kept broadcasts age out with the window too: memory back where it was.
  await until(readKept, (s) => s.recovery_log === 0, 3000, "recovery_log falling");
});
