//! The `switchboard` binary as an operator runs it: its log, read from a pipe.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Requests a broken or hostile client might send.
const MALFORMED: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"\x00\x01\x02garbage\r\n\r\n",
    b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
    b"POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"POST /sockjs/000/abc/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[x]",
];

#[test]
fn a_client_s_mistakes_log_no_errors_and_a_pipe_gets_no_colours() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "exited early: {log}");
        log.push_str(&line);
        if let Some(at) = line.find("switchboard listening addr=") {
            let rest = &line[at + "switchboard listening addr=".len()..];
            break rest.trim().to_string();
        }
    };
    for request in MALFORMED {
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(request).unwrap();
        let mut answer = [0u8; 12];
        let n = tcp.read(&mut answer).unwrap();
        assert!(
            answer[..n].starts_with(b"HTTP/1.1 4") || answer[..n].starts_with(b"HTTP/1.1 5"),
            "{:?}: {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&answer[..n])
        );
    }
    // SIGTERM: the binary shuts down by itself, and the log ends.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    out.read_to_string(&mut log).unwrap();
    assert!(child.wait().unwrap().success(), "{log}");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "colour codes in a piped log: {log:?}"
    );
}
