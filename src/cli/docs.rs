//! Shell completions and man pages, generated from the same definition as the parser.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Write the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut super::command(), "compose", out);
}

/// Write `compose.1` and one page per subcommand (`compose-build.1`,
/// `compose-cache-prune.1`, …) into `dir`, created when missing; returns the files
/// written, sorted. The pages carry no date, so they are the same on every machine.
pub fn man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    write_pages(&cmd, dir, &mut written)?;
    written.sort();
    Ok(written)
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone()).manual("scratch-compose");
    let mut page = Vec::new();
    man.render(&mut page)?;
    let path = dir.join(man.get_filename());
    let tmp = dir.join(format!(".{}.tmp", man.get_filename()));
    std::fs::write(&tmp, &page)?;
    std::fs::rename(&tmp, &path)?;
    written.push(path);
    Ok(())
}
