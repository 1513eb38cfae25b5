// Authentication (protocols/auth.md) with the real clients against the real binary, tokens signed
// by the `jsonwebtoken` npm package: socket.io-client 4.x sends its token in `auth`, 2.x in the
// query, sockjs-client in the query of every transport's URL, `ws` in the query. A good token lets
// the client in as its user; a missing, bad or expired one, one signed with another key or
// algorithm, or `alg: none`, is refused with the protocol's own refusal and the same reason.
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import jwt from "jsonwebtoken";
import SockJS from "sockjs-client";
import { io as ioV4 } from "socket.io-client";
import ioV2 from "socket.io-client-v2";
import WebSocket from "ws";
import { RelayClient, WAIT, emitWithAck, once, publish, serverFor, within } from "./lib/server.mjs";

const SECRET = "interop secret";
const hs256 = (claims, options = {}) => jwt.sign(claims, SECRET, { algorithm: "HS256", ...options });
const base64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Bad tokens and the reason every protocol gives for each. */
const BAD_TOKENS = [
  ["no token", null, "token required"],
  ["garbage", "not.a.token", "invalid token"],
  ["expired", hs256({ sub: "u1" }, { expiresIn: -60 }), "token expired"],
  ["another secret", jwt.sign({ sub: "u1" }, "another secret", { algorithm: "HS256" }), "invalid token"],
  ["another algorithm", jwt.sign({ sub: "u1" }, SECRET, { algorithm: "HS512" }), "invalid token"],
  ["alg none", `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "u1" })}.`, "invalid token"],
  ["no sub", hs256({ name: "nobody" }), "invalid token"],
];

const query = (token) => (token === null ? "" : `?token=${encodeURIComponent(token)}`);

/** How each client connects with a token, and what it sees when it is refused. */
const CLIENTS = {
  "socket.io-client 4.x": {
    async connect(server, token) {
      const socket = ioV4(server.url, { auth: token === null ? {} : { token }, transports: ["websocket"], reconnection: false });
      server.track({ close: () => socket.close() });
      await once(socket, "connect", WAIT, { failOn: ["connect_error"] });
      return socket;
    },
    async refusal(server, token) {
      const socket = ioV4(server.url, { auth: token === null ? {} : { token }, reconnection: false });
      server.track({ close: () => socket.close() });
      const [error] = await once(socket, "connect_error", WAIT, { failOn: ["connect"] });
      return error.message;
    },
  },
  "socket.io-client 2.x": {
    async connect(server, token) {
      const socket = ioV2(server.url, { query: token === null ? {} : { token }, reconnection: false });
      server.track({ close: () => socket.close() });
      await once(socket, "connect", WAIT, { failOn: ["error"] });
      return socket;
    },
    // The v2 client emits the CONNECT_ERROR's data (the reason) as the socket's "error" event.
    async refusal(server, token) {
      const socket = ioV2(server.url, { query: token === null ? {} : { token }, reconnection: false });
      server.track({ close: () => socket.close() });
      const [error] = await once(socket, "error", WAIT, { failOn: ["connect"] });
      return error;
    },
  },
  ...Object.fromEntries(
    ["websocket", "xhr-streaming", "xhr-polling", "eventsource"].map((transport) => [
      `sockjs-client over ${transport}`,
      {
        async connect(server, token) {
          const sock = new SockJS(`${server.url}/sockjs${query(token)}`, null, { transports: [transport], timeout: WAIT });
          server.track({ close: () => sock.close() });
          await within(
            new Promise((resolve, reject) => {
              sock.onopen = resolve;
              sock.onclose = (e) => reject(new Error(`closed: ${e.code} ${e.reason}`));
            }),
            "SockJS open",
          );
          return sock;
        },
        // A refused session's first frame is `c[4401,"reason"]`: the client closes with it.
        async refusal(server, token) {
          const sock = new SockJS(`${server.url}/sockjs${query(token)}`, null, { transports: [transport], timeout: WAIT });
          const close = await within(
            new Promise((resolve, reject) => {
              sock.onopen = () => reject(new Error("opened"));
              sock.onclose = (e) => resolve(e);
            }),
            "SockJS close",
          );
          assert.equal(close.code, 4401);
          return close.reason;
        },
      },
    ]),
  ),
  ws: {
    connect: (server, token) => RelayClient.connect(server, { query: query(token) }),
    // Refused before the upgrade: 401 (403 for a backend's no) with {"error": reason}.
    async refusal(server, token, status = 401) {
      const ws = new WebSocket(`${server.wsUrl}/ws${query(token)}`);
      const [, response] = await once(ws, "unexpected-response", WAIT, { failOn: ["open"] });
      assert.equal(response.statusCode, status);
      let body = "";
      for await (const chunk of response) body += chunk;
      ws.on("error", () => {}); // the aborted handshake
      return JSON.parse(body).error;
    },
  },
};

