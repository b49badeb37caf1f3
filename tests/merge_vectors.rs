//! Edge-case vectors for the overlay merger: each row is a stack of layers and the merged
//! listing (or the error) it must give. Every row also checks that each canonical layer,
//! replayed entry by entry over the previous merged tree, reproduces the merge.

mod merge_common;

use merge_common::*;
use scratch_compose::entry::{Content, Entry, ImagePath, Kind, PathError};
use scratch_compose::layer::{encode_snapshot, Snapshot};
use scratch_compose::merge::{MergeOptions, Tree};

/// What a vector expects.
enum Want {
    /// The merged listing.
    Tree(&'static str),
    /// An error whose message contains all these pieces.
    Error(&'static [&'static str]),
}

struct Vector {
    name: &'static str,
    layers: Vec<Vec<Entry>>,
    strict: bool,
    want: Want,
}

fn v(name: &'static str, layers: Vec<Vec<Entry>>, want: Want) -> Vector {
    Vector {
        name,
        layers,
        strict: false,
        want,
    }
}

fn pb(raw: &[u8]) -> ImagePath {
    ImagePath::parse(raw).unwrap()
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

use Want::{Error, Tree as T};

fn vectors() -> Vec<Vector> {
    let long_dir: &'static str = Box::leak(long('x', 150).into_boxed_str());
    let long_file: &'static str =
        Box::leak(format!("{long_dir}/{}", long('y', 200)).into_boxed_str());
    let long_want: &'static str = Box::leak(
        format!("/{long_dir} dir 0755 0:0\n/{long_file} file 0644 0:0 \"l\"\n").into_boxed_str(),
    );
    vec![
        v("empty stack is an empty root", vec![], T("")),
        v("empty layer", vec![vec![]], T("")),
        v(
            "missing parents are created 0755 0:0",
            vec![vec![f("a/b/c", 0o640, "x").own(7, 8)]],
            T("/a dir 0755 0:0\n/a/b dir 0755 0:0\n/a/b/c file 0640 7:8 \"x\"\n"),
        ),
        v(
            "explicit parent after its child sets its attributes",
            vec![vec![f("a/b", 0o644, ""), d("a", 0o700).own(1, 2)]],
            T("/a dir 0700 1:2\n/a/b file 0644 0:0 \"\"\n"),
        ),
        // ---- whiteouts
        v(
            "whiteout deletes a lower file",
            vec![vec![f("a", 0o644, "1"), f("b", 0o644, "2")], vec![wh("a")]],
            T("/b file 0644 0:0 \"2\"\n"),
        ),
        v(
            "whiteout deletes a lower directory's whole subtree",
            vec![
                vec![d("d", 0o755), f("d/x", 0o644, ""), f("d/y/z", 0o644, ""), f("k", 0o644, "")],
                vec![wh("d")],
            ],
            T("/k file 0644 0:0 \"\"\n"),
        ),
        v(
            "whiteout then re-add in the same layer: the entry survives",
            vec![vec![f("a", 0o644, "old")], vec![wh("a"), f("a", 0o600, "new")]],
            T("/a file 0600 0:0 \"new\"\n"),
        ),
        v(
            "re-add then whiteout in the same layer: the entry still survives",
            vec![vec![f("a", 0o644, "old")], vec![f("a", 0o600, "new"), wh("a")]],
            T("/a file 0600 0:0 \"new\"\n"),
        ),
        v(
            "whiteout of a lower dir with children re-added below it gets a fresh parent",
            vec![
                vec![d("a", 0o700).own(3, 3), f("a/old", 0o644, "")],
                vec![f("a/new", 0o644, "n"), wh("a")],
            ],
            T("/a dir 0755 0:0\n/a/new file 0644 0:0 \"n\"\n"),
        ),
        v(
            "whiteout of a missing path is a no-op and creates no parents",
            vec![vec![f("k", 0o644, "")], vec![wh("x/y/z"), wh("nope")]],
            T("/k file 0644 0:0 \"\"\n"),
        ),
        v(
            "whiteout under a symlinked parent deletes in the target",
            vec![
                vec![d("real", 0o755), f("real/x", 0o644, "1"), f("real/y", 0o644, "2"), l("link", "real")],
                vec![wh("link/x")],
            ],
            T("/link symlink 0777 0:0 -> real\n/real dir 0755 0:0\n/real/y file 0644 0:0 \"2\"\n"),
        ),
        v(
            "whiteout of a symlink deletes the link, not its target",
            vec![vec![d("real", 0o755), f("real/x", 0o644, ""), l("link", "real")], vec![wh("link")]],
            T("/real dir 0755 0:0\n/real/x file 0644 0:0 \"\"\n"),
        ),
        v(
            "whiteouts see the lower tree even when the layer replaces the symlinked parent",
            vec![
                vec![d("real", 0o755), f("real/x", 0o644, ""), l("s", "real")],
                vec![d("s", 0o755), f("s/y", 0o644, ""), wh("s/x")],
            ],
            T("/real dir 0755 0:0\n/s dir 0755 0:0\n/s/y file 0644 0:0 \"\"\n"),
        ),
        v(
            "whiteout of a dir holding a hard link keeps the other name",
            vec![
                vec![f("a", 0o644, "d"), d("sub", 0o755), h("sub/b", "a")],
                vec![wh("sub")],
            ],
            T("/a file 0644 0:0 \"d\"\n"),
        ),
        // ---- opaque directories
        v(
            "opaque marker clears lower children",
            vec![
                vec![d("d", 0o755), f("d/a", 0o644, ""), d("d/sub", 0o755), f("d/sub/b", 0o644, "")],
                vec![opq("d"), f("d/new", 0o644, "")],
            ],
            T("/d dir 0755 0:0\n/d/new file 0644 0:0 \"\"\n"),
        ),
        v(
            "opaque marker after this layer's children does not clear them",
            vec![
                vec![d("d", 0o755), f("d/a", 0o644, "")],
                vec![f("d/new", 0o644, ""), d("d/s", 0o700), opq("d")],
            ],
            T("/d dir 0755 0:0\n/d/new file 0644 0:0 \"\"\n/d/s dir 0700 0:0\n"),
        ),
        v(
            "opaque marker keeps the directory's own attributes",
            vec![vec![d("d", 0o700).own(1, 1), f("d/a", 0o644, "")], vec![opq("d")]],
            T("/d dir 0700 1:1\n"),
        ),
        v(
            "opaque marker of a missing directory is a no-op",
            vec![vec![f("k", 0o644, "")], vec![opq("x/y")]],
            T("/k file 0644 0:0 \"\"\n"),
        ),
        v(
            "opaque marker under a symlinked parent clears the target",
            vec![
                vec![d("real", 0o755), f("real/a", 0o644, ""), l("link", "/real")],
                vec![opq("link"), f("link/b", 0o644, "")],
            ],
            T("/link symlink 0777 0:0 -> /real\n/real dir 0755 0:0\n/real/b file 0644 0:0 \"\"\n"),
        ),
        v(
            "opaque marker and whiteouts in one layer",
            vec![
                vec![d("d", 0o755), f("d/a", 0o644, ""), f("d/b", 0o644, ""), f("e", 0o644, "")],
                vec![wh("e"), f("d/a", 0o644, "new"), opq("d"), wh("d/b")],
            ],
            T("/d dir 0755 0:0\n/d/a file 0644 0:0 \"new\"\n"),
        ),
        v(
            "opaque marker at the root",
            vec![
                vec![f("a", 0o644, ""), d("b", 0o755), f("b/c", 0o644, "")],
                vec![opq("/"), f("z", 0o644, "")],
            ],
            T("/z file 0644 0:0 \"\"\n"),
        ),
        v(
            "AUFS bookkeeping names and everything below them are ignored",
            vec![
                vec![f("a", 0o644, "")],
                vec![raw(".wh..wh.plnk"), raw(".wh..wh.plnk/123.456"), raw("d/.wh..wh.aufs")],
            ],
            T("/a file 0644 0:0 \"\"\n"),
        ),
        v(
            "whiteout of the empty name is an error",
            vec![vec![f("a", 0o644, "")], vec![raw("d/.wh.")]],
            Error(&["layer 2", "/d/.wh.", "whiteout"]),
        ),
        v(
            "whiteout of . is an error",
            vec![vec![raw(".wh..")]],
            Error(&["layer 1", "/.wh..", "whiteout"]),
        ),
        v(
            "whiteout of .. is an error",
            vec![vec![raw("x/.wh...")]],
            Error(&["layer 1", "/x/.wh...", "whiteout"]),
        ),
        // ---- the examples of image-spec layer.md
        v(
            "layer.md: opaque marker recreates a/b with new children",
            vec![
                vec![d("a", 0o755), d("a/b", 0o755), d("a/b/c", 0o755), f("a/b/c/bar", 0o644, "")],
                vec![d("a", 0o755), opq("a"), d("a/b", 0o755), d("a/b/c", 0o755), f("a/b/c/foo", 0o644, "")],
            ],
            T("/a dir 0755 0:0\n/a/b dir 0755 0:0\n/a/b/c dir 0755 0:0\n/a/b/c/foo file 0644 0:0 \"\"\n"),
        ),
        v(
            "layer.md: the same layer with the opaque marker last is equivalent",
            vec![
                vec![d("a", 0o755), d("a/b", 0o755), d("a/b/c", 0o755), f("a/b/c/bar", 0o644, "")],
                vec![d("a", 0o755), d("a/b", 0o755), d("a/b/c", 0o755), f("a/b/c/foo", 0o644, ""), opq("a")],
            ],
            T("/a dir 0755 0:0\n/a/b dir 0755 0:0\n/a/b/c dir 0755 0:0\n/a/b/c/foo file 0644 0:0 \"\"\n"),
        ),
        v(
            "layer.md: explicit whiteouts of every child equal an opaque marker",
            vec![
                vec![
                    f("etc/my-app-config", 0o644, ""),
                    f("bin/my-app-binary", 0o755, ""),
                    f("bin/my-app-tools", 0o755, ""),
                    f("bin/tools/my-app-tool-one", 0o755, ""),
                ],
                vec![d("bin", 0o755), wh("bin/my-app-binary"), wh("bin/my-app-tools"), wh("bin/tools")],
            ],
            T("/bin dir 0755 0:0\n/etc dir 0755 0:0\n/etc/my-app-config file 0644 0:0 \"\"\n"),
        ),
        v(
            "layer.md: changeset with the whiteout after the additions",
            vec![
                vec![f("etc/my-app-config", 0o644, "c"), f("bin/my-app-binary", 0o755, "b"), f("bin/my-app-tools", 0o755, "t1")],
                vec![
                    d("./etc/my-app.d/", 0o755),
                    f("./etc/my-app.d/default.cfg", 0o644, "cfg"),
                    f("./bin/my-app-tools", 0o755, "t2"),
                    wh("./etc/my-app-config"),
                ],
            ],
            T(concat!(
                "/bin dir 0755 0:0\n/bin/my-app-binary file 0755 0:0 \"b\"\n/bin/my-app-tools file 0755 0:0 \"t2\"\n",
                "/etc dir 0755 0:0\n/etc/my-app.d dir 0755 0:0\n/etc/my-app.d/default.cfg file 0644 0:0 \"cfg\"\n",
            )),
        ),
        // ---- type changes
        v(
            "file to dir",
            vec![vec![f("a", 0o644, "x")], vec![d("a", 0o750), f("a/b", 0o644, "")]],
            T("/a dir 0750 0:0\n/a/b file 0644 0:0 \"\"\n"),
        ),
        v(
            "dir to file drops the subtree",
            vec![
                vec![d("a", 0o755), f("a/b", 0o644, ""), d("a/c", 0o755), f("a/c/d", 0o644, "")],
                vec![f("a", 0o644, "now")],
            ],
            T("/a file 0644 0:0 \"now\"\n"),
        ),
        v(
            "dir over dir replaces attributes and keeps children",
            vec![
                vec![d("a", 0o755).x("user.old", "1"), f("a/b", 0o644, "")],
                vec![d("a", 0o700).own(5, 6).x("user.k", "v")],
            ],
            T("/a dir 0700 5:6 user.k=v\n/a/b file 0644 0:0 \"\"\n"),
        ),
        v(
            "symlink to dir",
            vec![vec![l("a", "target")], vec![d("a", 0o755), f("a/b", 0o644, "")]],
            T("/a dir 0755 0:0\n/a/b file 0644 0:0 \"\"\n"),
        ),
        v(
            "an entry below a symlink lands in its (missing) target",
            vec![vec![l("a", "t")], vec![f("a/b", 0o644, "x")]],
            T("/a symlink 0777 0:0 -> t\n/t dir 0755 0:0\n/t/b file 0644 0:0 \"x\"\n"),
        ),
        v(
            "dir to symlink with children below",
            vec![
                vec![d("a", 0o755), f("a/b", 0o644, ""), d("a/c", 0o755), f("a/c/d", 0o644, "")],
                vec![l("a", "/elsewhere")],
            ],
            T("/a symlink 0777 0:0 -> /elsewhere\n"),
        ),
        v(
            "a file over a symlink replaces the link, not its target",
            vec![vec![f("x", 0o644, "orig"), l("a", "x")], vec![f("a", 0o644, "new")]],
            T("/a file 0644 0:0 \"new\"\n/x file 0644 0:0 \"orig\"\n"),
        ),
        v(
            "a dir over a symlink to a dir replaces the link",
            vec![vec![d("real", 0o755), f("real/k", 0o644, ""), l("a", "real")], vec![d("a", 0o700)]],
            T("/a dir 0700 0:0\n/real dir 0755 0:0\n/real/k file 0644 0:0 \"\"\n"),
        ),
        v(
            "a lower dir replaced by a file then a dir in one layer loses its children",
            vec![
                vec![d("d", 0o755), f("d/old", 0o644, "")],
                vec![f("d", 0o644, "x"), d("d", 0o711), f("d/new", 0o644, "")],
            ],
            T("/d dir 0711 0:0\n/d/new file 0644 0:0 \"\"\n"),
        ),
        v(
            "fifo and device over a file",
            vec![vec![f("a", 0o644, ""), f("b", 0o644, "")], vec![fifo("a"), chr("b", 1, 5)]],
            T("/a fifo 0644 0:0\n/b char-device 0666 0:0 1,5\n"),
        ),
        // ---- symlinked parents
        v(
            "parent through an absolute symlink",
            vec![vec![d("usr/lib", 0o755), l("lib", "/usr/lib")], vec![f("lib/x", 0o644, "")]],
            T("/lib symlink 0777 0:0 -> /usr/lib\n/usr dir 0755 0:0\n/usr/lib dir 0755 0:0\n/usr/lib/x file 0644 0:0 \"\"\n"),
        ),
        v(
            "dot-dot in a symlink target stops at the root",
            vec![vec![d("a", 0o755), l("a/up", "../../../../b")], vec![f("a/up/x", 0o644, "")]],
            T("/a dir 0755 0:0\n/a/up symlink 0777 0:0 -> ../../../../b\n/b dir 0755 0:0\n/b/x file 0644 0:0 \"\"\n"),
        ),
        v(
            "chain of symlinks as a parent",
            vec![vec![d("t", 0o755), l("s1", "s2"), l("s2", "./t/")], vec![f("s1/x", 0o644, "")]],
            T("/s1 symlink 0777 0:0 -> s2\n/s2 symlink 0777 0:0 -> ./t/\n/t dir 0755 0:0\n/t/x file 0644 0:0 \"\"\n"),
        ),
        v(
            "symlink loop as a parent is an error",
            vec![vec![l("a", "b"), l("b", "a")], vec![f("a/x", 0o644, "")]],
            Error(&["layer 2", "/a/x", "too many levels of symbolic links"]),
        ),
        v(
            "self-referencing symlink as a parent is an error",
            vec![vec![l("a", "/a/b"), f("a/b/c", 0o644, "")]],
            Error(&["layer 1", "/a/b/c", "too many levels"]),
        ),
        v(
            "a symlink with an empty target as a parent is an error",
            vec![vec![l("a", "")], vec![f("a/x", 0o644, "")]],
            Error(&["layer 2", "/a/x", "symlink /a", "empty or invalid target"]),
        ),
        v(
            "a symlink with a NUL in its target as a parent is an error",
            vec![vec![l("a", "x\0y")], vec![f("a/x", 0o644, "")]],
            Error(&["layer 2", "/a/x", "empty or invalid target"]),
        ),
        v(
            "a file as a parent is an error (as containerd's ENOTDIR)",
            vec![vec![f("a", 0o644, "")], vec![f("a/b", 0o644, "")]],
            Error(&["layer 2", "/a/b", "/a is a file"]),
        ),
        v(
            "a symlink to a file as a parent is an error",
            vec![vec![f("t", 0o644, ""), l("a", "t"), f("a/b", 0o644, "")]],
            Error(&["layer 1", "/a/b", "/t is a file"]),
        ),
        v(
            "a symlink into a whiteout name cannot create a parent",
            vec![vec![l("s", ".wh.x")], vec![f("s/y", 0o644, "")]],
            Error(&["layer 2", "/s/y", "whiteout"]),
        ),
        // ---- hard links
        v(
            "hard link in the same layer",
            vec![vec![f("a", 0o644, "data"), h("b", "a")]],
            T("/a file 0644 0:0 \"data\"\n/b hardlink 0644 0:0 => /a\n"),
        ),
        v(
            "hard link across layers",
            vec![vec![f("a", 0o600, "data").own(2, 2)], vec![h("z", "a").mode(0o600).own(2, 2)]],
            T("/a file 0600 2:2 \"data\"\n/z hardlink 0600 2:2 => /a\n"),
        ),
        v(
            "hard link chain is one group",
            vec![vec![f("a", 0o644, "d"), h("b", "a")], vec![h("c", "b")]],
            T("/a file 0644 0:0 \"d\"\n/b hardlink 0644 0:0 => /a\n/c hardlink 0644 0:0 => /a\n"),
        ),
        v(
            "hard link keeps content when the target is deleted later",
            vec![vec![f("a", 0o644, "d").own(3, 3), h("b", "a").own(3, 3)], vec![wh("a")]],
            T("/b file 0644 3:3 \"d\"\n"),
        ),
        v(
            "hard link keeps content when the target is replaced later",
            vec![vec![f("a", 0o644, "old"), h("b", "a")], vec![f("a", 0o644, "new")]],
            T("/a file 0644 0:0 \"new\"\n/b file 0644 0:0 \"old\"\n"),
        ),
        v(
            "replacing one name splits it off the group",
            vec![vec![f("a", 0o644, "x"), h("b", "a"), h("c", "a")], vec![f("b", 0o644, "y")]],
            T("/a file 0644 0:0 \"x\"\n/b file 0644 0:0 \"y\"\n/c hardlink 0644 0:0 => /a\n"),
        ),
        v(
            "the first name in output order carries the content",
            vec![vec![f("z", 0o644, "d"), h("a", "z")]],
            T("/a file 0644 0:0 \"d\"\n/z hardlink 0644 0:0 => /a\n"),
        ),
        v(
            "hard link to a symlink is a second name of the symlink",
            vec![vec![l("s", "target"), h("h", "s")]],
            T("/h symlink 0777 0:0 -> target\n/s hardlink 0777 0:0 => /h\n"),
        ),
        v(
            "a hard link entry's owner, mode and xattrs apply to the shared inode",
            vec![
                vec![f("a", 0o4755, "d").own(1, 1).x("user.k", "old")],
                vec![h("b", "a").own(5, 6).x("user.n", "new")],
            ],
            T("/a file 0644 5:6 \"d\" user.k=old user.n=new\n/b hardlink 0644 5:6 => /a user.k=old user.n=new\n"),
        ),
        v(
            "a link's metadata change survives its entry being replaced in the same layer",
            vec![
                vec![f("a", 0o755, "d")],
                vec![h("b", "a").mode(0o600), d("b", 0o755)],
            ],
            T("/a file 0600 0:0 \"d\"\n/b dir 0755 0:0\n"),
        ),
        v(
            "hard link to a device",
            vec![vec![chr("dev/null", 1, 3), h("dev/null2", "dev/null").mode(0o666)]],
            T("/dev dir 0755 0:0\n/dev/null char-device 0666 0:0 1,3\n/dev/null2 hardlink 0666 0:0 => /dev/null\n"),
        ),
        v(
            "hard link target resolves through a symlink to / and stays inside",
            vec![
                vec![f("etc/passwd", 0o644, "root"), l("hostetc", "/../../etc")],
                vec![h("pw", "hostetc/passwd")],
            ],
            T("/etc dir 0755 0:0\n/etc/passwd file 0644 0:0 \"root\"\n/hostetc symlink 0777 0:0 -> /../../etc\n/pw hardlink 0644 0:0 => /etc/passwd\n"),
        ),
        v(
            "hard link to a missing path is an error",
            vec![vec![f("a", 0o644, "")], vec![h("b", "nope")]],
            Error(&["layer 2", "/b", "/nope", "does not exist"]),
        ),
        v(
            "hard link to a path later in the same layer is an error",
            vec![vec![h("b", "a"), f("a", 0o644, "")]],
            Error(&["layer 1", "/b", "/a", "does not exist"]),
        ),
        v(
            "hard link to a path deleted by the same layer's whiteout is an error",
            vec![vec![f("a", 0o644, "")], vec![h("b", "a"), wh("a")]],
            Error(&["layer 2", "/b", "does not exist"]),
        ),
        v(
            "hard link to a directory is an error",
            vec![vec![d("d", 0o755), h("b", "d")]],
            Error(&["layer 1", "/b", "/d", "directory"]),
        ),
        v(
            "hard link through a symlink loop is an error",
            vec![vec![l("a", "a"), h("b", "a/x")]],
            Error(&["layer 1", "/b", "too many levels"]),
        ),
        // ---- path forms, names and metadata
        v(
            "path forms normalise",
            vec![vec![
                f("./a", 0o644, ""),
                f("/b", 0o644, ""),
                f("c//d", 0o644, ""),
                d("e/", 0o755),
                f("/./g/./h", 0o644, ""),
            ]],
            T("/a file 0644 0:0 \"\"\n/b file 0644 0:0 \"\"\n/c dir 0755 0:0\n/c/d file 0644 0:0 \"\"\n/e dir 0755 0:0\n/g dir 0755 0:0\n/g/h file 0644 0:0 \"\"\n"),
        ),
        v("long names", vec![vec![f(long_file, 0o644, "l")]], T(long_want)),
        v(
            "non-ASCII and non-UTF-8 names",
            vec![vec![
                f("ünï/日本.txt", 0o644, ""),
                Entry::new(pb(b"bad\xff"), Kind::File(Content::Empty), 0o644),
            ]],
            T("/bad\u{fffd} file 0644 0:0 \"\"\n/ünï dir 0755 0:0\n/ünï/日本.txt file 0644 0:0 \"\"\n"),
        ),
        v(
            "devices and fifos keep their numbers",
            vec![vec![chr("dev/null", 1, 3), blk("dev/sda", 8, 0), fifo("run/fifo").own(0, 5)]],
            T("/dev dir 0755 0:0\n/dev/null char-device 0666 0:0 1,3\n/dev/sda block-device 0660 0:0 8,0\n/run dir 0755 0:0\n/run/fifo fifo 0644 0:5\n"),
        ),
        v(
            "setuid, setgid and sticky bits are kept",
            vec![vec![f("bin/su", 0o4755, ""), f("bin/wall", 0o2755, ""), d("tmp", 0o1777)]],
            T("/bin dir 0755 0:0\n/bin/su file 4755 0:0 \"\"\n/bin/wall file 2755 0:0 \"\"\n/tmp dir 1777 0:0\n"),
        ),
        v(
            "xattrs are kept",
            vec![vec![f("ping", 0o755, "").x("security.capability", "cap").x("user.a", "b")]],
            T("/ping file 0755 0:0 \"\" security.capability=cap user.a=b\n"),
        ),
        v(
            "duplicate paths: the last one wins",
            vec![vec![f("a", 0o644, "1"), f("a", 0o600, "2")]],
            T("/a file 0600 0:0 \"2\"\n"),
        ),
        v(
            "duplicate dir then file drops the dir's children",
            vec![vec![d("a", 0o755), f("a/x", 0o644, ""), f("a", 0o644, "file")]],
            T("/a file 0644 0:0 \"file\"\n"),
        ),
        Vector {
            name: "duplicate paths are an error when strict",
            layers: vec![vec![f("a", 0o644, "1"), f("./a", 0o644, "2")]],
            strict: true,
            want: Error(&["layer 1", "duplicate", "/a"]),
        },
        v(
            "a root entry with other attributes is listed first",
            vec![vec![f("a", 0o644, ""), d("/", 0o700).own(1, 1)]],
            T("/ dir 0700 1:1\n/a file 0644 0:0 \"\"\n"),
        ),
        v(
            "a root entry with the default attributes is not listed",
            vec![vec![d("./", 0o755), f("a", 0o644, "")]],
            T("/a file 0644 0:0 \"\"\n"),
        ),
        v(
            "a root entry that is not a directory is an error",
            vec![vec![f("/", 0o644, "")]],
            Error(&["layer 1", "root entry is a file"]),
        ),
    ]
}

