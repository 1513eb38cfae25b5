// SockJS with the real sockjs-client 1.6.1 under Node against the real binaries: the services of
// examples/sockjs_conformance (/echo, /close, /amplify, /broadcast) and relay mode at /sockjs of
// `switchboard` (the envelope of protocols/relay.md inside SockJS messages).
//
// Transports: under Node, sockjs-client 1.6 enables exactly four (lib/transport-list.js and each
// transport's `enabled()`): `websocket` (faye-websocket), `xhr-streaming` and `xhr-polling` (its
// http-module XHR driver) and `eventsource` (the `eventsource` package). Not available under Node,
// so not covered here: `jsonp-polling` (needs `document`), `htmlfile` (needs an iframe or ActiveX
// and a same-origin page), `xdr-streaming`/`xdr-polling` (IE's XDomainRequest) and every
// `iframe-*` wrapper (needs a DOM and postMessage). The last test checks that they are refused.
import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import SockJS from "sockjs-client";
import { io } from "socket.io-client";
import {
  RelayClient,
  WAIT,
  emitWithAck,
  once,
  publish,
  serverFor,
  sockJsConformanceFor,
  within,
} from "./lib/server.mjs";

const TRANSPORTS = ["websocket", "xhr-streaming", "xhr-polling", "eventsource"];
const HTTP_TRANSPORTS = ["xhr-streaming", "xhr-polling", "eventsource"];

// Server bugs these tests found, open at the time of writing: the cases still run (and are
// reported as failing TODOs); delete an entry once the server is fixed to make them hard failures.
// Server bugs found by these tests, as { name: { transports, todo } }; a listed case runs as a
// todo until the bug is fixed. None are open.
const KNOWN_BUGS = {
  abort: { transports: [], todo: "" },
  "too-big": { transports: [], todo: "" },
};

/** Test options marking `transport`'s case as a known server bug, if it is one. */
function knownBug(transport, bug) {
  const { transports, todo } = KNOWN_BUGS[bug];
  return transports.includes(transport) ? { todo } : {};
}

/**
 * One sockjs-client connection seen as an EventEmitter like a `ws` socket: "message" (data),
 * "heartbeat" (each `h` frame), "close" (code, reason, wasClean), "error". `opened` resolves on
 * onopen and rejects if onclose comes first; `closed` resolves with `{code, reason, wasClean}`.
 */
class SockJsSocket extends EventEmitter {
  constructor(url, transport) {
    super();
    this.transportName = transport;
    this.heartbeats = 0;
    // `timeout`: the client's default transport timeout is ~2 RTT (well under 1 s on loopback).
    this.sock = new SockJS(url, null, { transports: [transport], timeout: WAIT });
    this.closed = new Promise((resolve) => {
      this.sock.onclose = (e) => {
        const close = { code: e.code, reason: e.reason, wasClean: e.wasClean };
        this.emit("close", close.code, close.reason, close.wasClean);
        resolve(close);
      };
    });
    this.opened = new Promise((resolve, reject) => {
      this.sock.onopen = () => {
        this.openedWith = this.sock.transport; // null again once closed
        resolve();
      };
      this.closed.then(({ code, reason }) => reject(new Error(`closed before open: ${code} ${reason}`)));
    });
    this.opened.catch(() => {}); // a test that expects no open awaits `closed` instead
    this.sock.onmessage = (e) => this.emit("message", e.data);
    this.sock.addEventListener("heartbeat", () => {
      this.heartbeats += 1;
      this.emit("heartbeat");
    });
    this.sock.onerror = () => this.emit("sockjs-error");
  }

  get readyState() {
    return this.sock.readyState;
  }

  get OPEN() {
    return SockJS.OPEN;
  }

  /** Resolves once open, after checking the transport in use is the one asked for. */
  async open(timeoutMs = WAIT) {
    await within(this.opened, `SockJS open over ${this.transportName}`, timeoutMs);
    assert.equal(this.openedWith, this.transportName);
  }

  send(data) {
    this.sock.send(data);
  }

  /** Closes (1000 "Normal closure" unless told) and resolves with the close. */
  close(code, reason) {
    this.sock.close(code, reason);
    return within(this.closed, "SockJS close");
  }

  waitClose(timeoutMs = WAIT) {
    return within(this.closed, "SockJS close", timeoutMs);
  }
}

