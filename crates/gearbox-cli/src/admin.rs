//! `gearbox admin`: a client of the text admin protocol (PROTOCOL.md §9) that works against any
//! Gearman server, and the rendering of its answers as aligned tables or JSON.
//!
//! This module owns the admin wire exchange (one command line out; one `OK…`/`ERR…` line or a
//! list ending with a `.` line back), parsing each list into typed rows, and the two renderers,
//! which share one row model so table and JSON can never disagree. It never speaks the binary
//! protocol and never retries a command: a mutating command (cancel, maxqueue, shutdown) is
//! sent exactly once per server.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use gearbox_client::Tls;
use gearbox_proto::{AdminErr, AdminReply, AdminReplyReader, ReplyShape};
use serde_json::{Map, Value};

/// Arguments of `gearbox admin`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gearbox admin status                       # FUNCTION QUEUED RUNNING WORKERS
  gearbox admin -s 10.0.0.5 status --json    # [{\"function\":..,\"queued\":..,..}]
  gearbox admin status --watch 2             # refresh every 2 s, like top (Ctrl-C ends)
  gearbox admin workers
  gearbox admin maxqueue resize 100
  gearbox admin cancel H:host:42
  gearbox admin shutdown --graceful          # gearboxd; gearmand >= 1.1.15 refuses it

QUEUED is the server's job count for the function (waiting + running), the first number of
the protocol's `status` line, as gearadmin shows it.")]
pub struct AdminArgs {
    /// The admin command.
    #[command(subcommand)]
    pub command: AdminCommand,
    /// Print JSON instead of a table (lists: an array of objects).
    #[arg(long, global = true)]
    pub json: bool,
    /// Redraw the list every SECS seconds (default 2) until Ctrl-C.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        num_args = 0..=1,
        default_missing_value = "2",
        value_parser = crate::servers::parse_secs
    )]
    pub watch: Option<Duration>,
    /// With --watch: stop after N refreshes.
    #[arg(long, global = true, value_name = "N")]
    pub iterations: Option<u64>,
}

/// One admin command.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Functions: jobs (waiting + running), running jobs, registered workers (`status`).
    Status,
    /// Connections with their client id and registered functions (`workers`).
    Workers,
    /// Jobs in the server's memory (`show jobs`).
    #[command(alias = "show-jobs")]
    Jobs,
    /// Unique ids of the jobs in memory (`show unique jobs`).
    #[command(alias = "show-unique-jobs")]
    UniqueJobs,
    /// Waiting jobs per priority (`prioritystatus`).
    #[command(alias = "prioritystatus")]
    PriorityStatus,
    /// Epoch jobs not yet due and recurring schedules, soonest first (`show scheduled`;
    /// gearboxd only).
    #[command(alias = "show-scheduled")]
    Scheduled,
    /// The nodes of a gearboxd cluster, with the age of their heartbeats, their uptimes in
    /// seconds, and `leader` for the node asked if it fires the schedules (`nodes`; gearboxd
    /// --cluster only).
    Nodes,
    /// Limit a function's queue: no number resets it, one sets all priorities, three set
    /// high, normal, low (`maxqueue`).
    Maxqueue {
        /// Function name.
        function: String,
        /// Limits (0 = unlimited).
        #[arg(num_args = 0..=3)]
        limits: Vec<u32>,
    },
    /// Cancel a queued job (`cancel job`): waiting clients get WORK_FAIL.
    Cancel {
        /// The job handle.
        handle: String,
    },
    /// Create a function so it shows in `status` (`create function`).
    CreateFunction {
        /// Function name.
        function: String,
    },
    /// Remove a function without workers or jobs (`drop function`).
    DropFunction {
        /// Function name.
        function: String,
    },
    /// The server's version (`version`).
    Version,
    /// The server's process id (`getpid`).
    Getpid,
    /// The server's log level (`verbose`).
    Verbose,
    /// Stop the server (`shutdown`); gearmand >= 1.1.15 answers it as an unknown command.
    Shutdown {
        /// Let running jobs finish first (`shutdown graceful`).
        #[arg(long)]
        graceful: bool,
    },
}

