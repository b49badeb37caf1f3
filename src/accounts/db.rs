//! The text formats of `/etc/passwd`, `/etc/group` and `/etc/shadow`: one record per
//! line, fields separated by `:`. Lines that are not records (comments, NIS `+` lines,
//! malformed lines) are kept verbatim.

/// One `/etc/passwd` record: `name:password:uid:gid:gecos:home:shell`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub password: String,
    pub uid: u64,
    pub gid: u64,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// One `/etc/group` record: `name:password:gid:member,member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub password: String,
    pub gid: u64,
    pub members: Vec<String>,
}

/// A line of an account file: a record, or anything else kept as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<T> {
    Record(T),
    Other(String),
}

/// The records and other lines of an `/etc/passwd`.
pub fn parse_passwd(text: &str) -> Vec<Line<PasswdEntry>> {
    lines(text, |f| {
        let [name, password, uid, gid, gecos, home, shell] = f[..] else {
            return None;
        };
        Some(PasswdEntry {
            name: valid_name(name)?.to_string(),
            password: password.to_string(),
            uid: number(uid)?,
            gid: number(gid)?,
            gecos: gecos.to_string(),
            home: home.to_string(),
            shell: shell.to_string(),
        })
    })
}

/// The records and other lines of an `/etc/group`.
pub fn parse_group(text: &str) -> Vec<Line<GroupEntry>> {
    lines(text, |f| {
        let [name, password, gid, members] = f[..] else {
            return None;
        };
        Some(GroupEntry {
            name: valid_name(name)?.to_string(),
            password: password.to_string(),
            gid: number(gid)?,
            members: members
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
        })
    })
}

/// The shadow lines of an `/etc/shadow`, keyed by their first field (the user name);
/// lines without one are kept as other lines.
pub fn parse_shadow(text: &str) -> Vec<Line<(String, String)>> {
    lines(text, |f| {
        let name = valid_name(f.first()?)?;
        (f.len() >= 2).then(|| (name.to_string(), f.join(":")))
    })
}

fn lines<T>(text: &str, record: impl Fn(&[&str]) -> Option<T>) -> Vec<Line<T>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            match record(&fields) {
                Some(r) => Line::Record(r),
                None => Line::Other(l.to_string()),
            }
        })
        .collect()
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn valid_name(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.starts_with(['+', '-', '#']) && !s.contains(char::is_whitespace))
        .then_some(s)
}

impl PasswdEntry {
    /// The record as one line, without the newline.
    pub fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.name, self.password, self.uid, self.gid, self.gecos, self.home, self.shell
        )
    }
}

impl GroupEntry {
    /// The record as one line, without the newline.
    pub fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name,
            self.password,
            self.gid,
            self.members.join(",")
        )
    }
}

/// Lines joined with a newline after each.
pub fn render_lines(lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A user name or id from `/etc/passwd` text: (uid, primary gid).
pub fn lookup_user(passwd: &str, name: &str) -> Option<(u64, u64)> {
    parse_passwd(passwd).into_iter().find_map(|l| match l {
        Line::Record(p) if p.name == name => Some((p.uid, p.gid)),
        _ => None,
    })
}

/// A group name from `/etc/group` text: its gid.
pub fn lookup_group(group: &str, name: &str) -> Option<u64> {
    parse_group(group).into_iter().find_map(|l| match l {
        Line::Record(g) if g.name == name => Some(g.gid),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_and_keeps_other_lines() {
        let text = "root:x:0:0:root:/root:/bin/ash\n# comment\n+nis\nbad:x:notanumber:0::/:/bin/sh\n\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
        let lines = parse_passwd(text);
        assert_eq!(lines.len(), 5);
        let Line::Record(root) = &lines[0] else {
            panic!()
        };
        assert_eq!(
            (root.uid, root.gid, root.shell.as_str()),
            (0, 0, "/bin/ash")
        );
        assert_eq!(root.render(), "root:x:0:0:root:/root:/bin/ash");
        assert_eq!(lines[1], Line::Other("# comment".into()));
        assert_eq!(lines[2], Line::Other("+nis".into()));
        assert!(matches!(lines[3], Line::Other(_)));
        assert_eq!(lookup_user(text, "nobody"), Some((65534, 65534)));
        assert_eq!(lookup_user(text, "app"), None);
    }

    #[test]
    fn parses_groups_with_members() {
        let text = "wheel:x:10:root,app\nempty:x:11:\n";
        let g = parse_group(text);
        let Line::Record(wheel) = &g[0] else { panic!() };
        assert_eq!(wheel.members, ["root", "app"]);
        assert_eq!(wheel.render(), "wheel:x:10:root,app");
        let Line::Record(empty) = &g[1] else { panic!() };
        assert!(empty.members.is_empty());
        assert_eq!(empty.render(), "empty:x:11:");
        assert_eq!(lookup_group(text, "empty"), Some(11));
    }
}
