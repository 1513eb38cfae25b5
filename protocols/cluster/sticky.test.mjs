// Sticky sessions behind a load balancer (issue 13): two switchboard nodes on one Redis (with
// --cookie and --sockjs-jsessionid) behind Debian's HAProxy, pinning by a cookie it inserts, and
// behind Debian's nginx, pinning by client address (ip_hash). The proxies run the documented
// configs themselves (docs/deploy/haproxy.cfg, docs/deploy/nginx.conf), with the example
// addresses replaced by the test's free ports. Real clients (socket.io-client 4.x, sockjs-client)
// go through the proxy; a client connected straight to the other node publishes, so the cluster
// carries what they receive; the proxy's access log shows which node answered each request.
//
// Needs `haproxy` and `nginx` on PATH (apt-get install -y haproxy nginx), or $HAPROXY / $NGINX.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import SockJS from "sockjs-client";
import {
  Harness,
  RelayClient,
  WAIT,
  connectSocketIo,
  freePort,
  record,
  sioJoin,
  sioPublish,
  stats,
  until,
  waitFor,
} from "./lib/cluster.mjs";

const HAPROXY = process.env.HAPROXY ?? "haproxy";
const NGINX = process.env.NGINX ?? "nginx";
const deployDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/deploy");

/** Throws a clear error when `bin` cannot be run at all; else its version line. */
function checkInstalled(bin, versionFlag) {
  const probe = spawnSync(bin, [versionFlag], { encoding: "utf8" });
  if (probe.error) {
    throw new Error(
      `cannot run ${bin} (${probe.error.code ?? probe.error.message}): ` +
        "install Debian's packages (apt-get install -y haproxy nginx) or set HAPROXY / NGINX",
    );
  }
  return `${probe.stdout}${probe.stderr}`.split("\n")[0];
}

/** `text` with each `[from, to]` replaced, each `from` required to occur exactly once. */
function fill(text, replacements, what) {
  for (const [from, to] of replacements) {
    const count = text.split(from).length - 1;
    assert.equal(count, 1, `${what}: expected "${from}" once, found it ${count} times`);
    text = text.replace(from, to);
  }
  return text;
}

// --- a proxy as a child process ------------------------------------------------------------------

/**
 * Spawns `bin args` in a process group of its own and resolves once GET /healthz through `url`
 * answers 200 twice in a row (both nodes, when the proxy balances); `stop()` sends SIGTERM and
 * awaits the exit, SIGKILL to the group after 5 s. `lines` collects stdout and stderr lines.
 */
