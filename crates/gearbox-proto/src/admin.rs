//! The text admin protocol's request grammar, as gearmand 1.1.20 parses it (PROTOCOL.md §9.1).
//!
//! Tokens are separated by runs of spaces (a tab is part of a token); a leading space makes an
//! empty first token, which is then an unknown command. The command word is case-insensitive,
//! arguments are not. Errors carry their exact reply line, so every server built on this crate
//! answers a bad line byte-for-byte as gearmand does. Answers that depend on server state are
//! formatted by the server, not here.

use bytes::Bytes;

/// gearmand reads at most five tokens from a line.
pub const MAX_ADMIN_TOKENS: usize = 5;

/// A well-formed admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// `status`: per-function totals.
    Status,
    /// `workers`: one line per connection.
    Workers,
    /// `prioritystatus`: queued jobs per function and priority.
    PriorityStatus,
    /// `show jobs`: every job in memory.
    ShowJobs,
    /// `show unique jobs`: the unique of every job in memory.
    ShowUniqueJobs,
    /// `show scheduled` (Gearbox's own): the epoch jobs not yet due, soonest first.
    ShowScheduled,
    /// `nodes` (Gearbox's own): the nodes of a cluster with their heartbeats' ages.
    Nodes,
    /// `version`.
    Version,
    /// `getpid`.
    Getpid,
    /// `verbose`: the log level.
    Verbose,
    /// `maxqueue function [high [normal [low]]]`; limits of 0 mean unlimited.
    MaxQueue {
        /// The function whose limits change.
        function: Bytes,
        /// Limits for high, normal and low priority; 0 is unlimited.
        limits: [u32; 3],
    },
    /// `cancel job handle`.
    Cancel {
        /// The job handle, as typed.
        handle: Bytes,
    },
    /// `create function name`.
    CreateFunction(Bytes),
    /// `drop function name` (matched case-insensitively, as gearmand does).
    DropFunction(Bytes),
    /// `shutdown [graceful]`: removed from gearmand 1.1.15, kept by Gearbox for loopback peers.
    Shutdown {
        /// Finish running work before stopping.
        graceful: bool,
    },
    /// `dead list [FUNCTION]` (Gearbox's own): the dead letters, of one function or all.
    DeadList(Option<Bytes>),
    /// `dead show ID` (Gearbox's own): one dead letter in full.
    DeadShow(u64),
    /// `dead retry ID|FUNCTION|all` (Gearbox's own): submit dead letters again.
    DeadRetry(DeadSelector),
    /// `dead purge ID|FUNCTION|all` (Gearbox's own): forget dead letters.
    DeadPurge(DeadSelector),
    /// `result HANDLE` or `result FUNCTION UNIQUE` (Gearbox's own): a background job's kept
    /// outcome.
    Result(ResultKey),
}

/// Which dead letters a `dead retry` or `dead purge` is for. A token of digits is an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadSelector {
    /// The one with this id.
    Id(u64),
    /// Every one of this function.
    Function(Bytes),
    /// Every one (`all`).
    All,
}

/// What a `result` command looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultKey {
    /// A job handle.
    Handle(Bytes),
    /// A function and a unique id.
    Unique {
        /// The function.
        function: Bytes,
        /// The unique id.
        unique: Bytes,
    },
}

/// A line that is not a well-formed command; [`AdminError::reply`] is the exact answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// Unknown command word (echoed as typed, gearmand style: `…command<word>`).
    UnknownCommand(Bytes),
    /// A known command with missing arguments; carries the command word as typed, which
    /// gearmand echoes.
    InvalidArguments(Bytes),
    /// More than [`MAX_ADMIN_TOKENS`] tokens (gearmand closes the connection instead).
    TooManyArguments,
    /// `show` followed by anything but `jobs` or `unique jobs`.
    UnknownShowArguments,
    /// `cancel` with three or more tokens that are not `cancel job <handle>`.
    MalformedCancel,
}