/// How a cell is shown: numbers right-aligned and as JSON numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A count.
    Num(u64),
    /// Text.
    Text(String),
    /// A list of names (a worker's functions).
    List(Vec<String>),
}

/// Rows of one list reply, with their column names (JSON keys; upper-cased as headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<&'static str>,
    /// One row per reply line.
    pub rows: Vec<Vec<Cell>>,
}

/// What a command answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A list.
    Table(Table),
    /// `OK` plus its text (may be empty).
    Ok(String),
}

impl AdminCommand {
    /// The protocol line, and whether the reply is a `.`-terminated list.
    fn wire(&self) -> (String, bool) {
        match self {
            AdminCommand::Status => ("status".into(), true),
            AdminCommand::Workers => ("workers".into(), true),
            AdminCommand::Jobs => ("show jobs".into(), true),
            AdminCommand::UniqueJobs => ("show unique jobs".into(), true),
            AdminCommand::PriorityStatus => ("prioritystatus".into(), true),
            AdminCommand::Scheduled => ("show scheduled".into(), true),
            AdminCommand::Nodes => ("nodes".into(), true),
            AdminCommand::Maxqueue { function, limits } => {
                let mut line = format!("maxqueue {function}");
                for l in limits {
                    line.push_str(&format!(" {l}"));
                }
                (line, false)
            }
            AdminCommand::Cancel { handle } => (format!("cancel job {handle}"), false),
            AdminCommand::CreateFunction { function } => {
                (format!("create function {function}"), false)
            }
            AdminCommand::DropFunction { function } => (format!("drop function {function}"), false),
            AdminCommand::Version => ("version".into(), false),
            AdminCommand::Getpid => ("getpid".into(), false),
            AdminCommand::Verbose => ("verbose".into(), false),
            AdminCommand::Shutdown { graceful } => {
                let line = if *graceful {
                    "shutdown graceful"
                } else {
                    "shutdown"
                };
                (line.into(), false)
            }
        }
    }

    fn is_list(&self) -> bool {
        self.wire().1
    }

    /// Validate arguments the text protocol cannot carry (it splits on spaces).
    fn check(&self) -> Result<()> {
        let (line, _) = self.wire();
        if line.contains(['\n', '\r']) {
            bail!("arguments must not contain line breaks");
        }
        let arg = match self {
            AdminCommand::Maxqueue { function, .. }
            | AdminCommand::CreateFunction { function }
            | AdminCommand::DropFunction { function } => Some(function),
            AdminCommand::Cancel { handle } => Some(handle),
            _ => None,
        };
        if let Some(a) = arg {
            if a.is_empty() || a.contains(' ') {
                bail!(
                    "{a:?}: names sent over the admin protocol cannot be empty or contain spaces"
                );
            }
        }
        Ok(())
    }
}

/// How to reach the servers: the deadline of each step, and TLS if asked for.
pub struct Reach {
    /// For connecting, and for each reply.
    pub timeout: Duration,
    /// TLS for every server (`--ssl`).
    pub tls: Option<Tls>,
}

/// A connection to a server, plaintext or TLS.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Connect to `server` within the timeout, with the TLS handshake when asked for.
fn open(server: &str, reach: &Reach) -> Result<Box<dyn Stream>> {
    let timeout = reach.timeout;
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {server}"))?
        .next()
        .ok_or_else(|| anyhow!("{server} resolves to no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {server}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let Some(tls) = &reach.tls else {
        return Ok(Box::new(stream));
    };
    let name = tls.server_name(server)?;
    let conn = rustls::ClientConnection::new(tls.config(), name)
        .with_context(|| format!("TLS with {server}"))?;
    let mut stream = rustls::StreamOwned::new(conn, stream);
    // Handshake now, so that a refused certificate reads as such rather than as a failed send.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .with_context(|| format!("TLS handshake with {server}"))?;
    }
    Ok(Box::new(stream))
}

