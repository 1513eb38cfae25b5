//! SockJS at the wire level, following the sockjs-protocol 0.3.3 suite
//! (protocols/sockjs-checklist.md): the suite's services behind a real server, real clients.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::sockjs::{testing, SockJs, SockJsApp, SockJsConfig};
use switchboard::SessionOptions;
use switchboard::{RunningServer, Switchboard};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn service<A: SockJsApp>(
    switchboard: &Switchboard,
    prefix: &str,
    app: A,
    tweak: impl FnOnce(&mut SockJsConfig),
) -> SockJs<A> {
    let mut config = SockJsConfig {
        prefix: prefix.into(),
        response_limit: 4096,
        ..SockJsConfig::default()
    };
    tweak(&mut config);
    SockJs::new(
        config,
        app,
        switchboard.hub().clone(),
        SessionOptions::default(),
    )
}

fn start() -> RunningServer {
    let switchboard = Switchboard::new(common::config());
    let echo = service(&switchboard, "/echo", testing::Echo, |_| {});
    let close = service(&switchboard, "/close", testing::Close, |_| {});
    let disabled = service(
        &switchboard,
        "/disabled_websocket_echo",
        testing::Echo,
        |c| c.websocket = false,
    );
    let cookie = service(&switchboard, "/cookie_needed_echo", testing::Echo, |c| {
        c.jsessionid = true
    });
    let brief = service(&switchboard, "/brief", testing::Echo, |c| {
        c.disconnect_delay = Duration::from_millis(200)
    });
    switchboard
        .mount(move |cfg| {
            echo.configure(cfg);
            close.configure(cfg);
            disabled.configure(cfg);
            cookie.configure(cfg);
            brief.configure(cfg);
        })
        .start()
        .unwrap()
}

struct Http {
    base: String,
    client: awc::Client,
}

struct Answer {
    status: u16,
    headers: awc::http::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Http {
    fn new(server: &RunningServer) -> Http {
        Http {
            base: format!("http://{}", server.addr()),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(10))
                .finish(),
        }
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = req.send_body(body.to_string()).await.unwrap();
        let body = res.body().limit(1 << 20).await.unwrap();
        Answer {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], "").await
    }

    async fn post(&self, path: &str, body: &str) -> Answer {
        self.send("POST", path, &[], body).await
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

#[actix_web::test]
async fn greeting_and_not_found() {
    let server = start();
    let http = Http::new(&server);
    for path in ["/echo", "/echo/"] {
        let a = http.get(path).await;
        assert_eq!((a.status, a.body.as_str()), (200, "Welcome to SockJS!\n"));
        assert_eq!(a.header("content-type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(a.header("set-cookie"), None);
    }
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"] {
        assert_eq!(
            http.get(&format!("/echo{suffix}")).await.status,
            404,
            "{suffix}"
        );
    }
    let a = http.send("POST", "/echo", &[], "").await;
    assert_eq!(
        (a.status, a.header("allow"), a.header("content-type")),
        (405, Some("GET"), None)
    );
}

#[actix_web::test]
async fn iframe_pages_are_cached_by_etag() {
    let server = start();
    let http = Http::new(&server);
    for path in [
        "/iframe.html",
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
        "/iframe-a.html?t=1234",
    ] {
        let a = http.get(&format!("/echo{path}")).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), Some("text/html; charset=UTF-8"));
        assert_eq!(a.header("cache-control"), Some("public, max-age=31536000"));
        assert!(a.header("expires").is_some() && a.header("etag").is_some());
        assert!(a.body.contains("SockJS.bootstrap_iframe();"));
    }
    for path in [
        "/iframe.htm",
        "/iframe",
        "/IFRAME.HTML",
        "/IFRAME",
        "/iframe.HTML",
        "/iframe.xml",
        "/iframe-/.html",
    ] {
        assert_eq!(
            http.get(&format!("/echo{path}")).await.status,
            404,
            "{path}"
        );
    }
    let first = http.get("/echo/iframe.html").await;
    let etag = first.header("etag").unwrap().to_string();
    assert_eq!(
        http.get("/echo/iframe.html").await.header("etag"),
        Some(etag.as_str())
    );
    let cached = http
        .send("GET", "/echo/iframe.html", &[("If-None-Match", &etag)], "")
        .await;
    assert_eq!(
        (
            cached.status,
            cached.body.as_str(),
            cached.header("content-type")
        ),
        (304, "", None)
    );
}

