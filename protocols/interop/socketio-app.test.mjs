// examples/socketio_app (a Socket.IO application written against switchboard's Rust API) driven by
// the real socket.io-client 4.x and 2.x, over websocket only, polling only, and the default
// polling → websocket upgrade.
//
// The app: connect middleware (the token must be "secret", else the connection is refused with
// "unauthorized" and data {reason: "bad token"}), "welcome" {id, namespace} on connection, "echo"
// acked with its arguments (binary too), "ask" → "question" with an ack → "answer" (or "no-answer"
// after 2 s), "join" a room (acked true) and "shout" to it ("shouted" at every other member),
// namespaces "/" and "/admin". A 4.x client sends the token as `auth`; a 2.x client has no auth
// payload: its handshake query stands in for it on "/" (joined implicitly), the namespace's query on
// another namespace (`{query: {token}}` puts it in both).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { io } from "socket.io-client";
import ioV2 from "socket.io-client-v2";
import { socketIoAppFor } from "./lib/example.mjs";
import { WAIT, once, within } from "./lib/server.mjs";

const TOKEN = "secret";
/** How long the app waits for the client's ack of "question" before it sends "no-answer". */
const ASK_TIMEOUT = 2000;

const MODES = [
  { name: "websocket only", options: { transports: ["websocket"] }, transport: "websocket" },
  { name: "polling only", options: { transports: ["polling"] }, transport: "polling" },
  { name: "polling upgraded to websocket", options: {}, transport: "websocket" },
];

const CLIENTS = [
  {
    name: "socket.io-client 4.x",
    io: (url, options) => io(url, options),
    credentials: (token) => (token === undefined ? {} : { auth: { token } }),
    connectFailOn: ["connect_error"],
    /** The first refusal of the socket's namespace, as {message, data}. */
    async refusal(socket) {
      const [error] = await once(socket, "connect_error", WAIT, { failOn: ["connect"] });
      assert.ok(error instanceof Error);
      return { message: error.message, data: error.data };
    },
    /** What the middleware's refusal looks like to this client. */
    unauthorized: { message: "unauthorized", data: { reason: "bad token" } },
    invalidNamespace: { message: "Invalid namespace", data: undefined },
    /** The welcome's id is the socket's id. */
    assertWelcomeId(socket, id) {
      assert.equal(id, socket.id);
    },
  },
  {
    name: "socket.io-client 2.x",
    io: (url, options) => ioV2(url, options),
    credentials: (token) => (token === undefined ? {} : { query: { token } }),
    connectFailOn: ["error", "connect_error"],
    // socket.io-client 2.x emits "error" with the packet's data; it also hands an ERROR packet of
    // "/" to the sockets of every other namespace.
    async refusal(socket) {
      const [error] = await once(socket, "error", WAIT, { failOn: ["connect"] });
      return typeof error === "string" ? { message: error, data: undefined } : error;
    },
    // Protocol v4 carries `err.data || err.message`, as Node's 4.x server with allowEIO3 does:
    // here the data, {reason: "bad token"}.
    unauthorized: { reason: "bad token" },
    invalidNamespace: { message: "Invalid namespace", data: undefined },
    // A 2.x client names its sockets after the Engine.IO sid; the server's socket id is its own.
    assertWelcomeId(socket, id) {
      assert.equal(typeof id, "string");
      assert.ok(id.length > 0);
      assert.notEqual(id, socket.io.engine.id, "the Engine.IO sid is never shown");
    },
  },
];

/** Emits `event` with `args` and an ack callback; resolves with every argument of the ack. */
function ack(socket, event, ...args) {
  return within(new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))), `ack of "${event}"`);
}

/** Collects the arguments of every `event` the socket receives. */
function record(socket, event) {
  const received = [];
  socket.on(event, (...args) => received.push(args));
  return received;
}

/** A round trip in order: once acked, everything the server queued for `socket` before it has arrived. */
async function roundTrip(socket) {
  assert.deepEqual(await ack(socket, "echo", "round trip"), ["round trip"]);
}

