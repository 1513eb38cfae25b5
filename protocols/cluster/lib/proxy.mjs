// A TCP forwarder standing in for a load balancer in front of the nodes: a client connects to
// `proxy.port` and is forwarded to whichever node the proxy points at when it connects. Cutting
// every connection (`dropAll()`) is a network failure as the client sees it ("transport close"),
// so a real socket.io-client reconnects through its Manager, to whichever node the proxy points
// at by then, with its own connection state recovery (auth {pid, offset}): no hook in the client.
//
//   const proxy = await startProxy(a.port);
//   io(`http://127.0.0.1:${proxy.port}`, ...)        // lands on a
//   proxy.hold();                                     // new connections wait (accepted, unread)
//   proxy.switchTo(b.port); proxy.dropAll();          // the client is cut, and will land on b
//   ...                                               // what it misses meanwhile
//   proxy.release();                                  // the waiting connections go on to b
import { createConnection, createServer } from "node:net";
import { EventEmitter } from "node:events";

/**
 * Listens on 127.0.0.1 and a free port, forwarding to 127.0.0.1:`targetPort`. Resolves with:
 * - `port`, `target` (the port new connections go to), `open` (client connections now open),
 *   `accepted` (client connections so far), `events` ("connection" with the target chosen, when a
 *   client connection is accepted);
 * - `switchTo(port)`: connections accepted from now on go to `port` (open ones stay where they are);
 * - `dropAll()`: destroys every open connection, both sides, at once (no FIN handshake wait: the
 *   sockets are destroyed, so each peer sees its connection end), held ones too; returns how many;
 * - `hold()` / `release()`: while held, new client connections are accepted but neither read nor
 *   forwarded; `release()` forwards them (to the target of the time of release) and stops holding;
 *   `waiting` is how many are held;
 * - `close()`: dropAll, then stops listening.
 */
export async function startProxy(targetPort) {
  let target = targetPort;
  let holding = false;
  let accepted = 0;
  const held = [];
  const pairs = new Set();
  const events = new EventEmitter();

  function forward(client) {
    const upstream = createConnection({ host: "127.0.0.1", port: target });
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  const server = createServer({ pauseOnConnect: true, noDelay: true }, (client) => {
    accepted += 1;
    events.emit("connection", { target: holding ? null : target });
    if (holding) {
      held.push(client);
      const forget = () => {
        const index = held.indexOf(client);
        if (index >= 0) held.splice(index, 1);
      };
      client.once("close", forget);
      client.on("error", () => client.destroy());
      return;
    }
    forward(client);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });

  function dropAll() {
    let dropped = 0;
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair.client.destroy();
      pair.upstream.destroy();
      dropped += 1;
    }
    for (const client of held.splice(0)) {
      client.destroy();
      dropped += 1;
    }
    return dropped;
  }

  return {
    port: server.address().port,
    events,
    get target() {
      return target;
    },
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    get waiting() {
      return held.length;
    },
    switchTo(port) {
      target = port;
    },
    dropAll,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const client of held.splice(0)) {
        client.removeAllListeners("close");
        client.removeAllListeners("error");
        if (!client.destroyed) forward(client);
      }
    },
    async close() {
      holding = false;
      dropAll();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
