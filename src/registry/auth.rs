//! Where credentials come from, in the order podman and Docker users expect:
//! `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`, then
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) with its `credHelpers`,
//! `credsStore` and `auths`; else anonymous. Secrets never reach `Debug`, logs or errors.

use super::RegistryError;
use base64::Engine;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A user name and its secret (a password, or an identity token for the token service).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (empty with an identity token).
    pub username: String,
    /// The password.
    pub password: String,
    /// An OAuth2 refresh token (`identitytoken`; a helper's `<token>` user).
    pub identity_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Credentials and where they were found (a file, or a helper's name), for log lines.
#[derive(Debug, Clone)]
pub struct Found {
    pub credentials: Credentials,
    pub origin: String,
}

/// The credential files to consult, in order.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    files: Vec<PathBuf>,
}

impl CredentialSources {
    /// The files the environment names, in the ecosystem's order.
    pub fn from_env() -> CredentialSources {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut files = Vec::new();
        files.extend(var("REGISTRY_AUTH_FILE"));
        if let Some(run) = var("XDG_RUNTIME_DIR") {
            files.push(run.join("containers/auth.json"));
        }
        match var("DOCKER_CONFIG") {
            Some(d) => files.push(d.join("config.json")),
            None => files.extend(var("HOME").map(|h| h.join(".docker/config.json"))),
        }
        CredentialSources { files }
    }

    /// Exactly these files, in this order (tests, embedding programs).
    pub fn files(files: Vec<PathBuf>) -> CredentialSources {
        CredentialSources { files }
    }

    /// The credentials for `repository` on `registry` (`host[:port]`, `docker.io` for
    /// Docker Hub) from the first file that has any; None means anonymous.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Found>, RegistryError> {
        for file in &self.files {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(RegistryError::AuthFile {
                        path: file.clone(),
                        why: e.to_string(),
                    })
                }
            };
            let config: AuthConfig =
                serde_json::from_str(&text).map_err(|e| RegistryError::AuthFile {
                    path: file.clone(),
                    // serde's message names the line and column, never the values.
                    why: format!("not a credential file: {}", classify_json_error(&e)),
                })?;
            if let Some(found) = config.lookup(file, registry, repository)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

fn classify_json_error(e: &serde_json::Error) -> String {
    format!("invalid JSON at line {} column {}", e.line(), e.column())
}

/// The shape shared by podman's `auth.json` and Docker's `config.json`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

