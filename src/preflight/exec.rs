//! The program checks: finding the program, its permissions, its format (ELF or `#!`),
//! its architecture, its interpreter and the closure of its libraries.

use std::borrow::Cow;
use std::collections::HashSet;

use super::bytes::{read_prefix, ContentReader};
use super::elf::{self, ElfInfo};
use super::loader::{self, Libc};
use super::{Env, Finding};
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::platform::Platform;
use crate::treeview::{Resolved, TreeView};

/// How many `#!` interpreters may chain (Linux allows 4 levels of binfmt rewriting).
const MAX_SCRIPT_DEPTH: u32 = 4;
/// The most shared objects followed for one program.
const MAX_OBJECTS: usize = 512;
/// What the kernel reads of a `#!` line (`BINPRM_BUF_SIZE`).
const SHEBANG_MAX: usize = 256;

const STATIC_HINT: &str = "link it statically (Rust: a musl target or `-C target-feature=+crt-static`; Go: `CGO_ENABLED=0`; C: `-static`), or add the C library's loader and libraries in a layer ([[layer.copy]] from a rootfs input)";

/// What the checks of one image share.
pub(crate) struct Ctx<'a, 'v> {
    pub(crate) view: &'a TreeView<'v>,
    pub(crate) platform: &'a Platform,
    pub(crate) env: &'a Env,
    /// The process's uid and gid, when known.
    pub(crate) user: Option<(u64, u64)>,
    pub(crate) workdir: &'a str,
}

/// A shared object in the loader's closure.
struct Object {
    display: String,
    /// Its directory (for `$ORIGIN`).
    dir: String,
    info: ElfInfo,
    parent: Option<usize>,
}

