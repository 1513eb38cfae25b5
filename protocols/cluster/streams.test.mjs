// The streams protocol (@socket.io/redis-streams-adapter 0.3.1, protocols/redis-streams-adapter.md):
// broadcasts, socketsJoin/Leave and disconnectSockets XADDed to the stream `socket.io` and read
// with XREAD; requests and responses in msgpack on Pub/Sub (`socket.io#/#`, `socket.io#/#<uid>#`);
// the server count by PUBSUB NUMSUB; and connection state recovery across nodes: a dropped
// socket's session is `SET sio:session:<pid> base64(msgpack({sid,pid,rooms,data})) PX <window>`,
// its offsets are stream entry ids, and a client coming back to ANY node (switchboard or Node)
// gets its id, rooms and missed packets back. Real parts only: one redis-server per test,
// switchboard binaries with `--redis-adapter streams` (and `--connection-state-recovery`), Node
// socket.io 4.8 nodes with the streams adapter (lib/node-node.mjs, ADAPTER=streams, RECOVERY_MS),
// a TCP proxy standing in for a load balancer (lib/proxy.mjs), and real clients: socket.io-client
// 4.x (and 2.x for messaging), ws, sockjs-client.
//
// The recovery tests never touch a client's internals: the proxy cuts the TCP connection, points
// at another node, and socket.io-client's Manager reconnects with its own auth {pid, offset}.
// socket.io-client's `_pid` is only read, to know which session key to wait for.
//
// The first tests have no switchboard node: Node streams nodes against each other, the harness
// (proxy, readiness, the recovery scenario) proved on Node's own behaviour.
import assert from "node:assert/strict";
import { test } from "node:test";
import { io } from "socket.io-client";
import {
  Harness,
  WAIT,
  apiPublish,
  arrives,
  fence,
  fenceFromSwitchboard,
  record,
  sioJoin,
  sioPublish,
  stats,
  until,
  untilServerCount,
  waitFor,
} from "./lib/cluster.mjs";
import {
  apiPublishReachesNodeMember,
  broadcastToSocketIdReachesItAlone,
  disconnectSocketsClosesWsOutsider,
  emitWithAckCollectsSocketIoAcks,
  everyProtocolRoom,
  fetchEveryoneFromNode,
  fetchRoomFromNode,
  nodePublishReachesEveryMemberOnce,
  socketsJoinAndLeaveMoveWs,
  v2AndSockjsPublishesReachNodeMember,
  wsPublishReachesNodeMemberOnce,
} from "./lib/scenarios.mjs";

const STREAM = "socket.io";
const SESSION_PREFIX = "sio:session:";
/** The window of every recovering node here: longer than any test's steps. */
const RECOVERY_MS = 20_000;
/** A stream entry id, "<ms>-<seq>". */
const STREAM_ID = /^[0-9]+-[0-9]+$/;

// --- helpers ----------------------------------------------------------------------------------

/** Compares two stream ids ("ms-seq"): negative, 0 or positive. */
function compareIds(a, b) {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}

function assertIncreasing(ids, what) {
  for (const id of ids) assert.match(id, STREAM_ID, `${what}: ${JSON.stringify(ids)}`);
  for (let i = 1; i < ids.length; i++) assert.ok(compareIds(ids[i - 1], ids[i]) < 0, `${what} increase: ${JSON.stringify(ids)}`);
}

/** Every entry of the stream, as Redis has it: [{id, fields: [name, value, ...]}], oldest first. */
async function streamEntries(rc) {
  const raw = await rc.client.sendCommand(["XRANGE", STREAM, "-", "+"]);
  return raw.map(([id, fields]) => ({ id: String(id), fields: fields.map(String) }));
}

/** A stream entry's fields as an object, `data` parsed when it is JSON. */
function entryFields({ fields }) {
  const object = {};
  for (let i = 0; i < fields.length; i += 2) object[fields[i]] = fields[i + 1];
  if (object.data?.startsWith("{")) object.data = JSON.parse(object.data);
  return object;
}

/** Resolves with the id of the broadcast entry of `[event, data]` once the stream has it. */
function untilInStream(rc, event, data) {
  return until(async () => {
    const raw = await rc.client.sendCommand(["XREVRANGE", STREAM, "+", "-", "COUNT", "200"]);
    for (const [id, fields] of raw) {
      const entry = entryFields({ fields: fields.map(String) });
      if (entry.type === "3" && JSON.stringify(entry.data?.packet?.data) === JSON.stringify([event, data])) return String(id);
    }
    return false;
  }, `the stream to hold ${JSON.stringify([event, data])}`);
}