const AUTH = ["--auth-jwt-secret", SECRET];

test("a bad token is refused by every client's protocol with the same reason", async (t) => {
  const server = await serverFor(t, AUTH);
  for (const [client, { refusal }] of Object.entries(CLIENTS)) {
    for (const [what, token, reason] of BAD_TOKENS) {
      assert.equal(await refusal(server, token), reason, `${client}, ${what}`);
    }
  }
});

test("a good token lets every client in, and they share rooms", async (t) => {
  const server = await serverFor(t, AUTH);
  const token = hs256({ sub: "ann" }, { expiresIn: 600 });
  const sio = await CLIENTS["socket.io-client 4.x"].connect(server, token);
  const sio2 = await CLIENTS["socket.io-client 2.x"].connect(server, token);
  const plain = await CLIENTS.ws.connect(server, token);
  assert.deepEqual(await emitWithAck(sio, "join", "lobby"), { ok: true });
  assert.deepEqual(await emitWithAck(sio2, "join", "lobby"), { ok: true });
  await plain.join("lobby");
  for (const transport of ["websocket", "xhr-streaming", "xhr-polling", "eventsource"]) {
    const sock = await CLIENTS[`sockjs-client over ${transport}`].connect(server, token);
    const messages = [];
    sock.onmessage = (e) => messages.push(JSON.parse(e.data));
    sock.send(JSON.stringify({ type: "join", room: "lobby", id: 1 }));
    await within(
      (async () => {
        while (!messages.some((m) => m.type === "ack")) await new Promise((r) => setTimeout(r, 5));
      })(),
      `SockJS join over ${transport}`,
    );
    sock.close();
  }
  // A client's publish carries its sender's user, set by the server: the Socket.IO event's last
  // argument, the envelope's `user`.
  const got = once(sio2, "chat");
  const ack = await emitWithAck(sio, "publish", { room: "lobby", event: "chat", data: "hi" });
  assert.deepEqual(ack, { ok: true });
  assert.deepEqual(await got, ["hi", { user: "ann" }]);
  assert.deepEqual(await plain.next(), { type: "message", room: "lobby", event: "chat", data: "hi", user: "ann" });
});

/** A webhook receiver: `events` fills with every event POSTed to it, in order. */
async function webhookReceiver(t) {
  const events = [];
  const receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      events.push(...JSON.parse(body).events);
      response.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => receiver.close(resolve)));
  return { url: `http://127.0.0.1:${receiver.address().port}/hook`, events };
}

/** Resolves once `events` has one that `matches`. */
function eventArrives(events, matches, what) {
  return within(
    (async () => {
      while (!events.some(matches)) await new Promise((r) => setTimeout(r, 5));
    })(),
    what,
  );
}