/// Send one command to `server` and read its reply.
pub fn query(server: &str, cmd: &AdminCommand, reach: &Reach) -> Result<Answer> {
    cmd.check()?;
    let (line, list) = cmd.wire();
    let mut stream = open(server, reach)?;
    stream
        // CRLF, as gearadmin sends: gearmand's `create function` assumes it and cuts the
        // last character of the name after a bare LF.
        .write_all(format!("{line}\r\n").as_bytes())
        .with_context(|| format!("cannot send to {server}"))?;
    let mut reader = BufReader::new(stream);
    let lines = match read_reply(&mut reader, list) {
        // gearboxd may close right after its OK; a bare EOF is then not a failure.
        Err(ReplyError::Eof) if matches!(cmd, AdminCommand::Shutdown { .. }) => vec![],
        r => r.map_err(|e| anyhow!("{server}: {e}"))?,
    };
    if !list {
        let first = lines.into_iter().next().unwrap_or_default();
        return Ok(Answer::Ok(
            first.strip_prefix("OK").unwrap_or("").trim().to_string(),
        ));
    }
    parse_list(cmd, &lines)
        .map(Answer::Table)
        .with_context(|| format!("malformed reply from {server}"))
}

#[derive(Debug)]
enum ReplyError {
    Eof,
    Err(AdminErr),
    Garbage(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Eof => f.write_str("connection closed before the reply was complete"),
            ReplyError::Err(err) => write!(f, "{err}"),
            ReplyError::Garbage(line) => write!(f, "unexpected reply {line:?}"),
            ReplyError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                f.write_str("timed out waiting for the reply")
            }
            ReplyError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reply lines without line ends: the single `OK…` line, or a list's lines without the `.`,
/// framed by gearbox-proto's reader (the one every Gearbox admin reader uses). An `ERR…` line
/// where a reply starts is an error for both shapes.
fn read_reply(reader: &mut impl BufRead, list: bool) -> Result<Vec<String>, ReplyError> {
    let shape = if list {
        ReplyShape::List
    } else {
        ReplyShape::Line
    };
    let mut framer = AdminReplyReader::new(shape);
    loop {
        let mut buf = Vec::new();
        let n = reader.read_until(b'\n', &mut buf).map_err(ReplyError::Io)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(ReplyError::Eof);
        }
        match framer.line(&buf) {
            None => {}
            Some(AdminReply::Err(err)) => return Err(ReplyError::Err(err)),
            Some(AdminReply::List(lines)) => return Ok(lines),
            Some(AdminReply::Line(line)) if line == "OK" || line.starts_with("OK ") => {
                return Ok(vec![line])
            }
            Some(AdminReply::Line(line)) => return Err(ReplyError::Garbage(line)),
        }
    }
}

fn num(field: &str, line: &str) -> Result<Cell> {
    field
        .trim()
        .parse()
        .map(Cell::Num)
        .with_context(|| format!("not a number: {field:?} in {line:?}"))
}

/// Tab-separated fields: the first is text, the others counts.
fn tab_row(line: &str, width: usize) -> Result<Vec<Cell>> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != width {
        bail!("expected {width} tab-separated fields in {line:?}");
    }
    let mut row = vec![Cell::Text(fields[0].to_string())];
    for f in &fields[1..] {
        row.push(num(f, line)?);
    }
    Ok(row)
}

/// Turns one reply line into a row.
type RowParser = fn(&str) -> Result<Vec<Cell>>;

