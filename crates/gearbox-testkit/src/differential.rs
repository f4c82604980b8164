//! The differential harness: the same scripted exchange of binary packets and admin lines,
//! sent over raw TCP to gearmand 1.1.20 and to gearboxd, recorded as normalised transcripts
//! that must be equal ([`differential`]), or run on each server with its own expected answers
//! ([`each`]).
//!
//! Every request and reply is recorded after normalisation: job handles become `H1`, `H2`… in
//! order of appearance, `workers` fd numbers become `FD`, `getpid` answers become `OK <pid>`,
//! and the lines of the listing commands (`status`, `workers`, `prioritystatus`, `show jobs`,
//! `show unique jobs`), whose order is unspecified, are sorted. This module owns the harness
//! only; the scenarios live in gearbox-server's `tests/differential/`. Normalisation must
//! never hide a difference a scenario could observe: it renames, it does not drop.

use std::collections::HashMap;
use std::time::Duration;

use gearbox_proto::{Magic, PacketType as T};

use crate::server::{server_available, with_slow_store, Kind, Server};
use crate::wire::{esc, req, Conn, Reply};

// ---------------------------------------------------------------------------------------------
// Normalisation and transcripts
// ---------------------------------------------------------------------------------------------

/// Packet types whose first argument is a job handle (requests and replies).
pub fn first_arg_is_handle(kind: T) -> bool {
    matches!(
        kind,
        T::JobCreated
            | T::JobAssign
            | T::JobAssignUniq
            | T::JobAssignAll
            | T::WorkStatus
            | T::WorkComplete
            | T::WorkFail
            | T::WorkException
            | T::WorkData
            | T::WorkWarning
            | T::GetStatus
            | T::StatusRes
    )
}

/// Short, stable rendering of a field: long ones are summarised by length and hash.
pub fn field(bytes: &[u8]) -> String {
    if bytes.len() <= 80 {
        return esc(bytes);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("<{} bytes, fnv {hash:016x}>", bytes.len())
}

/// The normalisation state of one transcript: the names given to the job handles seen so far.
#[derive(Default)]
pub struct Norm {
    handles: HashMap<Vec<u8>, String>,
    /// Render gearmand's `WORK_FAIL "handle\0"` like a plain `WORK_FAIL "handle"`.
    pub strip_fail_nul: bool,
}

impl Norm {
    /// The stable name of a handle, assigned on first sight.
    pub fn handle(&mut self, h: &[u8]) -> String {
        let next = format!("H{}", self.handles.len() + 1);
        self.handles.entry(h.to_vec()).or_insert(next).clone()
    }

    /// The name of a handle already seen, without assigning one (for unordered listings).
    pub fn known(&self, h: &[u8]) -> String {
        self.handles
            .get(h)
            .cloned()
            .unwrap_or_else(|| format!("unseen-handle {}", esc(h)))
    }

    /// A packet, with its handle argument named and long fields summarised.
    pub fn packet(&mut self, p: &gearbox_proto::Packet) -> String {
        let magic = if p.magic == Magic::Req { "REQ " } else { "" };
        let Ok(args) = p.args() else {
            return format!("{magic}{} <malformed {}>", p.kind.name(), esc(&p.body));
        };
        let mut parts = Vec::new();
        for i in 0..args.len() {
            let a = args.get(i);
            if i == 0 && first_arg_is_handle(p.kind) {
                if p.kind == T::WorkFail && a.last() == Some(&0) {
                    let name = self.handle(&a[..a.len() - 1]);
                    parts.push(if self.strip_fail_nul {
                        name
                    } else {
                        format!("{name}+NUL")
                    });
                } else {
                    parts.push(self.handle(a));
                }
            } else {
                parts.push(field(a));
            }
        }
        if parts.is_empty() {
            format!("{magic}{}", p.kind.name())
        } else {
            format!("{magic}{} {}", p.kind.name(), parts.join(" "))
        }
    }

    /// A text line, in the context of the admin command that produced it.
    pub fn line(&self, command: &[&str], line: &[u8]) -> String {
        let text = String::from_utf8_lossy(line).into_owned();
        let word = command.first().map(|w| w.to_ascii_lowercase());
        let normalised = match word.as_deref() {
            Some("workers") if text != ".\n" => match text.split_once(' ') {
                Some((fd, rest)) if fd.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("FD {rest}")
                }
                _ => text,
            },
            Some("show") if command.len() == 2 && text != ".\n" => match text.split_once('\t') {
                Some((h, rest)) => format!("{}\t{rest}", self.known(h.as_bytes())),
                None => text,
            },
            Some("getpid") => match text.strip_prefix("OK ") {
                Some(pid) if pid.trim_end().bytes().all(|b| b.is_ascii_digit()) => {
                    "OK <pid>\n".to_owned()
                }
                _ => text,
            },
            _ => text,
        };
        format!("line {}", esc(normalised.as_bytes()))
    }

    /// One reply, outside any admin command.
    pub fn reply(&mut self, r: &Reply) -> String {
        match r {
            Reply::Packet(p) => self.packet(p),
            Reply::Line(l) => self.line(&[], l),
            Reply::Partial(b) => format!("partial {}", esc(b)),
        }
    }

    /// An admin request line with known handles replaced by their names.
    pub fn admin_request(&self, line: &str) -> String {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let words: Vec<String> = body
            .split(' ')
            .map(|w| match self.handles.get(w.as_bytes()) {
                Some(name) => name.clone(),
                None => w.to_owned(),
            })
            .collect();
        esc(format!("{}{ending}", words.join(" ")).as_bytes())
    }
}

