//! What the user sees on stderr: logs, warnings and progress bars.
//!
//! stdout carries results only; everything here goes to stderr. Progress bars appear only
//! when stderr is a terminal; otherwise plain log lines; nothing at all with `--quiet`.
//! Every line is shown through [`escape::message`], so no input can send control
//! characters to the terminal.

use crate::escape;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How chatty to be. Cheap to clone and share between threads.
#[derive(Clone, Debug)]
pub struct Ui {
    quiet: bool,
    verbose: bool,
    tty: bool,
    start: std::time::Instant,
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new(false, false)
    }
}

impl Ui {
    /// A reporter; progress bars only when stderr is a terminal.
    pub fn new(quiet: bool, verbose: bool) -> Ui {
        Ui {
            quiet,
            verbose,
            tty: std::io::stderr().is_terminal(),
            start: std::time::Instant::now(),
        }
    }

    /// A reporter that prints nothing (library callers and tests).
    pub fn silent() -> Ui {
        Ui {
            quiet: true,
            verbose: false,
            tty: false,
            start: std::time::Instant::now(),
        }
    }

    /// A normal progress line.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", escape::message(msg.as_ref()));
        }
    }

    /// Detail shown with `-v`, after the time since the reporter was made.
    pub fn debug(&self, msg: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            let ms = self.start.elapsed().as_secs_f64() * 1000.0;
            eprintln!("[{ms:8.1} ms] {}", escape::message(msg.as_ref()));
        }
    }

    /// A warning: shown unless `--quiet`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("warning: {}", escape::message(msg.as_ref()));
        }
    }

    /// A byte-count progress bar (bytes, rate, ETA) when stderr is a terminal; a hidden one
    /// otherwise, so callers need no special case.
    pub fn bytes_bar(&self, total: Option<u64>, msg: impl Into<String>) -> ProgressBar {
        if self.quiet || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let style = ProgressStyle::with_template(
            "{msg:30!} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(escape::text(&msg.into()).to_string());
        bar
    }

    /// True when progress bars are drawn (so plain log lines can be skipped).
    pub fn has_bars(&self) -> bool {
        !self.quiet && self.tty
    }
}
