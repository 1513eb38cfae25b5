// A switchboard node in a Node socket.io cluster (classic @socket.io/redis-adapter): one real
// redis-server, one switchboard binary with --redis-url, one Node socket.io 4.8 node
// (lib/node-node.mjs), the redis-emitter, and real clients of every protocol on switchboard
// (socket.io-client 4.x and 2.x, ws, sockjs-client) beside socket.io-client on Node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Harness, arrives, fence, record, relayRecord, sioJoin, sioPublish, stats, until, untilServerCount, waitFor } from "./lib/cluster.mjs";
import {
  apiPublishReachesNodeMember,
  assertSocketIoHandshake,
  disconnectSocketsClosesWsOutsider,
  emitWithAckCollectsSocketIoAcks,
  everyProtocolRoom,
  fetchRoomFromNode,
  nodePublishReachesEveryMemberOnce,
  redisCrashedThenRestarted,
  socketsJoinAndLeaveMoveWs,
  v2AndSockjsPublishesReachNodeMember,
  wsPublishReachesNodeMemberOnce,
} from "./lib/scenarios.mjs";

test("a switchboard node in a classic Node cluster", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const [sb, node] = await Promise.all([
    h.switchboard({ redisUrl: redis.url }),
    h.nodeNode({ redisUrl: redis.url, name: "N" }),
  ]);
  // PUBSUB NUMSUB of the requests channel: switchboard holds exactly one subscription.
  await untilServerCount(node, 2);

  const room = await everyProtocolRoom(h, sb, node);
  const { sioV4, ws, sockjs, sioChats } = room;

  await t.test("a publish on the Node node reaches r's members of every protocol on switchboard, once", async () => {
    await nodePublishReachesEveryMemberOnce(room);
  });

  await t.test("a plain WebSocket publish on switchboard reaches the Node node's member, once", async () => {
    await wsPublishReachesNodeMemberOnce(room);
  });

  await t.test("a Socket.IO v2 and a SockJS publish on switchboard reach Node's member", async () => {
    await v2AndSockjsPublishesReachNodeMember(room);
  });

  await t.test("POST /api/publish on switchboard reaches Node's member", async () => {
    await apiPublishReachesNodeMember(room);
  });

  await t.test("the redis-emitter reaches every protocol on switchboard", async () => {
    const emitter = await h.emitter({ redisUrl: redis.url });
    const news = [sioV4, room.sioV2, room.nodeMember].map((s) => record(s, "news"));
    const relayNews = [ws, sockjs].map((c) => relayRecord(c, "news"));
    emitter.emitter.to("r").emit("news", 1, "two");
    for (const n of news) assert.deepEqual(await n.next(), [1, "two"]);
    await fence(emitter, room.members, { room: "r" });
    assert.deepEqual(relayNews.map((c) => c.map((m) => m.data)), [[1], [1]]);
    assert.deepEqual(news.map((n) => n.count), [1, 1, 1]);
  });

  await t.test("fetchSockets on the Node node lists switchboard's sockets in r", async () => {
    const { inR, ids, remote, sio } = await fetchRoomFromNode(room);
    for (const id of ids) assert.equal(id.length, 20, id);
    assert.deepEqual([...remote.rooms].sort(), [ws.session, "r"].sort());
    assertSocketIoHandshake(sio, sb);
    // So do relay sessions of the other protocols: their upgrade or first receiving request.
    assert.equal(remote.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.equal(remote.handshake.address, "127.0.0.1");
    assert.equal(remote.handshake.url, "/ws");
    assert.deepEqual(remote.handshake.auth, {});
    const sockjsSocket = inR.find((s) => s.id === sockjs.session);
    assert.match(sockjsSocket.handshake.url, /^\/sockjs\/\d{3}\/[^/]+\/\w+/);
    assert.equal(sockjsSocket.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.ok(Math.abs(sockjsSocket.handshake.issued - Date.now()) < 60_000);
  });

  await t.test("emitWithAck from Node collects the acks of switchboard's Socket.IO clients", async () => {
    await emitWithAckCollectsSocketIoAcks(room);
  });

  await t.test("allRooms on the Node node includes switchboard's rooms", async () => {
    const rooms = await node.call("allRooms");
    for (const name of ["r", "elsewhere", ws.session]) assert.ok(rooms.includes(name), name);
  });

  await t.test("socketsJoin and socketsLeave from Node move switchboard's sockets", async () => {
    await socketsJoinAndLeaveMoveWs(room);
  });

  await t.test("a broadcast to a switchboard socket's id reaches that socket alone", async () => {
    await node.call("broadcast", sioV4.id, "direct", 5);
    assert.deepEqual(await waitFor(sioV4, "direct"), [5]);
  });

  await t.test("disconnectSockets from Node closes a switchboard client", async () => {
    await disconnectSocketsClosesWsOutsider(room);
  });

  await t.test("Redis killed and restarted: local delivery goes on, then the cluster works again", async () => {
    const { before } = await redisCrashedThenRestarted(room, redis);
    assert.equal(before.node_id.length, 6);
    await untilServerCount(node, 2, 15_000);
    // Both ways again.
    const publisher = await h.socketIo(node, { version: 4 });
    await sioPublish(publisher, "r", "chat", "node again");
    await arrives(sioChats[0], "node again");
    await ws.publish("r", "chat", "switchboard again");
    await arrives(sioChats[2], "switchboard again");
  });
});

test("malformed messages on the cluster's channels are logged, counted and dropped", async (t) => {
  // Without a Node node: Node's own adapter emits an unhandled "error" on such bytes and exits.
  const h = new Harness(t);
  const redis = await h.redis();
  const sb = await h.switchboard({ redisUrl: redis.url });
  const [a, b] = await Promise.all([h.socketIo(sb, { version: 4 }), h.ws(sb)]);
  await sioJoin(a, "r");
  await b.join("r");
  await until(async () => (await stats(sb)).cluster.connected, "the subscription");
  const before = (await stats(sb)).cluster;
  const raw = await h.emitter({ redisUrl: redis.url });
  await raw.client.publish("socket.io#/#", Buffer.from([0xc1, 0x00]));
  await raw.client.publish("socket.io#/#", Buffer.from([0x93, 0x01]));
  await raw.client.publish("socket.io-request#/#", "{not json");
  await raw.client.publish("socket.io-request#/#", JSON.stringify({ type: 5 }));
  await until(async () => (await stats(sb)).cluster.malformed === before.malformed + 4, "all four to be counted");
  // The node still delivers, locally and from the cluster.
  const chats = record(a, "chat");
  await b.publish("r", "chat", "still here");
  await arrives(chats, "still here");
  raw.emitter.to("r").emit("chat", "from the emitter");
  await arrives(chats, "from the emitter");
});
