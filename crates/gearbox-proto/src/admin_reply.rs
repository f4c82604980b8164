//! Reading the answer to an admin text command, line by line: the one set of rules every
//! Gearbox reader of admin answers uses (the `gearbox` command, the benchmark, the tests).
//!
//! An answer is either one line (`OK …`, or the value of `version` / `getpid` / `verbose`) or
//! a listing ended by a line holding a single `.`; which one follows from the command, so the
//! reader asks [`AdminCommand::reply_shape`] (or [`ReplyShape::of_line`] for a line it only
//! has as text). Whatever the shape, a first line starting with `ERR` is the whole answer.
//! Pure: no I/O, the caller brings the lines.

use bytes::Bytes;

use crate::AdminCommand;

/// How an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// One line.
    Line,
    /// Lines up to one holding a single `.`.
    List,
}

impl ReplyShape {
    /// The shape of the answer to `line` as it would be sent: a line the server cannot parse
    /// gets one `ERR` line.
    pub fn of_line(line: &[u8]) -> ReplyShape {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        AdminCommand::parse(&Bytes::copy_from_slice(line))
            .map_or(ReplyShape::Line, |command| command.reply_shape())
    }
}

impl AdminCommand {
    /// How the server's answer to this command ends.
    pub fn reply_shape(&self) -> ReplyShape {
        match self {
            AdminCommand::Status
            | AdminCommand::Workers
            | AdminCommand::PriorityStatus
            | AdminCommand::ShowJobs
            | AdminCommand::ShowUniqueJobs
            | AdminCommand::ShowScheduled
            | AdminCommand::Nodes
            | AdminCommand::DeadList(_)
            | AdminCommand::DeadShow(_) => ReplyShape::List,
            _ => ReplyShape::Line,
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// A one-line answer (`OK`, `OK 1.1.20`, …), without its line end.
    Line(String),
    /// A listing's lines, without their line ends and without the closing `.`.
    List(Vec<String>),
    /// An `ERR` line.
    Err(AdminErr),
}

/// An `ERR CODE text+with+plus` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminErr {
    /// The line as sent, without its line end.
    pub line: String,
    /// The upper-case code (`UNKNOWN_JOB`), empty when the server sent none (gearmand's
    /// `ERR function not found`).
    pub code: String,
    /// The text after the code, `+` read as a space.
    pub text: String,
}

impl AdminErr {
    fn parse(line: String) -> AdminErr {
        let rest = line.strip_prefix("ERR").unwrap_or(&line).trim();
        let is_code =
            |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        let (code, text) = match rest.split_once(' ') {
            Some((code, text)) if is_code(code) => (code.to_owned(), text.replace('+', " ")),
            None if is_code(rest) => (rest.to_owned(), String::new()),
            _ => (String::new(), rest.replace('+', " ")),
        };
        AdminErr { line, code, text }
    }
}

impl std::fmt::Display for AdminErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code.is_empty(), self.text.is_empty()) {
            (true, true) => f.write_str("server error"),
            (false, true) => write!(f, "server error {}", self.code),
            (true, false) => write!(f, "server error: {}", self.text),
            (false, false) => write!(f, "server error {}: {}", self.code, self.text),
        }
    }
}

/// Collects the lines of one answer.
#[derive(Debug)]
pub struct AdminReplyReader {
    shape: ReplyShape,
    lines: Vec<String>,
}

impl AdminReplyReader {
    /// A reader for an answer of `shape`.
    pub fn new(shape: ReplyShape) -> AdminReplyReader {
        AdminReplyReader {
            shape,
            lines: Vec::new(),
        }
    }

    /// Take the next line (with or without its `\n` / `\r\n`); the answer once it is complete.
    pub fn line(&mut self, raw: &[u8]) -> Option<AdminReply> {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw).into_owned();
        if self.lines.is_empty() && (line == "ERR" || line.starts_with("ERR ")) {
            return Some(AdminReply::Err(AdminErr::parse(line)));
        }
        match self.shape {
            ReplyShape::Line => Some(AdminReply::Line(line)),
            ReplyShape::List if line == "." => {
                Some(AdminReply::List(std::mem::take(&mut self.lines)))
            }
            ReplyShape::List => {
                self.lines.push(line);
                None
            }
        }
    }

    /// Lines of an unfinished listing so far.
    pub fn partial(&self) -> &[String] {
        &self.lines
    }
}
