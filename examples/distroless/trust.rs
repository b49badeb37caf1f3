//! Checks, from inside the image, what a distroless program needs at run time: a TLS
//! trust store where TLS libraries look for one (the list Go's crypto/x509 searches), the
//! UTC zone, and a non-root user known to /etc/passwd. Prints what it found; exits 1 when
//! anything is missing. Standard library only, so it links statically.
use std::process::ExitCode;

const TRUST_STORES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/ssl/cert.pem",                  // Alpine, macOS-style
];

/// Decode standard base64, ignoring line breaks; `None` on any other byte.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The number of PEM certificates whose body decodes to a DER SEQUENCE.
fn certificates(pem: &str) -> usize {
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|rest| rest.split("-----END CERTIFICATE-----").next())
        .filter_map(base64)
        .filter(|der| der.first() == Some(&0x30))
        .count()
}

fn uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let mut ok = true;
    let found = std::env::var("SSL_CERT_FILE")
        .ok()
        .into_iter()
        .chain(TRUST_STORES.iter().map(|s| s.to_string()))
        .find_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, certificates(&t))));
    match found {
        Some((path, n)) if n > 0 => println!("trust store: {path} ({n} certificates)"),
        Some((path, _)) => {
            println!("trust store: {path} holds no certificate");
            ok = false;
        }
        None => {
            println!("trust store: none found");
            ok = false;
        }
    }
    match std::fs::read("/usr/share/zoneinfo/UTC") {
        Ok(z) if z.starts_with(b"TZif") => println!("zoneinfo: UTC"),
        _ => {
            println!("zoneinfo: /usr/share/zoneinfo/UTC missing");
            ok = false;
        }
    }
    let uid = uid();
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse().ok() == uid).then(|| f[0].to_string())
        })
    });
    match (uid, name) {
        (Some(0), _) => {
            println!("user: root (expected a non-root user)");
            ok = false;
        }
        (Some(u), Some(n)) => println!("user: {n} (uid {u})"),
        (u, None) => {
            println!("user: uid {u:?} is not in /etc/passwd");
            ok = false;
        }
        (None, _) => unreachable!(),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