test("a user with a Socket.IO tab, a SockJS tab and a WebSocket is one user: presence, messages, offline once", async (t) => {
  const hooks = await webhookReceiver(t);
  const server = await serverFor(t, [...AUTH, "--presence-events", "--webhook-url", hooks.url]);
  const watcher = await CLIENTS.ws.connect(server, hs256({ sub: "watcher" }));
  await watcher.join("lobby");
  const token = hs256({ sub: "ann", info: { name: "Ann" } });
  const sio = await CLIENTS["socket.io-client 4.x"].connect(server, token);
  const sock = await CLIENTS["sockjs-client over websocket"].connect(server, token);
  const sockInbox = [];
  sock.onmessage = (e) => sockInbox.push(JSON.parse(e.data));
  const plain = await CLIENTS.ws.connect(server, token);

  const joined = { type: "message", room: "lobby", event: "joined", data: { user: "ann", info: { name: "Ann" } } };
  assert.deepEqual(await emitWithAck(sio, "join", "lobby"), { ok: true });
  assert.deepEqual(await watcher.next(), joined);
  sock.send(JSON.stringify({ type: "join", room: "lobby", id: 1 }));
  await plain.join("lobby");
  await watcher.roundTrip();
  assert.deepEqual(watcher.inbox, [], "ann's other tabs are the same user: no second `joined`");

  const presence = await (await fetch(`${server.url}/api/rooms/lobby/presence`)).json();
  const ann = presence.users.find((u) => u.user === "ann");
  assert.deepEqual(ann.info, { name: "Ann" });
  assert.deepEqual(ann.sessions.map((s) => s.protocol).sort(), ["socketio", "sockjs", "websocket"]);
  assert.deepEqual(await emitWithAck(sio, "presence", "lobby"), { ok: true, data: presence });

  // The API reaches all three tabs.
  const note = once(sio, "note");
  assert.deepEqual(await publish(server, { user: "ann", event: "note", data: 7 }), { delivered: 3 });
  assert.deepEqual(await note, [7]);
  assert.deepEqual(await plain.next(), { type: "message", event: "note", data: 7 });
  await within(
    (async () => {
      while (!sockInbox.some((m) => m.event === "note")) await new Promise((r) => setTimeout(r, 5));
    })(),
    "the SockJS tab's note",
  );

  sio.close();
  await plain.close();
  await watcher.roundTrip();
  assert.deepEqual(watcher.inbox, [], "still one tab open");
  sock.close();
  assert.deepEqual(await watcher.next(), { ...joined, event: "left" });

  // The webhooks: each tab's connect and disconnect with its protocol, and one user_offline, after
  // the last. A later event proves nothing more about ann was on its way.
  await eventArrives(hooks.events, (e) => e.type === "user_offline" && e.user === "ann", "ann offline");
  await CLIENTS.ws.connect(server, hs256({ sub: "late" }));
  await eventArrives(hooks.events, (e) => e.type === "connect" && e.user === "late", "a later event");
  const annEvents = (type) => hooks.events.filter((e) => e.type === type && e.user === "ann");
  assert.deepEqual(annEvents("connect").map((e) => e.protocol).sort(), ["socketio", "sockjs", "websocket"]);
  assert.deepEqual(annEvents("disconnect").map((e) => e.protocol).sort(), ["socketio", "sockjs", "websocket"]);
  assert.equal(annEvents("user_offline").length, 1);
  const offlineAt = hooks.events.findIndex((e) => e.type === "user_offline");
  const lastDisconnect = hooks.events.findLastIndex((e) => e.type === "disconnect" && e.user === "ann");
  assert.ok(offlineAt > lastDisconnect, "offline after the last disconnect");
});

test("the rooms claim bounds joining and publishing, publish: false makes a client read-only", async (t) => {
  const server = await serverFor(t, AUTH);
  const limited = await CLIENTS["socket.io-client 4.x"].connect(server, hs256({ sub: "u1", rooms: ["lobby", "team:*"] }));
  assert.deepEqual(await emitWithAck(limited, "join", "lobby"), { ok: true });
  assert.deepEqual(await emitWithAck(limited, "join", "team:red"), { ok: true });
  assert.deepEqual(await emitWithAck(limited, "join", "admins"), { ok: false, error: "not allowed" });
  const outside = await emitWithAck(limited, "publish", { room: "admins", event: "x", data: 1 });
  assert.deepEqual(outside, { ok: false, error: "not allowed" });

  const reader = await CLIENTS.ws.connect(server, hs256({ sub: "u2", publish: false }));
  await reader.join("lobby");
  const refused = await reader.request({ type: "publish", room: "lobby", event: "x" });
  assert.equal(refused.type, "error");
  assert.equal(refused.message, "not allowed");
  const got = reader.next();
  assert.deepEqual(await emitWithAck(limited, "publish", { room: "lobby", event: "x", data: 2 }), { ok: true });
  assert.deepEqual(await got, { type: "message", room: "lobby", event: "x", data: 2, user: "u1" });
});