/** Resolves once Redis holds the session of `pid` (its node saw the cut and persisted it). */
function untilSessionKept(rc, pid) {
  return until(async () => (await rc.client.exists(`${SESSION_PREFIX}${pid}`)) === 1, `${SESSION_PREFIX}${pid} to be SET`);
}

/** Every key of the Redis but the stream (what a node kept for a dropped session, whatever its name). */
async function keptKeys(rc) {
  return (await rc.client.keys("*")).filter((key) => key !== STREAM).sort();
}

/**
 * How to publish event `event` with `data` to room r through `node`: switchboard's POST
 * /api/publish, a Node node's io.to(room).emit.
 */
function publishVia(node, room, event, data) {
  return node.kind === "switchboard" ? apiPublish(node, { room, event, data }) : node.call("broadcast", room, event, data);
}

/**
 * Publishes through each of `nodes` in turn (data `from`, `from + 1`, ...) to `room`, each only
 * once the previous one is in the stream, so the stream's order is the publishers' order.
 * Resolves with the entry ids.
 */
async function publishInOrder(rc, nodes, room, event, from) {
  const ids = [];
  for (const [i, node] of nodes.entries()) {
    await publishVia(node, room, event, from + i);
    ids.push(await untilInStream(rc, event, from + i));
  }
  return ids;
}

/**
 * A socket.io-client 4.x socket to `proxy`, reconnecting by itself after 50 ms (no jitter),
 * websocket only; `received` collects the arguments of each `n` event (with recovery on, the
 * offset is the last one); `packets` the type of each Socket.IO packet the Manager decodes (0
 * CONNECT, 2 EVENT, 3 ACK), in wire order.
 */
function recoveringSocket(h, proxy) {
  const socket = io(`http://127.0.0.1:${proxy.port}`, {
    forceNew: true,
    transports: ["websocket"],
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 50,
    randomizationFactor: 0,
  });
  h.add(socket, () => socket.disconnect());
  const received = [];
  const packets = [];
  socket.on("n", (...args) => received.push(args));
  socket.io.on("packet", (packet) => packets.push(packet.type === 2 ? `event:${packet.data[0]}` : packet.type));
  return { socket, received, packets };
}

/** Resolves once `received` has `count` entries. */
function untilReceived(received, count, what = `${count} "n" events`) {
  return until(() => received.length >= count, `${what} (have ${JSON.stringify(received)})`);
}

/**
 * Connects a recovering socket.io-client through a new proxy to `from`, joins r (relay `join`),
 * gets one event (so it has an offset), then is cut with the proxy pointing at `to` and held: its
 * reconnection waits until `release()` is called. Resolves with the client's state at the cut.
 */
async function connectThenCut(h, rc, { from, to, firstFrom = from }) {
  const proxy = await h.proxy(from.port);
  const client = recoveringSocket(h, proxy);
  const { socket, received } = client;
  await waitFor(socket, "connect", { failOn: ["connect_error"] });
  assert.equal(socket.recovered, false);
  assert.match(socket._pid ?? "", /^[A-Za-z0-9_-]{20}$/, "a private id: connection state recovery is on");
  const id = socket.id;
  const pid = socket._pid;
  await sioJoin(socket, "r");
  const [firstId] = await publishInOrder(rc, [firstFrom], "r", "n", 0);
  await untilReceived(received, 1);
  assert.deepEqual(received, [[0, firstId]], "a live event carries its stream id as last argument");

  proxy.hold();
  proxy.switchTo(to.port);
  const disconnected = waitFor(socket, "disconnect");
  assert.equal(proxy.dropAll(), 1);
  const [reason] = await disconnected;
  assert.equal(reason, "transport close");
  await untilSessionKept(rc, pid);
  return { ...client, proxy, id, pid, firstId };
}

/** Lets the held reconnection through and resolves once the socket is connected again. */
async function reconnect({ socket, proxy }) {
  const connected = waitFor(socket, "connect", { timeoutMs: 2 * WAIT, failOn: ["connect_error"] });
  proxy.release();
  await connected;
}

/**
 * The recovery scenario: a client on `from` cut, three events published to r while it is away
 * (through `publishers`, in order), and back through the proxy on `to`: the same socket, the three
 * events once and in order with their stream ids, then live events.
 */
