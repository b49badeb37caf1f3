//! One registry's HTTP API: scheme and TLS chosen once, credentials looked up once per
//! repository, Bearer tokens cached per scope, 429/5xx and dropped connections retried
//! with backoff (honouring `Retry-After`).

use super::auth::{CredentialSources, Credentials};
use super::challenge::{self, Challenge};
use super::reference::is_loopback;
use super::{tls, RegistryError};
use crate::digest::Sha256Digest;
use crate::ui::Ui;
use base64::Engine;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How to reach registries: which may use plain HTTP, where credentials come from, how
/// often to retry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (`HOST` or `HOST:PORT`) that may use plain HTTP or an unverified certificate.
    pub insecure: Vec<String>,
    /// Where credentials are looked up.
    pub credentials: CredentialSources,
    /// Attempts per request for 429, 5xx and connection failures (at least 1).
    pub attempts: u32,
    /// The first retry's delay; doubled each time, capped at [`ClientOptions::max_delay`].
    pub base_delay: Duration,
    /// The longest wait between attempts, `Retry-After` included.
    pub max_delay: Duration,
    /// Log lines and warnings.
    pub ui: Ui,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: Vec::new(),
            credentials: CredentialSources::from_env(),
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            ui: Ui::silent(),
        }
    }
}

/// Parse `HOST[:PORT]` lists as `--insecure-registry` and `SCRATCH_INSECURE_REGISTRIES`
/// give them (commas or whitespace between entries).
pub fn parse_insecure(list: &str) -> Vec<String> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

/// What a request asks the token service for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Pull from `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }
    /// Pull and push to `repository`.
    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }
    /// This scope plus pulling from `repository` (a cross-repository mount's source).
    pub fn and_pull(mut self, repository: &str) -> Scope {
        self.0.push(format!("repository:{repository}:pull"));
        self
    }
    fn repository(&self) -> &str {
        self.0[0].split(':').nth(1).unwrap_or_default()
    }
}

