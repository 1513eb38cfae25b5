// A switchboard node in a sharded Node socket.io cluster (@socket.io/redis-adapter's
// createShardedAdapter: SPUBLISH/SSUBSCRIBE, Redis 7), once per subscription mode (dynamic, static,
// dynamic-private): one real redis-server, one switchboard binary with `--redis-adapter sharded
// --redis-subscription-mode MODE`, one Node socket.io 4.8 node (lib/node-node.mjs, the same mode),
// and real clients of every protocol on switchboard (socket.io-client 4.x and 2.x, ws,
// sockjs-client) beside socket.io-client on Node. The wire format is protocols/redis-adapter.md §3.
//
// Not here, unlike switchboard.test.mjs: the redis-emitter (it PUBLISHes, and a sharded cluster
// only hears SPUBLISH) and allRooms (not cluster-wide in the sharded adapter). serverSideEmit is
// not tested from Node here either, as in switchboard.test.mjs: the binary has no listener (relay
// mode), so nothing would answer; the Rust API's side of it is tests/cluster_api.rs.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Harness,
  apiPublish,
  arrives,
  fenceFromSwitchboard,
  record,
  shardChannel,
  sioJoin,
  sioLeave,
  sioPublish,
  stats,
  until,
  untilServerCount,
  untilShardSubscribers,
  waitFor,
} from "./lib/cluster.mjs";
import {
  apiPublishReachesNodeMember,
  assertSocketIoHandshake,
  broadcastToSocketIdReachesItAlone,
  disconnectSocketsClosesWsOutsider,
  emitWithAckCollectsSocketIoAcks,
  everyProtocolRoom,
  fetchEveryoneFromNode,
  fetchRoomFromNode,
  nodePublishReachesEveryMemberOnce,
  redisCrashedThenRestarted,
  socketsJoinAndLeaveMoveWs,
  v2AndSockjsPublishesReachNodeMember,
  wsPublishReachesNodeMemberOnce,
} from "./lib/scenarios.mjs";

/** Every shard channel of the cluster's key (the harness's barrier channels are not under it). */
const ALL_CHANNELS = `${shardChannel()}*`;

/** Resolves once PUBSUB SHARDCHANNELS under the cluster's key is exactly `expected`. */
function untilShardChannels(redis, expected, timeoutMs) {
  const want = [...expected].sort();
  return until(
    async () => {
      const now = await redis.shardChannels(ALL_CHANNELS);
      if (JSON.stringify(now) !== JSON.stringify(want)) throw new Error(`now ${JSON.stringify(now)}`);
      return true;
    },
    `the shard channels ${JSON.stringify(want)}`,
    timeoutMs,
  );
}

/** A message seen by a shardSpy, decoded as the sharded adapter does when it is JSON. */
function decode({ channel, raw }) {
  let message = null;
  if (raw[0] === 0x7b) {
    try {
      message = JSON.parse(raw.toString());
    } catch {
      // left null: the assertions show it
    }
  }
  return { channel, first: raw[0], message, hex: raw.subarray(0, 48).toString("hex") };
}