async function recoveryScenario(h, rc, { from, to, publishers }) {
  const client = await connectThenCut(h, rc, { from, to });
  const { socket, received, packets, id, pid, firstId } = client;
  const missedIds = await publishInOrder(rc, publishers, "r", "n", 1);
  const before = packets.length;
  await reconnect(client);
  assert.equal(socket.recovered, true, "socket.recovered");
  assert.equal(socket.id, id, "the same socket id");
  assert.equal(socket._pid, pid, "the same private id");
  await untilReceived(received, 4);
  assert.deepEqual(received.slice(1), [1, 2, 3].map((n, i) => [n, missedIds[i]]), "the missed events, in order, with their ids");

  // Live events after the recovery: the socket is in r on `to`, and reached from every node.
  const liveIds = await publishInOrder(rc, [to, from], "r", "n", 4);
  await untilReceived(received, 6);
  await fence(publishers.find((node) => node.kind === "node"), [socket], { room: "r" });
  assert.deepEqual(received.map(([n]) => n), [0, 1, 2, 3, 4, 5], "every event once, in order");
  assert.deepEqual(received.map(([, offset]) => offset), [firstId, ...missedIds, ...liveIds]);
  assertIncreasing(received.map(([, offset]) => offset), "offsets");
  for (const args of received) assert.equal(args.length, 2, `data and offset only: ${JSON.stringify(args)}`);
  // The session was taken: nothing kept in Redis any more.
  assert.equal(await rc.client.exists(`${SESSION_PREFIX}${pid}`), 0);
  return { ...client, packetsAfterCut: packets.slice(before) };
}

/**
 * A reconnection that cannot be recovered (`spoil` makes it so while the client is away): a fresh
 * socket on `to` (recovered false, a new id), nothing replayed, not in r any more.
 */
async function freshScenario(h, rc, { from, to, node, spoil }) {
  const client = await connectThenCut(h, rc, { from, to });
  const { socket, received, id } = client;
  await publishInOrder(rc, [node], "r", "n", 1);
  await spoil(client);
  await reconnect(client);
  assert.equal(socket.recovered, false, "socket.recovered");
  assert.notEqual(socket.id, id, "a new socket id");
  // Not in r: a broadcast to r from the Node node misses it; a broadcast to everyone reaches it.
  await node.call("broadcast", "r", "n", 2);
  await fence(node, [socket]);
  assert.deepEqual(received.map(([n]) => n), [0], "nothing replayed, nothing from r");
  // A working socket all the same: it joins and hears r again.
  await sioJoin(socket, "r");
  await publishVia(to, "r", "n", 3);
  await untilReceived(received, 2);
  assert.deepEqual(received[1][0], 3);
  assert.match(received[1][1], STREAM_ID);
}

const SPOILERS = {
  "an unknown pid (its session gone from Redis, as after the window)": async (rc, { pid }) => {
    assert.equal(await rc.client.del(`${SESSION_PREFIX}${pid}`), 1);
  },
  "an offset trimmed out of the stream": async (rc, { firstId }) => {
    await rc.client.sendCommand(["XTRIM", STREAM, "MAXLEN", "0"]);
    assert.equal((await rc.client.sendCommand(["XRANGE", STREAM, firstId, firstId])).length, 0);
  },
};

// --- Node streams nodes against each other (no switchboard) -----------------------------------------

