//! A reverse proxy on 127.0.0.1 in front of a test registry that injects faults (statuses
//! with `Retry-After`, connections reset midway through a request body) and can demand
//! the distribution spec's Bearer tokens, which it issues itself at `/token` against
//! Basic credentials. Every request is logged for assertions. One request per
//! connection (`Connection: close`), which keeps the framing trivial.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What to do to a request that matches.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer this status, with `Retry-After: N` when given, and a registry error body.
    Status(u16, Option<u64>),
    /// Read part of the request body, then drop the connection.
    ResetMidBody,
    /// Wait this long, then forward as usual.
    Delay(std::time::Duration),
}

/// Apply `action` to the next `times` requests whose method is `method` and whose path
/// contains `path`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub times: usize,
    pub action: Action,
}

/// One request seen: method, path (with query) and, for Bearer mode, whether it carried
/// a token.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub when: std::time::Instant,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    /// Issued tokens and the scopes they carry.
    tokens: Vec<(String, Vec<String>)>,
    /// `user:password` the token endpoint accepts (None: anonymous tokens).
    bearer: Option<Option<String>>,
    /// Blob uploads (PUT) in flight now, and the most at once.
    uploading: usize,
    most_uploading: usize,
}

/// The running proxy; stops on drop.
pub struct Proxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Forward to `upstream` (`127.0.0.1:PORT`, plain HTTP).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, up, me) = (
            state.clone(),
            stop.clone(),
            upstream.to_string(),
            addr.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, up, me) = (s.clone(), up.clone(), me.clone());
                thread::spawn(move || {
                    let _ = handle(conn, &s, &up, &me);
                });
            }
        });
        Proxy { addr, state, stop }
    }

    /// Add a fault rule (rules are tried in the order added).
    pub fn fault(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Demand Bearer tokens from `/token` on this proxy; `credentials` (`user:password`)
    /// are what the token endpoint requires, None for anonymous tokens.
    pub fn require_bearer(&self, credentials: Option<&str>) {
        self.state.lock().unwrap().bearer = Some(credentials.map(str::to_string));
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests with this method whose path contains `path`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(path))
            .count()
    }

    /// The most blob uploads (PUT …/blobs/uploads/…) that were in flight at once.
    pub fn most_parallel_uploads(&self) -> usize {
        self.state.lock().unwrap().most_uploading
    }

    /// The scopes of every token issued, in order.
    pub fn issued(&self) -> Vec<Vec<String>> {
        self.state
            .lock()
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.1.clone())
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    length: usize,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    Ok(Request {
        method,
        path,
        headers,
        length,
    })
}

fn respond(mut conn: &TcpStream, status: u16, headers: &[(&str, String)], body: &str) {
    let mut text = format!(
        "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let _ = conn.write_all(text.as_bytes());
    let _ = conn.flush();
}

/// The repository a `/v2/REPO/(blobs|manifests|tags)/…` path names.
fn repository(path: &str) -> Option<String> {
    let p = path.strip_prefix("/v2/")?;
    let p = p.split('?').next()?;
    for marker in ["/blobs/", "/manifests/", "/tags/"] {
        if let Some(i) = p.find(marker) {
            return Some(p[..i].to_string());
        }
    }
    None
}

fn handle(conn: TcpStream, state: &Mutex<State>, upstream: &str, me: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let req = read_head(&mut reader)?;
    state.lock().unwrap().seen.push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        when: std::time::Instant::now(),
    });
    let action = {
        let mut s = state.lock().unwrap();
        let rule = s
            .rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == req.method && req.path.contains(r.path));
        rule.map(|r| {
            r.times -= 1;
            r.action.clone()
        })
    };
    match action {
        Some(Action::Status(code, after)) => {
            let mut body = vec![0u8; req.length];
            let _ = reader.read_exact(&mut body);
            let mut h = vec![("Content-Type", "application/json".to_string())];
            if let Some(a) = after {
                h.push(("Retry-After", a.to_string()));
            }
            respond(
                &conn,
                code,
                &h,
                r#"{"errors":[{"code":"INJECTED","message":"injected by the test proxy"}]}"#,
            );
            return Ok(());
        }
        Some(Action::ResetMidBody) => {
            let mut part = vec![0u8; req.length / 3];
            let _ = reader.read_exact(&mut part);
            // SO_LINGER 0 would make this an RST; a plain close mid-body is what a proxy or
            // load balancer dropping the connection looks like.
            let _ = conn.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Action::Delay(d)) => thread::sleep(d),
        None => {}
    }
    let bearer = state.lock().unwrap().bearer.clone();
    if let Some(required) = bearer {
        if req.path.starts_with("/token") {
            return token(&conn, state, &req, required.as_deref());
        }
        let token = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_string);
        let scopes = token.and_then(|t| {
            state
                .lock()
                .unwrap()
                .tokens
                .iter()
                .find(|(x, _)| *x == t)
                .map(|(_, s)| s.clone())
        });
        let allowed = match (&scopes, repository(&req.path)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(s), Some(repo)) => {
                let write = !matches!(req.method.as_str(), "GET" | "HEAD");
                s.iter().any(|sc| {
                    sc.starts_with(&format!("repository:{repo}:"))
                        && (!write || sc.ends_with("push"))
                })
            }
        };
        if !allowed {
            let mut body = vec![0u8; req.length];
            let _ = reader.read_exact(&mut body);
            let mut challenge =
                format!(r#"Bearer realm="http://{me}/token",service="test-registry""#);
            if let Some(repo) = repository(&req.path) {
                challenge.push_str(&format!(r#",scope="repository:{repo}:pull,push""#));
            }
            respond(
                &conn,
                401,
                &[
                    ("WWW-Authenticate", challenge),
                    ("Content-Type", "application/json".into()),
                ],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            return Ok(());
        }
    }
    let upload = req.method == "PUT" && req.path.contains("/blobs/uploads/");
    if upload {
        let mut s = state.lock().unwrap();
        s.uploading += 1;
        s.most_uploading = s.most_uploading.max(s.uploading);
    }
    let r = forward(conn, reader, &req, upstream);
    if upload {
        state.lock().unwrap().uploading -= 1;
    }
    r
}

/// The token endpoint: Basic credentials checked, a token per request carrying the
/// requested scopes.
fn token(
    conn: &TcpStream,
    state: &Mutex<State>,
    req: &Request,
    required: Option<&str>,
) -> std::io::Result<()> {
    use base64::Engine;
    if let Some(want) = required {
        let given = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).to_string());
        if given.as_deref() != Some(want) {
            respond(conn, 401, &[], r#"{"details":"bad credentials"}"#);
            return Ok(());
        }
    }
    let query = req.path.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|s| {
            s.replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/")
        })
        .collect();
    let mut s = state.lock().unwrap();
    let t = format!("token-{}", s.tokens.len() + 1);
    s.tokens.push((t.clone(), scopes));
    drop(s);
    respond(
        conn,
        200,
        &[("Content-Type", "application/json".into())],
        &format!(r#"{{"token":"{t}","expires_in":300}}"#),
    );
    Ok(())
}

/// Send the request upstream with `Connection: close` and relay the answer until the
/// upstream closes.
fn forward(
    conn: TcpStream,
    mut reader: BufReader<TcpStream>,
    req: &Request,
    upstream: &str,
) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("authorization") {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    std::io::copy(&mut (&mut reader).take(req.length as u64), &mut up)?;
    let mut out = conn;
    std::io::copy(&mut up, &mut out)?;
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}
