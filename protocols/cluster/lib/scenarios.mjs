// The scenario shared by switchboard.test.mjs (classic), sharded.test.mjs and streams.test.mjs: a
// switchboard node beside a Node node, a room r with a member of every protocol on switchboard and
// a Socket.IO member on Node, an outsider on each side, and the checks every adapter must pass on
// it. What only one adapter has (shard channels, XADD entries, offsets) stays in its test file, or
// comes in through an option or a hook.
import assert from "node:assert/strict";
import {
  apiPublish,
  arrives,
  fence,
  fenceFromSwitchboard,
  record,
  relayRecord,
  sioJoin,
  sioPublish,
  stats,
  until,
  waitFor,
} from "./cluster.mjs";

/**
 * Connects, for test harness `h`, the room fixture on switchboard node `sb` and Node node `node`:
 * members of r sioV4, sioV2 (socket.io-client 4.x and 2.x), ws, sockjs on switchboard and
 * nodeMember on Node; outsiders (in `elsewhere`) wsOutsider on switchboard and nodeOutsider on
 * Node. Resolves with them, `h`, `sb`, `node`, `members` (r's five), and recorders of `chat`:
 * `sioChats` (sioV4, sioV2, nodeMember, nodeOutsider) and `relayChats` (ws, sockjs, wsOutsider).
 */
export async function everyProtocolRoom(h, sb, node) {
  const [sioV4, sioV2, ws, sockjs, nodeMember, wsOutsider, nodeOutsider] = await Promise.all([
    h.socketIo(sb, { version: 4 }),
    h.socketIo(sb, { version: 2 }),
    h.ws(sb),
    h.sockjs(sb),
    h.socketIo(node, { version: 4 }),
    h.ws(sb),
    h.socketIo(node, { version: 4 }),
  ]);
  const members = [sioV4, sioV2, ws, sockjs, nodeMember];
  for (const socket of [sioV4, sioV2, nodeMember]) await sioJoin(socket, "r");
  for (const client of [ws, sockjs]) await client.join("r");
  await wsOutsider.join("elsewhere");
  await sioJoin(nodeOutsider, "elsewhere");
  const sioChats = [sioV4, sioV2, nodeMember, nodeOutsider].map((s) => record(s, "chat"));
  const relayChats = [ws, sockjs, wsOutsider].map((c) => relayRecord(c, "chat"));
  return { h, sb, node, sioV4, sioV2, ws, sockjs, nodeMember, wsOutsider, nodeOutsider, members, sioChats, relayChats };
}

/**
 * A Socket.IO publish on the Node node reaches every member of r on switchboard once, and neither
 * outsider (the first `chat` each recorder sees). Resolves with nothing; the caller may check more.
 */
export async function nodePublishReachesEveryMemberOnce({ h, node, members, sioChats, relayChats }) {
  const publisher = await h.socketIo(node, { version: 4 });
  await sioPublish(publisher, "r", "chat", { text: "from node" });
  for (const i of [0, 1]) assert.deepEqual(await sioChats[i].next(), [{ text: "from node" }]);
  await fence(node, members, { room: "r" });
  assert.deepEqual(sioChats.map((c) => c.count), [1, 1, 1, 0]);
  assert.deepEqual(relayChats.map((c) => c.map((m) => [m.room, m.data])), [
    [["r", { text: "from node" }]],
    [["r", { text: "from node" }]],
    [],
  ]);
}

/**
 * The second `chat` (after nodePublishReachesEveryMemberOnce): a ws publish on switchboard reaches
 * the Node node's member; the sender is left out, everyone else in r has it once (switchboard
 * ignores its own broadcast coming back from Redis), the outsiders nothing.
 */
export async function wsPublishReachesNodeMemberOnce({ sb, ws, members, sioChats, relayChats }) {
  await ws.publish("r", "chat", { text: "from ws" });
  await arrives(sioChats[2], { text: "from ws" });
  await fenceFromSwitchboard(sb, members, "r");
  assert.deepEqual(sioChats.map((c) => c.count), [2, 2, 2, 0]);
  assert.deepEqual(relayChats.map((c) => c.length), [1, 2, 0]);
}

/** A socket.io-client 2.x publish, then a SockJS one, on switchboard reach the Node node's member. */
export async function v2AndSockjsPublishesReachNodeMember({ sioV2, sockjs, sioChats }) {
  await sioPublish(sioV2, "r", "chat", "from v2");
  await arrives(sioChats[2], "from v2");
  await sockjs.publish("r", "chat", "from sockjs");
  await arrives(sioChats[2], "from sockjs");
}

/** POST /api/publish on switchboard reaches the Node node's member. */
export async function apiPublishReachesNodeMember({ sb, sioChats }) {
  await apiPublish(sb, { room: "r", event: "chat", data: "from api" });
  await arrives(sioChats[2], "from api");
}

/**
 * fetchSockets("r") on the Node node: five sockets (a socket.io-client 2.x client takes its
 * Engine.IO id for its socket id; switchboard's socket of it has an id of its own, a known gap, so
 * it is counted, not named), the others by id. Resolves with `inR` (the answer), `ids`, `remote`
 * (ws's socket) and `sio` (sioV4's).
 */
export async function fetchRoomFromNode({ node, sioV4, ws, sockjs, nodeMember }) {
  const inR = await node.call("fetchSockets", "r");
  const ids = inR.map((s) => s.id);
  assert.equal(ids.length, 5, JSON.stringify(ids));
  for (const id of [sioV4.id, ws.session, sockjs.session, nodeMember.id]) assert.ok(ids.includes(id), id);
  return { inR, ids, remote: inR.find((s) => s.id === ws.session), sio: inR.find((s) => s.id === sioV4.id) };
}