test("Node streams nodes: ready means subscribed and reading; broadcasts, requests and socketsJoin between them", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const rc = await h.redisClient({ redisUrl: redis.url });
  const a = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "A" });
  const b = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "B" });
  // Ready: PUBSUB NUMSUB counts both on socket.io#/#, and each one's XREAD is running, so an
  // entry XADDed by A right now is read by B (the reader starts at "$").
  assert.equal(await a.call("serverCount"), 2);
  assert.deepEqual(await b.call("streamsState"), { subscribed: true, reading: true });
  const [onA, onB] = await Promise.all([h.socketIo(a), h.socketIo(b)]);
  await Promise.all([sioJoin(onA, "r"), sioJoin(onB, "r")]);
  const chats = [onA, onB].map((s) => record(s, "chat"));
  await sioPublish(onA, "r", "chat", "from A");
  assert.deepEqual(await chats[1].next(), ["from A"]);
  await fence(a, [onA, onB], { room: "r" });
  assert.deepEqual(chats.map((c) => c.count), [0, 1], "the sender left out, no offset without recovery");

  // What A XADDed: uid, nsp, type, data, in that order; data JSON {packet, opts}.
  const entries = (await streamEntries(rc)).map(entryFields);
  const publishEntry = entries.find((e) => e.data?.packet?.data?.[0] === "chat");
  assert.deepEqual(Object.keys(publishEntry), ["uid", "nsp", "type", "data"]);
  assert.deepEqual(publishEntry, {
    uid: a.uid,
    nsp: "/",
    type: "3",
    data: { packet: { type: 2, data: ["chat", "from A"] }, opts: { rooms: ["r"], except: [onA.id], flags: {} } },
  });
  // Requests go over Pub/Sub, not the stream.
  const all = await a.call("fetchSockets");
  assert.deepEqual(all.map((s) => s.id).sort(), [onA.id, onB.id].sort());
  await a.call("socketsJoin", onB.id, "moved");
  await until(async () => (await b.call("localRooms")).moved?.includes(onB.id), "the socketsJoin to land on B");
  const last = entryFields((await streamEntries(rc)).at(-1));
  assert.deepEqual(last, { uid: a.uid, nsp: "/", type: "4", data: { opts: { rooms: [onB.id], except: [], flags: {} }, rooms: ["moved"] } });
  assert.equal((await streamEntries(rc)).filter((e) => entryFields(e).type === "7").length, 0, "no FETCH_SOCKETS in the stream");
});

test("Node streams nodes: a socket.io-client cut from N1 recovers on N2 through the proxy", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const rc = await h.redisClient({ redisUrl: redis.url });
  const n1 = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "N1", recoveryMs: RECOVERY_MS });
  const n2 = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "N2", recoveryMs: RECOVERY_MS });
  const { packetsAfterCut } = await recoveryScenario(h, rc, { from: n1, to: n2, publishers: [n2, n1, n2] });
  // Node's order on the wire: the missed EVENTs first, then CONNECT (the client buffers them).
  assert.deepEqual(packetsAfterCut.slice(0, 4), ["event:n", "event:n", "event:n", 0]);
});

for (const [what, spoil] of Object.entries(SPOILERS)) {
  test(`Node streams nodes: ${what} gives a fresh socket on N2`, async (t) => {
    const h = new Harness(t);
    const redis = await h.redis();
    const rc = await h.redisClient({ redisUrl: redis.url });
    const n1 = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "N1", recoveryMs: RECOVERY_MS });
    const n2 = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "N2", recoveryMs: RECOVERY_MS });
    await freshScenario(h, rc, { from: n1, to: n2, node: n1, spoil: (client) => spoil(rc, client) });
  });
}

// --- a mixed cluster: switchboard and Node on the stream ------------------------------------------