for (const mode of ["dynamic", "static", "dynamic-private"]) {
  test(`a switchboard node in a sharded Node cluster, ${mode} subscriptions`, async (t) => {
    const h = new Harness(t);
    const redis = await h.redis();
    const sharded = { redisUrl: redis.url, adapter: "sharded", subscriptionMode: mode };
    const [sb, node, rc] = await Promise.all([
      h.switchboard(sharded),
      h.nodeNode({ ...sharded, name: "N" }),
      h.redisClient({ redisUrl: redis.url }),
    ]);
    // Rooms have channels of their own in the dynamic modes, socket ids too in dynamic-private:
    // how many subscribers a room's channel has when `n` nodes have members of it.
    const roomSubs = (n) => (mode === "static" ? 0 : n);
    const privateSubs = (n) => (mode === "dynamic-private" ? n : 0);

    // PUBSUB SHARDNUMSUB socket.io#/#: switchboard holds exactly one subscription of it.
    await untilServerCount(node, 2);
    const sbId = (await stats(sb)).cluster.node_id;

    const room = await everyProtocolRoom(h, sb, node);
    const { sioV4, ws, sockjs, nodeMember, wsOutsider, nodeOutsider, members, sioChats } = room;
    // switchboard acks a join before Redis confirmed the room's SSUBSCRIBE (the Node node's relay
    // app waits for it, lib/node-node.mjs): a broadcast is only sure to reach switchboard's
    // members once the channel counts its subscription.
    await untilShardSubscribers(rc, "r", roomSubs(2));
    await untilShardSubscribers(rc, "elsewhere", roomSubs(2));
    for (const id of [sioV4.id, ws.session, sockjs.session, wsOutsider.session]) {
      await untilShardSubscribers(rc, id, privateSubs(1));
    }

    await t.test(`/api/stats names the node by its uid; the shard channels are ${mode} mode's`, async () => {
      const { cluster } = await stats(sb);
      assert.equal(cluster.connected, true);
      assert.match(cluster.node_id, /^[0-9a-f]{16}$/);
      assert.equal(cluster.node_id, sbId);
      // Each node: the namespace's channel and its own response channel socket.io#/#<uid>#.
      const expected = [shardChannel(), shardChannel(node.uid), shardChannel(sbId)];
      if (mode !== "static") expected.push(shardChannel("r"), shardChannel("elsewhere"));
      if (mode === "dynamic-private") {
        // switchboard's socket of the v2 client has an id of its own (see switchboard.test.mjs):
        // fetchSockets names it.
        const known = [sioV4.id, ws.session, sockjs.session, nodeMember.id];
        const v2 = (await node.call("fetchSockets", "r")).map((s) => s.id).filter((id) => !known.includes(id));
        assert.equal(v2.length, 1, JSON.stringify(v2));
        for (const id of [...known, ...v2, wsOutsider.session, nodeOutsider.id]) expected.push(shardChannel(id));
      }
      await untilShardChannels(rc, expected);
    });

    await t.test("a publish on the Node node reaches r's members of every protocol on switchboard, once", async () => {
      await nodePublishReachesEveryMemberOnce(room);
    });

    await t.test("a plain WebSocket publish on switchboard reaches the Node node's member, once", async () => {
      // switchboard ignores its own broadcast coming back on the channels it subscribes to.
      await wsPublishReachesNodeMemberOnce(room);
    });

    await t.test("a Socket.IO v2 and a SockJS publish on switchboard reach Node's member", async () => {
      await v2AndSockjsPublishesReachNodeMember(room);
    });

    await t.test("POST /api/publish on switchboard reaches Node's member", async () => {
      await apiPublishReachesNodeMember(room);
    });

    const where = mode === "static" ? "the namespace's channel" : "r's own channel";
    await t.test(`switchboard's broadcasts to r go out as Node's would: JSON, on ${where}`, async () => {
      const spy = await h.shardSpy({ redisUrl: redis.url, channels: [shardChannel(), shardChannel("r")] });
      try {
        await ws.publish("r", "wire", "w1");
        await apiPublish(sb, { room: "r", event: "wire", data: "w2" });
        const ours = () => spy.messages.map(decode).filter((m) => m.message?.uid === sbId && m.message.data?.packet?.data?.[0] === "wire");
        await until(
          () => {
            if (ours().some((m) => m.message.data.packet.data[1] === "w2")) return true;
            throw new Error(`seen ${JSON.stringify(spy.messages.map(decode).map((m) => [m.channel, m.hex]))}`);
          },
          "switchboard's POST /api/publish on the spy",
        );
        const channel = mode === "static" ? shardChannel() : shardChannel("r");
        // Once each (one connection publishes in order: w1 came before w2), on one channel.
        assert.deepEqual(
          ours().map(({ channel: on, first, message: { type, nsp, data } }) => [on, first, type, nsp, data.packet.data, data.opts.rooms, data.opts.except, "requestId" in data]),
          [
            [channel, 0x7b, 3, "/", ["wire", "w1"], ["r"], [ws.session], false],
            [channel, 0x7b, 3, "/", ["wire", "w2"], ["r"], [], false],
          ],
        );
      } finally {
        await spy.close();
      }
      // The spy is gone (it counted in both channels' SHARDNUMSUB, and in Node's serverCount).
      await untilShardSubscribers(rc, "r", roomSubs(2));
      await untilServerCount(node, 2);
    });

    await t.test("fetchSockets on the Node node lists switchboard's sockets in r", async () => {
      const { ids, remote, sio } = await fetchRoomFromNode(room);
      for (const id of ids) assert.equal(id.length, 20, id);
      assert.equal(remote.local, false);
      assert.deepEqual([...remote.rooms].sort(), [ws.session, "r"].sort());
      assertSocketIoHandshake(sio, sb);
      // The whole cluster, without a room: switchboard's outsider is in it too.
      await fetchEveryoneFromNode(room, ids);
    });

    await t.test("emitWithAck from Node collects the acks of switchboard's Socket.IO clients", async () => {
      // Sent on the namespace's channel whatever the mode; done once every server (SHARDNUMSUB)
      // has told its client count and every client answered.
      await emitWithAckCollectsSocketIoAcks(room);
    });

    await t.test("socketsJoin and socketsLeave from Node move switchboard's sockets (and its room channels)", async () => {
      await socketsJoinAndLeaveMoveWs(room, {
        afterJoin: () => untilShardSubscribers(rc, "moved", roomSubs(1)), // switchboard's, as its socket is the only member
        afterLeave: () => untilShardSubscribers(rc, "moved", 0),
      });
    });

    await t.test("a broadcast to a switchboard socket's id reaches that socket alone", async () => {
      // dynamic: on the namespace's channel (a 20-character room); dynamic-private: on the
      // socket's own channel, which switchboard subscribes for each of its sockets.
      await broadcastToSocketIdReachesItAlone(room, { relays: true });
    });

    await t.test("disconnectSockets from Node closes a switchboard client (and its channels go)", async () => {
      await disconnectSocketsClosesWsOutsider(room);
      await untilShardSubscribers(rc, wsOutsider.session, 0);
      await untilShardSubscribers(rc, "elsewhere", roomSubs(1)); // the Node node's member is left
    });

    if (mode === "dynamic") {
      await t.test("Redis killed and restarted: local delivery goes on, then the subscriptions and the cluster are back", async () => {
        // Local delivery does not wait for Redis.
        const { before, after } = await redisCrashedThenRestarted(room, redis);
        assert.equal(after.node_id, before.node_id); // as a Node node's uid, for the node's lifetime
        // The new Redis started empty: every subscription is the nodes' again. switchboard's: the
        // namespace's channel, its response channel and r (elsewhere has only the Node node's
        // member left, so switchboard must not have taken it back).
        await untilServerCount(node, 2, 15_000);
        await untilShardSubscribers(rc, sbId, 1, { timeoutMs: 15_000 });
        await untilShardSubscribers(rc, "r", 2, { timeoutMs: 15_000 });
        await untilShardSubscribers(rc, "elsewhere", 1, { timeoutMs: 15_000 });
        // A Node publish to r reaches switchboard's members again, of every protocol.
        const publisher = await h.socketIo(node, { version: 4 });
        await sioPublish(publisher, "r", "chat", "node again");
        for (const i of [0, 1]) await arrives(sioChats[i], "node again");
        for (const client of [ws, sockjs]) await client.take((m) => m.type === "message" && m.event === "chat" && m.data === "node again");
        // And the other way.
        await ws.publish("r", "chat", "switchboard again");
        await arrives(sioChats[2], "switchboard again");
        // Requests too: the answers come back on the Node node's response channel.
        assert.equal((await node.call("fetchSockets", "r")).length, 5);
      });
    }

    if (mode === "static") {
      await t.test("static mode: still no channel but the namespace's and the two response channels", async () => {
        await fenceFromSwitchboard(sb, members, "r");
        assert.deepEqual(await rc.shardChannels(ALL_CHANNELS), [shardChannel(), shardChannel(node.uid), shardChannel(sbId)].sort());
      });
    }
  });
}