impl AuthConfig {
    /// Parse a credential file's text (unit tests and callers with their own files).
    pub fn parse(text: &str) -> Result<AuthConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// This file's answer for `registry`/`repository`: a helper named for the registry,
    /// else the default store, else an inline `auths` entry (the most specific key wins:
    /// podman allows `host/namespace/repo` keys). `file` names the file in errors.
    pub fn lookup(
        &self,
        file: &Path,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Found>, RegistryError> {
        let helper = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalise_key(k) == registry)
            .map(|(_, h)| h)
            .or(self.creds_store.as_ref());
        if let Some(h) = helper {
            if let Some(c) = run_helper(h, &helper_server_url(registry))? {
                return Ok(Some(Found {
                    credentials: c,
                    origin: format!("docker-credential-{h}"),
                }));
            }
        }
        let full = format!("{registry}/{repository}");
        let best = self
            .auths
            .iter()
            .filter(|(k, _)| {
                let k = normalise_key(k);
                k == registry || full == k || full.starts_with(&format!("{k}/"))
            })
            .max_by_key(|(k, _)| normalise_key(k).len());
        let Some((key, entry)) = best else {
            return Ok(None);
        };
        let bad = |why: String| RegistryError::AuthFile {
            path: file.to_path_buf(),
            why: format!("entry `{key}`: {why}"),
        };
        let (username, password) = match (&entry.auth, &entry.username, &entry.password) {
            (Some(a), _, _) if !a.is_empty() => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .map_err(|_| bad("`auth` is not base64".into()))?;
                let text = String::from_utf8(raw).map_err(|_| bad("`auth` is not UTF-8".into()))?;
                let (u, p) = text
                    .split_once(':')
                    .ok_or_else(|| bad("`auth` does not decode to USER:PASSWORD".into()))?;
                (u.to_string(), p.to_string())
            }
            (_, Some(u), Some(p)) => (u.clone(), p.clone()),
            _ if entry.identitytoken.is_some() => (String::new(), String::new()),
            // An entry without credentials (Docker writes one per helper-served registry).
            _ => return Ok(None),
        };
        Ok(Some(Found {
            credentials: Credentials {
                username,
                password,
                identity_token: entry.identitytoken.clone().filter(|t| !t.is_empty()),
            },
            origin: file.display().to_string(),
        }))
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/` → `host:5000`;
/// `quay.io/org/repo` kept.
fn normalise_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    let (host, rest) = k.split_once('/').map_or((k, ""), |(h, r)| (h, r));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    };
    if rest.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{rest}")
    }
}

/// The server URL Docker hands its helpers.
fn helper_server_url(registry: &str) -> String {
    if registry == super::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// `docker-credential-NAME get` with the server URL on stdin; None when it has nothing
/// for this server.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{name}");
    let failed = |why: String| RegistryError::Helper {
        helper: program.clone(),
        server: server.to_string(),
        why,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = format!(
            "{}{}",
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // A failing helper's message is about the failure, not the secret; keep it short.
        let said: String = said.chars().take(200).collect();
        return Err(failed(format!("it failed ({}): {said}", out.status)));
    }
    let a: HelperAnswer = serde_json::from_str(&stdout).map_err(|e| {
        failed(format!(
            "its answer is not the helper protocol's JSON: {}",
            classify_json_error(&e)
        ))
    })?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if a.username == "<token>" {
        Credentials {
            username: String::new(),
            password: String::new(),
            identity_token: Some(a.secret),
        }
    } else {
        Credentials {
            username: a.username,
            password: a.secret,
            identity_token: None,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(json: &str, registry: &str, repo: &str) -> Option<Credentials> {
        AuthConfig::parse(json)
            .unwrap()
            .lookup(Path::new("auth.json"), registry, repo)
            .unwrap()
            .map(|f| f.credentials)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn inline_auth_by_host_url_and_docker_hub_aliases() {
        let json = format!(
            r#"{{"auths": {{
                "127.0.0.1:5000": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "http://other.example:8080/": {{"username": "u3", "password": "p:3"}}
            }}}}"#,
            b64("alice:s3:cret"),
            b64("hubuser:hubpass")
        );
        let c = find(&json, "127.0.0.1:5000", "app").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3:cret")
        );
        let c = find(&json, "docker.io", "library/alpine").unwrap();
        assert_eq!(c.username, "hubuser");
        let c = find(&json, "other.example:8080", "x").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u3", "p:3"));
        assert!(find(&json, "127.0.0.1:5001", "app").is_none());
        assert!(find(&json, "127.0.0.1", "app").is_none());
    }

    #[test]
    fn the_most_specific_repository_key_wins() {
        let json = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/team": {{"auth": "{}"}}, "quay.io/team/app": {{"auth": "{}"}}}}}}"#,
            b64("host:1"),
            b64("team:2"),
            b64("app:3")
        );
        assert_eq!(find(&json, "quay.io", "team/app").unwrap().username, "app");
        assert_eq!(
            find(&json, "quay.io", "team/other").unwrap().username,
            "team"
        );
        assert_eq!(
            find(&json, "quay.io", "teamx/app").unwrap().username,
            "host"
        );
        assert_eq!(find(&json, "quay.io", "else").unwrap().username, "host");
    }

    #[test]
    fn identity_tokens_and_empty_entries() {
        let json = r#"{"auths": {"a.io": {"identitytoken": "refresh"}, "b.io": {}}, "HttpHeaders": {"x": "y"}}"#;
        let c = find(json, "a.io", "r").unwrap();
        assert_eq!(c.identity_token.as_deref(), Some("refresh"));
        assert!(find(json, "b.io", "r").is_none());
    }

    #[test]
    fn broken_entries_name_the_file_and_key_but_not_the_secret() {
        let json = format!(
            r#"{{"auths": {{"a.io": {{"auth": "{}"}}}}}}"#,
            b64("nocolonsecret")
        );
        let e = AuthConfig::parse(&json)
            .unwrap()
            .lookup(Path::new("/x/auth.json"), "a.io", "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x/auth.json") && e.contains("a.io"), "{e}");
        assert!(!e.contains("nocolonsecret"), "{e}");
        let e = AuthConfig::parse(r#"{"auths": {"a.io": {"auth": "%%%"}}}"#)
            .unwrap()
            .lookup(Path::new("f"), "a.io", "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Credentials {
            username: "alice".into(),
            password: "hunter2".into(),
            identity_token: Some("tok".into()),
        };
        let d = format!("{c:?}");
        assert!(
            d.contains("alice") && !d.contains("hunter2") && !d.contains("tok\""),
            "{d}"
        );
    }

    #[test]
    fn keys_normalise() {
        assert_eq!(normalise_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_key("registry-1.docker.io"), "docker.io");
        assert_eq!(normalise_key("http://h:5000/v2/"), "h:5000");
        assert_eq!(normalise_key("quay.io/a/b"), "quay.io/a/b");
    }

    #[test]
    fn files_are_read_in_order_and_missing_ones_skipped() {
        let d = tempfile::tempdir().unwrap();
        let first = d.path().join("first.json");
        let second = d.path().join("second.json");
        std::fs::write(
            &second,
            format!(r#"{{"auths": {{"h.io": {{"auth": "{}"}}}}}}"#, b64("two:2")),
        )
        .unwrap();
        let s = CredentialSources::files(vec![
            d.path().join("missing.json"),
            first.clone(),
            second.clone(),
        ]);
        std::fs::write(&first, r#"{"auths": {"other.io": {}}}"#).unwrap();
        let f = s.lookup("h.io", "r").unwrap().unwrap();
        assert_eq!(f.credentials.username, "two");
        assert_eq!(f.origin, second.display().to_string());
        std::fs::write(
            &first,
            format!(r#"{{"auths": {{"h.io": {{"auth": "{}"}}}}}}"#, b64("one:1")),
        )
        .unwrap();
        assert_eq!(
            s.lookup("h.io", "r").unwrap().unwrap().credentials.username,
            "one"
        );
        std::fs::write(&first, "{not json").unwrap();
        let e = s.lookup("h.io", "r").unwrap_err().to_string();
        assert!(e.contains("first.json") && e.contains("line 1"), "{e}");
    }
}