fn parse_list(cmd: &AdminCommand, lines: &[String]) -> Result<Table> {
    let (columns, parse): (Vec<&'static str>, RowParser) = match cmd {
        AdminCommand::Status => (vec!["function", "queued", "running", "workers"], |l| {
            tab_row(l, 4)
        }),
        AdminCommand::PriorityStatus => {
            (vec!["function", "high", "normal", "low", "workers"], |l| {
                tab_row(l, 5)
            })
        }
        // PROTOCOL.md names the last column "persisted"; gearmand and gearboxd both print 1
        // for every background job whether stored or not, so it is named for what it shows.
        AdminCommand::Jobs => (vec!["handle", "retries", "abandoned", "background"], |l| {
            tab_row(l, 4)
        }),
        AdminCommand::UniqueJobs => (vec!["unique"], |l| Ok(vec![Cell::Text(l.to_string())])),
        AdminCommand::Scheduled => (
            vec!["handle", "function", "unique", "due", "priority"],
            |l| text_row(l, 5),
        ),
        AdminCommand::Nodes => (vec!["node", "heartbeat_age_s", "uptime_s", "role"], |l| {
            text_row(l, 4)
        }),
        AdminCommand::Workers => (vec!["fd", "ip", "client_id", "functions"], parse_worker),
        _ => bail!("not a list command"),
    };
    let rows = lines.iter().map(|l| parse(l)).collect::<Result<_>>()?;
    Ok(Table { columns, rows })
}

/// `n` tab-separated text fields.
fn text_row(line: &str, n: usize) -> Result<Vec<Cell>> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != n {
        bail!("expected {n} tab-separated fields in {line:?}");
    }
    Ok(fields
        .into_iter()
        .map(|f| Cell::Text(f.to_owned()))
        .collect())
}

/// `fd ip client-id : f1 f2…` (a pure client ends with `:`).
fn parse_worker(line: &str) -> Result<Vec<Cell>> {
    let mut tokens = line.split(' ').filter(|t| !t.is_empty());
    let (Some(fd), Some(ip), Some(id), Some(":")) =
        (tokens.next(), tokens.next(), tokens.next(), tokens.next())
    else {
        bail!("expected `fd ip client-id : functions` in {line:?}");
    };
    Ok(vec![
        num(fd, line)?,
        Cell::Text(ip.to_string()),
        Cell::Text(id.to_string()),
        Cell::List(tokens.map(str::to_string).collect()),
    ])
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Num(n) => n.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::List(l) => l.join(" "),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Num(n) => Value::from(*n),
            Cell::Text(t) => Value::from(t.as_str()),
            Cell::List(l) => Value::from(l.clone()),
        }
    }
}