test("sharded, default (dynamic) subscriptions: a room's channel goes when its last switchboard member leaves", async (t) => {
  const h = new Harness(t);
  const redis = await h.redis();
  // No subscriptionMode on either: switchboard's default is Node's, dynamic.
  const [sb, node, rc] = await Promise.all([
    h.switchboard({ redisUrl: redis.url, adapter: "sharded" }),
    h.nodeNode({ redisUrl: redis.url, adapter: "sharded", name: "N" }),
    h.redisClient({ redisUrl: redis.url }),
  ]);
  await untilServerCount(node, 2);
  const [a, b, c] = await Promise.all([h.socketIo(sb, { version: 4 }), h.ws(sb), h.sockjs(sb)]);

  // Two members, one subscription: SHARDNUMSUB counts connections, switchboard's is one.
  await sioJoin(a, "solo");
  await b.join("solo");
  await untilShardSubscribers(rc, "solo", 1);
  // No channel for a socket id in dynamic mode.
  assert.equal(await rc.shardNumSub(shardChannel(a.id)), 0);
  assert.equal(await rc.shardNumSub(shardChannel(b.session)), 0);

  // The first to leave is not the last: the channel stays, Node's broadcasts to it still come.
  await sioLeave(a, "solo");
  await node.call("broadcast", "solo", "ping", 1);
  assert.equal((await b.take((m) => m.type === "message" && m.event === "ping")).data, 1);
  assert.equal(await rc.shardNumSub(shardChannel("solo")), 1);

  // The last one leaves: SUNSUBSCRIBEd.
  await b.leave("solo");
  await untilShardSubscribers(rc, "solo", 0);

  // Joining again subscribes again, and the broadcasts come again.
  await sioJoin(a, "solo");
  await untilShardSubscribers(rc, "solo", 1);
  const heard = waitFor(a, "ping");
  await node.call("broadcast", "solo", "ping", 2);
  assert.deepEqual(await heard, [2]);

  // A last member that disconnects leaves too.
  await c.join("gone");
  await untilShardSubscribers(rc, "gone", 1);
  await c.close();
  await untilShardSubscribers(rc, "gone", 0);
  assert.equal(await rc.shardNumSub(shardChannel("solo")), 1); // a is still in solo
});