impl AdminError {
    /// The reply line, CRLF included.
    pub fn reply(&self) -> Vec<u8> {
        match self {
            AdminError::UnknownCommand(word) => {
                let mut out = b"ERR UNKNOWN_COMMAND Unknown+server+command".to_vec();
                out.extend_from_slice(word);
                out.extend_from_slice(b"\r\n");
                out
            }
            AdminError::InvalidArguments(word) => {
                let mut out = b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+".to_vec();
                out.extend_from_slice(word);
                out.extend_from_slice(b"\r\n");
                out
            }
            AdminError::TooManyArguments => {
                b"ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line\r\n".to_vec()
            }
            AdminError::UnknownShowArguments => b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n".to_vec(),
            AdminError::MalformedCancel => b"ERR UNKNOWN_ERROR\r\n".to_vec(),
        }
    }
}

/// Split a line gearmand's way: the first token ends at the first space (so a leading space
/// gives an empty command word); later tokens are separated by runs of spaces, and trailing
/// spaces end the line with one empty token (so `cancel job ` names the empty handle).
fn tokens(line: &Bytes) -> Vec<Bytes> {
    let first_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let mut out = vec![line.slice(..first_end)];
    let mut start = first_end;
    while start < line.len() {
        while start < line.len() && line[start] == b' ' {
            start += 1;
        }
        if start == line.len() {
            out.push(Bytes::new());
        }
        let end = line[start..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |p| start + p);
        if end > start {
            out.push(line.slice(start..end));
        }
        start = end;
    }
    out
}

/// C `atoi`: leading white space, optional sign and leading digits; anything else is 0.
/// Negative means unlimited.
fn limit(token: Option<&Bytes>) -> u32 {
    let Some(token) = token else { return 0 };
    // `isspace` in the C locale. A token never starts with a space, but it can start with a tab
    // (tabs do not separate tokens), which atoi skips.
    let start = token
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(token.len());
    let token = &token[start..];
    let (negative, digits) = match token.first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    let mut value: u64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        value = (value * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX));
    }
    if negative {
        0
    } else {
        u32::try_from(value).unwrap_or(u32::MAX)
    }
}

