//! What the registry tests share: a real registry (`../shared/tools/start-registry`) per
//! test, stopped on drop, and `compose push` driven with the fixtures' mirrors.
#![allow(dead_code)]

pub mod proxy;

use crate::common::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A registry on 127.0.0.1 with its data in a directory of its own; stopped on drop.
pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// With TLS: the CA that signed its certificate.
    pub ca: Option<PathBuf>,
    /// With basic auth: the user and password.
    pub user: Option<(String, String)>,
}

impl TestRegistry {
    /// Start one (`tls`, `user` as `start-registry` takes them); a test that needs it
    /// fails when it cannot start. Always `Some`.
    pub fn start(tls: bool, user: Option<&str>) -> Option<TestRegistry> {
        let Some(shared) = shared_dir() else {
            crate::common::missing("../shared/tools/start-registry")
        };
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("bash");
        c.arg(shared.join("tools/start-registry"));
        if tls {
            c.arg("--tls");
        }
        if let Some(u) = user {
            c.args(["--user", u]);
        }
        c.arg(dir.path().join("registry"));
        let out = c.output().expect("spawn bash");
        if !out.status.success() {
            let msg = format!(
                "start-registry failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            crate::common::missing(&format!("a registry ({msg})"));
        }
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let var = |name: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        let host = var("SCRATCH_TEST_REGISTRY").expect("start-registry printed the address");
        Some(TestRegistry {
            host,
            ca: var("SCRATCH_TEST_REGISTRY_CA").map(PathBuf::from),
            user: user.map(|u| {
                let (a, b) = u.split_once(':').unwrap();
                (a.to_string(), b.to_string())
            }),
            dir,
        })
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(shared) = shared_dir() {
            let _ = Command::new("bash")
                .arg(shared.join("tools/start-registry"))
                .arg("--stop")
                .arg(self.dir.path().join("registry"))
                .output();
        }
    }
}

/// `compose` with the fixtures' mirrors and a clean credential environment (no
/// inherited auth files, certs.d roots that do not exist): tests add what they test.
pub fn compose_for(cache: &Path, home: &Path) -> Command {
    let fx = fixtures().expect("fixtures");
    let mut c = compose(cache);
    for m in alpine_mirrors(&fx) {
        c.arg("--mirror").arg(m);
    }
    for k in [
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "DOCKER_CONFIG",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        c.env_remove(k);
    }
    c.env("HOME", home);
    c.env("SCRATCH_REGISTRY_CERTS_DIRS", home.join("certs.d"));
    c
}

/// The example manifest `name` (`alpine`, `alpine-multiarch`).
pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name).join("scratch.toml")
}

/// stdout and stderr of a finished command, for assertions.
pub fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run and require exit 0; stdout and stderr.
pub fn ok(c: &mut Command) -> (String, String) {
    let o = c.output().expect("spawn");
    let (out, err) = texts(&o);
    assert!(
        o.status.success(),
        "{c:?} failed ({}):\nstdout: {out}\nstderr: {err}",
        o.status
    );
    (out, err)
}

/// Run and require exit 2; stdout and stderr.
pub fn fails(c: &mut Command) -> (String, String) {
    let o = c.output().expect("spawn");
    let (out, err) = texts(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{c:?}:\nstdout: {out}\nstderr: {err}"
    );
    (out, err)
}

/// `skopeo inspect --raw` of a reference on a plain-HTTP registry: the manifest bytes.
pub fn skopeo_raw(reference: &str, extra: &[&str]) -> Output {
    Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("spawn skopeo")
}

/// sha256:HEX of bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
