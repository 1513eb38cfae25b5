// Socket.IO relay mode with the real socket.io-client 4.x and 2.x (Engine.IO 4 and 3) against the
// real binary: every test runs once per client.
//
// Relay mode over Socket.IO (path /socket.io/, namespace "/"): emit("join", room, ack),
// emit("leave", room, ack), emit("publish", {room, event, data}, ack); each ack gets {ok: true} or
// {ok: false, error}. A room message arrives at every other member as socket.on(event, data).
import assert from "node:assert/strict";
import { test as nodeTest } from "node:test";
import { io as ioV4 } from "socket.io-client";
import ioV2 from "socket.io-client-v2";
import { RelayClient, emitWithAck, once, publish, serverFor } from "./lib/server.mjs";

/** The clients under test, and how each reports an unknown namespace. */
const CLIENTS = [
  {
    name: "socket.io-client 4.x",
    io: ioV4,
    async invalidNamespace(socket) {
      const [error] = await once(socket, "connect_error", undefined, { failOn: ["connect"] });
      return error.message;
    },
  },
  {
    name: "socket.io-client 2.x",
    io: ioV2,
    // The v2 client emits the ERROR packet's data (the string) as the socket's "error" event.
    async invalidNamespace(socket) {
      const [error] = await once(socket, "error", undefined, { failOn: ["connect_error"] });
      return error;
    },
  },
];

