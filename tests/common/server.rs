//! A small threaded HTTP/1.1 server on 127.0.0.1 for tests: serves a directory tree and
//! injects faults per path or globally, counting every request.
//!
//! ```ignore
//! let srv = TestServer::serve_dir(dir.path());
//! srv.set_fault_times("/a.tar", Fault::Status(500), 2); // 500 twice, then the file
//! let url = srv.url("/a.tar");
//! assert_eq!(srv.hits("/a.tar"), 3);
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A misbehaviour to inject.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and a short body.
    Status(u16),
    /// Announce the full Content-Length, send only half of the body, then close.
    Truncate,
    /// Serve these bytes instead of the file.
    Replace(Vec<u8>),
    /// Read the request, answer nothing for this long, then close.
    Hang(Duration),
    /// `302 Found` to this location (absolute URL or path on this server).
    Redirect(String),
    /// Send the body `chunk` bytes at a time, waiting `delay` before each chunk.
    Trickle { chunk: usize, delay: Duration },
    /// Send the file, then zeros without end, with no Content-Length (the body ends only
    /// when the client hangs up), as fast as the client reads.
    Endless,
}

#[derive(Clone, Debug)]
struct Rule {
    fault: Fault,
    /// How many more requests it applies to; `None`: all of them.
    remaining: Option<u32>,
}

#[derive(Default)]
struct State {
    per_path: HashMap<String, Rule>,
    global: Option<Rule>,
    hits: HashMap<String, u32>,
    /// The headers of the latest request to each path (names lowercased).
    headers: HashMap<String, Vec<(String, String)>>,
}

struct Shared {
    root: PathBuf,
    state: Mutex<State>,
    stop: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running server; stops accepting when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Serves the files under `root` at `http://127.0.0.1:PORT/<relative path>`.
    pub fn serve_dir(root: &Path) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = Arc::clone(&s);
                thread::spawn(move || handle(&s, conn));
            }
        });
        TestServer { addr, shared }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// Injects `fault` for every request to `path`.
    pub fn set_fault(&self, path: &str, fault: Fault) {
        self.set_rule(Some(path), fault, None);
    }

    /// Injects `fault` for the next `times` requests to `path`, then serves normally.
    pub fn set_fault_times(&self, path: &str, fault: Fault, times: u32) {
        self.set_rule(Some(path), fault, Some(times));
    }

    /// Injects `fault` for every request to any path without its own fault.
    pub fn set_global_fault(&self, fault: Fault) {
        self.set_rule(None, fault, None);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.per_path.clear();
        st.global = None;
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> u32 {
        self.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// Header `name` of the latest request to `path` (as the request target was written:
    /// a proxy request's target is the absolute URL).
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.lock()
            .headers
            .get(path)?
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }

    /// How many requests the server received in all.
    pub fn total_hits(&self) -> u32 {
        self.lock().hits.values().sum()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    fn set_rule(&self, path: Option<&str>, fault: Fault, remaining: Option<u32>) {
        let rule = Rule { fault, remaining };
        let mut st = self.lock();
        match path {
            Some(p) => {
                st.per_path.insert(p.to_string(), rule);
            }
            None => st.global = Some(rule),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Reads the request line and headers; returns the target (without a query) and headers.
fn read_request(conn: &TcpStream) -> Option<(String, Vec<(String, String)>)> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).ok()?;
        if n == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Some((target.split('?').next().unwrap_or("/").to_string(), headers))
}

/// The path part of a target: `/x` as is, `http://host/x` (proxy form) as `/x`.
fn local_path(target: &str) -> &str {
    match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    }
}

fn handle(s: &Shared, mut conn: TcpStream) {
    if s.stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((path, headers)) = read_request(&conn) else {
        return;
    };
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let fault = {
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        *st.hits.entry(path.clone()).or_insert(0) += 1;
        st.headers.insert(path.clone(), headers);
        let State {
            per_path, global, ..
        } = &mut *st;
        // An exhausted per-path rule falls back to the global one.
        let rule = match per_path.get_mut(&path) {
            Some(r) if r.remaining != Some(0) => Some(r),
            _ => global.as_mut(),
        };
        match rule {
            Some(r) if r.remaining != Some(0) => {
                if let Some(n) = &mut r.remaining {
                    *n -= 1;
                }
                Some(r.fault.clone())
            }
            _ => None,
        }
    };
    // The request stops counting as in flight once, just before its last byte goes out:
    // a client that reads that byte may send its next request at once, and must not find
    // this one still counted (that race made `max_in_flight` read one too many under load).
    let released = std::cell::Cell::new(false);
    let release = || {
        if !released.replace(true) {
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let _ = respond(s, &mut conn, &path, fault, &release);
    release();
}

fn respond(
    s: &Shared,
    conn: &mut TcpStream,
    path: &str,
    fault: Option<Fault>,
    release: &dyn Fn(),
) -> std::io::Result<()> {
    let body = || -> Option<Vec<u8>> {
        let rel = Path::new(local_path(path).trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        std::fs::read(s.root.join(rel)).ok()
    };
    match fault {
        Some(Fault::Status(code)) => send(conn, code, &[], b"injected failure\n"),
        Some(Fault::Hang(d)) => {
            thread::sleep(d);
            Ok(())
        }
        Some(Fault::Redirect(to)) => {
            let loc = if to.starts_with('/') {
                format!("http://{}{}", conn.local_addr()?, to)
            } else {
                to
            };
            send(conn, 302, &[("Location", &loc)], b"")
        }
        Some(Fault::Replace(bytes)) => send(conn, 200, &[], &bytes),
        Some(Fault::Truncate) => match body() {
            Some(b) => {
                head(conn, 200, &[], b.len())?;
                conn.write_all(&b[..b.len() / 2])?;
                conn.flush()
            }
            None => send(conn, 404, &[], b"not found\n"),
        },
        Some(Fault::Trickle { chunk, delay }) => match body() {
            Some(b) => {
                head(conn, 200, &[], b.len())?;
                // Pause before each chunk, so the last write is the last thing done.
                let chunks: Vec<&[u8]> = b.chunks(chunk.max(1)).collect();
                for (i, c) in chunks.iter().enumerate() {
                    thread::sleep(delay);
                    if i + 1 == chunks.len() {
                        release();
                    }
                    conn.write_all(c)?;
                    conn.flush()?;
                }
                Ok(())
            }
            None => send(conn, 404, &[], b"not found\n"),
        },
        Some(Fault::Endless) => {
            conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            conn.write_all(&body().unwrap_or_default())?;
            let zeros = vec![0u8; 1 << 16];
            loop {
                conn.write_all(&zeros)?;
            }
        }
        None => match body() {
            Some(b) => send(conn, 200, &[], &b),
            None => send(conn, 404, &[], b"not found\n"),
        },
    }
}

fn head(
    conn: &mut TcpStream,
    code: u16,
    headers: &[(&str, &str)],
    len: usize,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut h =
        format!("HTTP/1.1 {code} {reason}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    conn.write_all(h.as_bytes())
}

fn send(
    conn: &mut TcpStream,
    code: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    head(conn, code, headers, body.len())?;
    conn.write_all(body)?;
    conn.flush()
}
