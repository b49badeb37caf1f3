//! No file of the repository names a path of one machine: fixtures and tools are found
//! through `$SCRATCH_SHARED`, else `../shared` relative to the checkout.

use std::path::Path;

/// Every text file below `dir`, skipping build output, git data and fuzzing corpora.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_file_names_the_development_machines_shared_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Spelt in two pieces so that this file does not match itself.
    let needle = format!("/{}/shared", "work");
    let mut all = Vec::new();
    files(root, &mut all);
    assert!(all.len() > 50, "walked only {} files", all.len());
    let offenders: Vec<String> = all
        .iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).contains(&needle))
                .unwrap_or(false)
        })
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "{needle} is hard-coded in: {offenders:?}"
    );
}