test("a switchboard node in a Node streams cluster", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const rc = await h.redisClient({ redisUrl: redis.url });
  const sb = await h.switchboard({ redisUrl: redis.url, adapter: "streams" });
  const node = await h.nodeNode({ redisUrl: redis.url, adapter: "streams", name: "N" });
  // PUBSUB NUMSUB socket.io#/#: switchboard holds one subscription of it.
  await untilServerCount(node, 2);
  const sbId = (await stats(sb)).cluster.node_id;

  const room = await everyProtocolRoom(h, sb, node);
  const { sioV4, ws, members, sioChats, relayChats } = room;

  await t.test("/api/stats names the node by a uid as Node's (16 hex digits)", async () => {
    const { cluster } = await stats(sb);
    assert.equal(cluster.connected, true);
    assert.match(cluster.node_id, /^[0-9a-f]{16}$/);
    assert.equal(await node.call("serverCount"), 2);
  });

  await t.test("a publish on the Node node reaches r's members of every protocol on switchboard, once", async () => {
    await nodePublishReachesEveryMemberOnce(room);
    // Without recovery, no offset: the room message has none either.
    assert.equal("offset" in relayChats[0][0], false);
  });

  await t.test("a plain WebSocket publish on switchboard reaches the Node node's member, once", async () => {
    // switchboard skips its own entries in the stream.
    await wsPublishReachesNodeMemberOnce(room);
  });

  await t.test("Socket.IO v4, v2 and SockJS publishes and POST /api/publish on switchboard reach Node's member", async () => {
    await sioPublish(sioV4, "r", "chat", "from v4");
    await arrives(sioChats[2], "from v4");
    await v2AndSockjsPublishesReachNodeMember(room);
    await apiPublishReachesNodeMember(room);
    await fenceFromSwitchboard(sb, members, "r");
    assert.equal(sioChats[3].count, 0, "the Node outsider heard nothing");
    assert.equal(relayChats[2].length, 0, "switchboard's outsider heard nothing");
  });

  await t.test("switchboard's XADD is Node's: uid, nsp, type, data; type 3; data {packet, opts} as JSON", async () => {
    await ws.publish("r", "wire", "w1");
    await apiPublish(sb, { room: "r", event: "wire", data: "w2" });
    const publisher = await h.socketIo(node, { version: 4 });
    await sioPublish(publisher, "r", "wire", "n1");
    await untilInStream(rc, "wire", "n1");
    await untilInStream(rc, "wire", "w2");
    const wire = (await streamEntries(rc)).filter((e) => entryFields(e).data?.packet?.data?.[0] === "wire");
    for (const { id, fields } of wire) {
      assert.match(id, STREAM_ID);
      assert.deepEqual([fields[0], fields[2], fields[4], fields[6]], ["uid", "nsp", "type", "data"], JSON.stringify(fields));
      assert.equal(fields.length, 8);
      assert.equal(fields[7][0], "{", "JSON, as Node writes a payload without binary");
    }
    assert.deepEqual(wire.map(entryFields), [
      { uid: sbId, nsp: "/", type: "3", data: { packet: { type: 2, data: ["wire", "w1"] }, opts: { rooms: ["r"], except: [ws.session], flags: {} } } },
      { uid: sbId, nsp: "/", type: "3", data: { packet: { type: 2, data: ["wire", "w2"] }, opts: { rooms: ["r"], except: [], flags: {} } } },
      { uid: node.uid, nsp: "/", type: "3", data: { packet: { type: 2, data: ["wire", "n1"] }, opts: { rooms: ["r"], except: [publisher.id], flags: {} } } },
    ]);
  });

  await t.test("fetchSockets on the Node node lists switchboard's sockets in r", async () => {
    const { ids, remote, sio } = await fetchRoomFromNode(room);
    assert.equal(remote.local, false);
    assert.deepEqual(remote.rooms, [ws.session, "r"].sort());
    assert.equal(sio.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.equal(sio.handshake.query.EIO, "4");
    await fetchEveryoneFromNode(room, ids);
  });

  await t.test("emitWithAck from Node collects the acks of switchboard's Socket.IO clients", async () => {
    await emitWithAckCollectsSocketIoAcks(room);
  });

  await t.test("socketsJoin and socketsLeave from Node move switchboard's sockets", async () => {
    await socketsJoinAndLeaveMoveWs(room);
    await node.call("broadcast", "moved", "mv", "y");
    await fence(node, [ws], { room: "r" });
    assert.equal(ws.inbox.filter((m) => m.event === "mv").length, 0, "left: no more of moved");
  });

  await t.test("a broadcast to a switchboard socket's id reaches that socket alone", async () => {
    await broadcastToSocketIdReachesItAlone(room);
  });

  await t.test("disconnectSockets from Node closes a switchboard client", async () => {
    await disconnectSocketsClosesWsOutsider(room);
    await until(async () => !(await node.call("fetchSockets")).some((s) => s.id === room.wsOutsider.session), "it to be gone");
  });
});

// --- recovery across nodes: Socket.IO -------------------------------------------------------------

/** Two switchboard streams nodes A and B and a Node streams node N, all recovering. */
async function recoveryCluster(h) {
  const redis = await h.redis();
  const rc = await h.redisClient({ redisUrl: redis.url });
  const options = { redisUrl: redis.url, adapter: "streams", recoveryMs: RECOVERY_MS };
  const a = await h.switchboard(options);
  const b = await h.switchboard(options);
  const n = await h.nodeNode({ ...options, name: "N" });
  await untilServerCount(n, 3);
  return { redis, rc, a, b, n };
}

for (const [from, to, publishers] of [
  ["a", "b", ["b", "n", "a"]],
  ["a", "n", ["n", "b", "a"]],
  ["n", "a", ["a", "b", "n"]],
]) {
  const name = (k) => ({ a: "switchboard A", b: "switchboard B", n: "Node N" })[k];
  test(`recovery across nodes: socket.io-client cut from ${name(from)} comes back on ${name(to)} with its id, rooms and missed events`, async (t) => {
    const h = new Harness(t);
    const cluster = await recoveryCluster(h);
    await recoveryScenario(h, cluster.rc, {
      from: cluster[from],
      to: cluster[to],
      publishers: publishers.map((k) => cluster[k]),
    });
  });
}

