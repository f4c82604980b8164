//! The progress line `gearbox submit --lines` draws on stderr while many jobs run.
//!
//! This module owns when a progress line is shown (stderr is a terminal and the batch is big
//! enough to be worth it), what it looks like, and erasing it before anything else is printed.
//! It must never write to stdout (results go there) nor redraw faster than a terminal can
//! follow.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Batches smaller than this finish too fast for a progress line to help.
const MIN_JOBS: usize = 20;
/// Width of the bar in characters.
const BAR_WIDTH: usize = 30;
/// Redraw at most this often.
const REDRAW: Duration = Duration::from_millis(100);

/// A `\r`-redrawn progress line on stderr; inert when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: usize,
    failed: usize,
    enabled: bool,
    drawn: Option<Instant>,
}

impl Progress {
    /// A progress line for `total` jobs, shown only for big batches on a terminal.
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            failed: 0,
            enabled: total >= MIN_JOBS && std::io::stderr().is_terminal(),
            drawn: None,
        }
    }

    /// One more job ended (`ok` false: it failed).
    pub fn tick(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        let due = self.drawn.is_none_or(|t| t.elapsed() >= REDRAW) || self.done == self.total;
        if self.enabled && due {
            self.drawn = Some(Instant::now());
            let line = render(self.done, self.failed, self.total);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        }
    }

    /// Erase the line so that messages printed next start on a clean line.
    pub fn clear(&mut self) {
        if self.enabled && self.drawn.is_some() {
            self.drawn = None;
            let mut err = std::io::stderr().lock();
            // Carriage return, then erase to the end of the line.
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// `[=========>          ]  45/100  45% (2 failed)`.
pub fn render(done: usize, failed: usize, total: usize) -> String {
    let total = total.max(1);
    let filled = (done.min(total) * BAR_WIDTH) / total;
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    let width = total.to_string().len();
    let mut line = format!("[{bar}] {done:>width$}/{total} {:>3}%", done * 100 / total);
    if failed > 0 {
        line.push_str(&format!(" ({failed} failed)"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn bar_shape() {
        assert_eq!(
            render(0, 0, 10),
            format!("[>{}]  0/10   0%", " ".repeat(29))
        );
        assert_eq!(
            render(10, 1, 10),
            format!("[{}] 10/10 100% (1 failed)", "=".repeat(30))
        );
        assert_eq!(
            render(5, 0, 10),
            format!("[{}>{}]  5/10  50%", "=".repeat(15), " ".repeat(14))
        );
    }
}
