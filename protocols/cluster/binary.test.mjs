// Binary arguments across a cluster, both adapters: a Node node's Buffers reach switchboard's
// Socket.IO clients (4.x and 2.x) as binary and its JSON relay clients (ws, SockJS) as Node's JSON of
// a Buffer; a Buffer a Socket.IO client publishes on switchboard reaches the Node node's client as
// binary. One real redis-server, one switchboard binary, one Node socket.io 4.8 node per adapter.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Harness, sioJoin, sioPublish, untilServerCount, untilShardSubscribers, waitFor } from "./lib/cluster.mjs";

/** A received binary argument as a Buffer (socket.io-client may give an ArrayBuffer). */
const bytes = (value) => Buffer.from(value instanceof ArrayBuffer ? new Uint8Array(value) : value);

/** Node's JSON of a Buffer: what a JSON relay client receives for one. */
const bufferJson = (array) => ({ type: "Buffer", data: array });

for (const adapter of ["classic", "sharded"]) {
  test(`binary arguments cross a ${adapter} cluster both ways`, async (t) => {
    const h = new Harness(t);
    const redis = await h.redis();
    const [sb, node] = await Promise.all([
      h.switchboard({ redisUrl: redis.url, adapter }),
      h.nodeNode({ redisUrl: redis.url, adapter, name: "N" }),
    ]);
    await untilServerCount(node, 2);
    const [v4, v2, ws, sockjs, nodeMember] = await Promise.all([
      h.socketIo(sb, { version: 4 }),
      h.socketIo(sb, { version: 2 }),
      h.ws(sb),
      h.sockjs(sb),
      h.socketIo(node, { version: 4 }),
    ]);
    for (const socket of [v4, v2, nodeMember]) await sioJoin(socket, "r");
    for (const client of [ws, sockjs]) await client.join("r");
    if (adapter === "sharded") {
      // Neither Node nor switchboard holds a join until the room's channel is subscribed.
      await untilShardSubscribers(await h.redisClient({ redisUrl: redis.url }), "r", 2);
    }

    await t.test("a Node node's Buffers reach every protocol on switchboard", async () => {
      const heard = [
        waitFor(v4, "bin"),
        waitFor(v2, "bin"),
        ws.take((m) => m.type === "message" && m.event === "bin"),
        sockjs.take((m) => m.type === "message" && m.event === "bin"),
      ];
      await node.call("broadcast", "r", "bin", Buffer.from([1, 2, 3]), { b: Buffer.from([255]), n: 7 });
      const [fromV4, fromV2, fromWs, fromSockjs] = await Promise.all(heard);
      for (const [first, second] of [fromV4, fromV2]) {
        assert.deepEqual([...bytes(first)], [1, 2, 3]);
        assert.deepEqual([...bytes(second.b)], [255]);
        assert.equal(second.n, 7);
      }
      // Relay clients get the first argument as `data`.
      for (const message of [fromWs, fromSockjs]) {
        assert.deepEqual(message.data, bufferJson([1, 2, 3]));
        assert.equal(message.room, "r");
      }
    });

    await t.test("a Buffer published by a Socket.IO client on switchboard reaches Node's client as binary", async () => {
      const atNode = waitFor(nodeMember, "up");
      const atV2 = waitFor(v2, "up");
      const atWs = ws.take((m) => m.type === "message" && m.event === "up");
      await sioPublish(v4, "r", "up", { file: Buffer.from([9, 8, 7]), name: "f" });
      const [[fromNode], [fromV2], fromWs] = await Promise.all([atNode, atV2, atWs]);
      for (const data of [fromNode, fromV2]) {
        assert.deepEqual([...bytes(data.file)], [9, 8, 7]);
        assert.equal(data.name, "f");
      }
      assert.deepEqual(fromWs.data, { file: bufferJson([9, 8, 7]), name: "f" });
    });

    await t.test("a socket.io-client 2.x Buffer crosses too", async () => {
      const atNode = waitFor(nodeMember, "up2");
      await sioPublish(v2, "r", "up2", Buffer.from([4, 5]));
      const [fromNode] = await atNode;
      assert.deepEqual([...bytes(fromNode)], [4, 5]);
    });
  });
}