/// How requests to this registry are authorised, learnt from its `/v2/` answer.
#[derive(Debug, Clone)]
enum AuthMode {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A connection to one registry, shared by all threads of a push.
pub struct Registry {
    registry: String,
    base: String,
    http: Client,
    options: ClientOptions,
    mode: Mutex<AuthMode>,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
    tokens: Mutex<HashMap<Scope, String>>,
    token_fetch: Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A request's outcome worth retrying, or final.
enum Attempt {
    Done(Response),
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

impl Registry {
    /// Reach `registry` (`host[:port]`; [`super::Reference::api_host`] for Docker Hub):
    /// https first; plain HTTP only for loopback hosts and `options.insecure`, with a
    /// warning. Learns how the registry wants to be authenticated.
    pub fn connect(registry: &str, options: &ClientOptions) -> Result<Registry, RegistryError> {
        let host_only = super::reference::host_of(registry);
        let insecure = options
            .insecure
            .iter()
            .any(|h| h == registry || h == host_only);
        let plain_ok = insecure || is_loopback(registry);
        // A plain-HTTP loopback registry needs no CA roots: loading the system's costs
        // more than the whole of a push that has nothing to send.
        let plain_first = is_loopback(registry) && !insecure;
        let http = build_client(registry, insecure, !plain_first)?;
        let mut r = Registry {
            registry: registry.to_string(),
            base: format!("https://{registry}"),
            http,
            options: options.clone(),
            mode: Mutex::new(AuthMode::Anonymous),
            credentials: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_fetch: Mutex::new(()),
        };
        // Loopback registries are usually plain HTTP: ask that first (a TLS one answers
        // plain HTTP with 400, and gets https). Others get https first.
        let ping = if is_loopback(registry) && !insecure {
            r.base = format!("http://{registry}");
            match r.ping() {
                Ok(resp) if matches!(resp.status().as_u16(), 200 | 401) => {
                    options
                        .ui
                        .warn(format!("{registry}: using plain HTTP (a loopback address)"));
                    resp
                }
                _ => {
                    r.base = format!("https://{registry}");
                    r.http = build_client(registry, insecure, true)?;
                    r.ping()?
                }
            }
        } else {
            match r.ping() {
                Ok(resp) => resp,
                Err(tls_error) if plain_ok => {
                    r.base = format!("http://{registry}");
                    match r.ping() {
                        Ok(resp) if matches!(resp.status().as_u16(), 200 | 401) => {
                            options.ui.warn(format!(
                                "{registry}: using plain HTTP (--insecure-registry)"
                            ));
                            resp
                        }
                        _ => return Err(tls_error),
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let mode = match ping.status().as_u16() {
            401 => auth_mode(&r.registry, ping.headers())?,
            _ => AuthMode::Anonymous,
        };
        *r.mode.get_mut().unwrap_or_else(|p| p.into_inner()) = mode;
        Ok(r)
    }

    /// `host[:port]` as given to [`Registry::connect`].
    pub fn name(&self) -> &str {
        &self.registry
    }

    /// GET /v2/: any HTTP answer means the scheme works.
    fn ping(&self) -> Result<Response, RegistryError> {
        let url = format!("{}/v2/", self.base);
        let mut last = String::new();
        for attempt in 0..self.options.attempts.max(1) {
            match self.http.get(&url).send() {
                Ok(resp) if is_retryable(resp.status().as_u16()) => {
                    let after = retry_after(resp.headers());
                    last = format!("HTTP {}", resp.status().as_u16());
                    self.pause(attempt, after);
                }
                Ok(resp) => return Ok(resp),
                Err(e) if self.base.starts_with("https") && is_tls_error(&e) => {
                    return Err(RegistryError::Tls {
                        registry: self.registry.clone(),
                        why: error_chain(&e),
                    });
                }
                Err(e) if e.is_connect() && is_loopback(&self.registry) => {
                    // Refused at once on this machine: nothing listens; retries would only
                    // delay the answer.
                    return Err(RegistryError::Connect {
                        registry: self.registry.clone(),
                        what: "GET /v2/".into(),
                        why: error_chain(&e),
                    });
                }
                Err(e) => {
                    last = error_chain(&e);
                    if !e.is_connect() && !e.is_timeout() && self.base.starts_with("https") {
                        // Not TLS at all (a plain HTTP server answered the handshake).
                        return Err(RegistryError::Tls {
                            registry: self.registry.clone(),
                            why: last,
                        });
                    }
                    self.pause(attempt, None);
                }
            }
        }
        Err(RegistryError::Connect {
            registry: self.registry.clone(),
            what: "GET /v2/".into(),
            why: last,
        })
    }

    /// The URL of `path` (which starts with `/v2/`), or `location` resolved against the
    /// registry when it is relative.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Send the request `make` builds (again on every attempt) with the authorisation
    /// `scope` needs, retrying 429/5xx and connection failures up to the configured
    /// attempts (`attempts` overrides it, e.g. 1 for a body that cannot be replayed).
    /// `what` names the operation in errors. Statuses other than the retried ones are
    /// returned for the caller to judge.
    pub fn send(
        &self,
        scope: &Scope,
        what: &str,
        attempts: Option<u32>,
        make: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let attempts = attempts.unwrap_or(self.options.attempts).max(1);
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let auth = self.authorization(scope)?;
            let mut req = make(&self.http);
            if let Some(a) = &auth {
                req = req.header(AUTHORIZATION, a);
            }
            let outcome = match req.send() {
                Ok(resp) if resp.status().as_u16() == 401 && !refreshed => {
                    // A token that expired, or a scope the cached one lacks: start over once.
                    refreshed = true;
                    self.tokens
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(scope);
                    if auth.is_none() {
                        let mode = auth_mode(&self.registry, resp.headers())?;
                        *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
                    }
                    continue;
                }
                Ok(resp) if resp.status().as_u16() == 401 || resp.status().as_u16() == 403 => {
                    let status = resp.status().as_u16();
                    let message = registry_message(resp);
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        repository: scope.repository().to_string(),
                        status,
                        had_credentials: self.credentials_for(scope.repository())?.is_some(),
                        message,
                    });
                }
                Ok(resp) if is_retryable(resp.status().as_u16()) => Attempt::Retry {
                    after: retry_after(resp.headers()),
                    why: format!(
                        "HTTP {}: {}",
                        resp.status().as_u16(),
                        registry_message(resp)
                    ),
                },
                Ok(resp) => Attempt::Done(resp),
                Err(e) => Attempt::Retry {
                    why: error_chain(&e),
                    after: None,
                },
            };
            match outcome {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Retry { why, after } => {
                    attempt += 1;
                    if attempt >= attempts {
                        return Err(RegistryError::Connect {
                            registry: self.registry.clone(),
                            what: what.to_string(),
                            why: format!("{why} (after {attempt} attempts)"),
                        });
                    }
                    self.options
                        .ui
                        .debug(format!("{}: {what}: {why}; retrying", self.registry));
                    self.pause(attempt - 1, after);
                }
            }
        }
    }

    /// Sleep before retry number `attempt` (0-based): `Retry-After` when the server gave
    /// one, else exponential backoff; both capped.
    pub fn pause(&self, attempt: u32, after: Option<Duration>) {
        let backoff = self.options.base_delay.saturating_mul(1 << attempt.min(16));
        let wait = after.unwrap_or(backoff).min(self.options.max_delay);
        std::thread::sleep(wait);
    }

    /// The `Authorization` header value for `scope`, fetching a token when needed.
    fn authorization(&self, scope: &Scope) -> Result<Option<String>, RegistryError> {
        let mode = self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match mode {
            AuthMode::Anonymous => Ok(None),
            AuthMode::Basic => Ok(self.credentials_for(scope.repository())?.map(|c| basic(&c))),
            AuthMode::Bearer { realm, service } => {
                // Held while fetching: parallel requests for one scope wait for one token.
                let _fetching = self.token_fetch.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(t) = self
                    .tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(scope)
                {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(scope.clone(), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// The credentials for `repository`, looked up once.
    fn credentials_for(&self, repository: &str) -> Result<Option<Credentials>, RegistryError> {
        // Held during the lookup: parallel uploads ask a helper once, not once each.
        let mut known = self.credentials.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = known.get(repository) {
            return Ok(c.clone());
        }
        let registry = match self.registry.as_str() {
            "registry-1.docker.io" => super::reference::DOCKER_HUB,
            r => r,
        };
        let found = self.options.credentials.lookup(registry, repository)?;
        if let Some(f) = &found {
            self.options.ui.debug(format!(
                "{registry}: credentials for {repository} from {}",
                f.origin
            ));
        }
        let c = found.map(|f| f.credentials);
        known.insert(repository.to_string(), c.clone());
        Ok(c)
    }

    /// The distribution spec's token flow: GET realm?service=…&scope=… with Basic
    /// credentials (POST with a refresh token for an identity token).
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<String, RegistryError> {
        let creds = self.credentials_for(scope.repository())?;
        let failed = |why: String| RegistryError::Token {
            registry: self.registry.clone(),
            realm: realm.to_string(),
            why,
        };
        let mut last = String::new();
        for attempt in 0..self.options.attempts.max(1) {
            let req = match creds.as_ref().and_then(|c| c.identity_token.as_ref()) {
                Some(refresh) => {
                    let scopes = scope.0.join(" ");
                    let mut form: Vec<(&str, &str)> = vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh),
                        ("client_id", "scratch-compose"),
                        ("scope", &scopes),
                    ];
                    if let Some(s) = service {
                        form.push(("service", s));
                    }
                    self.http.post(realm).form(&form).send()
                }
                None => {
                    let mut query: Vec<(&str, &str)> = Vec::new();
                    if let Some(s) = service {
                        query.push(("service", s));
                    }
                    for s in &scope.0 {
                        query.push(("scope", s));
                    }
                    let mut req = self.http.get(realm).query(&query);
                    if let Some(c) = &creds {
                        req = req.header(AUTHORIZATION, basic(c));
                    }
                    req.send()
                }
            };
            match req {
                Ok(resp) if resp.status().is_success() => {
                    #[derive(serde::Deserialize)]
                    struct TokenAnswer {
                        token: Option<String>,
                        access_token: Option<String>,
                    }
                    let body = resp
                        .bytes()
                        .map_err(|e| failed(format!("reading its answer: {}", error_chain(&e))))?;
                    let a: TokenAnswer = serde_json::from_slice(&body)
                        .map_err(|e| failed(format!("its answer is not token JSON: {e}")))?;
                    return a
                        .token
                        .or(a.access_token)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| failed("its answer holds no token".into()));
                }
                Ok(resp) if is_retryable(resp.status().as_u16()) => {
                    last = format!("HTTP {}", resp.status().as_u16());
                    let after = retry_after(resp.headers());
                    self.pause(attempt, after);
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let message = registry_message(resp);
                    if status == 401 || status == 403 {
                        return Err(RegistryError::Unauthorized {
                            registry: self.registry.clone(),
                            repository: scope.repository().to_string(),
                            status,
                            had_credentials: creds.is_some(),
                            message,
                        });
                    }
                    return Err(failed(format!("HTTP {status}: {message}")));
                }
                Err(e) => {
                    last = error_chain(&e);
                    self.pause(attempt, None);
                }
            }
        }
        Err(failed(last))
    }

    /// HEAD a blob: its size when the repository has it.
    pub fn blob_size(
        &self,
        repository: &str,
        digest: &Sha256Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("checking blob {digest} in {repository}");
        let resp = self.send(&Scope::push(repository), &what, None, &|c| c.head(&url))?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.content_length().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// HEAD a manifest by tag or digest: its digest when present.
    pub fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
        scope: &Scope,
    ) -> Result<Option<Sha256Digest>, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("checking manifest {repository}:{reference}");
        let resp = self.send(scope, &what, None, &|c| {
            c.head(&url)
                .header(reqwest::header::ACCEPT, super::push::MANIFEST_ACCEPT)
        })?;
        match resp.status().as_u16() {
            200 => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            404 => Ok(None),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// GET a manifest by tag or digest: its media type and bytes (for pulling base images).
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(String, Vec<u8>), RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("fetching manifest {repository}:{reference}");
        let resp = self.send(&Scope::pull(repository), &what, None, &|c| {
            c.get(&url)
                .header(reqwest::header::ACCEPT, super::push::MANIFEST_ACCEPT)
        })?;
        if !resp.status().is_success() {
            return Err(self.status_error(&what, resp));
        }
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp.bytes().map_err(|e| RegistryError::Connect {
            registry: self.registry.clone(),
            what,
            why: error_chain(&e),
        })?;
        Ok((media_type, bytes.to_vec()))
    }

    /// GET a blob as a stream (for pulling base images and cached layers); the caller
    /// checks its digest.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &Sha256Digest,
    ) -> Result<Response, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("fetching blob {digest} from {repository}");
        let resp = self.send(&Scope::pull(repository), &what, None, &|c| c.get(&url))?;
        if !resp.status().is_success() {
            return Err(self.status_error(&what, resp));
        }
        Ok(resp)
    }

    /// A refusal as an error carrying the registry's own message.
    pub fn status_error(&self, what: &str, resp: Response) -> RegistryError {
        let status = resp.status().as_u16();
        RegistryError::Status {
            registry: self.registry.clone(),
            what: what.to_string(),
            status,
            message: registry_message(resp),
        }
    }

    /// A transport failure of `what` as an error.
    pub fn connect_error(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        RegistryError::Connect {
            registry: self.registry.clone(),
            what: what.to_string(),
            why: error_chain(e),
        }
    }
}

/// The client for one registry: extra roots from `SSL_CERT_FILE` and certs.d; with
/// `insecure`, certificates are not verified; without `tls`, no roots at all (for a
/// plain-HTTP registry).
fn build_client(registry: &str, insecure: bool, tls: bool) -> Result<Client, RegistryError> {
    let mut b = Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // Per wait, not per transfer (see fetch::http).
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("scratch-compose/", env!("CARGO_PKG_VERSION")));
    if !tls {
        b = b.tls_built_in_root_certs(false);
    }
    for (_, cert) in tls
        .then(|| tls::extra_roots(registry))
        .transpose()?
        .unwrap_or_default()
    {
        b = b.add_root_certificate(cert);
    }
    if insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| RegistryError::Connect {
        registry: registry.to_string(),
        what: "setting up the HTTP client".into(),
        why: error_chain(&e),
    })
}

/// How the registry's 401 asks to be authorised.
fn auth_mode(registry: &str, headers: &HeaderMap) -> Result<AuthMode, RegistryError> {
    let challenges: Vec<Challenge> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(challenge::parse)
        .collect();
    if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
        if let Some(realm) = c.param("realm").filter(|r| r.starts_with("http")) {
            return Ok(AuthMode::Bearer {
                realm: realm.to_string(),
                service: c.param("service").map(str::to_string),
            });
        }
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Ok(AuthMode::Basic);
    }
    Err(RegistryError::Status {
        registry: registry.to_string(),
        what: "authenticating".into(),
        status: 401,
        message: format!(
            "no usable WWW-Authenticate challenge (Basic, or Bearer with an http(s) realm) in {:?}",
            headers.get(WWW_AUTHENTICATE)
        ),
    })
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// 429 and the 5xx that mean "try again".
fn is_retryable(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status) && status != 501 && status != 505
}

/// `Retry-After` in seconds (an HTTP date counts as one second).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    Some(match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => Duration::from_secs(1),
    })
}

