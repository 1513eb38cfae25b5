// The cluster harness against itself, with no switchboard: one redis-server and two Node socket.io
// nodes (lib/node-node.mjs) with @socket.io/redis-adapter, both classic, then both sharded, and
// real socket.io-client 4.x and 2.x clients on each. What passes here is the Node cluster's own
// behaviour, which the switchboard tests hold switchboard nodes to.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Harness, emitWithAck, fence, record, sioJoin, sioPublish, untilServerCount, waitFor } from "./lib/cluster.mjs";

for (const adapter of ["classic", "sharded"]) {
  test(`two Node nodes, ${adapter} adapter`, async (t) => {
    const h = new Harness(t);
    const redis = await h.redis();
    const [a, b] = await Promise.all([
      h.nodeNode({ redisUrl: redis.url, adapter, name: "A" }),
      h.nodeNode({ redisUrl: redis.url, adapter, name: "B" }),
    ]);
    assert.equal(await a.call("serverCount"), 2);
    assert.equal(await b.call("serverCount"), 2);

    // Members of "r" on both nodes (v4 and v2 clients), an outsider on A, a publisher on B.
    const [memberA, memberA2, outsiderA, memberB, publisherB] = await Promise.all([
      h.socketIo(a, { version: 4 }),
      h.socketIo(a, { version: 2 }),
      h.socketIo(a, { version: 4 }),
      h.socketIo(b, { version: 2 }),
      h.socketIo(b, { version: 4 }),
    ]);
    const everyone = [memberA, memberA2, outsiderA, memberB, publisherB];
    for (const socket of [memberA, memberA2, memberB]) await sioJoin(socket, "r");
    await sioJoin(outsiderA, "other");
    const chats = everyone.map((socket) => record(socket, "chat"));

    await t.test("a publish on B reaches r's members on both nodes once, and no one else", async () => {
      await sioPublish(publisherB, "r", "chat", { text: "hi" });
      for (const i of [0, 1, 3]) assert.deepEqual(await chats[i].next(), [{ text: "hi" }]);
      await fence(b, everyone);
      assert.deepEqual(chats.map((c) => c.count), [1, 1, 0, 1, 0]);
    });

    await t.test("binary and Date arguments of a broadcast", async () => {
      const bins = [memberA, memberA2, memberB].map((socket) => record(socket, "bin"));
      await b.call("broadcast", "r", "bin", Buffer.from([1, 2, 3]), new Date(0), { b: Buffer.from([0xff]) });
      for (const bin of bins) {
        const [buffer, date, nested] = await bin.next();
        assert.deepEqual([...new Uint8Array(buffer)], [1, 2, 3]);
        assert.equal(date, "1970-01-01T00:00:00.000Z");
        assert.deepEqual([...new Uint8Array(nested.b)], [0xff]);
      }
    });

    if (adapter === "classic") {
      await t.test("the redis-emitter reaches r's members on both nodes", async () => {
        const emitter = await h.emitter({ redisUrl: redis.url });
        const news = everyone.map((socket) => record(socket, "news"));
        emitter.emitter.to("r").emit("news", 1, "two");
        for (const i of [0, 1, 3]) assert.deepEqual(await news[i].next(), [1, "two"]);
        await fence(emitter, everyone);
        assert.deepEqual(news.map((n) => n.count), [1, 1, 0, 1, 0]);
      });
    }

    await t.test("fetchSockets from A counts B's sockets", async () => {
      const all = await a.call("fetchSockets");
      assert.deepEqual(all.map((s) => s.id).sort(), everyone.map((s) => s.id).sort());
      const inR = await a.call("fetchSockets", "r");
      assert.deepEqual(inR.map((s) => s.id).sort(), [memberA.id, memberA2.id, memberB.id].sort());
      const remote = inR.find((s) => s.id === memberB.id);
      assert.equal(remote.local, false);
      assert.deepEqual(remote.rooms, [memberB.id, "r"].sort());
      assert.equal(typeof remote.handshake.headers.host, "string");
      assert.equal(memberB.id.length, 20);
    });

    await t.test("serverSideEmit and serverSideEmitWithAck reach B, B's answer comes back", async () => {
      const plain = waitFor(b.events, "serverSideEmit", { filter: ([m]) => m.event === "plain" });
      await a.call("serverSideEmit", "plain", 1, { x: true });
      const [heard] = await plain;
      assert.deepEqual([heard.event, heard.args, heard.withAck], ["plain", [1, { x: true }], false]);

      const responses = await a.call("serverSideEmitWithAck", "hello", 42);
      assert.deepEqual(responses, [{ from: "node", name: "B", uid: b.uid, event: "hello", args: [42] }]);
    });

    await t.test("emitWithAck from A collects the acks of r's members on both nodes", async () => {
      for (const [socket, who] of [[memberA, "a1"], [memberA2, "a2"], [memberB, "b1"]]) {
        socket.on("ask", (x, ack) => ack(`${who}:${x}`));
      }
      const responses = await a.call("emitWithAck", "r", "ask", 7);
      assert.deepEqual(responses.sort(), ["a1:7", "a2:7", "b1:7"]);
    });

    await t.test("socketsJoin from A moves B's socket; socketsLeave takes it out", async () => {
      await a.call("socketsJoin", memberB.id, "moved");
      const moved = await a.call("fetchSockets", "moved");
      assert.deepEqual(moved.map((s) => s.id), [memberB.id]);
      await b.call("barrier"); // sharded: B's SSUBSCRIBE of "moved" is in place
      const heard = waitFor(memberB, "mv");
      await a.call("broadcast", "moved", "mv", "x");
      assert.deepEqual(await heard, ["x"]);

      await a.call("socketsLeave", memberB.id, "moved");
      assert.deepEqual(await a.call("fetchSockets", "moved"), []);
      if (adapter === "classic") assert.ok(!(await a.call("allRooms")).includes("moved"));
    });

    if (adapter === "classic") {
      await t.test("allRooms from A lists B's rooms", async () => {
        const rooms = await a.call("allRooms");
        for (const room of ["r", "other", memberB.id, publisherB.id]) assert.ok(rooms.includes(room), room);
      });
    }

    await t.test("Redis killed and restarted: the nodes reconnect and the cluster works again", async () => {
      const before = await Promise.all([a, b].map(async (node) => (await node.call("info")).redis));
      const count = (redis) => Math.max(redis.pub.readyCount, redis.sub.readyCount);
      await redis.restart();
      await Promise.all([a, b].map((node, i) => node.call("waitRedisReady", count(before[i]))));
      await untilServerCount(a, 2);

      await sioPublish(publisherB, "r", "chat", { text: "again" });
      for (const i of [0, 1, 3]) assert.deepEqual(await chats[i].next(), [{ text: "again" }]);
      await fence(b, everyone);
      assert.deepEqual(chats.map((c) => c.count), [2, 2, 0, 2, 0]);

      const responses = await b.call("serverSideEmitWithAck", "after", 1);
      assert.deepEqual(responses, [{ from: "node", name: "A", uid: a.uid, event: "after", args: [1] }]);
    });

    await t.test("disconnectSockets from A closes B's socket", async () => {
      const gone = waitFor(publisherB, "disconnect");
      await a.call("disconnectSockets", publisherB.id, true);
      const [reason] = await gone;
      assert.equal(reason, "io server disconnect");
    });
  });
}