/// A token of ASCII digits as a number.
fn number(token: &[u8]) -> Option<u64> {
    if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// `dead list [FUNCTION]`, `dead show ID`, `dead retry|purge ID|FUNCTION|all`.
fn dead(tokens: &[Bytes]) -> Option<AdminCommand> {
    let sub = tokens.get(1)?;
    let arg = tokens.get(2).filter(|t| !t.is_empty());
    if tokens.len() > 3 {
        return None;
    }
    let selector = |arg: &Bytes| match number(arg) {
        Some(id) => DeadSelector::Id(id),
        None if is(arg, "all") => DeadSelector::All,
        None => DeadSelector::Function(arg.clone()),
    };
    Some(if is(sub, "list") {
        AdminCommand::DeadList(arg.cloned())
    } else if is(sub, "show") {
        AdminCommand::DeadShow(number(arg?)?)
    } else if is(sub, "retry") {
        AdminCommand::DeadRetry(selector(arg?))
    } else if is(sub, "purge") {
        AdminCommand::DeadPurge(selector(arg?))
    } else {
        return None;
    })
}

fn is(token: &[u8], word: &str) -> bool {
    token.eq_ignore_ascii_case(word.as_bytes())
}

impl AdminCommand {
    /// Whether the command changes the server's state (what an access log records at a
    /// higher level than the read-only listings).
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            AdminCommand::MaxQueue { .. }
                | AdminCommand::Cancel { .. }
                | AdminCommand::CreateFunction(_)
                | AdminCommand::DropFunction(_)
                | AdminCommand::Shutdown { .. }
                | AdminCommand::DeadRetry(_)
                | AdminCommand::DeadPurge(_)
        )
    }

    /// The command's words, as typed without arguments (`cancel job`, `status`).
    pub fn name(&self) -> &'static str {
        match self {
            AdminCommand::Status => "status",
            AdminCommand::Workers => "workers",
            AdminCommand::PriorityStatus => "prioritystatus",
            AdminCommand::ShowJobs => "show jobs",
            AdminCommand::ShowUniqueJobs => "show unique jobs",
            AdminCommand::ShowScheduled => "show scheduled",
            AdminCommand::Nodes => "nodes",
            AdminCommand::Version => "version",
            AdminCommand::Getpid => "getpid",
            AdminCommand::Verbose => "verbose",
            AdminCommand::MaxQueue { .. } => "maxqueue",
            AdminCommand::Cancel { .. } => "cancel job",
            AdminCommand::CreateFunction(_) => "create function",
            AdminCommand::DropFunction(_) => "drop function",
            AdminCommand::Shutdown { .. } => "shutdown",
            AdminCommand::DeadList(_) => "dead list",
            AdminCommand::DeadShow(_) => "dead show",
            AdminCommand::DeadRetry(_) => "dead retry",
            AdminCommand::DeadPurge(_) => "dead purge",
            AdminCommand::Result(_) => "result",
        }
    }

    /// Parse one line (already stripped of `\n` and one `\r`).
    pub fn parse(line: &Bytes) -> Result<AdminCommand, AdminError> {
        let tokens = tokens(line);
        let word = &tokens[0];
        if tokens.len() > MAX_ADMIN_TOKENS {
            return Err(AdminError::TooManyArguments);
        }
        let n = tokens.len();
        let command = match word.to_ascii_lowercase().as_slice() {
            b"status" => AdminCommand::Status,
            b"workers" => AdminCommand::Workers,
            b"prioritystatus" => AdminCommand::PriorityStatus,
            b"version" => AdminCommand::Version,
            b"getpid" => AdminCommand::Getpid,
            b"nodes" => AdminCommand::Nodes,
            b"verbose" => AdminCommand::Verbose,
            b"show" if n == 1 => return Err(AdminError::UnknownCommand(word.clone())),
            b"show" if n == 2 && is(&tokens[1], "jobs") => AdminCommand::ShowJobs,
            b"show" if n == 3 && is(&tokens[1], "unique") && is(&tokens[2], "jobs") => {
                AdminCommand::ShowUniqueJobs
            }
            b"show" if n == 2 && is(&tokens[1], "scheduled") => AdminCommand::ShowScheduled,
            b"show" => return Err(AdminError::UnknownShowArguments),
            b"cancel" if n < 3 => return Err(AdminError::UnknownCommand(word.clone())),
            b"cancel" if n == 3 && is(&tokens[1], "job") => AdminCommand::Cancel {
                handle: tokens[2].clone(),
            },
            b"cancel" => return Err(AdminError::MalformedCancel),
            b"create" if n == 3 && is(&tokens[1], "function") && !tokens[2].is_empty() => {
                AdminCommand::CreateFunction(tokens[2].clone())
            }
            b"create" => return Err(AdminError::InvalidArguments(word.clone())),
            b"drop" if n == 3 && is(&tokens[1], "function") => {
                AdminCommand::DropFunction(tokens[2].clone())
            }
            b"drop" => return Err(AdminError::InvalidArguments(word.clone())),
            b"maxqueue" if n < 2 => return Err(AdminError::InvalidArguments(word.clone())),
            b"maxqueue" => {
                let (high, normal, low) = match n {
                    2 => (0, 0, 0),
                    3 => {
                        let all = limit(tokens.get(2));
                        (all, all, all)
                    }
                    _ => (
                        limit(tokens.get(2)),
                        limit(tokens.get(3)),
                        limit(tokens.get(4)),
                    ),
                };
                AdminCommand::MaxQueue {
                    function: tokens[1].clone(),
                    limits: [high, normal, low],
                }
            }
            b"dead" => dead(&tokens).ok_or_else(|| AdminError::InvalidArguments(word.clone()))?,
            b"result" if n == 2 && !tokens[1].is_empty() => {
                AdminCommand::Result(ResultKey::Handle(tokens[1].clone()))
            }
            b"result" if n == 3 && !tokens[1].is_empty() => {
                AdminCommand::Result(ResultKey::Unique {
                    function: tokens[1].clone(),
                    unique: tokens[2].clone(),
                })
            }
            b"result" => return Err(AdminError::InvalidArguments(word.clone())),
            b"shutdown" => AdminCommand::Shutdown {
                graceful: tokens.get(1).is_some_and(|t| is(t, "graceful")),
            },
            _ => return Err(AdminError::UnknownCommand(word.clone())),
        };
        Ok(command)
    }
}