#[actix_web::test]
async fn info_options_and_cors() {
    let server = start();
    let http = Http::new(&server);
    let a = http
        .send("GET", "/echo/info", &[("Origin", "test")], "")
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(a.header("cache-control"), Some(NO_CACHE));
    assert_eq!(a.header("access-control-allow-origin"), Some("test"));
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));
    let info: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(info["websocket"], true);
    assert_eq!(info["cookie_needed"], false);
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    let again: Value = serde_json::from_str(&http.get("/echo/info").await.body).unwrap();
    assert_ne!(info["entropy"], again["entropy"]);
    assert!(again["entropy"].is_u64());

    let a = http.get("/echo/info").await;
    assert_eq!(
        (
            a.header("access-control-allow-origin"),
            a.header("access-control-allow-credentials")
        ),
        (Some("*"), None)
    );

    for origin in ["test", "null"] {
        let a = http
            .send(
                "OPTIONS",
                "/echo/info",
                &[("Origin", origin), ("Access-Control-Request-Method", "GET")],
                "",
            )
            .await;
        assert_eq!((a.status, a.body.as_str()), (204, ""));
        assert_eq!(
            a.header("access-control-allow-methods"),
            Some("OPTIONS, GET")
        );
        assert_eq!(a.header("access-control-max-age"), Some("31536000"));
        assert_eq!(a.header("access-control-allow-origin"), Some(origin));
        assert!(a.header("expires").is_some());
    }
    let disabled: Value =
        serde_json::from_str(&http.get("/disabled_websocket_echo/info").await.body).unwrap();
    assert_eq!(disabled["websocket"], false);
    let cookie = http.get("/cookie_needed_echo/info").await;
    assert_eq!(cookie.header("set-cookie"), None);
    assert_eq!(
        serde_json::from_str::<Value>(&cookie.body).unwrap()["cookie_needed"],
        true
    );
}

