//! `[input.NAME]`, `[[layer.copy]]` and `[accounts]`.

use super::*;

const FILE: &str = "proj/scratch.toml";

fn err(text: &str) -> (String, String) {
    let e = Manifest::parse(text, Path::new(FILE)).unwrap_err();
    let hint = e.hint().expect("every manifest error has a hint");
    let s = e.to_string();
    let s = s
        .strip_prefix(&format!("{FILE}:"))
        .expect("position")
        .to_string();
    (s, hint)
}

fn ok(text: &str) -> Manifest {
    Manifest::parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"))
}

const PIN: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn with_input(rest: &str) -> String {
    format!("[image]\nname = \"x\"\n[input.alpine]\ntar = \"https://e.com/a.tar.gz\"\nsha256 = \"{PIN}\"\n{rest}")
}

#[test]
fn a_single_input_is_used_by_a_copy_only_layer_and_locked() {
    let m = ok(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/etc/passwd\", \"/usr/share/zoneinfo/**\"]\n",
    ));
    assert_eq!(m.layers[0].copies[0].symlinks, SymlinkMode::Keep);
    assert_eq!(m.layers[0].copies[0].dest, None);
    let inputs = m.inputs();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].key, "https://e.com/a.tar.gz");
    assert!(inputs[0].pin.is_some());
    assert_eq!(
        inputs[0].describe(),
        "proj/scratch.toml:4:7: tar `https://e.com/a.tar.gz` (layer 1)"
    );
    // An input no layer uses is not an input of the build.
    let m = ok(&with_input(""));
    assert!(m.inputs().is_empty());
}

#[test]
fn copy_errors_name_the_place_and_suggest() {
    let (e, hint) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpin\"\npaths = [\"/x\"]\n",
    ));
    assert_eq!(
        e,
        "8:8: [[layer.copy]] from `alpin`: no [input.alpin] is declared (did you mean `alpine`?)"
    );
    assert_eq!(hint, "declared inputs: `alpine`");
    let (e, _) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"etc/passwd\"]\n",
    ));
    assert_eq!(
        e,
        "9:10: [[layer.copy]] path `etc/passwd` is not an absolute path"
    );
    let (e, _) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/a/../b\"]\n",
    ));
    assert!(e.contains("has a `..` component"), "{e}");
    let (e, _) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = []\n",
    ));
    assert!(e.contains("`paths` is empty"), "{e}");
    let (e, _) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npaths = [\"/x\"]\nsymlinks = \"maybe\"\n",
    ));
    assert!(e.contains("unknown variant `maybe`"), "{e}");
}

#[test]
fn per_platform_inputs_follow_the_layer_platform_rules() {
    let head = "[image]\nname = \"x\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n";
    let amd = "[[input.r]]\nplatform = \"linux/amd64\"\ntar = \"amd.tar\"\n";
    let arm = "[[input.r]]\nplatform = \"linux/arm64\"\ntar = \"arm.tar\"\n";
    let copy = "[[layer]]\n[[layer.copy]]\nfrom = \"r\"\npaths = [\"/x\"]\n";
    let m = ok(&format!("{head}{amd}{arm}{copy}"));
    let inputs = m.inputs();
    let keys: Vec<(&str, String)> = inputs
        .iter()
        .map(|i| (i.key.as_str(), i.platforms.as_ref().unwrap()[0].to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            ("amd.tar", "linux/amd64".to_string()),
            ("arm.tar", "linux/arm64/v8".to_string())
        ]
    );
    // Only amd64: a layer on every platform cannot use it.
    let (e, hint) = err(&format!("{head}{amd}{copy}"));
    assert!(e.contains("layer 1 takes paths from input `r` on linux/arm64/v8, but no archive of `r` serves linux/arm64/v8"), "{e}");
    assert!(hint.contains("[[input.r]] platform = \"linux/arm64/v8\""));
    // ... but an amd64 layer can.
    ok(&format!("{head}{amd}[[layer]]\nplatform = \"linux/amd64\"\n[[layer.copy]]\nfrom = \"r\"\npaths = [\"/x\"]\n"));
    // Two archives for one platform.
    let (e, _) = err(&format!(
        "{head}{amd}[[input.r]]\ntar = \"all.tar\"\n{copy}"
    ));
    assert!(
        e.contains("input `r` has two archives for linux/amd64"),
        "{e}"
    );
}

#[test]
fn accounts_are_validated() {
    let head = "[image]\nname = \"x\"\n";
    let m = ok(&format!(
        "{head}[[accounts.user]]\nname = \"app\"\nuid = 1000\n"
    ));
    assert_eq!(
        m.accounts.users[0],
        UserSpec {
            name: "app".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/app".into(),
            shell: "/sbin/nologin".into(),
            groups: vec![],
        }
    );
    let (e, _) = err(&format!("{head}[[accounts.user]]\nname = \"app\"\nuid = 1\n[[accounts.user]]\nname = \"app\"\nuid = 2\n"));
    assert_eq!(
        e,
        "7:8: [[accounts.user]] `app` is declared twice (first at line 4)"
    );
    let (e, _) = err(&format!("{head}[[accounts.group]]\nname = \"a\"\ngid = 5\n[[accounts.group]]\nname = \"b\"\ngid = 5\n"));
    assert!(e.contains("gid 5 is declared twice"), "{e}");
    let (e, _) = err(&format!(
        "{head}[[accounts.user]]\nname = \"a:b\"\nuid = 1\n"
    ));
    assert!(e.contains("`a:b` is not a valid account name"), "{e}");
    let (e, _) = err(&format!(
        "{head}[[accounts.user]]\nname = \"a\"\nuid = 1\nhome = \"rel\"\n"
    ));
    assert!(e.contains("home"), "{e}");
    let (e, _) = err(&format!(
        "{head}[[accounts.user]]\nname = \"a\"\nuid = 1\npassword = \"x\"\n"
    ));
    assert!(e.contains("unknown key `password`"), "{e}");
}

#[test]
fn unknown_keys_name_the_new_tables() {
    let (e, _) = err(&with_input(
        "[[layer]]\n[[layer.copy]]\nfrom = \"alpine\"\npath = [\"/x\"]\n",
    ));
    assert_eq!(
        e,
        "9:1: unknown key `path` in [[layer.copy]]; did you mean `paths`?"
    );
    let (e, _) = err("[image]\nname = \"x\"\n[input.a]\nurl = \"x\"\n");
    assert!(e.contains("unknown key `url` in [input.NAME]"), "{e}");
    let (e, _) =
        err("[image]\nname = \"x\"\n[[accounts.user]]\nname = \"a\"\nuid = 1\nhomedir = \"/h\"\n");
    assert!(
        e.contains("unknown key `homedir` in [[accounts.user]]"),
        "{e}"
    );
    let (e, _) = err("[image]\nname = \"x\"\n[[accounts.group]]\nname = \"a\"\nid = 1\n");
    assert!(e.contains("in [[accounts.group]]"), "{e}");
    let (e, _) = err("[image]\nname = \"x\"\n[accounts]\nusers = []\n");
    assert!(
        e.contains("unknown key `users` in [accounts]; did you mean `user`?"),
        "{e}"
    );
}