test("the Node node's relay app answers as switchboard's Socket.IO relay does", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  const node = await h.nodeNode({ redisUrl: redis.url });
  const socket = await h.socketIo(node);
  const refused = (error) => ({ ok: false, error });
  const cases = [
    [["join", "lobby"], { ok: true }],
    [["join", "lobby"], { ok: true }],
    [["leave", "never-joined"], { ok: true }],
    [["join", 5], refused("join expects a room name (a string)")],
    [["join", ""], refused("room name must not be empty")],
    [["join", "é".repeat(129)], refused("room name longer than 256 bytes")],
    [["leave"], refused("leave expects a room name (a string)")],
    [["publish", "lobby"], refused("publish expects one object: {room, event, data}")],
    [["publish", { room: "r", event: "e" }, 2], refused("publish expects one object: {room, event, data}")],
    [["publish", { room: 1, event: "e" }], refused('publish: "room" must be a string')],
    [["publish", { room: "r" }], refused('publish: "event" must be a string')],
    [["publish", { room: "r", event: "e", data: Buffer.from([1]) }], refused("binary payloads are not relayed: send JSON")],
    [["dance", 1], refused('no handler for event "dance"')],
    [["publish", { room: "r", event: "e" }], { ok: true }],
  ];
  for (const [[event, ...args], expected] of cases) {
    const answer = await new Promise((resolve) => socket.emit(event, ...args, resolve));
    assert.deepEqual(answer, expected, `${event} ${JSON.stringify(args)}`);
  }
  assert.equal(socket.id.length, 20);
});