/** The bytes of a received binary (Buffer, ArrayBuffer or typed array), as a plain array. */
function bytes(value) {
  if (value instanceof ArrayBuffer) return [...new Uint8Array(value)];
  assert.ok(ArrayBuffer.isView(value), `expected binary data, got ${JSON.stringify(value)}`);
  return [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
}

/** Asserts the connection ended up on `mode.transport` (waiting for the upgrade when there is one). */
async function assertTransport(socket, mode) {
  const engine = socket.io.engine;
  if (mode.transport === "websocket" && engine.transport.name !== "websocket") {
    const [transport] = await once(engine, "upgrade", WAIT, { failOn: ["close"] });
    assert.equal(transport.name, "websocket");
  }
  assert.equal(engine.transport.name, mode.transport);
}

/**
 * Emits "ask" and acks the app's "question" with `reply` (or never, if undefined); resolves with
 * the questions received, which of "answer" / "no-answer" came back with what, and when.
 */
async function ask(socket, reply) {
  const questions = [];
  socket.on("question", (...args) => {
    const callback = args.pop();
    assert.equal(typeof callback, "function", "the question comes with an ack");
    questions.push(args);
    if (reply !== undefined) callback(reply);
  });
  const answer = once(socket, "answer", ASK_TIMEOUT + WAIT);
  const noAnswer = once(socket, "no-answer", ASK_TIMEOUT + WAIT);
  answer.catch(() => {});
  noAnswer.catch(() => {});
  const started = Date.now();
  socket.emit("ask", "q");
  const outcome = await Promise.race([
    answer.then((args) => ({ event: "answer", args })),
    noAnswer.then((args) => ({ event: "no-answer", args })),
  ]);
  return { ...outcome, questions, elapsed: Date.now() - started };
}

for (const mode of MODES) {
  for (const client of CLIENTS) {
    describe(`${client.name}, ${mode.name}`, () => {
      /** A socket on `app` (closed with it) that has not necessarily connected yet. */
      function socketOn(app, namespace, token) {
        const options = { forceNew: true, reconnection: false, ...mode.options, ...client.credentials(token) };
        return app.track(client.io(app.url + namespace, options));
      }

      /** Connects with the right token; resolves with the socket and its "welcome". */
      async function connect(app, namespace = "/") {
        const socket = socketOn(app, namespace, TOKEN);
        const errors = record(socket, "error");
        const welcome = once(socket, "welcome");
        welcome.catch(() => {});
        await once(socket, "connect", WAIT, { failOn: client.connectFailOn });
        const [greeting] = await welcome;
        assert.deepEqual(errors, []);
        return { socket, welcome: greeting };
      }

      test("middleware refuses a missing or wrong token with unauthorized", async (t) => {
        const app = await socketIoAppFor(t);
        for (const token of [undefined, "wrong"]) {
          const socket = socketOn(app, "/", token);
          const welcomes = record(socket, "welcome");
          assert.deepEqual(await client.refusal(socket), client.unauthorized);
          assert.equal(socket.connected, false);
          assert.deepEqual(welcomes, []);
        }
      });

      test("the right token connects and gets welcome {id, namespace: /}", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket, welcome } = await connect(app);
        assert.deepEqual(Object.keys(welcome).sort(), ["id", "namespace"]);
        assert.equal(welcome.namespace, "/");
        client.assertWelcomeId(socket, welcome.id);
        await assertTransport(socket, mode);
        assert.equal(socket.connected, true);
      });

      test("echo is acked with the same arguments", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket } = await connect(app);
        assert.deepEqual(await ack(socket, "echo", 1, "two", { three: [3] }), [1, "two", { three: [3] }]);
        assert.deepEqual(await ack(socket, "echo"), []);
        if (typeof socket.emitWithAck === "function") {
          assert.equal(await within(socket.timeout(WAIT).emitWithAck("echo", "single"), "emitWithAck"), "single");
        }
        await assertTransport(socket, mode);
      });

      test("binary both ways: echo of buffers, also nested, is acked with equal buffers", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket } = await connect(app);
        const reply = await ack(socket, "echo", Buffer.from([1, 2, 3]), { nested: Buffer.from([4, 5]) }, "text");
        assert.equal(reply.length, 3);
        assert.deepEqual(bytes(reply[0]), [1, 2, 3]);
        assert.deepEqual(Object.keys(reply[1]), ["nested"]);
        assert.deepEqual(bytes(reply[1].nested), [4, 5]);
        assert.equal(reply[2], "text");
        await assertTransport(socket, mode);
      });

      test("server → client ack: the reply to question comes back as answer", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket } = await connect(app);
        const outcome = await ask(socket, "the answer");
        assert.deepEqual(outcome.questions, [["q"]]);
        assert.deepEqual([outcome.event, outcome.args], ["answer", ["the answer"]]);
        await assertTransport(socket, mode);
      });

      test("server → client ack: no reply → no-answer 'operation has timed out' after 2 s", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket } = await connect(app);
        const outcome = await ask(socket, undefined);
        assert.deepEqual(outcome.questions, [["q"]]);
        assert.deepEqual([outcome.event, outcome.args], ["no-answer", ["operation has timed out"]]);
        assert.ok(outcome.elapsed >= ASK_TIMEOUT - 100, `no-answer after ${outcome.elapsed} ms, before the 2 s timeout`);
        await roundTrip(socket); // the connection is still usable
      });

      test("namespace /admin: the right token connects (welcome namespace /admin), a wrong one is refused", async (t) => {
        const app = await socketIoAppFor(t);
        const { socket, welcome } = await connect(app, "/admin");
        assert.equal(welcome.namespace, "/admin");
        client.assertWelcomeId(socket, welcome.id);
        assert.deepEqual(await ack(socket, "echo", "in admin"), ["in admin"]);
        await assertTransport(socket, mode);

        const refused = socketOn(app, "/admin", "wrong");
        const errors = record(refused, "error");
        const refusals = client.name.includes("2.x")
          ? // the handshake's wrong token refuses "/" too, and 2.x hands that refusal to every socket
            within(new Promise((resolve) => refused.on("error", () => errors.length === 2 && resolve())), "two errors")
          : null;
        assert.deepEqual(await client.refusal(refused), client.unauthorized);
        if (refusals) {
          await refusals;
          assert.deepEqual(errors, [[{ reason: "bad token" }], [{ reason: "bad token" }]]);
        }
        assert.equal(refused.connected, false);
      });

      test("an unknown namespace is refused with Invalid namespace", async (t) => {
        const app = await socketIoAppFor(t);
        const socket = socketOn(app, "/nope", TOKEN);
        assert.deepEqual(await client.refusal(socket), client.invalidNamespace);
        assert.equal(socket.connected, false);
      });

      test("rooms: shout reaches the other member, not the shouter nor a non-member", async (t) => {
        const app = await socketIoAppFor(t);
        const connected = await Promise.all([1, 2, 3].map(() => connect(app)));
        const [shouter, member, outsider] = connected.map(({ socket }) => socket);
        const [toShouter, toOutsider] = [record(shouter, "shouted"), record(outsider, "shouted")];
        assert.deepEqual(await ack(shouter, "join", "r"), [true]);
        assert.deepEqual(await ack(member, "join", "r"), [true]);
        assert.deepEqual(await ack(outsider, "join", "elsewhere"), [true]);

        const heard = once(member, "shouted");
        shouter.emit("shout", "r", "hello");
        assert.deepEqual(await heard, ["hello"]);
        await roundTrip(shouter);
        await roundTrip(outsider);
        assert.deepEqual(toShouter, []);
        assert.deepEqual(toOutsider, []);
        for (const socket of [shouter, member, outsider]) await assertTransport(socket, mode);
      });
    });
  }

  test(`rooms hold 2.x and 4.x sockets together; / and /admin keep theirs apart (${mode.name})`, async (t) => {
    const app = await socketIoAppFor(t);
    const members = [];
    for (const namespace of ["/", "/admin"]) {
      for (const [version, client] of [["v2", CLIENTS[1]], ["v4", CLIENTS[0]]]) {
        const options = { forceNew: true, reconnection: false, ...mode.options, ...client.credentials(TOKEN) };
        const socket = app.track(client.io(app.url + namespace, options));
        members.push({ namespace, version, socket, heard: record(socket, "shouted") });
      }
    }
    await Promise.all(members.map(({ socket }) => once(socket, "connect", WAIT, { failOn: ["connect_error", "error"] })));
    for (const { socket } of members) assert.deepEqual(await ack(socket, "join", "r"), [true]);

    // Every member shouts in turn; the other version in the same namespace (only) hears it.
    for (const shouter of members) {
      const [listener] = members.filter((m) => m.namespace === shouter.namespace && m !== shouter);
      const heard = once(listener.socket, "shouted");
      shouter.socket.emit("shout", "r", `${shouter.version} in ${shouter.namespace}`);
      assert.deepEqual(await heard, [`${shouter.version} in ${shouter.namespace}`]);
    }
    for (const { socket } of members) await roundTrip(socket);
    for (const { namespace, version, heard } of members) {
      const other = version === "v2" ? "v4" : "v2";
      assert.deepEqual(heard, [[`${other} in ${namespace}`]], `${version} in ${namespace}`);
    }
  });
}
