//! `compose push` authenticates as podman and Docker users expect: credentials from each
//! kind of file (and `docker-credential-*` helpers) in the documented order, Basic over
//! TLS against a real registry, the Bearer token flow against a token server, and TLS
//! trust from SSL_CERT_FILE or certs.d; no credential ever printed.

mod common;
mod registry_support;

use base64::Engine;
use common::cli::*;
use registry_support::proxy::Proxy;
use registry_support::*;
use std::path::Path;
use std::process::Command;

fn auth_json(host: &str, user_pass: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
    format!(r#"{{"auths": {{"{host}": {{"auth": "{b64}"}}}}}}"#)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A `docker-credential-NAME` script in `bin` that answers for `server` only and logs
/// what it was asked.
fn helper(bin: &Path, name: &str, server: &str, user: &str, secret: &str) {
    let script = bin.join(format!("docker-credential-{name}"));
    write(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> \"$0.log\"\n\
             if [ \"$server\" = \"{server}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
             else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes a case's credential files under its home and points the command at them.
type Setup = Box<dyn Fn(&Path, &mut Command)>;

struct Case {
    name: &'static str,
    setup: Setup,
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools), skopeo (cargo test -- --ignored runs it; CI does)"]
fn credentials_come_from_every_kind_of_file_in_order_over_verified_tls() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(true, Some("alice:s3cret-pw")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let built = build_ok(&cache, &example("alpine"), "oci", &layout, &[]);
    let host = reg.host.clone();
    let ca = reg.ca.clone().unwrap();
    let (good, bad) = ("alice:s3cret-pw", "alice:wrong-pw");
    let h = host.clone();
    let cases: Vec<Case> = vec![
        Case {
            name: "registry-auth-file",
            setup: Box::new(move |d, c| {
                write(&d.join("a.json"), &auth_json(&h, good));
                c.env("REGISTRY_AUTH_FILE", d.join("a.json"));
            }),
        },
        Case {
            name: "xdg-runtime-dir",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    write(&d.join("run/containers/auth.json"), &auth_json(&h, good));
                    c.env("XDG_RUNTIME_DIR", d.join("run"));
                })
            },
        },
        Case {
            name: "docker-config",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    let (u, p) = good.split_once(':').unwrap();
                    write(
                        &d.join("dc/config.json"),
                        &format!(
                            r#"{{"auths": {{"https://{h}": {{"username": "{u}", "password": "{p}"}}}}}}"#
                        ),
                    );
                    c.env("DOCKER_CONFIG", d.join("dc"));
                })
            },
        },
        Case {
            name: "home-docker-config",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    write(&d.join(".docker/config.json"), &auth_json(&h, good));
                    c.env("HOME", d);
                })
            },
        },
        Case {
            name: "cred-helpers",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    helper(&d.join("bin"), "scratchtest", &h, "alice", "s3cret-pw");
                    write(
                        &d.join(".docker/config.json"),
                        &format!(
                            r#"{{"credHelpers": {{"{h}": "scratchtest"}}, "credsStore": "absent"}}"#
                        ),
                    );
                    c.env("HOME", d);
                    c.env(
                        "PATH",
                        format!(
                            "{}:{}",
                            d.join("bin").display(),
                            std::env::var("PATH").unwrap()
                        ),
                    );
                })
            },
        },
        Case {
            name: "creds-store",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    helper(&d.join("bin"), "store", &h, "alice", "s3cret-pw");
                    write(
                        &d.join("dc/config.json"),
                        &format!(r#"{{"credsStore": "store", "auths": {{"{h}": {{}}}}}}"#),
                    );
                    c.env("DOCKER_CONFIG", d.join("dc"));
                    c.env(
                        "PATH",
                        format!(
                            "{}:{}",
                            d.join("bin").display(),
                            std::env::var("PATH").unwrap()
                        ),
                    );
                })
            },
        },
        Case {
            name: "first-file-wins",
            setup: {
                let h = host.clone();
                Box::new(move |d, c| {
                    // podman's file before Docker's: the right password in the first.
                    write(&d.join("run/containers/auth.json"), &auth_json(&h, good));
                    write(&d.join("dc/config.json"), &auth_json(&h, bad));
                    c.env("XDG_RUNTIME_DIR", d.join("run"));
                    c.env("DOCKER_CONFIG", d.join("dc"));
                })
            },
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let home = dir.path().join(case.name);
        std::fs::create_dir_all(&home).unwrap();
        let mut c = compose_for(&cache, &home);
        // Trust: SSL_CERT_FILE for half the cases, certs.d for the others.
        if i % 2 == 0 {
            c.env("SSL_CERT_FILE", &ca);
        } else {
            write(
                &home.join("certs.d").join(&host).join("ca.crt"),
                &std::fs::read_to_string(&ca).unwrap(),
            );
        }
        (case.setup)(&home, &mut c);
        let target = format!("{host}/{}/app:1", case.name);
        let (out, err) = ok(c.args(["push", "--from"]).arg(&layout).arg(&target));
        assert_eq!(out, format!("{target}@{built}\n"), "{}", case.name);
        assert!(
            !err.contains("s3cret") && !err.contains("plain HTTP"),
            "{}: {err}",
            case.name
        );
    }
    let asked = std::fs::read_to_string(
        dir.path()
            .join("cred-helpers/bin/docker-credential-scratchtest.log"),
    )
    .unwrap();
    assert_eq!(asked.trim(), host, "the helper is asked for HOST:PORT");

    if have_tool("skopeo") {
        let certs = dir.path().join("skopeo-certs");
        write(
            &certs.join("ca.crt"),
            &std::fs::read_to_string(&ca).unwrap(),
        );
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", "--creds", good, "--cert-dir"])
            .arg(&certs)
            .arg(format!("docker://{host}/creds-store/app:1"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(digest_of(&o.stdout), built);
    }

    // The wrong password: exit 2, a hint to log in, and neither password shown.
    let home = dir.path().join("wrong");
    let mut c = compose_for(&cache, &home);
    write(&home.join("a.json"), &auth_json(&host, bad));
    c.env("REGISTRY_AUTH_FILE", home.join("a.json"))
        .env("SSL_CERT_FILE", &ca);
    let (out, err) = fails(
        c.args(["push", "--from"])
            .arg(&layout)
            .arg(format!("{host}/w/app")),
    );
    assert_eq!(out, "");
    assert!(
        err.contains("denied")
            && err.contains("with the credentials found")
            && err.contains("login"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-pw") && !err.contains("s3cret"),
        "{err}"
    );

    // Anonymous: told to log in.
    let home = dir.path().join("anon");
    let (_, err) = fails(
        compose_for(&cache, &home)
            .env("SSL_CERT_FILE", &ca)
            .args(["push", "--from"])
            .arg(&layout)
            .arg(format!("{host}/w/app")),
    );
    assert!(
        err.contains("anonymously") && err.contains("log in first"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn an_untrusted_certificate_is_refused_unless_the_registry_is_named_insecure() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(true, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let built = build_ok(&cache, &example("alpine"), "oci", &layout, &[]);
    let target = format!("{}/tls/app:1", reg.host);
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .args(["push", "--from"])
            .arg(&layout)
            .arg(&target),
    );
    assert!(
        err.contains("TLS failed") && err.contains("certs.d"),
        "{err}"
    );
    // A CA file that is not one is named.
    write(
        &dir.path().join("certs.d").join(&reg.host).join("ca.crt"),
        "garbage",
    );
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .args(["push", "--from"])
            .arg(&layout)
            .arg(&target),
    );
    assert!(err.contains("ca.crt"), "{err}");
    std::fs::remove_dir_all(dir.path().join("certs.d")).unwrap();
    // --insecure-registry (or the environment) accepts it, and says so in no silent way:
    // the flag is the user's explicit choice.
    let (out, _) = ok(compose_for(&cache, dir.path())
        .args(["push", "--insecure-registry", &reg.host, "--from"])
        .arg(&layout)
        .arg(&target));
    assert_eq!(out, format!("{target}@{built}\n"));
    let (out, _) = ok(compose_for(&cache, dir.path())
        .env(
            "SCRATCH_INSECURE_REGISTRIES",
            format!("other:1,{}", reg.host),
        )
        .args(["push", "--from"])
        .arg(&layout)
        .arg(&target));
    assert_eq!(out, format!("{target}@{built}\n"));
}

#[test]
#[ignore = "needs ../shared fixtures, a registry (../shared/tools) (cargo test -- --ignored runs it; CI does)"]
fn bearer_tokens_come_from_the_token_service_once_per_scope() {
    if fixtures().is_none() {
        return;
    }
    let Some(reg) = TestRegistry::start(false, None) else {
        return;
    };
    let proxy = Proxy::start(&reg.host);
    proxy.require_bearer(Some("bob:t0ken-pw"));
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let built = build_ok(&cache, &example("alpine-multiarch"), "oci", &layout, &[]);
    write(
        &dir.path().join("a.json"),
        &auth_json(&proxy.addr, "bob:t0ken-pw"),
    );
    let one = format!("{}/bearer/one:1", proxy.addr);
    let two = format!("{}/bearer/two:1", proxy.addr);
    let (out, err) = ok(compose_for(&cache, dir.path())
        .env("REGISTRY_AUTH_FILE", dir.path().join("a.json"))
        .args(["push", "-j", "4", "--from"])
        .arg(&layout)
        .args([&one, &two]));
    assert_eq!(out, format!("{one}@{built}\n{two}@{built}\n"), "{err}");
    let issued = proxy.issued();
    assert_eq!(
        issued,
        vec![
            vec!["repository:bearer/one:pull,push".to_string()],
            vec!["repository:bearer/two:pull,push".to_string()],
            vec![
                "repository:bearer/two:pull,push".to_string(),
                "repository:bearer/one:pull".to_string()
            ],
        ],
        "one token per scope for the whole push, whatever -j"
    );
    assert_eq!(
        proxy.count("PUT", "/v2/bearer/two/blobs/uploads/"),
        0,
        "{err}"
    );
    assert!(
        !err.contains("t0ken-pw") && !err.contains("token-1"),
        "{err}"
    );

    // Wrong credentials: the token service refuses; exit 2; nothing leaks.
    write(
        &dir.path().join("b.json"),
        &auth_json(&proxy.addr, "bob:nope-pw"),
    );
    let (_, err) = fails(
        compose_for(&cache, dir.path())
            .env("REGISTRY_AUTH_FILE", dir.path().join("b.json"))
            .args(["push", "--from"])
            .arg(&layout)
            .arg(format!("{}/bearer/three", proxy.addr)),
    );
    assert!(err.contains("denied") && !err.contains("nope-pw"), "{err}");
    assert_eq!(proxy.count("PUT", "/v2/bearer/three/"), 0);
}