/** A switchboard Socket.IO 4.x socket `sio` of fetchSockets comes with its handshake, as a Node node's would. */
export function assertSocketIoHandshake(sio, sb) {
  assert.equal(sio.handshake.headers.host, `127.0.0.1:${sb.port}`);
  assert.equal(sio.handshake.query.EIO, "4");
  assert.equal(sio.handshake.address, "127.0.0.1");
  assert.deepEqual(sio.handshake.auth, {});
  assert.ok(Math.abs(sio.handshake.issued - Date.now()) < 60_000, String(sio.handshake.issued));
  assert.match(sio.handshake.time, /^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT\+0000/);
  assert.match(sio.handshake.url, /^\/socket\.io\/\?.*EIO=4/);
}

/** fetchSockets() without a room on the Node node: the whole cluster, `ids` and both outsiders. */
export async function fetchEveryoneFromNode({ node, wsOutsider, nodeOutsider }, ids) {
  const everyone = (await node.call("fetchSockets")).map((s) => s.id);
  for (const id of [...ids, wsOutsider.session, nodeOutsider.id]) assert.ok(everyone.includes(id), id);
}

/**
 * emitWithAck("r") from Node collects the acks of r's Socket.IO clients on both nodes; the relay
 * clients of the other protocols cannot answer: they get the event, uncounted.
 */
export async function emitWithAckCollectsSocketIoAcks({ node, sioV4, sioV2, nodeMember, ws, sockjs }) {
  for (const [socket, who] of [[sioV4, "s4"], [sioV2, "s2"], [nodeMember, "n"]]) {
    socket.on("ask", (x, ack) => ack(`${who}:${x}`));
  }
  const responses = await node.call("emitWithAck", "r", "ask", 7);
  assert.deepEqual(responses.sort(), ["n:7", "s2:7", "s4:7"]);
  for (const client of [ws, sockjs]) {
    const heard = await client.take((m) => m.type === "message" && m.event === "ask");
    assert.deepEqual([heard.room, heard.data], ["r", 7]);
  }
}

/**
 * socketsJoin from Node puts switchboard's ws socket in `moved` (fetchSockets counts it, a
 * broadcast to moved reaches it), socketsLeave takes it out (fetchSockets counts none).
 * `afterJoin` and `afterLeave` run once each has landed.
 */
export async function socketsJoinAndLeaveMoveWs({ node, ws }, { afterJoin = async () => {}, afterLeave = async () => {} } = {}) {
  await node.call("socketsJoin", ws.session, "moved");
  await until(async () => (await node.call("fetchSockets", "moved")).length === 1, "the join to land");
  await afterJoin();
  await node.call("broadcast", "moved", "mv", "x");
  const heard = await ws.take((m) => m.type === "message" && m.event === "mv");
  assert.deepEqual([heard.room, heard.data], ["moved", "x"]);
  await node.call("socketsLeave", ws.session, "moved");
  await until(async () => (await node.call("fetchSockets", "moved")).length === 0, "the leave to land");
  await afterLeave();
}

/**
 * A Node broadcast to sioV4's socket id reaches it, and (fenced) not sioV2 or nodeMember; with
 * `relays`, also one to ws's id reaches ws, and sockjs hears neither.
 */
export async function broadcastToSocketIdReachesItAlone({ node, sioV4, sioV2, nodeMember, ws, sockjs, members }, { relays = false } = {}) {
  const others = [sioV2, nodeMember].map((s) => record(s, "direct"));
  const otherRelays = relays ? [sockjs].map((c) => relayRecord(c, "direct")) : [];
  const heard = waitFor(sioV4, "direct");
  await node.call("broadcast", sioV4.id, "direct", 5);
  assert.deepEqual(await heard, [5]);
  if (relays) {
    await node.call("broadcast", ws.session, "direct", 6);
    assert.equal((await ws.take((m) => m.type === "message" && m.event === "direct")).data, 6);
  }
  await fence(node, members, { room: "r" });
  assert.deepEqual([...others.map((o) => o.count), ...otherRelays.map((o) => o.length)], relays ? [0, 0, 0] : [0, 0]);
}

/** disconnectSockets(wsOutsider's id) from Node closes that switchboard client. */
export async function disconnectSocketsClosesWsOutsider({ node, wsOutsider }) {
  await node.call("disconnectSockets", wsOutsider.session);
  await wsOutsider.waitClose();
}

/**
 * Redis (`redis`, from h.redis()) crashed: switchboard sees it gone and still delivers locally (a
 * sioV4 publish reaches sioV2); restarted: switchboard reconnects and counts the publish that
 * failed meanwhile. Resolves with switchboard's `cluster` stats `before` the crash and `after`.
 */
export async function redisCrashedThenRestarted({ sb, sioV4, sioChats }, redis) {
  const before = (await stats(sb)).cluster;
  assert.equal(before.connected, true);
  await redis.crash();
  await until(async () => (await stats(sb)).cluster.connected === false, "switchboard to see Redis gone");
  await sioPublish(sioV4, "r", "chat", "while down");
  await arrives(sioChats[1], "while down");
  await redis.start();
  await until(async () => {
    const now = (await stats(sb)).cluster;
    return now.connected && now.reconnects > before.reconnects;
  }, "switchboard to resubscribe", 15_000);
  const after = (await stats(sb)).cluster;
  assert.ok(after.publish_failed > before.publish_failed, JSON.stringify(after));
  return { before, after };
}