/** Collects the (string) messages of a SockJsSocket; `take(n)` resolves with the next n. */
class Inbox {
  constructor(socket) {
    this.messages = [];
    this.socket = socket;
    socket.on("message", (data) => {
      this.messages.push(data);
      socket.emit("inbox");
    });
  }

  async take(n, timeoutMs = WAIT) {
    while (this.messages.length < n) {
      const had = this.messages.length;
      await once(this.socket, "inbox", timeoutMs, { failOn: ["close"] }).catch((error) => {
        throw new Error(`${error.message}; had ${had} of ${n} messages`);
      });
    }
    return this.messages.splice(0, n);
  }
}

/** Opens a client of the conformance `service` over `transport`, cleaned up with the server. */
async function sockjsOn(server, service, transport) {
  const socket = server.track(new SockJsSocket(`${server.url}/${service}`, transport));
  const inbox = new Inbox(socket);
  await socket.open();
  return { socket, inbox };
}

/** A relay-envelope client over SockJS at /sockjs: a RelayClient on a SockJsSocket. */
async function relayOverSockJs(server, transport) {
  const socket = server.track(new SockJsSocket(`${server.url}/sockjs`, transport));
  const client = new RelayClient(socket);
  await socket.open();
  const welcome = await client.next();
  assert.equal(welcome.type, "welcome", `first message: ${JSON.stringify(welcome)}`);
  assert.deepEqual(Object.keys(welcome).sort(), ["session", "type"]);
  client.session = welcome.session;
  client.socket = socket;
  return client;
}

/**
 * Counts the HTTP requests this process makes whose path ends with `/<suffix>` (the XHR driver and
 * the eventsource package both use node:http) until `stop()`, which returns the count.
 */
function countRequests(suffix) {
  let count = 0;
  const listener = ({ request }) => {
    if (request.path.split("?")[0].endsWith(`/${suffix}`)) count += 1;
  };
  diagnostics.subscribe("http.client.request.start", listener);
  return () => (diagnostics.unsubscribe("http.client.request.start", listener), count);
}

// The receiving request of each HTTP transport.
const RECEIVER = { "xhr-streaming": "xhr_streaming", "xhr-polling": "xhr", eventsource: "eventsource" };

/** GET /api/stats, parsed. */
async function stats(server) {
  const response = await fetch(`${server.url}/api/stats`, { signal: AbortSignal.timeout(WAIT) });
  assert.equal(response.status, 200);
  return response.json();
}

/** Polls `read()` every 20 ms until `done(value)`; resolves with the value, rejects after `timeoutMs`. */
async function until(read, done, timeoutMs = WAIT) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const hex = (s) => [...s].map((c) => c.codePointAt(0).toString(16).padStart(4, "0")).join(" ");

/** deepEqual for lists of strings, reporting where the first differing string differs. */
function assertSameStrings(actual, expected) {
  assert.equal(actual.length, expected.length, "number of messages");
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] === expected[i]) continue;
    const [a, e] = [actual[i], expected[i]];
    let at = 0;
    while (at < a.length && at < e.length && a[at] === e[at]) at++;
    assert.fail(
      `message ${i} differs at UTF-16 index ${at} (lengths ${a.length} / ${e.length}): ` +
        `got [${hex(a.slice(at, at + 8))}], expected [${hex(e.slice(at, at + 8))}]`,
    );
  }
}

// Every code point of the BMP but the surrogates, in one string.
const ALL_BMP = (() => {
  let s = "";
  for (let c = 0; c <= 0xffff; c++) if (c < 0xd800 || c > 0xdfff) s += String.fromCharCode(c);
  return s;
})();

const UNICODE_MESSAGES = [
  "zażółć gęślą jaźń ☃ € ÷",
  "astral: 😀 𝄞 🚀 \u{10ffff} \u{1f600}\u{1f601}",
  "\u2028",
  "line\u2028paragraph\u2029separators",
  "\u0000",
  "nul \u0000 in the \u0000 middle \u0000",
  "controls \u0001\u0008\u000b\u000c\u001f\u007f\u0080\u009f",
  "zero width \u200b\u200c\u200d\u200e\u200f bidi \u202a\u202e \u2060\u206f bom \ufeff",
  "specials \ufff0\ufff9\ufffc\ufffd\ufffe\uffff",
  "combining e\u0301 \u0300\u0333 \u0591 \u0e38 \u1dc0 \u20d0 \uf900 \ufb1d",
  "percent: 100% %41 %zz %25 %0A %",
  "escapes: \"quoted\" \\back\\slash/ </script> \r\n\t end",
  ALL_BMP,
];

