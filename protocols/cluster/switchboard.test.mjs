// A switchboard node in a Node socket.io cluster (classic @socket.io/redis-adapter): one real
// redis-server, one switchboard binary with --redis-url, one Node socket.io 4.8 node
// (lib/node-node.mjs), the redis-emitter, and real clients of every protocol on switchboard
// (socket.io-client 4.x and 2.x, ws, sockjs-client) beside socket.io-client on Node.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Harness,
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
  untilServerCount,
  waitFor,
} from "./lib/cluster.mjs";

test("a switchboard node in a classic Node cluster", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const [sb, node] = await Promise.all([
    h.switchboard({ redisUrl: redis.url }),
    h.nodeNode({ redisUrl: redis.url, name: "N" }),
  ]);
  // PUBSUB NUMSUB of the requests channel: switchboard holds exactly one subscription.
  await untilServerCount(node, 2);

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

  await t.test("a publish on the Node node reaches r's members of every protocol on switchboard, once", async () => {
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
  });

  await t.test("a plain WebSocket publish on switchboard reaches the Node node's member, once", async () => {
    await ws.publish("r", "chat", { text: "from ws" });
    await arrives(sioChats[2], { text: "from ws" });
    await fenceFromSwitchboard(sb, members, "r");
    // The sender is left out; everyone else in r has it once.
    assert.deepEqual(sioChats.map((c) => c.count), [2, 2, 2, 0]);
    assert.deepEqual(relayChats.map((c) => c.length), [1, 2, 0]);
  });

  await t.test("a Socket.IO v2 and a SockJS publish on switchboard reach Node's member", async () => {
    await sioPublish(sioV2, "r", "chat", "from v2");
    await arrives(sioChats[2], "from v2");
    await sockjs.publish("r", "chat", "from sockjs");
    await arrives(sioChats[2], "from sockjs");
  });

  await t.test("POST /api/publish on switchboard reaches Node's member", async () => {
    await apiPublish(sb, { room: "r", event: "chat", data: "from api" });
    await arrives(sioChats[2], "from api");
  });

  await t.test("the redis-emitter reaches every protocol on switchboard", async () => {
    const emitter = await h.emitter({ redisUrl: redis.url });
    const news = [sioV4, sioV2, nodeMember].map((s) => record(s, "news"));
    const relayNews = [ws, sockjs].map((c) => relayRecord(c, "news"));
    emitter.emitter.to("r").emit("news", 1, "two");
    for (const n of news) assert.deepEqual(await n.next(), [1, "two"]);
    await fence(emitter, members, { room: "r" });
    assert.deepEqual(relayNews.map((c) => c.map((m) => m.data)), [[1], [1]]);
    assert.deepEqual(news.map((n) => n.count), [1, 1, 1]);
  });

  await t.test("fetchSockets on the Node node lists switchboard's sockets in r", async () => {
    const inR = await node.call("fetchSockets", "r");
    const ids = inR.map((s) => s.id);
    // A socket.io-client 2.x client takes its Engine.IO id for its socket id; switchboard's socket
    // of it has an id of its own (known gap), so it is counted, not named.
    assert.equal(ids.length, 5, JSON.stringify(ids));
    for (const id of [sioV4.id, ws.session, sockjs.session, nodeMember.id]) assert.ok(ids.includes(id), id);
    for (const id of ids) assert.equal(id.length, 20, id);
    const remote = inR.find((s) => s.id === ws.session);
    assert.deepEqual([...remote.rooms].sort(), [ws.session, "r"].sort());
    // A Socket.IO socket comes with its handshake, as a Node node's would.
    const sio = inR.find((s) => s.id === sioV4.id);
    assert.equal(sio.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.equal(sio.handshake.query.EIO, "4");
    assert.equal(sio.handshake.address, "127.0.0.1");
    assert.deepEqual(sio.handshake.auth, {});
    assert.ok(Math.abs(sio.handshake.issued - Date.now()) < 60_000, String(sio.handshake.issued));
    assert.match(sio.handshake.time, /^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT\+0000/);
    assert.match(sio.handshake.url, /^\/socket\.io\/\?.*EIO=4/);
    // So do relay sessions of the other protocols: their upgrade or first receiving request.
    const wsSocket = inR.find((s) => s.id === ws.session);
    assert.equal(wsSocket.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.equal(wsSocket.handshake.address, "127.0.0.1");
    assert.equal(wsSocket.handshake.url, "/ws");
    assert.deepEqual(wsSocket.handshake.auth, {});
    const sockjsSocket = inR.find((s) => s.id === sockjs.session);
    assert.match(sockjsSocket.handshake.url, /^\/sockjs\/\d{3}\/[^/]+\/\w+/);
    assert.equal(sockjsSocket.handshake.headers.host, `127.0.0.1:${sb.port}`);
    assert.ok(Math.abs(sockjsSocket.handshake.issued - Date.now()) < 60_000);
  });

  await t.test("emitWithAck from Node collects the acks of switchboard's Socket.IO clients", async () => {
    for (const [socket, who] of [[sioV4, "s4"], [sioV2, "s2"], [nodeMember, "n"]]) {
      socket.on("ask", (x, ack) => ack(`${who}:${x}`));
    }
    const responses = await node.call("emitWithAck", "r", "ask", 7);
    assert.deepEqual(responses.sort(), ["n:7", "s2:7", "s4:7"]);
    // Relay clients of the other protocols cannot answer: they get the event, uncounted.
    for (const client of [ws, sockjs]) {
      const heard = await client.take((m) => m.type === "message" && m.event === "ask");
      assert.deepEqual([heard.room, heard.data], ["r", 7]);
    }
  });

  await t.test("allRooms on the Node node includes switchboard's rooms", async () => {
    const rooms = await node.call("allRooms");
    for (const room of ["r", "elsewhere", ws.session]) assert.ok(rooms.includes(room), room);
  });

  await t.test("socketsJoin and socketsLeave from Node move switchboard's sockets", async () => {
    await node.call("socketsJoin", ws.session, "moved");
    await until(async () => (await node.call("fetchSockets", "moved")).length === 1, "the join to land");
    await node.call("broadcast", "moved", "mv", "x");
    const heard = await ws.take((m) => m.type === "message" && m.event === "mv");
    assert.deepEqual([heard.room, heard.data], ["moved", "x"]);
    await node.call("socketsLeave", ws.session, "moved");
    await until(async () => (await node.call("fetchSockets", "moved")).length === 0, "the leave to land");
  });

  await t.test("a broadcast to a switchboard socket's id reaches that socket alone", async () => {
    await node.call("broadcast", sioV4.id, "direct", 5);
    assert.deepEqual(await waitFor(sioV4, "direct"), [5]);
  });

  await t.test("disconnectSockets from Node closes a switchboard client", async () => {
    await node.call("disconnectSockets", wsOutsider.session);
    await wsOutsider.waitClose();
  });

  await t.test("Redis killed and restarted: local delivery goes on, then the cluster works again", async () => {
    const before = (await stats(sb)).cluster;
    assert.equal(before.connected, true);
    assert.equal(before.node_id.length, 6);
    await redis.crash();
    await until(async () => (await stats(sb)).cluster.connected === false, "switchboard to see Redis gone");
    // Local delivery does not wait for Redis.
    await sioPublish(sioV4, "r", "chat", "while down");
    await arrives(sioChats[1], "while down");
    await redis.start();
    await until(async () => {
      const now = (await stats(sb)).cluster;
      return now.connected && now.reconnects > before.reconnects;
    }, "switchboard to resubscribe", 15_000);
    const after = (await stats(sb)).cluster;
    assert.ok(after.publish_failed > before.publish_failed, JSON.stringify(after));
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
