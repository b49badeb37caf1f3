//! A test that needs the shared fixtures, a container tool, a registry or the Python
//! validators says so where `cargo test` shows it: it is `#[ignore = "needs …"]`, so the
//! summary counts it as ignored with the reason, and `cargo test -- --ignored` (which
//! `.ci/run` runs) runs it, failing when anything is missing. None passes by returning
//! early, which would hide that it checked nothing.

use std::path::Path;

/// Calls that mean "this test needs something outside the repository".
const NEEDS: &[&str] = &[
    "fixtures()",
    "require_fixtures()",
    "have_tool(",
    "TestRegistry::start(",
    "python()",
    "docker_cmd(",
    "docker_env(",
    "missing(",
];

/// Each `#[test]` function of `text`: its attributes and its body.
fn tests_of(text: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "#[test]" {
            continue;
        }
        let mut j = i + 1;
        let mut attrs = String::new();
        while j < lines.len() && !lines[j].trim_start().starts_with("fn ") {
            attrs.push_str(lines[j]);
            j += 1;
        }
        let Some(sig) = lines.get(j) else { continue };
        let name = sig.trim_start()[3..]
            .split('(')
            .next()
            .unwrap_or("")
            .to_string();
        let indent = sig.len() - sig.trim_start().len();
        let mut body = String::new();
        for b in &lines[j..] {
            body.push_str(b);
            body.push('\n');
            if b.len() > indent
                && b.starts_with(&format!("{}}}", " ".repeat(indent)))
                && b.trim() == "}"
            {
                break;
            }
        }
        out.push((name, attrs, body));
    }
    out
}

/// Whether `body` calls `needle` itself (not a function whose name ends with it).
fn calls(body: &str, needle: &str) -> bool {
    body.match_indices(needle).any(|(i, _)| {
        !body[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn tests_that_need_outside_things_are_ignored_with_the_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut unmarked = Vec::new();
    let mut marked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "rs") || p.ends_with("skips_are_visible.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (name, attrs, body) in tests_of(&text) {
            let needs = NEEDS.iter().any(|n| calls(&body, n));
            let ignored = attrs.contains("#[ignore = \"needs ");
            marked += usize::from(ignored);
            if needs && !ignored {
                unmarked.push(format!(
                    "{}: {name}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        marked > 50,
        "found only {marked} marked tests: is the scan broken?"
    );
    assert!(
        unmarked.is_empty(),
        "these tests need fixtures or tools but are not #[ignore = \"needs …\"]:\n{}",
        unmarked.join("\n")
    );
}

#[test]
fn ci_runs_the_ignored_tests_with_the_readme_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = "cargo test --locked --no-fail-fast";
    assert!(
        ci.contains(&format!("\n{command}\n")),
        ".ci/run lacks `{command}`"
    );
    assert!(
        ci.contains(&format!("\n{command} -- --ignored\n")),
        ".ci/run does not run the ignored tests"
    );
    assert!(
        readme.contains(&format!("\n{command}")),
        "README.md's test command is not `{command}`"
    );
}
