//! The dev loop with preflight: a rebuild after an upper layer changed starts from the
//! layer cache's tree snapshot, which keeps no lower file's bytes; preflight must still
//! find `[config] user` in a lower layer's /etc/passwd instead of calling it missing.

mod common;
use common::cli::*;

#[test]
fn a_user_from_a_lower_layer_is_not_called_missing_in_a_rebuild_over_the_snapshot() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("scratch.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"pf\"\n[config]\nuser = \"app\"\n\
         [[layer]]\n[[layer.file]]\ndest = \"/etc/passwd\"\n\
         content = \"root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/sbin/nologin\\n\"\n\
         [[layer.file]]\ndest = \"/etc/group\"\ncontent = \"root:x:0:\\napp:x:1000:\\n\"\n\
         [[layer]]\n[[layer.file]]\nsrc = \"data\"\ndest = \"/srv/data\"\n",
    )
    .unwrap();
    let data = t.path().join("data");
    let cache = t.path().join("cache");
    let build = || {
        let mut c = compose(&cache);
        c.arg("-f")
            .arg(&m)
            .args(["build", "-o"])
            .arg(t.path().join("out"));
        run(&mut c)
    };
    // Not strict: the image has nothing to run, a warning each time; what matters is
    // whether preflight also (wrongly) misses /etc/passwd.
    std::fs::write(&data, "one").unwrap();
    let first = build();
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(!err.contains("/etc/passwd"), "{err}");
    std::fs::write(&data, "two, longer").unwrap();
    let second = build();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(!err.contains("/etc/passwd"), "{err}");
    assert_ne!(first.stdout, second.stdout);
    // A user that really is missing is found (from a fresh cache: over the snapshot the
    // lower /etc/passwd's bytes are not at hand, and nothing is said, as for executables).
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("user = \"app\"", "user = \"nobody\"");
    std::fs::write(&m, text).unwrap();
    let mut c = compose(&t.path().join("fresh"));
    c.arg("-f")
        .arg(&m)
        .args(["build", "-o"])
        .arg(t.path().join("out"));
    let third = run(&mut c);
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(third.status.success(), "{err}");
    assert!(err.contains("`nobody` is not in /etc/passwd"), "{err}");
}