#[test]
fn vectors_hold() {
    let table = vectors();
    assert!(table.len() >= 40, "only {} vectors", table.len());
    let mut failures = Vec::new();
    for vec in table {
        let opts = MergeOptions {
            strict_duplicates: vec.strict,
            ..MergeOptions::default()
        };
        let got = merge_checked(vec.layers.clone(), &opts);
        let reference = {
            let mut fs = RefFs::new();
            vec.layers
                .iter()
                .try_for_each(|l| fs.apply(l.clone(), Mode::Phased))
                .map(|_| listing(&fs.entries()))
        };
        match (&vec.want, got) {
            (T(want), Ok(entries)) => {
                let got = listing(&entries);
                if got != *want {
                    failures.push(format!("{}:\n--- want\n{want}--- got\n{got}", vec.name));
                } else if !vec.strict && reference.as_deref() != Ok(got.as_str()) {
                    failures.push(format!(
                        "{}: the reference model disagrees: {reference:?}",
                        vec.name
                    ));
                }
            }
            (Error(pieces), Err(msg)) => {
                if let Some(missing) = pieces.iter().find(|p| !msg.contains(*p)) {
                    failures.push(format!("{}: error {msg:?} lacks {missing:?}", vec.name));
                }
                if !vec.strict && reference.is_ok() {
                    failures.push(format!("{}: the reference model did not fail", vec.name));
                }
            }
            (T(_), Err(msg)) => failures.push(format!("{}: unexpected error {msg}", vec.name)),
            (Error(_), Ok(e)) => {
                failures.push(format!("{}: no error; got\n{}", vec.name, listing(&e)))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The dev loop restores the tree of the layers below from their merged entries
/// ([`Tree::restore`]): the layer above must merge over it exactly as over the tree those
/// layers made, and as over the entries applied as one layer (what the restore replaces).
#[test]
fn a_restored_tree_takes_the_next_layer_as_the_merged_one_does() {
    let mut checked = 0;
    for vec in vectors() {
        let Some((top, lower)) = vec.layers.split_last() else {
            continue;
        };
        let opts = MergeOptions {
            strict_duplicates: vec.strict,
            ..MergeOptions::default()
        };
        let mut merged = Tree::new();
        if lower
            .iter()
            .any(|l| merged.apply("lower", l.clone(), &opts).is_err())
        {
            continue;
        }
        let entries = merged.entries();
        let snapshot = || Snapshot::from_bytes(encode_snapshot(&entries)).unwrap();
        // Read as the top layer needs it, and read whole before.
        let mut lazy = Tree::over_snapshot("snapshot", snapshot()).unwrap();
        let mut loaded = Tree::over_snapshot("snapshot", snapshot()).unwrap();
        loaded.load_all().unwrap();
        let mut applied = Tree::new();
        applied
            .apply("snapshot", entries.clone(), &MergeOptions::default())
            .unwrap();
        let over = |t: &mut Tree| {
            let applied = t.apply("top", top.clone(), &opts);
            t.load_all().unwrap();
            applied
                .map(|a| {
                    (
                        sized_listing(&a.layer),
                        a.warnings,
                        sized_listing(&t.entries()),
                    )
                })
                .map_err(|e| e.to_string())
        };
        let want = over(&mut merged);
        for (name, t) in [
            ("lazy", &mut lazy),
            ("loaded", &mut loaded),
            ("applied", &mut applied),
        ] {
            assert_eq!(over(t), want, "{} ({name})", vec.name);
        }
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} vectors with layers below the top"
    );
}

#[test]
fn a_snapshot_holding_a_whiteout_is_damaged() {
    let bytes = encode_snapshot(&[f("a/.wh.b", 0o644, "")]);
    let mut t = Tree::over_snapshot("snapshot", Snapshot::from_bytes(bytes).unwrap()).unwrap();
    let err = t
        .apply("top", vec![f("a/c", 0o644, "x")], &MergeOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("snapshot is damaged"), "{err}");
}

#[test]
fn hostile_names_fail_to_parse() {
    assert_eq!(ImagePath::parse(b".."), Err(PathError::DotDot));
    assert_eq!(
        ImagePath::parse(b"a/../../etc/passwd"),
        Err(PathError::DotDot)
    );
    assert_eq!(ImagePath::parse(b"/../x"), Err(PathError::DotDot));
    assert_eq!(ImagePath::parse(b"a\0b"), Err(PathError::Nul));
    assert_eq!(ImagePath::parse(b""), Err(PathError::Empty));
    // A hard link target outside the root cannot even be written down.
    assert!(ImagePath::parse(b"../etc/shadow").is_err());
}
