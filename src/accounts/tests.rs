use super::*;
use crate::manifest::{GroupSpec, UserSpec};

const ALPINE_PASSWD: &str = "root:x:0:0:root:/root:/bin/ash\nbin:x:1:1:bin:/bin:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\nguest:x:405:100:guest:/dev/null:/sbin/nologin\n";
const ALPINE_GROUP: &str = "root:x:0:root\nbin:x:1:root,bin,daemon\nwheel:x:10:root\nusers:x:100:games\nnogroup:x:65533:\nnobody:x:65534:\n";
const ALPINE_SHADOW: &str = "root:*::0:::::\nbin:!::0:::::\nguest:!::0:::::\nnobody:!::0:::::\n";

fn file(path: &str, text: &str, mode: u32) -> Entry {
    Entry::new(
        ImagePath::parse_str(path).unwrap(),
        Kind::File(Content::Inline(Arc::from(text.as_bytes()))),
        mode,
    )
}

fn text_of(e: &Entry) -> String {
    match &e.kind {
        Kind::File(Content::Inline(b)) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn app(uid: u64) -> UserSpec {
    UserSpec {
        name: "app".into(),
        uid,
        gid: uid,
        home: "/home/app".into(),
        shell: "/sbin/nologin".into(),
        groups: vec!["wheel".into()],
    }
}

fn alpine() -> Vec<Entry> {
    let mut shadow = file("etc/shadow", ALPINE_SHADOW, 0o640);
    shadow.gid = 42;
    vec![
        Entry::dir(ImagePath::parse_str("etc").unwrap()),
        file("etc/group", ALPINE_GROUP, 0o644),
        file("etc/passwd", ALPINE_PASSWD, 0o644),
        shadow,
    ]
}

#[test]
fn users_and_groups_merge_over_alpine_sorted_with_locked_shadow() {
    let lower = alpine();
    let spec = AccountsSpec {
        users: vec![app(1000)],
        groups: vec![GroupSpec {
            name: "staff".into(),
            gid: 50,
        }],
    };
    let m = merge(&TreeView::new(&lower), &spec).unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    let by = |p: &str| m.entries.iter().find(|e| e.path.display() == p).unwrap();
    assert_eq!(
        text_of(by("/etc/passwd")),
        "root:x:0:0:root:/root:/bin/ash\nbin:x:1:1:bin:/bin:/sbin/nologin\nguest:x:405:100:guest:/dev/null:/sbin/nologin\napp:x:1000:1000::/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
    );
    assert_eq!(
        text_of(by("/etc/group")),
        "root:x:0:root\nbin:x:1:root,bin,daemon\nwheel:x:10:root,app\nstaff:x:50:\nusers:x:100:games\napp:x:1000:\nnogroup:x:65533:\nnobody:x:65534:\n"
    );
    let shadow = by("/etc/shadow");
    assert_eq!(
        text_of(shadow),
        "root:*::0:::::\nbin:!::0:::::\nguest:!::0:::::\napp:!::0:::::\nnobody:!::0:::::\n"
    );
    assert_eq!(
        (shadow.mode, shadow.gid),
        (0o640, 42),
        "lower metadata kept"
    );
    let home = by("/home/app");
    assert_eq!((home.uid, home.gid, home.mode), (1000, 1000, 0o755));
    // Reproducible: the same inputs give the same entries.
    assert_eq!(merge(&TreeView::new(&lower), &spec).unwrap(), m);
}

#[test]
fn same_name_or_id_the_manifest_wins_with_a_warning() {
    let lower = alpine();
    let mut nobody = app(65534);
    nobody.name = "nobody2".into();
    nobody.groups.clear();
    let spec = AccountsSpec {
        users: vec![nobody],
        groups: vec![GroupSpec {
            name: "wheel".into(),
            gid: 11,
        }],
    };
    let m = merge(&TreeView::new(&lower), &spec).unwrap();
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    assert!(
        m.warnings[0].contains("group `wheel` (gid 11) replaces /etc/group's `wheel:x:10:root`")
    );
    assert!(
        m.warnings[1].contains("user `nobody2` (uid 65534) replaces /etc/passwd's `nobody:x:65534")
    );
    let passwd = text_of(&m.entries[0]);
    assert!(!passwd.contains("\nnobody:"));
    assert!(passwd.ends_with("nobody2:x:65534:65534::/home/app:/sbin/nologin\n"));
    let shadow = text_of(&m.entries[2]);
    assert!(!shadow.contains("\nnobody:"), "{shadow}");
    assert!(shadow.contains("nobody2:!::0:::::"));
}

#[test]
fn an_empty_tree_gets_new_files_and_no_shadow() {
    let spec = AccountsSpec {
        users: vec![UserSpec {
            groups: vec![],
            ..app(1000)
        }],
        groups: vec![],
    };
    let m = merge(&TreeView::new(&[]), &spec).unwrap();
    let paths: Vec<String> = m.entries.iter().map(|e| e.path.display()).collect();
    assert_eq!(paths, ["/etc/passwd", "/etc/group", "/home/app"]);
    assert_eq!(text_of(&m.entries[1]), "app:x:1000:\n");
    assert_eq!((m.entries[0].mode, m.entries[0].uid), (0o644, 0));
}

#[test]
fn an_unknown_supplementary_group_is_an_error() {
    let mut u = app(1000);
    u.groups = vec!["docker".into()];
    let err = merge(
        &TreeView::new(&alpine()),
        &AccountsSpec {
            users: vec![u],
            groups: vec![],
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("`docker`"), "{err}");
    assert!(err.hint().contains("[[accounts.group]]"));
}

#[test]
fn a_symlinked_passwd_is_written_where_it_points() {
    let mut lower = alpine();
    lower.retain(|e| e.path.display() != "/etc/passwd");
    lower.push(Entry::new(
        ImagePath::parse_str("etc/passwd").unwrap(),
        Kind::Symlink(b"../usr/lib/passwd".to_vec()),
        0o777,
    ));
    lower.push(file("usr/lib/passwd", ALPINE_PASSWD, 0o600));
    let spec = AccountsSpec {
        users: vec![app(1000)],
        groups: vec![],
    };
    let m = merge(&TreeView::new(&lower), &spec).unwrap();
    assert_eq!(m.entries[0].path.display(), "/usr/lib/passwd");
    assert_eq!(m.entries[0].mode, 0o600);
}