for (const client of CLIENTS) {
  const io = client.io;
  const test = (name, fn) => nodeTest(`${client.name}: ${name}`, fn);

  /** A socket on `server` (cleaned up with it) that has not necessarily connected yet. */
  function socketOn(server, options = {}, namespace = "") {
    return server.track(io(server.url + namespace, { forceNew: true, reconnection: false, ...options }));
  }

  async function connect(server, options) {
    const socket = socketOn(server, options);
    await once(socket, "connect", undefined, { failOn: ["connect_error", "error"] });
    return socket;
  }

  /** Collects every `event` the socket receives. */
  function record(socket, event) {
    const received = [];
    socket.on(event, (data) => received.push(data));
    return received;
  }

  /** A request answered in order: once acked, everything queued for the socket before it arrived. */
  async function roundTrip(socket) {
    assert.deepEqual(await emitWithAck(socket, "leave", "round-trip"), { ok: true });
  }

  test("connects over websocket only", async (t) => {
    const server = await serverFor(t);
    const socket = await connect(server, { transports: ["websocket"] });
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
  });

  test("connects over polling only", async (t) => {
    const server = await serverFor(t);
    const socket = await connect(server, { transports: ["polling"] });
    assert.equal(socket.io.engine.transport.name, "polling");
    assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
  });

  test("by default connects over polling and upgrades to websocket", async (t) => {
    const server = await serverFor(t);
    const socket = socketOn(server);
    assert.equal(socket.io.engine.transport.name, "polling");
    const [transport] = await once(socket.io.engine, "upgrade", undefined, { failOn: ["error", "close"] });
    assert.equal(transport.name, "websocket");
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.equal(socket.connected, true);
    assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
  });

  test("publish reaches other members only: not the sender, not non-members", async (t) => {
    const server = await serverFor(t);
    const [sender, member, outsider] = await Promise.all([1, 2, 3].map(() => connect(server)));
    const [toSender, toOutsider] = [record(sender, "chat"), record(outsider, "chat")];
    for (const [socket, room] of [[sender, "lobby"], [member, "lobby"], [outsider, "elsewhere"]]) {
      assert.deepEqual(await emitWithAck(socket, "join", room), { ok: true });
    }

    const heard = once(member, "chat");
    const ack = await emitWithAck(sender, "publish", { room: "lobby", event: "chat", data: { text: "hi" } });
    assert.deepEqual(ack, { ok: true });
    assert.deepEqual(await heard, [{ text: "hi" }]);

    await roundTrip(sender);
    await roundTrip(outsider);
    assert.deepEqual(toSender, []);
    assert.deepEqual(toOutsider, []);
  });

  test("publish is refused with an error ack under --server-only-publish", async (t) => {
    const server = await serverFor(t, ["--server-only-publish"]);
    const socket = await connect(server);
    const ack = await emitWithAck(socket, "publish", { room: "lobby", event: "chat", data: 1 });
    assert.deepEqual(ack, { ok: false, error: "publishing is reserved to the server" });
  });

  test("API publish reaches every socket.io member", async (t) => {
    const server = await serverFor(t);
    const members = await Promise.all([1, 2].map(() => connect(server)));
    for (const socket of members) assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });

    const heard = members.map((socket) => once(socket, "news"));
    assert.deepEqual(await publish(server, { room: "lobby", event: "news", data: [1, 2] }), { delivered: 2 });
    for (const args of await Promise.all(heard)) assert.deepEqual(args, [[1, 2]]);
  });

  test("one API publish reaches a socket.io member and a plain WebSocket member", async (t) => {
    const server = await serverFor(t);
    const socket = await connect(server);
    const relay = await RelayClient.connect(server);
    assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
    await relay.join("lobby");

    const heard = once(socket, "news");
    assert.deepEqual(await publish(server, { room: "lobby", event: "news", data: "hello" }), { delivered: 2 });
    assert.deepEqual(await heard, ["hello"]);
    assert.deepEqual(await relay.next(), { type: "message", room: "lobby", event: "news", data: "hello" });
  });

  test("publishes cross between socket.io and plain WebSocket members", async (t) => {
    const server = await serverFor(t);
    const socket = await connect(server);
    const relay = await RelayClient.connect(server);
    assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
    await relay.join("lobby");

    assert.deepEqual(await emitWithAck(socket, "publish", { room: "lobby", event: "chat", data: 1 }), { ok: true });
    assert.deepEqual(await relay.next(), { type: "message", room: "lobby", event: "chat", data: 1 });

    const heard = once(socket, "chat");
    assert.equal((await relay.request({ type: "publish", room: "lobby", event: "chat", data: 2 })).type, "ack");
    assert.deepEqual(await heard, [2]);
  });

  test("a published Buffer reaches Socket.IO members of both versions as binary, a plain WebSocket one as a Buffer's JSON", async (t) => {
    const server = await serverFor(t);
    const sender = await connect(server);
    const [v4, v2] = await Promise.all(
      [ioV4, ioV2].map(async (other) => {
        const socket = server.track(other(server.url, { forceNew: true, reconnection: false }));
        await once(socket, "connect", undefined, { failOn: ["connect_error", "error"] });
        return socket;
      }),
    );
    const relay = await RelayClient.connect(server);
    for (const socket of [sender, v4, v2]) assert.deepEqual(await emitWithAck(socket, "join", "lobby"), { ok: true });
    await relay.join("lobby");
    const heard = [once(v4, "file"), once(v2, "file")];
    const data = { name: "f", bytes: Buffer.from([0, 1, 254, 255]) };
    assert.deepEqual(await emitWithAck(sender, "publish", { room: "lobby", event: "file", data }), { ok: true });
    for (const [got] of await Promise.all(heard)) {
      assert.equal(got.name, "f");
      const bytes = got.bytes instanceof ArrayBuffer ? new Uint8Array(got.bytes) : got.bytes;
      assert.deepEqual([...bytes], [0, 1, 254, 255]);
    }
    assert.deepEqual(await relay.next(), {
      type: "message",
      room: "lobby",
      event: "file",
      data: { name: "f", bytes: { type: "Buffer", data: [0, 1, 254, 255] } },
    });
    // Binary goes with publish only.
    const refused = await emitWithAck(sender, "join", Buffer.from([1]));
    assert.equal(refused.ok, false);
  });

  test("an unknown namespace is refused with \"Invalid namespace\"", async (t) => {
    const server = await serverFor(t);
    const socket = socketOn(server, { transports: ["websocket"] }, "/nope");
    assert.equal(await client.invalidNamespace(socket), "Invalid namespace");
    assert.equal(socket.connected, false);
  });

  test("SIGTERM disconnects the client", async (t) => {
    const server = await serverFor(t);
    const socket = await connect(server, { transports: ["websocket"] });
    const [[reason], exit] = await Promise.all([once(socket, "disconnect"), server.stop()]);
    assert.ok(["io server disconnect", "transport close"].includes(reason), reason);
    assert.equal(socket.connected, false);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
}
