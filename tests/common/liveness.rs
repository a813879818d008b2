//! A tiny HTTP/1.1 liveness server for the lab: `GET /<node>/healthz` answers with the
//! status set for that node (200 `{"ok":true,"status":"live"}` by default), 404 for
//! names it does not know. One thread accepts, one thread per connection answers,
//! every answer is `Connection: close`. No crates beyond std.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What one node's `/healthz` answers.
#[derive(Debug, Clone)]
struct Entry {
    status: u16,
    delay: Duration,
    hits: u64,
}

type State = Arc<Mutex<HashMap<String, Entry>>>;

/// The lab's liveness endpoint; stops (and joins its accept thread) on drop.
pub struct LivenessServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    state: State,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl LivenessServer {
    /// Bind 127.0.0.1:0 and serve in a background thread. No node is known yet.
    pub fn start() -> LivenessServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("liveness server: bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("liveness server: local addr")
            .port();
        let state: State = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let accept = thread::Builder::new()
            .name("lab-liveness".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sp.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let st = st.clone();
                    let _ = thread::Builder::new()
                        .name("lab-liveness-conn".into())
                        .spawn(move || serve(conn, &st));
                }
            })
            .expect("liveness server: spawn accept thread");
        LivenessServer {
            port,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port>/<name>/healthz`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{}/healthz", self.port, name)
    }

    /// Set the HTTP status `/<name>/healthz` answers (registers the name if new).
    pub fn set(&self, name: &str, status: u16) {
        let mut m = self.state.lock().unwrap();
        m.entry(name.to_string())
            .and_modify(|e| e.status = status)
            .or_insert(Entry {
                status,
                delay: Duration::ZERO,
                hits: 0,
            });
    }

    /// Delay every answer for `name` (to exercise the poller's curl timeout).
    pub fn set_delay(&self, name: &str, delay: Duration) {
        let mut m = self.state.lock().unwrap();
        m.entry(name.to_string())
            .and_modify(|e| e.delay = delay)
            .or_insert(Entry {
                status: 200,
                delay,
                hits: 0,
            });
    }

    /// Forget `name`: its URL answers 404 from now on.
    pub fn remove(&self, name: &str) {
        self.state.lock().unwrap().remove(name);
    }

    /// How many requests `/<name>/healthz` has had.
    pub fn hits(&self, name: &str) -> u64 {
        self.state.lock().unwrap().get(name).map_or(0, |e| e.hits)
    }
}

impl Drop for LivenessServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn serve(mut conn: TcpStream, state: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    // Read the request head (up to 16 KiB); the body, if any, is ignored.
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");

    let (status, body, delay) = if method.is_empty() {
        return; // the accept-thread wake-up, or a client that sent nothing
    } else if method != "GET" && method != "HEAD" {
        (
            405,
            r#"{"ok":false,"error":"method not allowed"}"#.to_string(),
            Duration::ZERO,
        )
    } else {
        let name = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix("/healthz"))
            .filter(|n| !n.is_empty() && !n.contains('/'));
        let found = name.and_then(|n| {
            let mut m = state.lock().unwrap();
            m.get_mut(n).map(|e| {
                e.hits += 1;
                (e.status, e.delay)
            })
        });
        match found {
            Some((s, d)) if (200..300).contains(&s) => {
                (s, r#"{"ok":true,"status":"live"}"#.to_string(), d)
            }
            Some((s, d)) => (
                s,
                format!(r#"{{"ok":false,"status":"unhealthy","code":{s}}}"#),
                d,
            ),
            None => (
                404,
                r#"{"ok":false,"error":"not found"}"#.to_string(),
                Duration::ZERO,
            ),
        }
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let mut resp = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    let _ = conn.write_all(resp.as_bytes());
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}