/// Decode what a test sends, to show it in the transcript.
pub fn describe_request(norm: &mut Norm, bytes: &[u8]) -> String {
    let codec = gearbox_proto::Codec::default();
    let mut buf = bytes::BytesMut::from(bytes);
    let mut parts = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(gearbox_proto::Frame::Packet(p))) => parts.push(norm.packet(&p)),
            Ok(Some(gearbox_proto::Frame::Admin(l))) => {
                parts.push(norm.admin_request(&String::from_utf8_lossy(&l)));
            }
            Ok(None) if buf.is_empty() => break,
            Ok(None) | Err(_) => {
                parts.push(format!("raw {}", field(&buf)));
                break;
            }
        }
    }
    parts.join(" + ")
}

/// One run of a scenario against one server.
pub struct Session {
    /// Which server this run talks to.
    pub kind: Kind,
    /// The server, started for this run.
    pub server: Server,
    /// The transcript's normalisation state.
    pub norm: Norm,
    /// The transcript: one entry per exchange.
    pub log: Vec<String>,
    /// Held open for the whole run; see [`settle`].
    _idle: Conn,
}

/// gearmand forgets a closed connection asynchronously, so the connection its start was probed
/// with can still be listed by a scenario's `workers`. Waits, on a connection then held open for
/// the whole run (so both servers list it alike), until `workers` shows only that connection.
fn settle(server: &Server) -> Conn {
    let mut idle = Conn::connect(server.addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listing = idle.admin_list("workers");
        // One connection's line and the closing `.`.
        if listing.len() == 2 {
            return idle;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "[{}] other connections stay listed: {:?}",
            server.kind,
            listing.iter().map(|l| esc(l)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Session {
    /// Starts a server of `kind` for a run; gearboxd gets `gearboxd_args` too.
    pub fn start(kind: Kind, gearboxd_args: &[&str]) -> Session {
        Self::launch(kind, gearboxd_args, &[])
    }

    /// Starts a server of `kind`: gearboxd with `gearboxd_args`, gearmand with `gearmand_args`.
    fn launch(kind: Kind, gearboxd_args: &[&str], gearmand_args: &[&str]) -> Session {
        // The harness starts gearmand with `--verbose ERROR`; gearboxd gets the same level so
        // `verbose` answers compare (and its own job store, from the harness).
        let server = match kind {
            Kind::Gearboxd => {
                let mut args = vec!["--verbose", "ERROR"];
                args.extend_from_slice(gearboxd_args);
                Server::start(kind, &args)
            }
            Kind::Gearmand => Server::start(kind, gearmand_args),
        };
        let idle = settle(&server);
        Session {
            kind,
            server,
            norm: Norm::default(),
            log: Vec::new(),
            _idle: idle,
        }
    }

    /// Whether this run is against gearmand.
    pub fn gearmand(&self) -> bool {
        self.kind == Kind::Gearmand
    }

    /// A fresh raw connection to the server.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.server.addr)
    }

    /// Adds `who: what => [replies]` to the transcript.
    pub fn record(&mut self, who: &str, what: String, replies: &[Reply]) {
        let rendered: Vec<String> = replies.iter().map(|r| self.norm.reply(r)).collect();
        self.log
            .push(format!("{who}: {what} => [{}]", rendered.join(", ")));
    }

    /// Write `bytes` in one piece, then collect every reply up to a sync ECHO.
    pub fn send(&mut self, who: &str, c: &mut Conn, bytes: &[u8]) -> Vec<Reply> {
        let what = describe_request(&mut self.norm, bytes);
        let replies = c.request(bytes);
        self.record(who, what, &replies);
        replies
    }

    /// One request packet, then sync.
    pub fn req(&mut self, who: &str, c: &mut Conn, kind: T, args: &[&[u8]]) -> Vec<Reply> {
        self.send(who, c, &req(kind, args))
    }

    /// Wait for exactly `n` asynchronous packets (relayed WORK_*, NOOP).
    pub fn expect(&mut self, who: &str, c: &mut Conn, n: usize) -> Vec<Reply> {
        let replies = c.recv_n(n);
        self.record(who, format!("(wait for {n})"), &replies);
        replies
    }

    /// Whatever else is pending on `c` (normally nothing).
    pub fn pending(&mut self, who: &str, c: &mut Conn) -> Vec<Reply> {
        let replies = c.sync();
        self.record(who, "(pending)".to_owned(), &replies);
        replies
    }

    /// An admin line (CRLF appended), answered before a sync ECHO. Listings are normalised
    /// line by line and sorted.
    pub fn admin(&mut self, who: &str, c: &mut Conn, line: &str) -> Vec<String> {
        self.admin_raw(who, c, &format!("{line}\r\n"))
    }

    /// As [`Session::admin`], with the line ending given by the caller.
    pub fn admin_raw(&mut self, who: &str, c: &mut Conn, line: &str) -> Vec<String> {
        let what = format!("admin {}", self.norm.admin_request(line));
        let replies = c.request(line.as_bytes());
        let command: Vec<&str> = line
            .trim_end()
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect();
        let mut lines: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Line(l) => self.norm.line(&command, l),
                other => self.norm.reply(other),
            })
            .collect();
        if lines.last().map(String::as_str) == Some("line \".\\n\"") {
            let end = lines.len() - 1;
            lines[..end].sort();
        }
        self.log
            .push(format!("{who}: {what} => [{}]", lines.join(", ")));
        lines
    }
}

/// Poll `status` on `c` (unrecorded) until `function`'s line reads `counts` (e.g. "1\t0\t1"):
/// the server handles a closed connection asynchronously.
pub fn wait_status(c: &mut Conn, function: &str, counts: &str) {
    let wanted = format!("{function}\t{counts}\n").into_bytes();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listing = c.admin_list("status");
        if listing.contains(&wanted) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status never showed {}: {:?}",
            esc(&wanted),
            listing.iter().map(|l| esc(l)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `scenario` against gearmand and gearboxd and require identical transcripts. gearboxd
/// runs twice: as it starts by default, and with a store slowed on purpose
/// ([`with_slow_store`]), since a fast disk hides races with the commit.
pub fn differential(scenario: fn(&mut Session)) {
    differential_with(&[], scenario);
}

/// [`differential`] with extra flags for gearboxd (to select gearmand's behaviour where
/// gearboxd's default differs).
pub fn differential_with(gearboxd_args: &[&str], scenario: fn(&mut Session)) {
    if !server_available(Kind::Gearmand) {
        return;
    }
    let mut oracle = Session::start(Kind::Gearmand, gearboxd_args);
    scenario(&mut oracle);
    let gm = &oracle.log;
    for slow in [false, true] {
        let run = || {
            let mut session = Session::start(Kind::Gearboxd, gearboxd_args);
            scenario(&mut session);
            session.log
        };
        let gb = if slow {
            let mut log = Vec::new();
            with_slow_store(|| log = run());
            log
        } else {
            run()
        };
        compare(
            gm,
            &gb,
            if slow {
                "gearboxd, slow store"
            } else {
                "gearboxd"
            },
        );
    }
}

/// Panic with both transcripts, line by line, unless they are equal.
pub fn compare(gm: &[String], gb: &[String], label: &str) {
    if gm != gb {
        let mut report = format!("transcripts differ (gearmand vs {label}):\n");
        for i in 0..gm.len().max(gb.len()) {
            let a = gm.get(i).map_or("<missing>", String::as_str);
            let b = gb.get(i).map_or("<missing>", String::as_str);
            if a == b {
                report.push_str(&format!("  = {a}\n"));
            } else {
                report.push_str(&format!("  - gearmand: {a}\n  + gearboxd: {b}\n"));
            }
        }
        panic!("{report}");
    }
}

/// Run `scenario` on each server (gearboxd also with a slowed store); it asserts each server's
/// own expected answers.
pub fn each(scenario: fn(&mut Session)) {
    each_with(&[], scenario);
}

/// [`each`] with flags given to both servers.
pub fn each_with(args: &[&str], scenario: fn(&mut Session)) {
    if !server_available(Kind::Gearmand) {
        return;
    }
    let start = |kind: Kind| Session::launch(kind, args, args);
    for kind in [Kind::Gearmand, Kind::Gearboxd] {
        scenario(&mut start(kind));
    }
    with_slow_store(|| scenario(&mut start(Kind::Gearboxd)));
}

/// The handle in a JOB_CREATED (or the first field of a JOB_ASSIGN*).
pub fn handle_of(replies: &[Reply]) -> Vec<u8> {
    let r = replies
        .iter()
        .find(|r| {
            matches!(r, Reply::Packet(p) if matches!(
                p.kind,
                T::JobCreated | T::JobAssign | T::JobAssignUniq | T::JobAssignAll
            ))
        })
        .unwrap_or_else(|| {
            panic!(
                "no JOB_CREATED/JOB_ASSIGN in {:?}",
                replies.iter().map(Reply::describe).collect::<Vec<_>>()
            )
        });
    r.args()[0].clone()
}

/// The text lines among `replies`; panics on anything else.
pub fn lines(replies: &[Reply]) -> Vec<Vec<u8>> {
    replies
        .iter()
        .map(|r| match r {
            Reply::Line(l) => l.clone(),
            other => panic!("expected text, got {}", other.describe()),
        })
        .collect()
}

/// A text line as UTF-8 (panics on anything else).
pub fn line_str(l: &[u8]) -> &str {
    std::str::from_utf8(l).unwrap()
}