/// Bytes for a terminal, on one line: UTF-8 text as it is, except control characters and
/// `\`, which are escaped (`\n`, `\0`, `\u{1b}`, `\\`), and bytes that are not UTF-8, shown
/// as `\xNN`.
pub fn shown(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                out.extend(c.escape_debug());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Bytes as a JSON string: the text when they are UTF-8, else as [`shown`] escapes them (the
/// exact bytes then need a `*_base64` field next to it).
pub fn json_text(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::from(text),
        Err(_) => Value::from(shown(bytes)),
    }
}

/// Rows of every server's table as JSON objects; a `server` key is added when several
/// servers were asked.
pub fn table_json(tables: &[(String, Table)]) -> Value {
    let many = tables.len() > 1;
    let mut out = Vec::new();
    for (server, table) in tables {
        for row in &table.rows {
            let mut obj = Map::new();
            if many {
                obj.insert("server".into(), Value::from(server.as_str()));
            }
            for (col, cell) in table.columns.iter().zip(row) {
                obj.insert((*col).to_string(), cell.json());
            }
            out.push(Value::Object(obj));
        }
    }
    Value::Array(out)
}

/// An aligned table with upper-case headers (plus a SERVER column when several servers were
/// asked); counts are right-aligned.
pub fn table_text(tables: &[(String, Table)]) -> String {
    let Some((_, first)) = tables.first() else {
        return String::new();
    };
    let many = tables.len() > 1;
    let mut header: Vec<String> = Vec::new();
    if many {
        header.push("SERVER".into());
    }
    header.extend(first.columns.iter().map(|c| c.to_uppercase()));
    let mut rows: Vec<Vec<(String, bool)>> = Vec::new();
    for (server, table) in tables {
        for row in &table.rows {
            let mut cells = Vec::new();
            if many {
                cells.push((server.clone(), false));
            }
            cells.extend(row.iter().map(|c| (c.text(), matches!(c, Cell::Num(_)))));
            rows.push(cells);
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, (text, _)) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| rows.first().is_some_and(|r| r[i].1))
        .collect();
    let mut out = String::new();
    let mut push_row = |cells: Vec<(String, bool)>| {
        let last = cells.len() - 1;
        let mut line = String::new();
        for (i, (text, _)) in cells.into_iter().enumerate() {
            let pad = widths[i].saturating_sub(text.chars().count());
            if numeric[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(&text);
            } else {
                line.push_str(&text);
                if i != last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(header.into_iter().map(|h| (h, false)).collect());
    for row in rows {
        push_row(row);
    }
    out
}

/// Run `gearbox admin` against every server; errors if any server answered `ERR` (for
/// `cancel`, only if no server knew the job).
pub fn run(args: &AdminArgs, servers: &[String], reach: &Reach) -> Result<()> {
    let cmd = &args.command;
    if args.watch.is_some() && !cmd.is_list() {
        bail!("--watch works with the list commands (status, workers, jobs, unique-jobs, priority-status)");
    }
    match args.watch {
        Some(secs) => {
            let clear = std::io::stdout().is_terminal() && !args.json;
            let mut n = 0u64;
            loop {
                let tables = list_all(cmd, servers, reach)?;
                let mut out = String::new();
                if clear {
                    // Home the cursor and clear the screen, like top.
                    out.push_str("\x1b[H\x1b[2J");
                }
                if args.json {
                    out.push_str(&table_json(&tables).to_string());
                    out.push('\n');
                } else {
                    out.push_str(&format!(
                        "{} every {}s: {}\n\n{}\n",
                        cmd.wire().0,
                        secs.as_secs_f64(),
                        servers.join(", "),
                        table_text(&tables)
                    ));
                }
                print_flush(&out)?;
                n += 1;
                if args.iterations.is_some_and(|max| n >= max) {
                    return Ok(());
                }
                std::thread::sleep(secs);
            }
        }
        None if cmd.is_list() => {
            let tables = list_all(cmd, servers, reach)?;
            if args.json {
                print_flush(&format!("{}\n", table_json(&tables)))
            } else {
                print_flush(&table_text(&tables))
            }
        }
        None => single_all(args, servers, reach),
    }
}

/// Write `text` to stdout and flush it.
pub fn print_flush(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn list_all(cmd: &AdminCommand, servers: &[String], reach: &Reach) -> Result<Vec<(String, Table)>> {
    servers
        .iter()
        .map(|s| match query(s, cmd, reach)? {
            Answer::Table(t) => Ok((s.clone(), t)),
            Answer::Ok(_) => bail!("{s}: expected a list"),
        })
        .collect()
}

fn single_all(args: &AdminArgs, servers: &[String], reach: &Reach) -> Result<()> {
    let cancel = matches!(args.command, AdminCommand::Cancel { .. });
    let results: Vec<(String, Result<String>)> = servers
        .iter()
        .map(|s| {
            let r = query(s, &args.command, reach).map(|a| match a {
                Answer::Ok(text) => text,
                Answer::Table(_) => String::new(),
            });
            (s.clone(), r)
        })
        .collect();
    let failed = if cancel {
        !results.iter().any(|(_, r)| r.is_ok())
    } else {
        results.iter().any(|(_, r)| r.is_err())
    };
    let many = servers.len() > 1;
    let mut text = String::new();
    if args.json {
        let items: Vec<Value> = results
            .iter()
            .map(|(s, r)| {
                let mut obj = Map::new();
                obj.insert("server".into(), Value::from(s.as_str()));
                match r {
                    Ok(t) => {
                        obj.insert("ok".into(), Value::Bool(true));
                        obj.insert("value".into(), Value::from(t.as_str()));
                    }
                    Err(e) => {
                        obj.insert("ok".into(), Value::Bool(false));
                        obj.insert("error".into(), Value::from(format!("{e:#}")));
                    }
                }
                Value::Object(obj)
            })
            .collect();
        let v = if many {
            Value::Array(items)
        } else {
            items.into_iter().next().unwrap_or_default()
        };
        text = format!("{v}\n");
    } else {
        for (s, r) in &results {
            if let Ok(t) = r {
                let shown = if t.is_empty() { "OK" } else { t.as_str() };
                if many {
                    text.push_str(&format!("{s}: {shown}\n"));
                } else {
                    text.push_str(&format!("{shown}\n"));
                }
            }
        }
    }
    print_flush(&text)?;
    let errors: Vec<String> = results
        .into_iter()
        .filter_map(|(_, r)| r.err().map(|e| format!("{e:#}")))
        .collect();
    if failed {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &str, list: bool) -> Result<Vec<String>, ReplyError> {
        read_reply(&mut bytes.as_bytes(), list)
    }

    #[test]
    fn replies_are_framed() {
        assert_eq!(reply("a\t1\t0\t0\n.\n", true).unwrap(), ["a\t1\t0\t0"]);
        assert_eq!(reply(".\n", true).unwrap(), Vec::<String>::new());
        assert_eq!(reply("OK 1.1.20\n", false).unwrap(), ["OK 1.1.20"]);
        assert_eq!(reply("OK\r\n", false).unwrap(), ["OK"]);
        assert!(matches!(
            reply("ERR UNKNOWN_JOB\r\n", false),
            Err(ReplyError::Err(_))
        ));
        assert!(matches!(
            reply("ERR x y\r\n", true),
            Err(ReplyError::Err(_))
        ));
        assert!(matches!(reply("a\t1\n", true), Err(ReplyError::Eof)));
        assert!(matches!(
            reply("hello\n", false),
            Err(ReplyError::Garbage(_))
        ));
    }

    #[test]
    fn errors_are_readable() {
        let said = |line: &str| match reply(line, false) {
            Err(e) => e.to_string(),
            Ok(lines) => panic!("{lines:?}"),
        };
        assert_eq!(
            said("ERR UNKNOWN_COMMAND Unknown+server+commandfoo\r\n"),
            "server error UNKNOWN_COMMAND: Unknown server commandfoo"
        );
        assert_eq!(said("ERR UNKNOWN_JOB\r\n"), "server error UNKNOWN_JOB");
        assert_eq!(
            said("ERR function not found\r\n"),
            "server error: function not found"
        );
    }

    #[test]
    fn bytes_are_shown_on_one_line() {
        assert_eq!(shown("plain text é".as_bytes()), "plain text é");
        assert_eq!(shown(b"a\0b\n\tc\\"), "a\\0b\\n\\tc\\\\");
        assert_eq!(shown(b"\xff\x1b["), "\\xff\\u{1b}[");
        assert_eq!(json_text(b"a\nb"), Value::from("a\nb"));
        assert_eq!(json_text(b"a\xff"), Value::from("a\\xff"));
    }

    #[test]
    fn lists_parse_and_render() {
        let t = parse_list(
            &AdminCommand::Status,
            &["reverse\t12\t1\t2".into(), "a\t0\t0\t0".into()],
        )
        .unwrap();
        let tables = vec![("s:1".to_string(), t)];
        assert_eq!(
            table_text(&tables),
            "FUNCTION  QUEUED  RUNNING  WORKERS\n\
             reverse       12        1        2\n\
             a              0        0        0\n"
        );
        assert_eq!(
            table_json(&tables).to_string(),
            r#"[{"function":"reverse","queued":12,"running":1,"workers":2},{"function":"a","queued":0,"running":0,"workers":0}]"#
        );
        let w = parse_list(
            &AdminCommand::Workers,
            &["38 127.0.0.1 - :".into(), "39 ::1 w1 : b a".into()],
        )
        .unwrap();
        assert_eq!(w.rows[0][3], Cell::List(vec![]));
        assert_eq!(w.rows[1][3], Cell::List(vec!["b".into(), "a".into()]));
        assert!(parse_list(&AdminCommand::Status, &["a\t1\t2".into()]).is_err());
        assert!(parse_list(&AdminCommand::Status, &["a\tx\t2\t3".into()]).is_err());
        assert!(parse_list(&AdminCommand::Workers, &["38 127.0.0.1".into()]).is_err());
    }
}