/** A key pair of `type` ("rsa" or "ec"), the public half written to a PEM file. */
function keyPair(type) {
  const options = type === "rsa" ? { modulusLength: 2048 } : { namedCurve: "P-256" };
  const { publicKey, privateKey } = generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const file = path.join(mkdtempSync(path.join(tmpdir(), "switchboard-key-")), "public.pem");
  writeFileSync(file, publicKey);
  return { file, publicKey, privateKey };
}

for (const [type, algorithm] of [
  ["rsa", "RS256"],
  ["ec", "ES256"],
]) {
  test(`${algorithm}: a token signed with the private key is let in, nothing else`, async (t) => {
    const { file, publicKey, privateKey } = keyPair(type);
    const server = await serverFor(t, ["--auth-jwt-public-key", file]);
    const good = jwt.sign({ sub: "u1" }, privateKey, { algorithm, expiresIn: 60 });
    await CLIENTS["socket.io-client 4.x"].connect(server, good);
    await CLIENTS.ws.connect(server, good);
    // The public key used as an HMAC secret (the classic algorithm confusion) signs nothing.
    const signed = `${base64url({ alg: "HS256", typ: "JWT" })}.${base64url({ sub: "u1" })}`;
    const forged = `${signed}.${createHmac("sha256", publicKey).update(signed).digest("base64url")}`;
    for (const token of [forged, hs256({ sub: "u1" }), `${good.slice(0, -4)}AAAA`]) {
      assert.equal(await CLIENTS["socket.io-client 4.x"].refusal(server, token), "invalid token");
      assert.equal(await CLIENTS.ws.refusal(server, token), "invalid token");
    }
  });
}

test("a key file that is not a public key stops the server at startup", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "switchboard-key-"));
  const file = path.join(dir, "bad.pem");
  writeFileSync(file, "-----BEGIN NOTHING-----\n");
  await assert.rejects(serverFor({ after() {} }, ["--auth-jwt-public-key", file]), /exited before it was ready/);
});

test("--auth-url: a backend of the test's own lets clients in or refuses them with its message", async (t) => {
  const asked = [];
  const backend = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const credentials = JSON.parse(body);
      asked.push(credentials);
      const token = credentials.auth?.token ?? credentials.query.token;
      response.setHeader("content-type", "application/json");
      if (token === "let-me-in") {
        response.end(JSON.stringify({ user: "from-backend", info: { plan: "pro" } }));
      } else {
        response.statusCode = 403;
        response.end(JSON.stringify({ message: "banned" }));
      }
    });
  });
  await new Promise((resolve) => backend.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => backend.close(resolve)));
  const server = await serverFor(t, ["--auth-url", `http://127.0.0.1:${backend.address().port}/auth`]);

  const sio = await CLIENTS["socket.io-client 4.x"].connect(server, "let-me-in");
  assert.deepEqual(await emitWithAck(sio, "join", "lobby"), { ok: true });
  const presence = await (await fetch(`${server.url}/api/rooms/lobby/presence`)).json();
  assert.deepEqual(presence.users.map((u) => [u.user, u.info]), [["from-backend", { plan: "pro" }]]);
  assert.equal(await CLIENTS["socket.io-client 4.x"].refusal(server, "nope"), "banned");
  assert.equal(await CLIENTS["socket.io-client 2.x"].refusal(server, "nope"), "banned");
  assert.equal(await CLIENTS.ws.refusal(server, "nope", 403), "banned");
  const sockjs = new SockJS(`${server.url}/sockjs?token=nope`, null, { transports: ["xhr-polling"], timeout: WAIT });
  const close = await within(new Promise((resolve) => (sockjs.onclose = resolve)), "SockJS refusal");
  assert.deepEqual([close.code, close.reason], [4403, "banned"]);
  assert.equal(asked[0].protocol, "socketio");
  assert.deepEqual(asked[0].auth, { token: "let-me-in" });
});
