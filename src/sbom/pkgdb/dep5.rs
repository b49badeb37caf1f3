//! Debian's machine-readable copyright format (DEP-5, `copyright-format/1.0`): the
//! licenses of a package are the `License:` short names of its `Files:` paragraphs (and
//! of the header paragraph). A copyright file in free-form text declares nothing we can
//! read reliably, so it gives no license.

use crate::sbom::license::{self, Dialect, License};

/// The license of a DEP-5 copyright file: every distinct short name, joined by AND in the
/// order first seen (or-expressions kept in parentheses). `None` when the file is not in
/// the machine-readable format or names no license.
pub fn parse(text: &str) -> Option<License> {
    let mut paragraphs = super::stanzas(text).map(|(_, p)| p);
    let header = paragraphs.next()?;
    let format = field(&header, "Format")?;
    if !format.contains("copyright-format/1.0") && !format.contains("dep5") {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: Option<String>| {
        if let Some(n) = n.filter(|n| !n.is_empty()) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    };
    add(field(&header, "License"));
    for p in paragraphs {
        if field(&p, "Files").is_some() {
            add(field(&p, "License"));
        }
    }
    if names.is_empty() {
        return None;
    }
    let joined = names
        .iter()
        .map(|n| {
            if names.len() > 1 && n.contains(char::is_whitespace) {
                format!("({n})")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" and ");
    license::parse(&joined, Dialect::Dep5)
}

/// The first line of field `name` in a paragraph.
fn field(p: &[&str], name: &str) -> Option<String> {
    p.iter().find_map(|l| {
        if l.starts_with([' ', '\t']) {
            return None;
        }
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}