/// The registry's explanation: the `errors` of its JSON body (`CODE: message (detail)`),
/// else the start of the body's text, else the status's reason.
pub fn registry_message(resp: Response) -> String {
    let reason = resp.status().canonical_reason().unwrap_or("").to_string();
    let text = resp.text().unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        detail: Option<serde_json::Value>,
    }
    if let Ok(e) = serde_json::from_str::<Errors>(&text) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|i| {
                let mut s = format!("{}: {}", i.code, i.message);
                if let Some(d) = i.detail.as_ref().filter(|d| !d.is_null()) {
                    let d = d.to_string();
                    s.push_str(&format!(" ({})", d.chars().take(300).collect::<String>()));
                }
                s
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text: String = text.trim().chars().take(300).collect();
    if text.is_empty() {
        reason
    } else {
        text
    }
}

/// Every message of an error's source chain, with URLs' queries (upload state) dropped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let t = err.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = err.source();
    }
    let text = parts.join(": ");
    strip_queries(&text)
}

fn strip_queries(text: &str) -> String {
    text.split(' ')
        .map(|w| match (w.contains("://"), w.find('?')) {
            (true, Some(i)) => {
                let end = w[i..].find([')', ',']).map_or(w.len(), |j| i + j);
                format!("{}{}", &w[..i], &w[end..])
            }
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A certificate or handshake failure (as opposed to a refused or dropped connection).
fn is_tls_error(e: &reqwest::Error) -> bool {
    let text = error_chain(e).to_ascii_lowercase();
    text.contains("certificate")
        || text.contains("invalidcertificate")
        || text.contains("unknownissuer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_lists_split_on_commas_and_spaces() {
        assert_eq!(
            parse_insecure("a:5000, http://b/ c"),
            ["a:5000", "b", "c"].map(String::from).to_vec()
        );
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(is_retryable(s), "{s}");
        }
        for s in [200, 201, 400, 401, 404, 413, 501] {
            assert!(!is_retryable(s), "{s}");
        }
    }

    #[test]
    fn upload_state_is_dropped_from_messages() {
        assert_eq!(
            strip_queries("error sending request for url (http://h/v2/r/blobs/uploads/u?_state=abc&digest=x): reset"),
            "error sending request for url (http://h/v2/r/blobs/uploads/u): reset"
        );
    }

    #[test]
    fn scopes() {
        let s = Scope::push("a/b").and_pull("c");
        assert_eq!(s.0, ["repository:a/b:pull,push", "repository:c:pull"]);
        assert_eq!(s.repository(), "a/b");
    }
}
