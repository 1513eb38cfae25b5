// @socket.io/redis-emitter 5.x on its own node-redis 4 client: how a backend publishes to a Node
// socket.io cluster without being a node. It speaks the classic adapter's protocol only (PUBLISH on
// `<key>#<nsp>#[<room>#]` and `<key>-request#<nsp>#`); a sharded cluster never hears it.
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

/**
 * Connects to `redisUrl` and resolves with `{emitter, client, close()}`: `emitter` is an Emitter of
 * namespace "/" with prefix `key` (`emitter.of("/admin")` for another namespace).
 */
export async function createEmitter({ redisUrl, key = "socket.io" } = {}) {
  const client = createClient({ url: redisUrl });
  client.on("error", () => {}); // reconnection attempts while Redis is down: node-redis retries
  await client.connect();
  const emitter = new Emitter(client, { key });
  return {
    emitter,
    client,
    /** Resolves once every PUBLISH the emitter queued so far has been accepted by Redis. */
    flush: () => client.ping(),
    close: async () => {
      if (client.isOpen) await client.quit().catch(() => client.disconnect());
    },
  };
}
