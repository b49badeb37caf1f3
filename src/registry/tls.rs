//! Which CAs a registry's certificate may chain to: the system's roots (reqwest's native
//! and webpki sets; `SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured by the native loader and
//! `SSL_CERT_FILE` is also added here, so a missing system store does not hide it), plus
//! every `*.crt` in `certs.d/HOST:PORT/` as podman and Docker read them.

use super::RegistryError;
use reqwest::Certificate;
use std::path::{Path, PathBuf};

/// The `certs.d` roots: `$SCRATCH_REGISTRY_CERTS_DIRS` (`:`-separated) when set, else
/// `/etc/containers/certs.d`, `~/.config/containers/certs.d` and `/etc/docker/certs.d`.
pub fn certs_dirs() -> Vec<PathBuf> {
    if let Some(v) = std::env::var_os("SCRATCH_REGISTRY_CERTS_DIRS") {
        return std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    let mut dirs = vec![PathBuf::from("/etc/containers/certs.d")];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".config/containers/certs.d"));
    }
    dirs.push(PathBuf::from("/etc/docker/certs.d"));
    dirs
}

/// The extra roots for `registry` (`host[:port]`): `SSL_CERT_FILE`'s certificates and
/// those of `DIR/registry/*.crt` for every certs.d root, with the files they came from.
pub fn extra_roots(registry: &str) -> Result<Vec<(PathBuf, Certificate)>, RegistryError> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(f));
    }
    for dir in certs_dirs() {
        let dir = dir.join(registry);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut out = Vec::new();
    for f in files {
        let bad = |why: String| RegistryError::Certificate {
            path: f.clone(),
            why,
        };
        let pem = std::fs::read(&f).map_err(|e| bad(e.to_string()))?;
        let certs = Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        out.extend(certs.into_iter().map(|c| (f.clone(), c)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_named() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("reg.example:5000");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        std::fs::write(host.join("client.key"), "ignored").unwrap();
        // Only this test sets the variable; other tests do not read it.
        std::env::set_var("SCRATCH_REGISTRY_CERTS_DIRS", d.path());
        let e = extra_roots("reg.example:5000").unwrap_err().to_string();
        assert!(e.contains("ca.crt"), "{e}");
        assert!(
            extra_roots("other:5000").unwrap().is_empty()
                || std::env::var_os("SSL_CERT_FILE").is_some()
        );
        std::env::remove_var("SCRATCH_REGISTRY_CERTS_DIRS");
    }
}