for (const [what, spoil] of Object.entries(SPOILERS)) {
  for (const [from, to] of [["a", "b"], ["n", "a"]]) {
    test(`recovery across nodes: ${what} gives a fresh socket (${from.toUpperCase()} to ${to.toUpperCase()})`, async (t) => {
      const h = new Harness(t);
      const cluster = await recoveryCluster(h);
      await freshScenario(h, cluster.rc, { from: cluster[from], to: cluster[to], node: cluster.n, spoil: (client) => spoil(cluster.rc, client) });
    });
  }
}

// --- recovery across nodes: relay resume over ws and SockJS ---------------------------------------

/** Drops a relay client as a network would: its TCP connection destroyed, no close frame. */
async function cut(client) {
  if (client.ws) client.ws.terminate();
  else client.sock._transport.ws._stream.destroy();
  await client.waitClose();
}

/** Sends a resume request with id 1 and reads its answer (it is no ack: it waits in the inbox). */
async function resume(client, token, offset) {
  client.send({ type: "resume", token, offset, id: 1 });
  const answer = await client.next();
  if (Array.isArray(answer.rooms)) answer.rooms.sort();
  return answer;
}

/** `count` room messages of r from the inbox, checked as events `n` numbered `from`... */
async function expectNumbered(client, from, count) {
  const messages = [];
  for (let i = 0; i < count; i++) messages.push(await client.next());
  assert.deepEqual(
    messages.map(({ offset, ...rest }) => rest),
    Array.from({ length: count }, (_, i) => ({ type: "message", room: "r", event: "n", data: from + i })),
  );
  return messages.map((m) => m.offset);
}

for (const protocol of ["ws", "sockjs"]) {
  test(`relay resume across switchboard nodes over ${protocol}: dropped on A, resumed on B`, async (t) => {
    const h = new Harness(t);
    const { rc, a, b, n } = await recoveryCluster(h);
    const connect = (node) => (protocol === "ws" ? h.ws(node) : h.sockjs(node, { transport: "websocket" }));

    const first = await connect(a);
    assert.deepEqual(Object.keys(first.welcome).sort(), ["offset", "session", "token", "type"]);
    assert.match(first.welcome.offset, STREAM_ID, "in streams mode the offset is a stream id");
    assert.equal(typeof first.welcome.token, "string");
    await first.join("r");
    await first.join("side");
    const [firstId] = await publishInOrder(rc, [n], "r", "n", 0);
    const [offset] = await expectNumbered(first, 0, 1);
    assert.equal(offset, firstId, "a room message carries its stream id");
    assert.ok(compareIds(first.welcome.offset, offset) < 0, "offsets move past the welcome's");

    const kept = await keptKeys(rc);
    await cut(first);
    await until(async () => (await keptKeys(rc)).length > kept.length, "A to keep the session in Redis");
    const missedIds = await publishInOrder(rc, [b, n], "r", "n", 1);

    const second = await connect(b);
    assert.equal(second.welcome.offset, missedIds[1], "the welcome's offset is the stream's last entry");
    assert.notEqual(second.welcome.token, first.welcome.token);
    assert.deepEqual(await resume(second, first.welcome.token, offset), { type: "resumed", rooms: ["r", "side"], missed: 2, id: 1 });
    assert.deepEqual(await expectNumbered(second, 1, 2), missedIds, "the missed messages, in order, with their ids");

    // Live messages follow, once, from every node; the new session is in both rooms.
    assert.deepEqual(await apiPublish(b, { room: "r", event: "n", data: 3 }), { delivered: 1 });
    const liveIds = [...(await expectNumbered(second, 3, 1))];
    await publishVia(n, "r", "n", 4);
    liveIds.push(...(await expectNumbered(second, 4, 1)));
    await publishVia(a, "side", "n", 5);
    const side = await second.next();
    assert.deepEqual([side.room, side.data], ["side", 5]);
    assertIncreasing([offset, ...missedIds, ...liveIds, side.offset], "offsets");
    await fenceFromSwitchboard(b, [second], "r");
    assert.deepEqual(second.inbox, [], "nothing twice");

    // The token is used up, on every node.
    const third = await connect(a);
    assert.deepEqual(await resume(third, first.welcome.token, offset), {
      type: "error",
      id: 1,
      message: "cannot resume: unknown or expired session",
    });
    assert.deepEqual(await apiPublish(a, { room: "r", event: "n", data: 6 }), { delivered: 0 }, "the refused one is a fresh session");
  });
}
