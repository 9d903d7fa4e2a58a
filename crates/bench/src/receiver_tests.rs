//! Behaviour of the notification receiver's HTTP/1.1 handling: heads, bodies, keep-alive.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn head(text: &str) -> Result<Option<Head>, HeadError> {
    parse_head(text.as_bytes())
}

#[test]
fn a_post_head_gives_path_length_and_keep_alive() {
    let text = "POST /notify/3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\ncontent-length: 12\r\n\r\n{\"data\":[]}X";
    let h = head(text).ok().flatten();
    assert_eq!(
        h,
        Some(Head {
            method: "POST".into(),
            path: "/notify/3".into(),
            content_length: 12,
            keep_alive: true,
            expect_continue: false,
            len: text.len() - 12,
        })
    );
}

#[test]
fn an_incomplete_head_waits_for_more() {
    assert_eq!(head(""), Ok(None));
    assert_eq!(
        head("POST /notify/0 HTTP/1.1\r\nContent-Length: 2\r\n"),
        Ok(None)
    );
}

#[test]
fn connection_headers_and_versions_decide_keep_alive() {
    let keep = |t: &str| head(t).ok().flatten().map(|h| h.keep_alive);
    assert_eq!(keep("GET / HTTP/1.1\r\n\r\n"), Some(true));
    assert_eq!(
        keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
        Some(false)
    );
    assert_eq!(keep("GET / HTTP/1.0\r\n\r\n"), Some(false));
    assert_eq!(
        keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        Some(true)
    );
    assert_eq!(
        keep("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n"),
        Some(false)
    );
}

#[test]
fn leading_empty_lines_and_expect_continue_are_understood() {
    let h = head("\r\n\r\nPOST /n HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
        .ok()
        .flatten();
    assert_eq!(h.as_ref().map(|h| h.path.as_str()), Some("/n"));
    assert_eq!(h.as_ref().map(|h| h.expect_continue), Some(true));
}

#[test]
fn unreadable_heads_are_refused() {
    for bad in [
        "POST /n\r\n\r\n",
        "POST /n HTTP/2\r\n\r\n",
        "POST n HTTP/1.1\r\n\r\n",
        "POST /n HTTP/1.1\r\nno colon\r\n\r\n",
        "POST /n HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "POST /n HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST /n HTTP/1.1\r\nContent-Length : 1\r\n\r\n",
    ] {
        assert!(matches!(head(bad), Err(HeadError::Malformed(_))), "{bad:?}");
    }
    assert_eq!(
        head("POST /n HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(HeadError::TransferEncoding)
    );
    let huge = format!("POST /n HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
    assert_eq!(head(&huge), Err(HeadError::TooLarge));
}

#[test]
fn responses_have_an_empty_body_and_say_when_they_close() {
    assert_eq!(
        response(200, true),
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    );
    assert_eq!(
        response(404, false),
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// Keeps what it was given; answers 200 to POST /ok, 404 otherwise.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, Vec<u8>)>>);

impl Handler for Recorder {
    fn handle(&self, method: &str, path: &str, body: &[u8], _at: Instant) -> u16 {
        if let Ok(mut v) = self.0.lock() {
            v.push((method.into(), path.into(), body.to_vec()));
        }
        if path == "/ok" {
            200
        } else {
            404
        }
    }
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await;
    assert!(matches!(read, Ok(Ok(_))), "{read:?}");
    String::from_utf8_lossy(&out).into_owned()
}

/// A receiver on a free local port and one connection to it.
async fn connected_receiver(handler: Arc<dyn Handler>) -> (Receiver, TcpStream) {
    let receiver = match Receiver::start(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    match TcpStream::connect(receiver.addr).await {
        Ok(stream) => (receiver, stream),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn requests_on_one_connection_are_answered_in_turn_with_their_bodies() {
    let recorder = Arc::new(Recorder::default());
    let handler: Arc<dyn Handler> = recorder.clone();
    let (_receiver, mut stream) = connected_receiver(handler).await;
    // Two requests in one write, the second body split over a later write, then a close.
    let first = "POST /ok HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let second = "POST /other HTTP/1.1\r\nContent-Length: 6\r\nConnection: close\r\n\r\nwor";
    assert!(stream
        .write_all(format!("{first}{second}").as_bytes())
        .await
        .is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(stream.write_all(b"ld!").await.is_ok());
    let answers = read_until_closed(&mut stream).await;
    assert_eq!(
        answers,
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n\
         HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let got = recorder.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        got,
        vec![
            ("POST".into(), "/ok".into(), b"hello".to_vec()),
            ("POST".into(), "/other".into(), b"world!".to_vec()),
        ]
    );
}

#[tokio::test]
async fn a_chunked_request_is_refused_and_the_connection_closed() {
    let handler: Arc<dyn Handler> = Arc::new(Recorder::default());
    let (_receiver, mut stream) = connected_receiver(handler).await;
    let request = "POST /ok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert!(stream.write_all(request.as_bytes()).await.is_ok());
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 501 "), "{answer}");
}