async function startProxy(h, name, bin, args, url) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const lines = [];
  let rest = "";
  const keep = (chunk) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop();
    lines.push(...parts);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const killGroup = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone already
    }
  };
  process.once("exit", killGroup);
  const exited = new Promise((resolve) => {
    child.once("error", (error) => resolve({ error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const proxy = {
    name,
    url,
    lines,
    log: () => lines.join("\n"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const killer = setTimeout(killGroup, 5000);
      const result = await exited;
      clearTimeout(killer);
      killGroup(); // workers, should any outlive their master
      process.off("exit", killGroup);
      return result;
    },
  };
  h.add(proxy);
  const healthy = until(async () => {
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (response.status !== 200) return false;
    }
    return true;
  }, `${name} to answer /healthz on both nodes`, 10_000);
  const died = exited.then((result) => {
    throw new Error(`${name} exited (${JSON.stringify(result)})`);
  });
  await Promise.race([healthy, died]).catch((error) => {
    throw new Error(`${error.message}\n${proxy.log()}`);
  });
  died.catch(() => {});
  return proxy;
}

/**
 * HAProxy running docs/deploy/haproxy.cfg in front of `nodes` on a free port, plus two test-only
 * frontends: `unpinned` (the same nodes, round robin, no cookie: the negative check) and
 * `appcookie` (pinning on switchboard's own cookies, `io` from --cookie and `JSESSIONID` from
 * --sockjs-jsessionid, prefixed by HAProxy: the alternative in docs/deploy/README.md).
 */
async function startHaproxy(h, dir, [a, b]) {
  const [port, unpinnedPort, appcookiePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const servers = `    server sb1 127.0.0.1:${a.port} check cookie sb1\n    server sb2 127.0.0.1:${b.port} check cookie sb2\n`;
  const config =
    fill(
      readFileSync(path.join(deployDir, "haproxy.cfg"), "utf8"),
      [
        ["bind :80", `bind 127.0.0.1:${port}`],
        ["server sb1 10.0.0.11:3000", `server sb1 127.0.0.1:${a.port}`],
        ["server sb2 10.0.0.12:3000", `server sb2 127.0.0.1:${b.port}`],
      ],
      "docs/deploy/haproxy.cfg",
    ) +
    `
# --- test-only ---
frontend unpinned
    bind 127.0.0.1:${unpinnedPort}
    default_backend unpinned

backend unpinned
    balance roundrobin
${servers.replaceAll(" cookie sb1", "").replaceAll(" cookie sb2", "")}
frontend appcookie
    bind 127.0.0.1:${appcookiePort}
    use_backend appcookie_sockjs if { path_beg /sockjs/ }
    default_backend appcookie_socketio

backend appcookie_socketio
    balance roundrobin
    cookie io prefix nocache
${servers}
backend appcookie_sockjs
    balance roundrobin
    cookie JSESSIONID prefix nocache
${servers}`;
  const file = path.join(dir, "haproxy.cfg");
  writeFileSync(file, config);
  const proxy = await startProxy(h, "haproxy", HAPROXY, ["-f", file, "-db"], `http://127.0.0.1:${port}`);
  proxy.unpinnedUrl = `http://127.0.0.1:${unpinnedPort}`;
  proxy.appcookieUrl = `http://127.0.0.1:${appcookiePort}`;
  // `option httplog`, raw: `... frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes ... "GET /uri HTTP/1.1"`.
  const names = { sb1: a, sb2: b };
  proxy.requests = () =>
    proxy.lines.flatMap((line) => {
      const m = / (\S+) (\S+)\/(\S+) \S+ (\d{3}) .*"(\S+) (\S+) HTTP\/[\d.]+"$/.exec(line);
      return m ? [{ frontend: m[1], node: names[m[3]], server: m[3], status: Number(m[4]), method: m[5], uri: m[6] }] : [];
    });
  return proxy;
}

/** nginx including docs/deploy/nginx.conf, in front of `nodes` on a free port, every path in `dir`. */
async function startNginx(h, dir, [a, b]) {
  const port = await freePort();
  const prefix = path.join(dir, "nginx");
  const accessLog = path.join(prefix, "access.log");
  const site = fill(
    readFileSync(path.join(deployDir, "nginx.conf"), "utf8"),
    [
      ["listen 80;", `listen 127.0.0.1:${port};`],
      ["server 10.0.0.11:3000;", `server 127.0.0.1:${a.port};`],
      ["server 10.0.0.12:3000;", `server 127.0.0.1:${b.port};`],
      ["/var/log/nginx/switchboard.access.log", accessLog],
    ],
    "docs/deploy/nginx.conf",
  );
  mkdirSync(prefix, { recursive: true });
  chmodSync(dir, 0o755); // workers run as nobody when the master is root
  writeFileSync(path.join(prefix, "switchboard.conf"), site);
  writeFileSync(
    path.join(prefix, "nginx.conf"),
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
    access_log off;
    include ${prefix}/switchboard.conf;
}
`,
  );
  const args = ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-e", "stderr", "-g", "daemon off;"];
  const proxy = await startProxy(h, "nginx", NGINX, args, `http://127.0.0.1:${port}`);
  const byAddr = { [`127.0.0.1:${a.port}`]: a, [`127.0.0.1:${b.port}`]: b };
  // log_format switchboard: `$remote_addr [$time_local] "$request" $status $bytes upstream=$upstream_addr rt=...`.
  proxy.requests = () =>
    (existsSync(accessLog) ? readFileSync(accessLog, "utf8").split("\n") : []).flatMap((line) => {
      const m = /"(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \d+ upstream=(\S+) /.exec(line);
      return m ? [{ node: byAddr[m[4]], server: m[4], status: Number(m[3]), method: m[1], uri: m[2] }] : [];
    });
  return proxy;
}

// --- clients -------------------------------------------------------------------------------------

/**
 * sockjs-client keeps no cookies under Node (a browser does): this agent, made http.globalAgent
 * for the test, keeps them per proxy port, as a browser per origin. Other ports pass through.
 */
class CookieAgent extends http.Agent {
  // Node makes `new (globalAgent.constructor)()` for a request with `agent: false` (as
  // xmlhttprequest-ssl, under socket.io-client, sends): no ports then, nothing kept.
  constructor(ports = []) {
    super({ keepAlive: true });
    this.jars = new Map(ports.map((port) => [String(port), new Map()]));
  }

  /** A new browser for `port`: nothing kept. */
  reset(port) {
    this.jars.get(String(port)).clear();
  }

  cookies(port) {
    return Object.fromEntries(this.jars.get(String(port)));
  }

  addRequest(req, options) {
    const jar = this.jars.get(String(options.port));
    if (jar) {
      if (jar.size) req.setHeader("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
      req.once("response", (res) => {
        for (const line of res.headers["set-cookie"] ?? []) {
          const pair = line.split(";")[0];
          const eq = pair.indexOf("=");
          jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
        }
      });
    }
    return super.addRequest(req, options);
  }
}

/** socket.io-client 4.x through `url`, keeping cookies as a browser does. */
function socketIoVia(h, url, transports) {
  // engine.io-client keeps cookies under Node with `withCredentials`; polling sends them only
  // when `extraHeaders` is set (it lifts xmlhttprequest-ssl's ban on a `cookie` request header).
  return connectSocketIo({ url }, { transports, withCredentials: true, extraHeaders: { "x-test": "sticky" } }).then((s) =>
    h.add(s),
  );
}

let sockjsSeq = 0;

/** A relay client over sockjs-client through `url` with one `transport`; after the welcome. */
async function sockjsVia(h, url, transport) {
  const sessionId = `sticky${process.pid}x${++sockjsSeq}`;
  const sock = new SockJS(`${url}/sockjs`, null, { transports: [transport], timeout: WAIT, sessionId: () => sessionId });
  const client = new RelayClient({ send: (text) => sock.send(text), close: () => sock.close() });
  client.sock = sock;
  client.sessionPath = `/${sessionId}/`;
  sock.onmessage = (e) => client.receive(e.data);
  sock.onclose = (e) => client.closedWith(e.code, e.reason);
  h.add(client);
  const welcome = await client.next();
  assert.equal(welcome.type, "welcome", JSON.stringify(welcome));
  client.session = welcome.session;
  return client;
}

/** Uniform publish/receive over a socket.io socket or a RelayClient, in `room`. */
function endpoint(client, room) {
  if (client instanceof RelayClient) {
    return {
      join: () => client.join(room),
      publish: (data) => client.publish(room, "chat", data),
      next: async () => (await client.take((m) => m.type === "message" && m.event === "chat")).data,
    };
  }
  const chats = record(client, "chat");
  return {
    join: () => sioJoin(client, room),
    publish: (data) => sioPublish(client, room, "chat", data),
    next: async () => (await chats.next())[0],
  };
}

let roomSeq = 0;

/**
 * `proxied` and `direct` join a fresh room; then `rounds` times: `direct` publishes and `proxied`
 * receives it, `proxied` publishes and `direct` receives it. Each message crosses the cluster.
 */
async function chatter(proxied, direct, rounds = 20) {
  const room = `sticky-${++roomSeq}`;
  const [p, d] = [endpoint(proxied, room), endpoint(direct, room)];
  await p.join();
  await d.join();
  for (let i = 0; i < rounds; i++) {
    await d.publish({ i, from: "direct" });
    assert.deepEqual(await p.next(), { i, from: "direct" });
    await p.publish({ i, from: "proxied" });
    assert.deepEqual(await d.next(), { i, from: "proxied" });
  }
}

/** The proxy's logged requests whose URI contains `needle`, once at least `min` are there. */
function logged(proxy, needle, min = 1) {
  return until(() => {
    const found = proxy.requests().filter((r) => r.uri.includes(needle));
    return found.length >= min && found;
  }, `${proxy.name} to log ${min} requests with ${needle}`);
}

/**
 * Every request of one session went to one node, each answered `statuses`; that node. nginx logs
 * 499 for the one receiving request the client left open when it closed.
 */
function oneNode(requests, statuses) {
  const servers = new Set(requests.map((r) => r.server));
  assert.equal(servers.size, 1, `requests went to ${[...servers]}:\n${JSON.stringify(requests, null, 1)}`);
  const abandoned = requests.filter((r) => r.status === 499);
  assert.ok(abandoned.length <= 1, JSON.stringify(abandoned));
  for (const r of requests) assert.ok(statuses.includes(r.status) || r.status === 499, `${r.status} for ${r.method} ${r.uri}`);
  return requests[0].node;
}

/** The node of `nodes` that is not `node`. */
const other = (nodes, node) => nodes.find((n) => n !== node);

/**
 * Socket.IO through `proxy` (at `url`): connects, finds the node it was pinned to in the proxy's
 * log, then chatters with a client straight on the other node. With `upgrade`, the default
 * transports: polling, then WebSocket. The engine session never changes and never drops.
 */
async function socketIoThrough(h, proxy, url, nodes, { upgrade }) {
  // socket.io-client's own default is ["polling", "websocket", "webtransport"]; no WebTransport here.
  const socket = await socketIoVia(h, url, upgrade ? ["polling", "websocket"] : ["polling"]);
  const engine = socket.io.engine;
  const sid = engine.id;
  const drops = [];
  socket.on("disconnect", (why) => drops.push(why));
  if (upgrade) {
    if (engine.transport.name !== "websocket") await waitFor(engine, "upgrade", { failOn: ["upgradeError", "close"] });
    assert.equal(engine.transport.name, "websocket");
  }
  const pinned = oneNode(await logged(proxy, `sid=${sid}`), [200]);
  const direct = await h.socketIo(other(nodes, pinned), { version: 4 });
  await chatter(socket, direct);
  assert.deepEqual(drops, []);
  assert.equal(engine.id, sid);
  assert.equal(engine.transport.name, upgrade ? "websocket" : "polling");
  await socket.close();
  if (upgrade) {
    // The upgrade is logged when its tunnel closes: 101, on the node of the polling requests.
    const requests = await until(() => {
      const found = proxy.requests().filter((r) => r.uri.includes(`sid=${sid}`));
      return found.some((r) => r.status === 101) && found;
    }, `${proxy.name} to log the upgrade of ${sid}`);
    assert.equal(oneNode(requests, [200, 101]), pinned);
    assert.ok(requests.some((r) => r.uri.includes("transport=websocket")));
  } else {
    // Twenty messages each way: forty polls in a row, or more, all on one node, all 200.
    const requests = await logged(proxy, `sid=${sid}`, 40);
    assert.equal(oneNode(requests, [200]), pinned);
    assert.ok(requests.filter((r) => r.method === "GET").length >= 20, "at least twenty long-polls");
    assert.ok(requests.every((r) => r.uri.includes("transport=polling")));
  }
  return pinned;
}

/** SockJS over `transport` through `proxy`: as socketIoThrough, with a plain WebSocket client. */
async function sockjsThrough(h, proxy, url, nodes, transport) {
  const client = await sockjsVia(h, url, transport);
  const drops = [];
  client.events.on("close", (why) => drops.push(why.message));
  // The welcome came on a receiving request; the join goes out on an xhr_send, logged at once.
  await client.join("sticky-probe");
  const pinned = oneNode(await logged(proxy, client.sessionPath), [200, 204]);
  const direct = await h.ws(other(nodes, pinned));
  const started = Date.now();
  await chatter(client, direct);
  // Forty messages take well under a second; HAProxy without `option http-no-delay` holds each
  // small chunk of an xhr_streaming response back ~200 ms (8 s or more in all).
  const took = Date.now() - started;
  assert.ok(took < 4000, `forty messages over ${transport} through ${proxy.name} took ${took} ms`);
  assert.deepEqual(drops, []);
  await client.close();
  // Two joins and twenty publishes on xhr_send; the receiving requests beside them (a 1 KiB
  // --sockjs-response-limit ends an xhr_streaming response every few messages), each logged once
  // done (the last one, left open by the close, may never be).
  const receiving = transport === "xhr-streaming" ? "/xhr_streaming" : "/xhr";
  const requests = await until(() => {
    const found = proxy.requests().filter((r) => r.uri.includes(client.sessionPath));
    const sends = found.filter((r) => r.uri.endsWith("/xhr_send")).length;
    const received = found.filter((r) => r.uri.endsWith(receiving)).length;
    return sends >= 22 && received >= (transport === "xhr-streaming" ? 2 : 20) && found;
  }, `${proxy.name} to log the requests of ${client.sessionPath}`);
  assert.equal(oneNode(requests, [200, 204]), pinned);
  return pinned;
}

// --- the test ------------------------------------------------------------------------------------

test("sticky sessions behind HAProxy (cookie) and nginx (ip_hash)", async (t) => {
  const versions = [checkInstalled(HAPROXY, "-v"), checkInstalled(NGINX, "-v")];
  t.diagnostic(versions.join("; "));
  const h = new Harness(t);
  const dir = mkdtempSync(path.join(tmpdir(), "switchboard-sticky-"));
  h.add(dir, () => rmSync(dir, { recursive: true, force: true }));
  const redis = await h.redis();
  const nodes = await Promise.all(
    [0, 1].map(() => h.switchboard({ redisUrl: redis.url, extraArgs: ["--cookie", "--sockjs-jsessionid", "--sockjs-response-limit", "1024"] })),
  );
  await until(async () => (await Promise.all(nodes.map(stats))).every((s) => s.cluster?.connected), "both nodes on Redis");
  const [haproxy, nginx] = await Promise.all([startHaproxy(h, dir, nodes), startNginx(h, dir, nodes)]);

  const proxyPorts = [haproxy.url, haproxy.appcookieUrl, nginx.url].map((u) => new URL(u).port);
  const agent = new CookieAgent(proxyPorts);
  const globalAgent = http.globalAgent;
  http.globalAgent = agent;
  h.add(agent, () => {
    http.globalAgent = globalAgent;
    agent.destroy();
  });

  await t.test("without stickiness a session is unknown to the other node", async () => {
    const [a, b] = nodes;
    // Engine.IO: the handshake on A sets `io=<sid>` (--cookie); B has never heard of the sid.
    const handshake = await fetch(`${a.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(handshake.status, 200);
    const { sid } = JSON.parse((await handshake.text()).slice(1));
    assert.match(handshake.headers.get("set-cookie"), new RegExp(`^io=${sid}; Path=/; HttpOnly`));
    const onB = await fetch(`${b.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(onB.status, 400);
    assert.deepEqual(await onB.json(), { code: 1, message: "Session ID unknown" });
    // On A it lives: the Socket.IO CONNECT goes in, its answer comes straight back on a poll.
    const post = await fetch(`${a.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
    assert.equal([post.status, await post.text()].join(" "), "200 ok");
    const poll = await fetch(`${a.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.match(await poll.text(), /^40\{"sid":"[\w-]{20}"/);
    await fetch(`${a.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "1" });

    // SockJS: a session opened on A (with JSESSIONID, --sockjs-jsessionid) is a 404 on B.
    const session = `/sockjs/000/neg${process.pid}`;
    const open = await fetch(`${a.url}${session}/xhr`, { method: "POST" });
    assert.equal(await open.text(), "o\n");
    assert.match(open.headers.get("set-cookie"), /^JSESSIONID=dummy; path=\//);
    const send = JSON.stringify([JSON.stringify({ type: "join", room: "x", id: 1 })]);
    const sendB = await fetch(`${b.url}${session}/xhr_send`, { method: "POST", body: send });
    assert.equal(sendB.status, 404);
    const sendA = await fetch(`${a.url}${session}/xhr_send`, { method: "POST", body: send });
    assert.equal(sendA.status, 204);
  });

  await t.test("HAProxy round robin without a cookie: socket.io-client polling fails on a 400", async (st) => {
    const socket = io(haproxy.unpinnedUrl, { forceNew: true, reconnection: false, transports: ["polling"] });
    new Harness(st).add(socket, () => socket.disconnect());
    const [error] = await waitFor(socket, "connect_error", { failOn: ["connect"] });
    assert.match(error.message, /xhr (poll|post) error/);
    const requests = await until(() => {
      const found = haproxy.requests().filter((r) => r.frontend === "unpinned" && r.uri.startsWith("/socket.io/"));
      return found.some((r) => r.status === 400) && found;
    }, "the 400 in HAProxy's log");
    // The handshake on one node, the next request with its sid on the other: Session ID unknown.
    assert.equal(new Set(requests.map((r) => r.server)).size, 2, JSON.stringify(requests));
  });

  await t.test("HAProxy: the handshake sets SERVERID (HAProxy) and io (switchboard)", async () => {
    const response = await fetch(`${haproxy.url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await response.text()).slice(1));
    const cookies = response.headers.getSetCookie();
    assert.ok(cookies.some((c) => /^SERVERID=sb[12]; path=\/; HttpOnly/.test(c)), cookies.join(" | "));
    assert.ok(cookies.some((c) => c.startsWith(`io=${sid};`)), cookies.join(" | "));
  });

  await t.test("HAProxy: socket.io-client 4.x, polling only", (st) =>
    socketIoThrough(new Harness(st), haproxy, haproxy.url, nodes, { upgrade: false }),
  );
  await t.test("HAProxy: socket.io-client 4.x, default transports (upgrade to WebSocket)", (st) =>
    socketIoThrough(new Harness(st), haproxy, haproxy.url, nodes, { upgrade: true }),
  );
  for (const transport of ["xhr-streaming", "xhr-polling"]) {
    await t.test(`HAProxy: sockjs-client ${transport}`, async (st) => {
      agent.reset(new URL(haproxy.url).port);
      await sockjsThrough(new Harness(st), haproxy, haproxy.url, nodes, transport);
      assert.match(agent.cookies(new URL(haproxy.url).port).SERVERID, /^sb[12]$/);
    });
  }

  await t.test("HAProxy pinning on switchboard's own cookies (io, JSESSIONID prefixed)", async (st) => {
    const port = new URL(haproxy.appcookieUrl).port;
    await socketIoThrough(new Harness(st), haproxy, haproxy.appcookieUrl, nodes, { upgrade: false });
    agent.reset(port);
    await sockjsThrough(new Harness(st), haproxy, haproxy.appcookieUrl, nodes, "xhr-polling");
    assert.match(agent.cookies(port).JSESSIONID, /^sb[12]~dummy$/);
  });

  await t.test("nginx ip_hash: one client address, one node", async () => {
    const landed = new Set();
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${nginx.url}/socket.io/?EIO=4&transport=polling`);
      const { sid } = JSON.parse((await response.text()).slice(1));
      // The Set-Cookie of switchboard passes through nginx untouched.
      assert.ok(response.headers.get("set-cookie").startsWith(`io=${sid};`));
      landed.add(sid);
    }
    const requests = await logged(nginx, "/socket.io/?EIO=4&transport=polling", 6);
    assert.equal(new Set(requests.map((r) => r.server)).size, 1, JSON.stringify(requests));
    assert.equal(landed.size, 6);
  });
  await t.test("nginx: socket.io-client 4.x, polling only", (st) =>
    socketIoThrough(new Harness(st), nginx, nginx.url, nodes, { upgrade: false }),
  );
  await t.test("nginx: socket.io-client 4.x, default transports (upgrade to WebSocket)", (st) =>
    socketIoThrough(new Harness(st), nginx, nginx.url, nodes, { upgrade: true }),
  );
  for (const transport of ["xhr-streaming", "xhr-polling"]) {
    await t.test(`nginx: sockjs-client ${transport}`, (st) => sockjsThrough(new Harness(st), nginx, nginx.url, nodes, transport));
  }
});