#[actix_web::test]
async fn xhr_polling_session() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/echo/000/{}", uuid());
    let a = http
        .send("POST", &format!("{s}/xhr"), &[("Origin", "test")], "")
        .await;
    assert_eq!((a.status, a.body.as_str()), (200, "o\n"));
    assert_eq!(
        a.header("content-type"),
        Some("application/javascript; charset=UTF-8")
    );
    assert_eq!(a.header("cache-control"), Some(NO_CACHE));
    assert_eq!(a.header("access-control-allow-origin"), Some("test"));
    let sent = http
        .send(
            "POST",
            &format!("{s}/xhr_send"),
            &[("Origin", "test")],
            r#"["x"]"#,
        )
        .await;
    assert_eq!((sent.status, sent.body.as_str()), (204, ""));
    assert_eq!(
        sent.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(http.post(&format!("{s}/xhr"), "").await.body, "a[\"x\"]\n");

    // Unknown session, broken JSON, no payload, empty array.
    assert_eq!(
        http.post(&format!("/echo/000/{}/xhr_send", uuid()), r#"["x"]"#)
            .await
            .status,
        404
    );
    let broken = http.post(&format!("{s}/xhr_send"), r#"["x"#).await;
    assert_eq!(
        (
            broken.status,
            broken.body.as_str(),
            broken.header("content-type")
        ),
        (500, "Broken JSON encoding.", None)
    );
    let empty = http.post(&format!("{s}/xhr_send"), "").await;
    assert_eq!(
        (empty.status, empty.body.as_str()),
        (500, "Payload expected.")
    );
    assert_eq!(http.post(&format!("{s}/xhr_send"), "[]").await.status, 204);
    for ct in [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ] {
        let a = http
            .send(
                "POST",
                &format!("{s}/xhr_send"),
                &[("Content-Type", ct)],
                r#"["a"]"#,
            )
            .await;
        assert_eq!(a.status, 204, "{ct}");
    }
    assert_eq!(
        http.post(&format!("{s}/xhr"), "").await.body,
        "a[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]\n"
    );

    // Session URLs: any ids without '.', the server id is ignored.
    for path in [
        "/echo/a/a1/xhr",
        "/echo/_/_2/xhr",
        "/echo/1/3/xhr",
        "/echo/abcdefgh_i-j%20/abcdefg_i-j%20/xhr",
    ] {
        assert_eq!(http.post(path, "").await.body, "o\n", "{path}");
    }
    for bad in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
        assert_eq!(
            http.post(&format!("/echo{bad}/xhr"), "").await.status,
            404,
            "{bad}"
        );
        assert_eq!(
            http.get(&format!("/echo{bad}/xhr")).await.status,
            404,
            "{bad}"
        );
    }
    let id = uuid();
    assert_eq!(
        http.post(&format!("/echo/000/{id}/xhr"), "").await.body,
        "o\n"
    );
    assert_eq!(
        http.post(&format!("/echo/000/{id}/xhr_send"), r#"["a"]"#)
            .await
            .status,
        204
    );
    assert_eq!(
        http.post(&format!("/echo/999/{id}/xhr"), "").await.body,
        "a[\"a\"]\n"
    );
}

#[actix_web::test]
async fn a_second_receiver_gets_2010_and_the_close_service_says_go_away() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/echo/000/{}", uuid());
    assert_eq!(http.post(&format!("{s}/xhr"), "").await.body, "o\n");
    let held_url = format!("{s}/xhr");
    let held = http.post(&held_url, "");
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let a = http.post(&format!("{s}/xhr"), "").await;
        http.post(&format!("{s}/xhr_send"), r#"["release"]"#).await;
        a
    };
    let (held, second) = futures_util::join!(held, second);
    assert_eq!(second.body, "c[2010,\"Another connection still open\"]\n");
    assert_eq!(held.body, "a[\"release\"]\n");

    let c = format!("/close/000/{}", uuid());
    assert_eq!(http.post(&format!("{c}/xhr"), "").await.body, "o\n");
    assert_eq!(
        http.post(&format!("{c}/xhr"), "").await.body,
        "c[3000,\"Go away!\"]\n"
    );
    assert_eq!(
        http.post(&format!("{c}/xhr"), "").await.body,
        "c[3000,\"Go away!\"]\n"
    );
}

/// Reads a streaming response chunk by chunk into one string, until `until` returns true.
async fn read_stream<S>(stream: &mut S, text: &mut String, until: impl Fn(&str) -> bool)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    while !until(text) {
        let chunk = tokio::time::timeout(common::WAIT, stream.next())
            .await
            .expect("a chunk in time")
            .expect("stream not ended")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn stream_ends<S>(stream: &mut S) -> bool
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    matches!(
        tokio::time::timeout(common::WAIT, stream.next()).await,
        Ok(None)
    )
}

#[actix_web::test]
async fn xhr_streaming_eventsource_and_htmlfile() {
    let server = start();
    let http = Http::new(&server);
    let cases: [(&str, &str, &str, &str, &str); 3] = [
        (
            "POST",
            "xhr_streaming",
            "application/javascript; charset=UTF-8",
            "o\n",
            "a[\"x\"]\n",
        ),
        (
            "GET",
            "eventsource",
            "text/event-stream",
            "data: o\r\n\r\n",
            "data: a[\"x\"]\r\n\r\n",
        ),
        (
            "GET",
            "htmlfile?c=%63allback",
            "text/html; charset=UTF-8",
            "<script>\np(\"o\");\n</script>\r\n",
            "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n",
        ),
    ];
    for (method, transport, content_type, open, message) in cases {
        let s = format!("/echo/000/{}", uuid());
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut res = http
            .client
            .request(method, format!("{}{s}/{transport}", http.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers().get("content-type").unwrap(), content_type);
        assert_eq!(res.headers().get("cache-control").unwrap(), NO_CACHE);
        let mut text = String::new();
        read_stream(&mut res, &mut text, |t| t.ends_with(open)).await;
        assert_eq!(
            http.post(&format!("{s}/xhr_send"), r#"["x"]"#).await.status,
            204
        );
        read_stream(&mut res, &mut text, |t| t.ends_with(message)).await;
        // response_limit (4096 here): one big message ends the response.
        let big = format!("[\"{}\"]", "x".repeat(4096));
        assert_eq!(http.post(&format!("{s}/xhr_send"), &big).await.status, 204);
        read_stream(&mut res, &mut text, |t| t.contains(&"x".repeat(4096))).await;
        assert!(
            stream_ends(&mut res).await,
            "{transport} ends at response_limit"
        );
        // The session lives on: a new request picks up from there.
        assert_eq!(
            http.post(&format!("{s}/xhr_send"), r#"["after"]"#)
                .await
                .status,
            204
        );
        assert_eq!(
            http.post(&format!("{s}/xhr"), "").await.body,
            "a[\"after\"]\n"
        );
    }
    assert_eq!(
        http.get("/echo/a/a/htmlfile").await.body,
        "\"callback\" parameter required"
    );
    for bad in ["%20", "*", "abc(", "abc%28"] {
        let a = http.get(&format!("/echo/a/a/htmlfile?c={bad}")).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (500, "invalid \"callback\" parameter")
        );
    }
}

#[actix_web::test]
async fn the_streaming_prelude_is_2048_h_and_the_close_ends_it() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/close/000/{}", uuid());
    let mut res = http
        .client
        .post(format!("{}{s}/xhr_streaming", http.base))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    read_stream(&mut res, &mut text, |t| {
        t.ends_with("c[3000,\"Go away!\"]\n")
    })
    .await;
    assert_eq!(
        text,
        format!("{}\no\nc[3000,\"Go away!\"]\n", "h".repeat(2048))
    );
    assert!(stream_ends(&mut res).await);
}

#[actix_web::test]
async fn jsonp_polling_and_jsonp_send() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/echo/000/{}", uuid());
    let a = http.get(&format!("{s}/jsonp?c=%63allback")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, "/**/callback(\"o\");\r\n")
    );
    assert_eq!(
        a.header("content-type"),
        Some("application/javascript; charset=UTF-8")
    );
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let sent = http
        .send("POST", &format!("{s}/jsonp_send"), &form, "d=%5B%22x%22%5D")
        .await;
    assert_eq!((sent.status, sent.body.as_str()), (200, "ok"));
    assert_eq!(
        sent.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    let plain = [("Content-Type", "text/plain")];
    assert_eq!(
        http.send("POST", &format!("{s}/jsonp_send"), &plain, r#"["%61bc"]"#)
            .await
            .body,
        "ok"
    );
    assert_eq!(
        http.get(&format!("{s}/jsonp?c=x")).await.body,
        "/**/x(\"a[\\\"x\\\",\\\"%61bc\\\"]\");\r\n"
    );
    for body in ["", "d=", "p=p"] {
        let a = http
            .send("POST", &format!("{s}/jsonp_send"), &form, body)
            .await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (500, "Payload expected."),
            "{body}"
        );
    }
    let a = http
        .send("POST", &format!("{s}/jsonp_send"), &form, "d=%5B%22x")
        .await;
    assert_eq!((a.status, a.body.as_str()), (500, "Broken JSON encoding."));
    assert_eq!(
        http.get("/echo/a/a/jsonp").await.body,
        "\"callback\" parameter required"
    );
    let c = format!("/close/000/{}", uuid());
    assert_eq!(
        http.get(&format!("{c}/jsonp?c=x")).await.body,
        "/**/x(\"o\");\r\n"
    );
    assert_eq!(
        http.get(&format!("{c}/jsonp?c=x")).await.body,
        "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
    );
}

#[actix_web::test]
async fn jsessionid_cookie_when_needed() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/cookie_needed_echo/000/{}", uuid());
    let a = http.post(&format!("{s}/xhr"), "").await;
    assert_eq!(a.header("set-cookie"), Some("JSESSIONID=dummy; path=/"));
    let a = http
        .send(
            "POST",
            &format!("/cookie_needed_echo/000/{}/xhr", uuid()),
            &[("Cookie", "JSESSIONID=abcdef")],
            "",
        )
        .await;
    assert_eq!(a.header("set-cookie"), Some("JSESSIONID=abcdef; path=/"));
    assert_eq!(
        http.post(&format!("/echo/000/{}/xhr", uuid()), "")
            .await
            .header("set-cookie"),
        None
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_next(ws: &mut Ws) -> WsMessage {
    loop {
        let frame = tokio::time::timeout(common::WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if !matches!(frame, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return frame;
        }
    }
}

#[actix_web::test]
async fn websocket_framed_raw_close_and_broken_framing() {
    let server = start();
    let url = |path: &str| format!("ws://{}{path}", server.addr());
    let (mut ws, _) =
        tokio_tungstenite::connect_async(url(&format!("/echo/000/{}/websocket", uuid())))
            .await
            .unwrap();
    assert_eq!(ws_next(&mut ws).await, WsMessage::text("o"));
    ws.send(WsMessage::text("")).await.unwrap();
    ws.send(WsMessage::text(r#"["a"]"#)).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, WsMessage::text(r#"a["a"]"#));
    ws.send(WsMessage::text(r#""b""#)).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, WsMessage::text(r#"a["b"]"#));
    ws.send(WsMessage::text(r#"["a"#)).await.unwrap();
    match ws_next(&mut ws).await {
        WsMessage::Close(Some(close)) => assert_eq!(
            (u16::from(close.code), close.reason.as_str()),
            (3000, "Broken framing.")
        ),
        other => panic!("expected a close, got {other:?}"),
    }

    let (mut ws, _) =
        tokio_tungstenite::connect_async(url(&format!("/close/000/{}/websocket", uuid())))
            .await
            .unwrap();
    assert_eq!(ws_next(&mut ws).await, WsMessage::text("o"));
    assert_eq!(
        ws_next(&mut ws).await,
        WsMessage::text(r#"c[3000,"Go away!"]"#)
    );
    match ws_next(&mut ws).await {
        WsMessage::Close(Some(close)) => assert_eq!(u16::from(close.code), 1000),
        other => panic!("expected a close, got {other:?}"),
    }

    let (mut raw, _) = tokio_tungstenite::connect_async(url("/echo/websocket"))
        .await
        .unwrap();
    raw.send(WsMessage::text("Hello world!\u{ffff}"))
        .await
        .unwrap();
    assert_eq!(
        ws_next(&mut raw).await,
        WsMessage::text("Hello world!\u{ffff}")
    );
    let (mut raw, _) = tokio_tungstenite::connect_async(url("/close/websocket"))
        .await
        .unwrap();
    match ws_next(&mut raw).await {
        WsMessage::Close(Some(close)) => assert_eq!(
            (u16::from(close.code), close.reason.as_str()),
            (3000, "Go away!")
        ),
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(
        tokio_tungstenite::connect_async(url("/disabled_websocket_echo/000/x/websocket"))
            .await
            .is_err()
    );
    let http = Http::new(&server);
    let a = http.get("/echo/0/0/websocket").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (400, "Not a valid websocket request")
    );
    assert_eq!(
        http.post("/echo/0/0/websocket", "").await.header("allow"),
        Some("GET")
    );
}

/// Sends a raw request and reads until the server closes the connection.
async fn raw_exchange(server: &RunningServer, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(common::WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

#[actix_web::test]
async fn http_1_0_streams_without_chunking_and_closes() {
    let server = start();
    let answer = raw_exchange(
        &server,
        "POST /close/000/abc/xhr_streaming HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200 OK"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding") && !head.contains("content-length"),
        "{head}"
    );
    assert_eq!(
        body,
        format!("{}\no\nc[3000,\"Go away!\"]\n", "h".repeat(2048))
    );

    // HTTP/1.1 streams in chunks, the prelude and each frame a chunk of its own.
    let answer = raw_exchange(
        &server,
        "POST /close/000/abd/xhr_streaming HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    assert_eq!(
        body,
        format!(
            "801\r\n{}\n\r\n2\r\no\n\r\n13\r\nc[3000,\"Go away!\"]\n\r\n0\r\n\r\n",
            "h".repeat(2048)
        )
    );
}

#[actix_web::test]
async fn a_session_without_a_receiver_is_reaped_after_the_disconnect_delay() {
    let server = start();
    let http = Http::new(&server);
    let s = format!("/brief/000/{}", uuid());
    assert_eq!(http.post(&format!("{s}/xhr"), "").await.body, "o\n");
    // Messages queue between polls while the session lives...
    assert_eq!(
        http.post(&format!("{s}/xhr_send"), r#"["kept"]"#)
            .await
            .status,
        204
    );
    assert_eq!(
        http.post(&format!("{s}/xhr"), "").await.body,
        "a[\"kept\"]\n"
    );
    assert_eq!(server.hub().session_count(), 1);
    // ...and with no receiver for disconnect_delay (200 ms here) it is closed and reaped.
    common::eventually("the idle session to be reaped", || {
        server.hub().session_count() == 0
    })
    .await;
    assert_eq!(
        http.post(&format!("{s}/xhr_send"), r#"["late"]"#)
            .await
            .status,
        404
    );
}
