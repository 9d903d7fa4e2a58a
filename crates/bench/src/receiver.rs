//! A small HTTP/1.1 server for the broker's notifications: keep-alive connections, requests
//! with a `Content-Length` body (what webhook clients send; chunked bodies are refused with
//! 501), each handed whole to a [`Handler`] with the instant its last byte arrived.
//!
//! Hand-rolled on tokio rather than a server framework: it only has to read POSTs and answer
//! with an empty body, and it shares the cores with the broker it measures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Largest body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the server does with a request; must be quick, it runs on the connection's task.
pub trait Handler: Send + Sync + 'static {
    /// The status to answer `method path` with; `at` is when the whole request was in.
    fn handle(&self, method: &str, path: &str, body: &[u8], at: Instant) -> u16;
}

/// The parts of a request head the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub content_length: usize,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes of the head, the blank line included.
    pub len: usize,
}

/// Why a head is refused; each closes the connection after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// 400.
    Malformed(&'static str),
    /// 431: no end of the head within [`MAX_HEAD`] bytes.
    TooLarge,
    /// 501: a Transfer-Encoding (chunked bodies are not read).
    TransferEncoding,
}

impl HeadError {
    fn status(self) -> u16 {
        match self {
            HeadError::Malformed(_) => 400,
            HeadError::TooLarge => 431,
            HeadError::TransferEncoding => 501,
        }
    }
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete.
/// Empty lines before the request line are skipped (RFC 9112, 2.2).
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let lead = buf.chunks(2).take_while(|pair| *pair == b"\r\n").count() * 2;
    let Some(end) = find(&buf[lead..], b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let text = std::str::from_utf8(&buf[lead..lead + end])
        .map_err(|_| HeadError::Malformed("the head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("bad request line"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1")),
    };
    if method.is_empty() || !path.starts_with('/') {
        return Err(HeadError::Malformed("bad request line"));
    }
    let mut head = Head {
        method: method.to_owned(),
        path: path.to_owned(),
        content_length: 0,
        keep_alive: http11,
        expect_continue: false,
        len: lead + end + 4,
    };
    let mut length: Option<usize> = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(HeadError::Malformed("header line without a colon"))?;
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(HeadError::Malformed("bad header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| HeadError::Malformed("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Malformed("conflicting Content-Length"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::TransferEncoding);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = http11 && value.eq_ignore_ascii_case("100-continue");
        }
    }
    head.content_length = length.unwrap_or(0);
    Ok(Some(head))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The answer to a request: an empty body, and `Connection: close` when the connection ends.
pub fn response(status: u16, keep_alive: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "Status",
    };
    let close = if keep_alive {
        ""
    } else {
        "connection: close\r\n"
    };
    format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n{close}\r\n").into_bytes()
}

/// A running server; stops (its connections too) when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Binds `listen` and serves every connection with `handler`.
    pub async fn start(listen: SocketAddr, handler: Arc<dyn Handler>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept(listener, handler));
        Ok(Self { addr, task })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections; they end with this task (the set aborts them when dropped).
async fn accept(listener: TcpListener, handler: Arc<dyn Handler>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&handler)));
                }
                Err(e) => {
                    eprintln!("   receiver: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection until the peer closes it, asks to, or sends something unreadable.
async fn serve(mut stream: TcpStream, handler: Arc<dyn Handler>) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        let head = loop {
            match parse_head(&buf) {
                Ok(Some(head)) => break head,
                Ok(None) => {
                    buf.reserve(8 * 1024);
                    match stream.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
                Err(e) => {
                    let _ = stream.write_all(&response(e.status(), false)).await;
                    return;
                }
            }
        };
        if head.content_length > MAX_BODY {
            let _ = stream.write_all(&response(413, false)).await;
            return;
        }
        if head.expect_continue
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let total = head.len + head.content_length;
        while buf.len() < total {
            buf.reserve(total - buf.len());
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let at = Instant::now();
        let request = buf.split_to(total);
        let body = request.get(head.len..).unwrap_or_default();
        let status = handler.handle(&head.method, &head.path, body, at);
        if stream
            .write_all(&response(status, head.keep_alive))
            .await
            .is_err()
            || !head.keep_alive
        {
            return;
        }
    }
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