impl<'v> Ctx<'_, 'v> {
    /// Check the container's program, `argv0`, as the runtime would start it.
    pub(crate) fn check_program(&self, argv0: &str, _args: &[String], out: &mut Vec<Finding>) {
        if let Some((path, entry)) = self.locate(argv0, "entrypoint", out) {
            self.check_executable(&path, &entry, 0, out);
        }
    }

    /// An absolute form of a path the process would open from its working directory.
    fn absolute(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", self.workdir.trim_end_matches('/'))
        }
    }

    /// Find the program: a path, or a name looked up on `PATH` as runc does.
    fn locate(
        &self,
        argv0: &str,
        check: &'static str,
        out: &mut Vec<Finding>,
    ) -> Option<(ImagePath, Cow<'v, Entry>)> {
        if !argv0.contains('/') {
            for dir in self.env.path.split(':').filter(|d| !d.is_empty()) {
                let candidate = format!("{}/{argv0}", self.absolute(dir));
                if let Resolved::Found { path, entry } =
                    self.view.resolve(candidate.as_bytes(), true)
                {
                    if matches!(entry.kind, Kind::File(_)) && entry.mode & 0o111 != 0 {
                        return Some((path, entry));
                    }
                }
            }
            out.push(Finding {
                check: check.to_string(),
                path: argv0.to_string(),
                message: format!(
                    "`{argv0}` is not found in PATH ({}): the container would fail with \"executable file not found in $PATH\"",
                    self.env.path
                ),
                hint: "give the program's absolute path, or add it to a directory on PATH".to_string(),
            });
            return None;
        }
        let full = self.absolute(argv0);
        let missing = |message: String| {
            Finding {
            check: check.to_string(),
            path: argv0.to_string(),
            message,
            hint: format!("add it in a layer (e.g. [[layer.file]] dest = \"{full}\"), or fix the path in [config]"),
        }
        };
        match self.view.resolve(full.as_bytes(), true) {
            Resolved::Found { path, entry } => return Some((path, entry)),
            Resolved::ImplicitDir { .. } => {
                out.push(missing(format!("{full} is a directory, not a program")))
            }
            Resolved::Missing {
                at,
                via: Some((link, target)),
            } => out.push(missing(format!(
                "{full} is a dangling symlink: {link} -> {}, and {at} does not exist",
                String::from_utf8_lossy(&target)
            ))),
            Resolved::Missing { at, via: None } => out.push(missing(if at.display() == full {
                format!("{full} does not exist in the image")
            } else {
                format!("{full} does not exist in the image ({at} is missing)")
            })),
            Resolved::NotDir { at } => {
                out.push(missing(format!("{full}: {at} is not a directory")))
            }
            Resolved::BadLink { at } => out.push(missing(format!(
                "{full}: the symlink {at} loops or has an empty target"
            ))),
        }
        None
    }

    /// May the process's user execute a file with this owner and mode?
    fn may_execute(&self, e: &Entry) -> bool {
        match self.user {
            None | Some((0, _)) => e.mode & 0o111 != 0,
            Some((uid, _)) if uid == e.uid => e.mode & 0o100 != 0,
            Some((_, gid)) if gid == e.gid => e.mode & 0o010 != 0,
            Some(_) => e.mode & 0o001 != 0,
        }
    }

    fn check_executable(
        &self,
        path: &ImagePath,
        entry: &Entry,
        depth: u32,
        out: &mut Vec<Finding>,
    ) {
        let display = path.display();
        let Kind::File(content) = &entry.kind else {
            out.push(Finding {
                check: "entrypoint".to_string(),
                path: display.clone(),
                message: format!("{display} is a {}, not a regular file", entry.kind.name()),
                hint: "point the entrypoint at the program itself".to_string(),
            });
            return;
        };
        if !self.may_execute(entry) {
            let who = match self.user {
                Some((uid, gid)) => format!("user {uid}:{gid}"),
                None => "anyone".to_string(),
            };
            out.push(Finding {
                check: "permission".to_string(),
                path: display.clone(),
                message: format!(
                    "{display} is not executable for {who} (mode {:04o}, owner {}:{}): \"permission denied\"",
                    entry.mode, entry.uid, entry.gid
                ),
                hint: "give it mode = \"0755\" in the layer that adds it".to_string(),
            });
        }
        if matches!(content, Content::NotKept { .. }) {
            // A lower layer's file over a layer-cache tree snapshot: it exists, its bytes
            // are not at hand; nothing more can be said without reading the base again.
            return;
        }
        let prefix = match read_prefix(content, SHEBANG_MAX) {
            Ok(p) => p,
            Err(e) => {
                out.push(Finding {
                    check: "format".to_string(),
                    path: display.clone(),
                    message: format!("{display} cannot be read: {e}"),
                    hint: "check the input it comes from".to_string(),
                });
                return;
            }
        };
        if let Some(line) = prefix.strip_prefix(b"#!") {
            self.check_script(&display, line, depth, out);
        } else if elf::is_elf(&prefix) {
            self.check_elf(path, content, out);
        } else {
            out.push(Finding {
                check: "format".to_string(),
                path: display.clone(),
                message: format!(
                    "{display} is neither an ELF program nor a script starting with #!: \"exec format error\""
                ),
                hint: "point the entrypoint at a program, or start the script with a #! line"
                    .to_string(),
            });
        }
    }

    fn check_script(&self, display: &str, line: &[u8], depth: u32, out: &mut Vec<Finding>) {
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        let (interp, arg) = match line.split_once([' ', '\t']) {
            Some((i, a)) => (i, a.trim()),
            None => (line, ""),
        };
        let finding = |message: String, hint: &str| Finding {
            check: "shebang".to_string(),
            path: display.to_string(),
            message,
            hint: hint.to_string(),
        };
        if interp.is_empty() {
            out.push(finding(
                format!("script {display} has an empty #! line"),
                "name the interpreter: #!/bin/sh",
            ));
            return;
        }
        if depth >= MAX_SCRIPT_DEPTH {
            out.push(finding(
                format!("script {display}: too many levels of #! interpreters"),
                "point the #! line at a program, not another script",
            ));
            return;
        }
        let full = self.absolute(interp);
        let Resolved::Found { path, entry } = self.view.resolve(full.as_bytes(), true) else {
            out.push(finding(
                format!("script {display} names the interpreter {interp}, which is not in the image: \"no such file or directory\""),
                "add the interpreter (busybox, a shell, the language runtime) in a layer, or make the entrypoint a program",
            ));
            return;
        };
        self.check_executable(&path, &entry, depth + 1, out);
        let name = arg.split([' ', '\t']).next().unwrap_or("");
        if path.file_name() == b"env" && !name.is_empty() && !name.starts_with('-') {
            let mut missing = Vec::new();
            if let Some((p, e)) = self.locate(name, "shebang", &mut missing) {
                self.check_executable(&p, &e, depth + 1, out);
            } else {
                out.push(finding(
                    format!("script {display} runs `env {name}`, and `{name}` is not found in PATH ({})", self.env.path),
                    "add the program to a directory on PATH, or name its absolute path in the #! line",
                ));
            }
        }
    }

    fn check_elf(&self, path: &ImagePath, content: &Content, out: &mut Vec<Finding>) {
        let display = path.display();
        let Some(info) = self.parse_elf(&display, content, out) else {
            return;
        };
        if !info.is_loadable() {
            out.push(Finding {
                check: "format".to_string(),
                path: display.clone(),
                message: format!("{display} is an ELF object file, not a program"),
                hint: "link it into an executable".to_string(),
            });
            return;
        }
        if !self.arch_ok(&display, &info, out) {
            return;
        }
        let Some(interp) = info.interpreter.clone() else {
            return;
        };
        let libc = Libc::of_interpreter(&interp);
        let interp_s = String::from_utf8_lossy(&interp).into_owned();
        let libc_name = match libc {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        };
        let interp_entry = match self.view.resolve(&interp, true) {
            Resolved::Found { path, entry } if matches!(entry.kind, Kind::File(_)) => {
                Some((path, entry))
            }
            _ => None,
        };
        let Some((interp_path, interp_entry)) = interp_entry else {
            out.push(Finding {
                check: "interpreter".to_string(),
                path: display.clone(),
                message: format!("{display} is dynamically linked ({libc_name}): its interpreter {interp_s} is not in the image, so the container would fail with \"no such file or directory\""),
                hint: STATIC_HINT.to_string(),
            });
            return;
        };
        if let Kind::File(c) = &interp_entry.kind {
            if matches!(c, Content::NotKept { .. }) {
                // Bytes not at hand (a tree snapshot): the loader exists, unchecked.
            } else if let Some(i) = self.parse_elf(&interp_path.display(), c, out) {
                if !self.arch_ok(&interp_path.display(), &i, out) {
                    return;
                }
            }
        }
        let mut loaded: HashSet<Vec<u8>> = HashSet::new();
        loaded.insert(
            interp
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap_or(&interp)
                .to_vec(),
        );
        loaded.insert(interp_path.file_name().to_vec());
        self.check_libraries(path, info, libc, loaded, out);
    }

    fn parse_elf(
        &self,
        display: &str,
        content: &Content,
        out: &mut Vec<Finding>,
    ) -> Option<ElfInfo> {
        let parsed = ContentReader::open(content)
            .map_err(|e| e.to_string())
            .and_then(|r| elf::parse(r).map_err(|e| e.to_string()));
        match parsed {
            Ok(i) => Some(i),
            Err(e) => {
                out.push(Finding {
                    check: "format".to_string(),
                    path: display.to_string(),
                    message: format!("{display} cannot be read as ELF: {e}"),
                    hint: "check the input it comes from; the kernel would refuse it too"
                        .to_string(),
                });
                None
            }
        }
    }

    /// False (with a finding) when the ELF file is for another machine.
    fn arch_ok(&self, display: &str, info: &ElfInfo, out: &mut Vec<Finding>) -> bool {
        let Some((machine, class64, little)) = elf::expected_for(&self.platform.architecture)
        else {
            return true;
        };
        if (info.machine, info.class64, info.little_endian) == (machine, class64, little) {
            return true;
        }
        out.push(Finding {
            check: "architecture".to_string(),
            path: display.to_string(),
            message: format!(
                "{display} is a {}{} program, but this image is for {}: \"exec format error\"",
                if info.class64 { "64-bit " } else { "32-bit " },
                info.machine_name(),
                self.platform
            ),
            hint: format!(
                "build it for {} (Rust: `--target`, Go: `GOARCH={}`), or give its layer `platform = \"…\"` for the platform it was built for",
                self.platform, self.platform.architecture
            ),
        });
        false
    }

    /// Follow `DT_NEEDED` from the program through every library found.
    fn check_libraries(
        &self,
        program: &ImagePath,
        info: ElfInfo,
        libc: Libc,
        mut loaded: HashSet<Vec<u8>>,
        out: &mut Vec<Finding>,
    ) {
        let conf_dirs = match libc {
            Libc::Glibc => loader::ld_so_conf_dirs(self.view),
            Libc::Musl => Vec::new(),
        };
        let (system, system_from) = match libc {
            Libc::Glibc => (
                loader::glibc_system_dirs(self.platform),
                "glibc's system directories".to_string(),
            ),
            Libc::Musl => loader::musl_system_dirs(self.view, self.platform),
        };
        let mut objects = vec![Object {
            display: program.display(),
            dir: parent_dir(program),
            info,
            parent: None,
        }];
        let mut paths: HashSet<ImagePath> = HashSet::from([program.clone()]);
        let mut reported: HashSet<Vec<u8>> = HashSet::new();
        let mut i = 0;
        while i < objects.len() && objects.len() < MAX_OBJECTS {
            for name in objects[i].info.needed.clone() {
                if loaded.contains(&name) || (libc == Libc::Musl && loader::musl_builtin(&name)) {
                    continue;
                }
                let dirs = self.search_dirs(&objects, i, libc, &conf_dirs, &system);
                match self.find_library(&name, &dirs, libc, &objects[0].info) {
                    Some((path, info)) => {
                        if libc == Libc::Musl && !self.arch_ok(&path.display(), &info, out) {
                            continue;
                        }
                        loaded.insert(name.clone());
                        if paths.insert(path.clone()) {
                            objects.push(Object {
                                display: path.display(),
                                dir: parent_dir(&path),
                                info,
                                parent: Some(i),
                            });
                        }
                    }
                    None if reported.insert(name.clone()) => {
                        let name = String::from_utf8_lossy(&name);
                        out.push(Finding {
                            check: "library".to_string(),
                            path: objects[i].display.clone(),
                            message: format!(
                                "library {name}, needed by {}, is not in the image (searched {}; then {system_from})",
                                objects[i].display,
                                if dirs.len() > system.len() { dirs[..dirs.len() - system.len()].join(":") } else { "no RUNPATH/RPATH/LD_LIBRARY_PATH".to_string() }
                            ),
                            hint: format!("add {name} and what it needs in a layer (e.g. [[layer.copy]] from the rootfs the program was built against), or link statically"),
                        });
                    }
                    None => {}
                }
            }
            i += 1;
        }
    }

    /// The directories searched for a library needed by `objects[i]`, in order.
    fn search_dirs(
        &self,
        objects: &[Object],
        i: usize,
        libc: Libc,
        conf: &[String],
        system: &[String],
    ) -> Vec<String> {
        let chain = || std::iter::successors(Some(i), |&j| objects[j].parent);
        let ld_path = self
            .env
            .ld_library_path
            .as_deref()
            .map(|p| loader::expand_path_list(p.as_bytes(), &objects[0].dir))
            .unwrap_or_default();
        let mut dirs = Vec::new();
        match libc {
            Libc::Glibc => {
                if objects[i].info.runpath.is_none() {
                    for j in chain() {
                        let o = &objects[j];
                        if let (None, Some(rp)) = (&o.info.runpath, &o.info.rpath) {
                            dirs.extend(loader::expand_path_list(rp, &o.dir));
                        }
                    }
                }
                dirs.extend(ld_path);
                if let Some(rp) = &objects[i].info.runpath {
                    dirs.extend(loader::expand_path_list(rp, &objects[i].dir));
                }
                dirs.extend(conf.iter().cloned());
            }
            Libc::Musl => {
                dirs.extend(ld_path);
                for j in chain() {
                    let o = &objects[j];
                    if let Some(rp) = o.info.runpath.as_ref().or(o.info.rpath.as_ref()) {
                        dirs.extend(loader::expand_path_list(rp, &o.dir));
                    }
                }
            }
        }
        dirs.extend(system.iter().cloned());
        dirs
    }

    /// The first library called `name` the loader would take from `dirs`.
    fn find_library(
        &self,
        name: &[u8],
        dirs: &[String],
        libc: Libc,
        program: &ElfInfo,
    ) -> Option<(ImagePath, ElfInfo)> {
        let name_s = String::from_utf8_lossy(name);
        let candidates: Vec<String> = if name.contains(&b'/') {
            vec![self.absolute(&name_s)]
        } else {
            dirs.iter()
                .map(|d| format!("{}/{name_s}", self.absolute(d)))
                .collect()
        };
        for c in candidates {
            let Resolved::Found { path, entry } = self.view.resolve(c.as_bytes(), true) else {
                continue;
            };
            let Kind::File(content) = &entry.kind else {
                continue;
            };
            if matches!(content, Content::NotKept { .. }) {
                // Bytes not at hand (a tree snapshot): taken as the library, unchecked.
                return Some((path, ElfInfo::default()));
            }
            let info = ContentReader::open(content)
                .ok()
                .and_then(|r| elf::parse(r).ok());
            match (libc, info) {
                (Libc::Musl, Some(info)) => return Some((path, info)),
                (Libc::Glibc, Some(info))
                    if (info.machine, info.class64) == (program.machine, program.class64) =>
                {
                    return Some((path, info))
                }
                _ => continue,
            }
        }
        None
    }
}

fn parent_dir(p: &ImagePath) -> String {
    p.parent()
        .map(|d| d.display())
        .unwrap_or_else(|| "/".to_string())
}