for (const transport of TRANSPORTS) {
  // --- the conformance example ------------------------------------------------------------------

  test(`${transport}: /echo echoes small messages in order`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const { socket, inbox } = await sockjsOn(server, "echo", transport);
    const sent = ["a", "hello world", "", " ", "[1,2]", '{"k":"v"}', "null", "a[\"x\"]", "c[3000,\"no\"]", "h", "o"];
    for (const message of sent) socket.send(message);
    assert.deepEqual(await inbox.take(sent.length), sent);
    // Non-strings are sent as their String() (client side), as in a browser.
    socket.send(42);
    assert.deepEqual(await inbox.take(1), ["42"]);
    assert.equal(socket.readyState, SockJS.OPEN);
  });

  test(`${transport}: /echo echoes unicode, astral and escaped characters intact`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const { socket, inbox } = await sockjsOn(server, "echo", transport);
    for (const message of UNICODE_MESSAGES) socket.send(message);
    assertSameStrings(await inbox.take(UNICODE_MESSAGES.length, 3 * WAIT), UNICODE_MESSAGES);
    socket.send("still open");
    assert.deepEqual(await inbox.take(1), ["still open"]);
  });

  test(`${transport}: /echo delivers a 100 KB message and 50 more, none lost or reordered (response_limit 4096)`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const { socket, inbox } = await sockjsOn(server, "echo", transport);
    const big = "start:" + "0123456789abcdef".repeat(6400) + ":end"; // 102 410 bytes
    socket.send(big);
    const [echoed] = await inbox.take(1, 3 * WAIT);
    assert.equal(echoed.length, big.length);
    assert.equal(echoed === big, true, "the 100 KB echo differs from what was sent");

    const numbered = (round) => Array.from({ length: 50 }, (_, i) => `#${round}.${i}:` + String(i % 10).repeat(1000));
    const labels = (messages) => messages.map((m) => m.slice(0, m.indexOf(":")));

    // A burst: the client batches the sends, the server may echo them in few frames.
    const burst = numbered(1);
    for (const message of burst) socket.send(message);
    const burstEchoes = await inbox.take(burst.length, 3 * WAIT);
    assert.deepEqual(labels(burstEchoes), labels(burst));
    assert.deepEqual(burstEchoes, burst);

    // A window of 4 messages in flight: the echoes come as separate ~1 KB frames, so each
    // streaming response (4096 bytes at most) ends every few messages while more echoes are queued.
    const receivers = countRequests(RECEIVER[transport] ?? "none");
    const windowed = numbered(2);
    windowed.slice(0, 4).forEach((message) => socket.send(message));
    const windowEchoes = [];
    for (let next = 4; windowEchoes.length < windowed.length; next++) {
      windowEchoes.push(...(await inbox.take(1)));
      if (next < windowed.length) socket.send(windowed[next]);
    }
    const requests = receivers();
    assert.deepEqual(labels(windowEchoes), labels(windowed));
    assert.deepEqual(windowEchoes, windowed);
    assert.equal(socket.readyState, SockJS.OPEN);
    // ~51 KB through responses that end once past 4096 bytes (a frame may hold a few echoes).
    t.diagnostic(`${requests} receiving requests`);
    if (transport !== "websocket") assert.ok(requests >= 5, `only ${requests} receiving requests for ~51 KB`);
  });

  test(`${transport}: /close opens, then closes with 3000 "Go away!"`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const socket = server.track(new SockJsSocket(`${server.url}/close`, transport));
    await socket.open();
    assert.deepEqual(await socket.waitClose(), { code: 3000, reason: "Go away!", wasClean: true });
  });

  test(`${transport}: /amplify answers n with 2^n bytes of "x"`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const { socket, inbox } = await sockjsOn(server, "amplify", transport);
    const exponents = [1, 2, 4, 8, 10, 12, 13, 16, 17];
    for (const n of exponents) socket.send(String(n));
    const received = await inbox.take(exponents.length, 3 * WAIT);
    for (const [i, n] of exponents.entries()) {
      assert.equal(received[i].length, 2 ** n, `answer to ${n}`);
      assert.match(received[i], /^x+$/);
    }
  });

  test(`${transport}: /broadcast delivers every message to both clients`, async (t) => {
    const server = await sockJsConformanceFor(t);
    const a = await sockjsOn(server, "broadcast", transport);
    const b = await sockjsOn(server, "broadcast", transport);
    a.socket.send("from a");
    assert.deepEqual(await a.inbox.take(1), ["from a"]);
    assert.deepEqual(await b.inbox.take(1), ["from a"]);
    b.socket.send("from b \u2028 😀");
    assert.deepEqual(await a.inbox.take(1), ["from b \u2028 😀"]);
    assert.deepEqual(await b.inbox.take(1), ["from b \u2028 😀"]);
  });

  // --- relay mode at /sockjs ------------------------------------------------------------------------

  test(`${transport}: relay welcome carries a distinct 20-character session id (as Node's ids)`, async (t) => {
    const server = await serverFor(t);
    const a = await relayOverSockJs(server, transport);
    const b = await relayOverSockJs(server, transport);
    assert.match(a.session, /^[A-Za-z0-9_-]{20}$/);
    assert.match(b.session, /^[A-Za-z0-9_-]{20}$/);
    assert.notEqual(a.session, b.session);
    await a.join("lobby");
  });

  test(`${transport}: relay publish between SockJS and ws clients, both ways, sender excluded`, async (t) => {
    const server = await serverFor(t);
    const sock = await relayOverSockJs(server, transport);
    const ws = await RelayClient.connect(server);
    await sock.join("lobby");
    await ws.join("lobby");

    const data = { text: "from sockjs ☃ 😀 \u2028", n: 1 };
    assert.deepEqual(await sock.request({ type: "publish", room: "lobby", event: "chat", data }), {
      type: "ack",
      id: sock.nextId,
    });
    assert.deepEqual(await ws.next(), { type: "message", room: "lobby", event: "chat", data });
    await sock.roundTrip();
    assert.deepEqual(sock.inbox, []);

    const back = { text: "from ws \u0000 %41", list: [1, null, true] };
    assert.equal((await ws.request({ type: "publish", room: "lobby", event: "reply", data: back })).type, "ack");
    assert.deepEqual(await sock.next(), { type: "message", room: "lobby", event: "reply", data: back });
    await ws.roundTrip();
    assert.deepEqual(ws.inbox, []);

    const error = await sock.request({ type: "dance" });
    assert.deepEqual(error, { type: "error", id: error.id, message: 'unknown type "dance"' });
  });

  test(`${transport}: relay API publish reaches the SockJS client`, async (t) => {
    const server = await serverFor(t);
    const sock = await relayOverSockJs(server, transport);
    await sock.join("news");
    assert.deepEqual(await publish(server, { room: "news", event: "flash", data: { big: "y".repeat(20000) } }), {
      delivered: 1,
    });
    assert.deepEqual(await sock.next(), { type: "message", room: "news", event: "flash", data: { big: "y".repeat(20000) } });
    assert.deepEqual(await publish(server, { room: "news", event: "flash", except: [sock.session] }), { delivered: 0 });
    await sock.roundTrip();
    assert.deepEqual(sock.inbox, []);
  });

  test(`${transport}: SockJS, socket.io-client 4.x and ws in one room all receive one API publish`, async (t) => {
    const server = await serverFor(t);
    const sock = await relayOverSockJs(server, transport);
    const ws = await RelayClient.connect(server);
    const sio = server.track(io(server.url, { forceNew: true, reconnection: false }));
    await once(sio, "connect", undefined, { failOn: ["connect_error"] });
    await sock.join("mixed");
    await ws.join("mixed");
    assert.deepEqual(await emitWithAck(sio, "join", "mixed"), { ok: true });

    const heardBySio = once(sio, "news");
    const data = { headline: "all three", at: 1 };
    assert.deepEqual(await publish(server, { room: "mixed", event: "news", data }), { delivered: 3 });
    const expected = { type: "message", room: "mixed", event: "news", data };
    assert.deepEqual(await sock.next(), expected);
    assert.deepEqual(await ws.next(), expected);
    assert.deepEqual(await heardBySio, [data]);
  });

  test(`${transport}: relay session stays open across heartbeats (--sockjs-heartbeat-ms 200)`, async (t) => {
    const server = await serverFor(t, ["--sockjs-heartbeat-ms", "200"]);
    const sock = await relayOverSockJs(server, transport);
    const { socket } = sock;
    const start = Date.now();
    const before = socket.heartbeats;
    while (Date.now() - start < 1200) {
      await once(socket, "heartbeat", 1000, { failOn: ["close"] });
    }
    const elapsed = Date.now() - start;
    const beats = socket.heartbeats - before;
    assert.ok(beats >= 4, `${beats} heartbeats in ${elapsed} ms`);
    assert.ok(beats <= elapsed / 200 + 3, `${beats} heartbeats in ${elapsed} ms: more than one per 200 ms`);
    assert.equal(socket.readyState, SockJS.OPEN);
    await sock.join("after-heartbeats");
    await sock.roundTrip();
    assert.deepEqual(sock.inbox, []);
  });

  test(`${transport}: closing the SockJS client ends its session at once (not after disconnect_delay)`, knownBug(transport, "abort"), async (t) => {
    // xhr-polling has moments with no request open (between a poll's answer and the next poll):
    // a close then has nothing to abort, and the session ends after disconnect_delay, as with
    // sockjs-node. So that transport gets a short delay; the others a long one they must not need.
    const delay = transport === "xhr-polling" ? "1000" : "10000";
    const server = await serverFor(t, ["--sockjs-disconnect-delay-ms", delay]);
    const sock = await relayOverSockJs(server, transport);
    await sock.join("lobby");
    assert.equal((await stats(server)).sessions, 1);
    assert.deepEqual(await sock.socket.close(), { code: 1000, reason: "Normal closure", wasClean: true });
    const sessions = await until(async () => (await stats(server)).sessions, (n) => n === 0, 3000);
    assert.equal(sessions, 0);
    assert.deepEqual(await publish(server, { room: "lobby", event: "late" }), { delivered: 0 });
  });

  test(`${transport}: a message over --max-message-size closes the SockJS client with 1009`, knownBug(transport, "too-big"), async (t) => {
    const server = await serverFor(t, ["--max-message-size", "1024"]);
    const sock = await relayOverSockJs(server, transport);
    const publishOf = (size) => ({ type: "publish", room: "lobby", event: "big", data: "x".repeat(size) });
    assert.equal((await sock.request(publishOf(900))).type, "ack");
    sock.send(publishOf(2000));
    const close = await sock.socket.waitClose();
    assert.equal(close.code, 1009, `close ${close.code} ${close.reason}`);
    assert.match(close.reason, /message too big/i);
  });

  test(`${transport}: SIGTERM closes the SockJS client with 1001 and the server exits cleanly`, async (t) => {
    const server = await serverFor(t);
    const sock = await relayOverSockJs(server, transport);
    await sock.join("lobby");
    const [exit, close] = await Promise.all([server.stop(), sock.socket.waitClose(2 * WAIT)]);
    assert.equal(close.code, 1001, `close ${close.code} ${close.reason}`);
    assert.match(close.reason, /shutting down/i);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
}

test("/disabled_websocket_echo: /info turns websocket off, xhr-streaming still echoes", async (t) => {
  const server = await sockJsConformanceFor(t);
  const refused = server.track(new SockJsSocket(`${server.url}/disabled_websocket_echo`, "websocket"));
  assert.deepEqual(await refused.waitClose(), { code: 2000, reason: "All transports failed", wasClean: false });
  const { socket, inbox } = await sockjsOn(server, "disabled_websocket_echo", "xhr-streaming");
  socket.send("over xhr");
  assert.deepEqual(await inbox.take(1), ["over xhr"]);
});

test("transports sockjs-client cannot use under Node fail with 2000 \"All transports failed\"", async (t) => {
  const server = await sockJsConformanceFor(t);
  for (const transport of ["jsonp-polling", "htmlfile", "xdr-streaming", "xdr-polling", "iframe-eventsource"]) {
    const socket = server.track(new SockJsSocket(`${server.url}/echo`, transport));
    const close = await socket.waitClose();
    assert.deepEqual(close, { code: 2000, reason: "All transports failed", wasClean: false }, transport);
  }
});
