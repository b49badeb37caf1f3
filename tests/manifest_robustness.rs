//! The manifest parser never panics: every error is a positioned message with a hint.

use proptest::prelude::*;
use scratch_compose::manifest::Manifest;
use std::path::Path;

const SAMPLE: &str = r#"[image]
name = "app"
platforms = ["linux/amd64", "linux/arm64"]
compression = "gzip:9"
[config]
env = ["A=1"]
exposed_ports = ["80"]
[[layer]]
platform = "linux/arm64"
tar = "https://example.com/é.tar.gz"
sha256 = "a2a87004e87720cbb0372c08b7de9b80748afdfd7fd72d2eab2ec0b074b92211"
[[layer]]
remove = ["/x"]
[[layer.file]]
dest = "/a"
content = "é\n"
mode = "0644"
"#;

fn check(text: &str) {
    match Manifest::parse(text, Path::new("scratch.toml")) {
        Ok(_) => {}
        Err(e) => {
            let pos = e.pos().expect("parse errors have a position");
            assert!(pos.line >= 1 && pos.column >= 1);
            assert!(pos.line <= text.lines().count().max(1) + 1, "{e}");
            assert!(e.hint().is_some(), "{e}");
        }
    }
}

#[test]
fn every_prefix_is_handled() {
    let mut cut = 0;
    while cut <= SAMPLE.len() {
        if SAMPLE.is_char_boundary(cut) {
            check(&SAMPLE[..cut]);
        }
        cut += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn edited_manifests_never_panic(at in 0usize..SAMPLE.len(), insert in "[ -~é\n\"\\[\\]=]{0,8}", drop in 0usize..6) {
        let mut text = SAMPLE.to_string();
        let mut at = at;
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + drop).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(at..end, &insert);
        check(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }
}
