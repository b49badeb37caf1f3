//! `--confine-sources` (and `SCRATCH_CONFINE_SOURCES=1`) keeps local sources inside the
//! manifest's folder, symlinks resolved; without it a manifest may read any host file it
//! names, as SECURITY.md says.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

struct Case {
    root: tempfile::TempDir,
}

impl Case {
    /// `proj/` (the manifest's folder) beside `outside/secret.txt`.
    fn new() -> Case {
        let root = tempfile::tempdir().unwrap();
        let proj = root.path().join("proj");
        std::fs::create_dir_all(proj.join("inside")).unwrap();
        std::fs::create_dir_all(root.path().join("outside/dir")).unwrap();
        std::fs::write(root.path().join("outside/secret.txt"), "secret").unwrap();
        std::fs::write(root.path().join("outside/dir/f"), "f").unwrap();
        std::fs::write(proj.join("inside/ok.txt"), "ok").unwrap();
        symlink("../outside/secret.txt", proj.join("escape")).unwrap();
        symlink("../outside/dir", proj.join("escape-dir")).unwrap();
        symlink("inside/ok.txt", proj.join("stays")).unwrap();
        Case { root }
    }

    fn proj(&self) -> std::path::PathBuf {
        self.root.path().join("proj")
    }

    /// Build a manifest whose one layer is `layer`, with `args` before `build`.
    fn build(&self, layer: &str, args: &[&str], env: Option<&str>) -> Output {
        let text = format!("[image]\nname = \"x\"\nsource_date_epoch = 0\n[[layer]]\n{layer}");
        std::fs::write(self.proj().join("scratch.toml"), text).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
        c.current_dir(self.proj())
            .env_remove("SCRATCH_CONFINE_SOURCES")
            .arg("--cache-dir")
            .arg(self.root.path().join("cache"))
            .arg("-q")
            .args(args)
            .args(["build", "--format", "oci-archive", "-o"])
            .arg(self.root.path().join("out.tar"));
        if let Some(v) = env {
            c.env("SCRATCH_CONFINE_SOURCES", v);
        }
        c.output().unwrap()
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn escaping_sources_are_refused_when_confined_and_read_otherwise() {
    let case = Case::new();
    let abs = case.root.path().join("outside/secret.txt");
    let escaping = [
        "[[layer.file]]\nsrc = \"escape\"\ndest = \"/s\"\n".to_string(),
        "[[layer.file]]\nsrc = \"../outside/secret.txt\"\ndest = \"/s\"\n".to_string(),
        "[[layer.file]]\nsrc = \"inside/../../outside/secret.txt\"\ndest = \"/s\"\n".to_string(),
        format!(
            "[[layer.file]]\nsrc = \"{}\"\ndest = \"/s\"\n",
            abs.display()
        ),
        "[[layer.dir]]\nsrc = \"escape-dir\"\ndest = \"/d\"\n".to_string(),
        "[[layer.dir]]\nsrc = \"../outside/dir\"\ndest = \"/d\"\n".to_string(),
    ];
    for layer in &escaping {
        // The author's choice by default: it builds.
        let o = case.build(layer, &[], None);
        assert!(o.status.success(), "{layer}: {}", text(&o));
        for (args, env) in [(&["--confine-sources"][..], None), (&[][..], Some("1"))] {
            let o = case.build(layer, args, env);
            let err = text(&o);
            assert_eq!(o.status.code(), Some(2), "{layer}: {err}");
            assert!(
                err.contains("outside the manifest's folder"),
                "{layer}: {err}"
            );
            assert!(
                err.contains("scratch.toml:6:7"),
                "{layer}: no position: {err}"
            );
            assert!(err.contains("--confine-sources"), "{layer}: no hint: {err}");
        }
    }
    let url = format!(
        "[[layer.file]]\nsrc = \"file://{}\"\ndest = \"/s\"\nsha256 = \"{}\"\n",
        abs.display(),
        "0".repeat(64)
    );
    let o = case.build(&url, &["--confine-sources"], None);
    assert!(text(&o).contains("file:// URL"), "{}", text(&o));
}

#[test]
fn sources_inside_the_folder_build_when_confined() {
    let case = Case::new();
    for layer in [
        "[[layer.file]]\nsrc = \"inside/ok.txt\"\ndest = \"/ok\"\n",
        "[[layer.file]]\nsrc = \"stays\"\ndest = \"/ok\"\n",
        "[[layer.dir]]\nsrc = \"inside\"\ndest = \"/d\"\n",
    ] {
        let o = case.build(layer, &["--confine-sources"], None);
        assert!(o.status.success(), "{layer}: {}", text(&o));
    }
    let o = case.build(
        "[[layer.file]]\nsrc = \"stays\"\ndest = \"/ok\"\n",
        &[],
        Some("maybe"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(Path::new(&case.proj()).is_dir());
}
