//! Which process a temporary file belongs to, written in its name: the process id, its
//! start time (so that a reused pid is not taken for the owner) and its pid namespace (a
//! pid means nothing in another one). A leftover whose owner is gone can be removed at
//! once; one whose owner cannot be judged waits for the age rule.

use std::sync::OnceLock;

/// Who a process is: pid, start time in clock ticks since boot, pid namespace inode (0
/// when unknown: not Linux, or no /proc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    pid: u32,
    start: u64,
    ns: u64,
}

/// What can be said of the owner of a temporary name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This process.
    Me,
    /// Another process that is still running.
    Alive,
    /// A process that has ended (or whose pid now belongs to another process).
    Gone,
    /// No tag in the name, or a process this one cannot see (another pid namespace).
    Unknown,
}

fn me() -> Id {
    static ME: OnceLock<Id> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        Id {
            pid,
            start: start_time(pid).unwrap_or(0),
            ns: pid_namespace().unwrap_or(0),
        }
    })
}

/// This process's tag, as temporary names carry it: `_pPID-STARTnNS_`.
pub fn tag() -> String {
    let m = me();
    format!("_p{}-{}n{}_", m.pid, m.start, m.ns)
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), when it runs.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The inode of this process's pid namespace (`/proc/self/ns/pid` → `pid:[INODE]`).
fn pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_str()?;
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// The tag in `name`, when there is one (the last, should a name hold several).
fn parse(name: &str) -> Option<Id> {
    let mut found = None;
    let mut rest = name;
    let mut offset = 0;
    while let Some(i) = rest.find("_p") {
        let at = offset + i + 2;
        if let Some(id) = parse_at(&name[at..]) {
            found = Some(id);
        }
        offset = at;
        rest = &name[at..];
    }
    found
}

/// `PID-STARTnNS_…` at the start of `s`.
fn parse_at(s: &str) -> Option<Id> {
    let (pid, s) = s.split_once('-')?;
    let (start, s) = s.split_once('n')?;
    let (ns, _) = s.split_once('_')?;
    let num = |t: &str| {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    Some(Id {
        pid: num(pid)? as u32,
        start: num(start)?,
        ns: num(ns)?,
    })
}

/// The owner of a temporary file named `name`.
pub fn owner_of(name: &str) -> Owner {
    let Some(id) = parse(name) else {
        return Owner::Unknown;
    };
    let me = me();
    if id == me {
        return Owner::Me;
    }
    if me.ns == 0 || id.ns != me.ns {
        return Owner::Unknown;
    }
    match start_time(id.pid) {
        Some(start) if start == id.start => Owner::Alive,
        _ => Owner::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner() {
        let name = format!(".part-{}Ab12Cd", tag());
        assert_eq!(owner_of(&name), Owner::Me);
        assert_eq!(owner_of(".part-Ab12Cd"), Owner::Unknown);
        let m = me();
        if m.ns != 0 {
            // pid 1 runs, but not since our start time: a reused pid is not the owner.
            let reused = format!(".part-_p1-{}n{}_x", u64::MAX, m.ns);
            assert_eq!(owner_of(&reused), Owner::Gone);
            let other_ns = format!(".part-_p1-1n{}_x", m.ns + 1);
            assert_eq!(owner_of(&other_ns), Owner::Unknown);
        }
    }

    #[test]
    fn a_finished_process_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let m = me();
        if let (Some(start), true) = (start, m.ns != 0) {
            let name = format!(".stage-_p{pid}-{start}n{}_x", m.ns);
            assert_eq!(owner_of(&name), Owner::Gone);
        }
    }

    #[test]
    fn output_names_with_underscores_still_parse() {
        let name = format!(".my_p1-x.tar.tmp-{}Zz", tag());
        assert_eq!(owner_of(&name), Owner::Me);
    }
}