test("sharded: malformed messages on switchboard's shard channels are logged, counted and dropped", async (t) => {
  // Without a Node node: Node's sharded adapter drops such bytes silently (a debug line).
  const h = new Harness(t);
  const redis = await h.redis();
  const sb = await h.switchboard({ redisUrl: redis.url, adapter: "sharded" });
  const [a, b] = await Promise.all([h.socketIo(sb, { version: 4 }), h.ws(sb)]);
  await sioJoin(a, "r");
  await b.join("r");
  const raw = await h.redisClient({ redisUrl: redis.url });
  await untilShardSubscribers(raw, "r", 1);
  const before = (await stats(sb)).cluster;
  const own = shardChannel(before.node_id);
  const hostile = [
    [shardChannel(), Buffer.from([0xc1, 0x00])],
    [shardChannel(), Buffer.from("{not json")],
    [shardChannel("r"), Buffer.from(JSON.stringify({ data: {}, uid: "x", nsp: "/" }))],
    [shardChannel(), Buffer.from(JSON.stringify({ type: 7, data: { opts: {} }, uid: "x", nsp: "/" }))],
    [own, Buffer.from(JSON.stringify({ type: 8, data: {}, uid: "x", nsp: "/" }))],
  ];
  for (const [channel, bytes] of hostile) await raw.client.sPublish(channel, bytes);
  await until(
    async () => (await stats(sb)).cluster.malformed === before.malformed + hostile.length,
    "all five to be counted",
  );
  // The node still delivers, locally and from the cluster.
  const chats = record(a, "chat");
  await b.publish("r", "chat", "still here");
  await arrives(chats, "still here");
  const fromNode = JSON.stringify({
    type: 3,
    data: { packet: { type: 2, data: ["chat", "from a Node-shaped publisher"] }, opts: { rooms: ["r"], except: [], flags: {} } },
    uid: "0123456789abcdef",
    nsp: "/",
  });
  await raw.client.sPublish(shardChannel("r"), fromNode);
  await arrives(chats, "from a Node-shaped publisher");
});
