//! What errors and warnings say about hostile inputs: control characters from names,
//! URLs, server headers and manifest paths never reach the terminal raw, and each error
//! names the input as the user wrote it, with a hint that fits.

mod hostile_support;
use hostile_support::*;
use std::io::Write;

/// stderr must hold no control character but line breaks, and must show `\x1b`.
fn assert_escaped(case: &str, err: &str) {
    let raw: Vec<char> = err
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        raw.is_empty(),
        "{case}: raw control characters {raw:?} in:\n{err}"
    );
    assert!(
        err.contains("\\x1b"),
        "{case}: the escape is not shown:\n{err}"
    );
}

const EVIL: &[u8] = b"\x1b]0;pwned\x07\x1b[2J";

#[test]
fn an_entry_name_with_terminal_escapes_is_shown_escaped() {
    let s = Sandbox::new();
    let mut name = b"a".to_vec();
    name.extend_from_slice(EVIL);
    name.extend_from_slice(b"/../../x");
    s.put("evil.tar", &RawTar::new().file(&name, b"x").finish());
    let (o, _) = s.build(&s.manifest_for(&["evil.tar"]), "oci-archive", "o.tar");
    assert_eq!(o.status.code(), Some(2));
    assert_escaped("entry name", &stderr(&o));
}

#[test]
fn a_duplicate_entry_warning_names_its_layer_once_and_escaped() {
    let s = Sandbox::new();
    let mut name = b"d".to_vec();
    name.extend_from_slice(EVIL);
    let tar = RawTar::new().file(&name, b"1").file(&name, b"2").finish();
    s.put("dup.tar", &tar);
    let (o, _) = s.build(&s.manifest_for(&["dup.tar"]), "oci-archive", "o.tar");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("duplicate entry"))
        .unwrap_or_else(|| panic!("no warning:\n{err}"));
    assert_eq!(line.matches("layer 1").count(), 1, "{line}");
    assert_escaped("duplicate warning", &err);
}

#[test]
fn a_manifest_path_with_terminal_escapes_is_shown_escaped() {
    let s = Sandbox::new();
    let m = s.put(
        "scratch.toml",
        b"[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/a\\u001b]0;x\\u0007/.wh.b\"\ncontent = \"\"\n",
    );
    let (o, _) = s.build(&m, "oci-archive", "o.tar");
    assert_eq!(o.status.code(), Some(2));
    assert_escaped("manifest path", &stderr(&o));
}

#[test]
fn a_url_and_a_server_header_with_terminal_escapes_are_shown_escaped() {
    // A redirect to another scheme is refused, naming where it pointed.
    let server = RawServer::spawn(|mut c, _| {
        read_request(&mut c);
        let _ = c.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: ftp://h/\x1b]0;pwned\x07\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let s = Sandbox::new();
    let pin = "a".repeat(64);
    for (case, url) in [
        (
            "url",
            format!("http://127.0.0.1:{}/x\\u001b[2J.tar", server.port),
        ),
        ("header", format!("http://127.0.0.1:{}/ok.tar", server.port)),
    ] {
        let m = s.put(
            "scratch.toml",
            format!("[image]\nname = \"x\"\n[[layer]]\ntar = \"{url}\"\nsha256 = \"{pin}\"\n")
                .as_bytes(),
        );
        let (o, _) = s.build(&m, "oci-archive", "o.tar");
        assert_eq!(o.status.code(), Some(2), "{case}: {}", stderr(&o));
        let err = stderr(&o);
        let raw: Vec<char> = err
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            raw.is_empty(),
            "{case}: raw control characters {raw:?} in:\n{err}"
        );
    }
}

#[test]
fn random_bytes_name_the_download_not_the_cache_blob() {
    let body: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let pin = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    let served = body.clone();
    let server = RawServer::spawn(move |mut c, _| {
        read_request(&mut c);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            served.len()
        );
        let _ = c.write_all(head.as_bytes());
        let _ = c.write_all(&served);
    });
    let s = Sandbox::new();
    let url = format!("http://127.0.0.1:{}/layer.tar.gz", server.port);
    let m = s.put(
        "scratch.toml",
        format!("[image]\nname = \"x\"\n[[layer]]\ntar = \"{url}\"\nsha256 = \"{pin}\"\n")
            .as_bytes(),
    );
    let (o, _) = s.build(&m, "oci-archive", "o.tar");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("unrecognised archive format"), "{err}");
    assert!(
        err.contains(&url),
        "the input is not named as written: {err}"
    );
    assert!(
        !err.contains("blobs/sha256"),
        "the cache blob is named: {err}"
    );
}

#[test]
fn a_zstd_window_too_large_is_not_called_an_incomplete_download() {
    // One frame asking for a 2 GiB window (no content size), with one raw byte.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3];
    frame.extend_from_slice(&[0x09, 0x00, 0x00, b'x']);
    let s = Sandbox::new();
    s.put("long.tar.zst", &frame);
    let (o, _) = s.build(&s.manifest_for(&["long.tar.zst"]), "oci-archive", "o.tar");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("long.tar.zst") && err.contains("window"),
        "{err}"
    );
    assert!(!err.contains("may be incomplete"), "{err}");
    assert!(err.contains("--long"), "{err}");
}
