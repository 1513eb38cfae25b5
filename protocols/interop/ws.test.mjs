// Plain WebSocket relay (protocols/relay.md) with the real `ws` client against the real binary.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RelayClient, publish, serverFor } from "./lib/server.mjs";

const connect = (server, n) => Promise.all(Array.from({ length: n }, () => RelayClient.connect(server)));

test("welcome carries a distinct 20-character session id (as Node's ids)", async (t) => {
  const server = await serverFor(t);
  const [a, b] = await connect(server, 2);
  assert.match(a.session, /^[A-Za-z0-9_-]{20}$/);
  assert.match(b.session, /^[A-Za-z0-9_-]{20}$/);
  assert.notEqual(a.session, b.session);
});

test("publish reaches other members only: not the sender, not non-members", async (t) => {
  const server = await serverFor(t);
  const [sender, member, outsider] = await connect(server, 3);
  await sender.join("lobby");
  await member.join("lobby");
  await outsider.join("elsewhere");

  const ack = await sender.request({ type: "publish", room: "lobby", event: "chat", data: { text: "hi" } });
  assert.deepEqual(ack, { type: "ack", id: ack.id });
  assert.deepEqual(await member.next(), { type: "message", room: "lobby", event: "chat", data: { text: "hi" } });

  await sender.roundTrip();
  await outsider.roundTrip();
  assert.deepEqual(sender.inbox, []);
  assert.deepEqual(outsider.inbox, []);
});

test("a member that left gets nothing more", async (t) => {
  const server = await serverFor(t);
  const [sender, leaver] = await connect(server, 2);
  await leaver.join("lobby");
  assert.equal((await leaver.request({ type: "leave", room: "lobby" })).type, "ack");
  await sender.request({ type: "publish", room: "lobby", event: "chat" });
  await leaver.roundTrip();
  assert.deepEqual(leaver.inbox, []);
});

test("API publish reaches every member and counts them in `delivered`", async (t) => {
  const server = await serverFor(t);
  const [a, b, outsider] = await connect(server, 3);
  await a.join("lobby");
  await b.join("lobby");

  assert.deepEqual(await publish(server, { room: "lobby", event: "news", data: [1, 2] }), { delivered: 2 });
  for (const member of [a, b]) {
    assert.deepEqual(await member.next(), { type: "message", room: "lobby", event: "news", data: [1, 2] });
  }
  await outsider.roundTrip();
  assert.deepEqual(outsider.inbox, []);

  assert.deepEqual(await publish(server, { room: "lobby", event: "news", except: [a.session] }), { delivered: 1 });
  assert.deepEqual(await b.next(), { type: "message", room: "lobby", event: "news", data: null });
  await a.roundTrip();
  assert.deepEqual(a.inbox, []);
});

test("bad JSON and an unknown type get errors and the connection stays open", async (t) => {
  const server = await serverFor(t);
  const [client] = await connect(server, 1);

  client.send("{not json");
  const error = await client.next();
  assert.equal(error.type, "error");
  assert.match(error.message, /^invalid JSON: /);
  assert.equal("id" in error, false);

  const unknown = await client.request({ type: "dance" });
  assert.deepEqual(unknown, { type: "error", id: unknown.id, message: 'unknown type "dance"' });

  await client.join("lobby");
  assert.equal(client.ws.readyState, client.ws.OPEN);
});

test("a message over --max-message-size closes the connection with 1009", async (t) => {
  const server = await serverFor(t, ["--max-message-size", "1024"]);
  const [client] = await connect(server, 1);
  const publishOf = (size) => ({ type: "publish", room: "lobby", event: "big", data: "x".repeat(size) });

  assert.equal((await client.request(publishOf(900))).type, "ack");
  client.send(publishOf(2000));
  const { code, reason } = await client.waitClose();
  assert.equal(code, 1009);
  assert.equal(reason, "message too big");
});

test("SIGTERM closes every client with 1001 and the server exits cleanly", async (t) => {
  const server = await serverFor(t);
  const clients = await connect(server, 2);
  await clients[0].join("lobby");

  const [exit, ...closes] = await Promise.all([server.stop(), ...clients.map((c) => c.waitClose())]);
  for (const close of closes) assert.deepEqual(close, { code: 1001, reason: "server shutting down" });
  assert.deepEqual(exit, { code: 0, signal: null });
});
