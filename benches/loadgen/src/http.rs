//! A small HTTP/1.1 client over one keep-alive TcpStream: enough for Engine.IO polling, SockJS
//! xhr_send / xhr_streaming and the publish API. Content-Length, chunked and close-delimited bodies.

use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

pub fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Opens a TCP connection to `server` from `source` (any port), with Nagle off.
pub async fn connect(server: SocketAddr, source: IpAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

enum Body {
    Length(usize),
    Chunked,
    UntilClose,
}

pub struct Http {
    io: BufReader<TcpStream>,
    host: String,
    /// What is left of the response being read.
    body: Option<Body>,
    pub closed: bool,
}

pub struct Head {
    pub status: u16,
}

impl Http {
    pub async fn open(server: SocketAddr, source: IpAddr) -> io::Result<Http> {
        let stream = connect(server, source).await?;
        Ok(Http {
            io: BufReader::with_capacity(64 * 1024, stream),
            host: server.to_string(),
            body: None,
            closed: false,
        })
    }

    /// Sends a request (without reading the answer).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<()> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(ct) = content_type {
            req.push_str("Content-Type: ");
            req.push_str(ct);
            req.push_str("\r\n");
        }
        if method == "POST" || !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.io.get_mut().write_all(&bytes).await
    }

    /// Reads the status line and headers of the next response. `Ok(None)` when the server closed
    /// the connection before sending a byte of it (a stale keep-alive connection: safe to retry).
    pub async fn head(&mut self) -> io::Result<Option<Head>> {
        let mut line = String::new();
        if self.io.read_line(&mut line).await? == 0 {
            self.closed = true;
            return Ok(None);
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(format!("bad status line {line:?}")))?;
        let mut body = Body::UntilClose;
        let mut keep_alive = true;
        loop {
            line.clear();
            if self.io.read_line(&mut line).await? == 0 {
                return Err(err("connection closed inside headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                body = Body::Length(value.parse().map_err(|_| err("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                body = Body::Chunked;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep_alive = false;
            }
        }
        if status == 204 || status == 304 {
            body = Body::Length(0);
        }
        if !keep_alive {
            self.closed = true;
        }
        self.body = Some(body);
        Ok(Some(Head { status }))
    }

    /// The next piece of the current body (a chunk, or everything for a sized body);
    /// `None` at its end.
    pub async fn piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.body.take() {
            None => Ok(None),
            Some(Body::Length(n)) => {
                let mut buf = vec![0; n];
                self.io.read_exact(&mut buf).await?;
                Ok(if n == 0 { None } else { Some(buf) })
            }
            Some(Body::UntilClose) => {
                let mut buf = Vec::new();
                self.io.read_to_end(&mut buf).await?;
                self.closed = true;
                Ok(if buf.is_empty() { None } else { Some(buf) })
            }
            Some(Body::Chunked) => {
                let mut line = String::new();
                if self.io.read_line(&mut line).await? == 0 {
                    return Err(err("connection closed inside a chunked body"));
                }
                let size_hex = line.trim_end().split(';').next().unwrap_or("");
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| err(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    loop {
                        line.clear();
                        if self.io.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    return Ok(None);
                }
                let mut buf = vec![0; size + 2];
                self.io.read_exact(&mut buf).await?;
                buf.truncate(size);
                self.body = Some(Body::Chunked);
                Ok(Some(buf))
            }
        }
    }

    /// The whole current body.
    pub async fn body(&mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(p) = self.piece().await? {
            all.extend_from_slice(&p);
        }
        Ok(all)
    }

    /// One request and its whole answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        self.send(method, path, content_type, body).await?;
        let head = self
            .head()
            .await?
            .ok_or_else(|| err("connection closed before the response"))?;
        let body = self.body().await?;
        Ok((head.status, body))
    }
}
