//! Differential tests: the same scripted exchange of binary packets and admin lines, sent over
//! raw TCP to gearmand 1.1.20 and to gearboxd, must produce the same replies.
//!
//! Each scenario runs once per server against a fresh process. Every request and reply is
//! recorded in a transcript after normalisation: job handles become `H1`, `H2`… in order of
//! appearance, `workers` fd numbers become `FD`, `getpid` answers become `OK <pid>`, and the
//! lines of the listing commands (`status`, `workers`, `prioritystatus`, `show jobs`,
//! `show unique jobs`), whose order is unspecified, are sorted. The two transcripts must be
//! equal.
//!
//! Where gearboxd deliberately differs from gearmand (PROTOCOL.md [G-bug] and [R] items), the
//! test is named `difference_*` and asserts each server's own answer explicitly.

#[allow(unused_macros)]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use gearbox_proto::{Magic, PacketType as T};
use support::wire::{esc, raw_packet, req, Conn, Reply};
use support::{Kind, Server};

// ---------------------------------------------------------------------------------------------
// Normalisation and transcripts
// ---------------------------------------------------------------------------------------------

/// Packet types whose first argument is a job handle (requests and replies).
fn first_arg_is_handle(kind: T) -> bool {
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
fn field(bytes: &[u8]) -> String {
    if bytes.len() <= 80 {
        return esc(bytes);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("<{} bytes, fnv {hash:016x}>", bytes.len())
}

#[derive(Default)]
struct Norm {
    handles: HashMap<Vec<u8>, String>,
    /// Render gearmand's `WORK_FAIL "handle\0"` like a plain `WORK_FAIL "handle"`.
    strip_fail_nul: bool,
}

impl Norm {
    /// The stable name of a handle, assigned on first sight.
    fn handle(&mut self, h: &[u8]) -> String {
        let next = format!("H{}", self.handles.len() + 1);
        self.handles.entry(h.to_vec()).or_insert(next).clone()
    }

    /// The name of a handle already seen, without assigning one (for unordered listings).
    fn known(&self, h: &[u8]) -> String {
        self.handles
            .get(h)
            .cloned()
            .unwrap_or_else(|| format!("unseen-handle {}", esc(h)))
    }

    fn packet(&mut self, p: &gearbox_proto::Packet) -> String {
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
    fn line(&self, command: &[&str], line: &[u8]) -> String {
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

    fn reply(&mut self, r: &Reply) -> String {
        match r {
            Reply::Packet(p) => self.packet(p),
            Reply::Line(l) => self.line(&[], l),
            Reply::Partial(b) => format!("partial {}", esc(b)),
        }
    }

    /// An admin request line with known handles replaced by their names.
    fn admin_request(&self, line: &str) -> String {
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
fn describe_request(norm: &mut Norm, bytes: &[u8]) -> String {
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
struct Session {
    kind: Kind,
    server: Server,
    norm: Norm,
    log: Vec<String>,
}

impl Session {
    fn start(kind: Kind, gearboxd_args: &[&str]) -> Session {
        // The harness starts gearmand with `--verbose ERROR`; gearboxd gets the same level so
        // `verbose` answers compare (and its own job store, from the harness).
        let server = match kind {
            Kind::Gearboxd => {
                let mut args = vec!["--verbose", "ERROR"];
                args.extend_from_slice(gearboxd_args);
                Server::start(kind, &args)
            }
            Kind::Gearmand => Server::start(kind, &[]),
        };
        Session {
            kind,
            server,
            norm: Norm::default(),
            log: Vec::new(),
        }
    }

    fn gearmand(&self) -> bool {
        self.kind == Kind::Gearmand
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.server.addr)
    }

    fn record(&mut self, who: &str, what: String, replies: &[Reply]) {
        let rendered: Vec<String> = replies.iter().map(|r| self.norm.reply(r)).collect();
        self.log
            .push(format!("{who}: {what} => [{}]", rendered.join(", ")));
    }

    /// Write `bytes` in one piece, then collect every reply up to a sync ECHO.
    fn send(&mut self, who: &str, c: &mut Conn, bytes: &[u8]) -> Vec<Reply> {
        let what = describe_request(&mut self.norm, bytes);
        let replies = c.request(bytes);
        self.record(who, what, &replies);
        replies
    }

    /// One request packet, then sync.
    fn req(&mut self, who: &str, c: &mut Conn, kind: T, args: &[&[u8]]) -> Vec<Reply> {
        self.send(who, c, &req(kind, args))
    }

    /// Wait for exactly `n` asynchronous packets (relayed WORK_*, NOOP).
    fn expect(&mut self, who: &str, c: &mut Conn, n: usize) -> Vec<Reply> {
        let replies = c.recv_n(n);
        self.record(who, format!("(wait for {n})"), &replies);
        replies
    }

    /// Whatever else is pending on `c` (normally nothing).
    fn pending(&mut self, who: &str, c: &mut Conn) -> Vec<Reply> {
        let replies = c.sync();
        self.record(who, "(pending)".to_owned(), &replies);
        replies
    }

    /// An admin line (CRLF appended), answered before a sync ECHO. Listings are normalised
    /// line by line and sorted.
    fn admin(&mut self, who: &str, c: &mut Conn, line: &str) -> Vec<String> {
        self.admin_raw(who, c, &format!("{line}\r\n"))
    }

    /// As [`Session::admin`], with the line ending given by the caller.
    fn admin_raw(&mut self, who: &str, c: &mut Conn, line: &str) -> Vec<String> {
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
fn wait_status(c: &mut Conn, function: &str, counts: &str) {
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
/// ([`support::with_slow_store`]), since a fast disk hides races with the commit.
fn differential(scenario: fn(&mut Session)) {
    differential_with(&[], scenario);
}

/// [`differential`] with extra flags for gearboxd (to select gearmand's behaviour where
/// gearboxd's default differs).
fn differential_with(gearboxd_args: &[&str], scenario: fn(&mut Session)) {
    if !support::server_available(Kind::Gearmand) {
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
            support::with_slow_store(|| log = run());
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
fn compare(gm: &[String], gb: &[String], label: &str) {
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
fn each(scenario: fn(&mut Session)) {
    each_with(&[], scenario);
}

/// [`each`] with flags given to both servers.
fn each_with(args: &[&str], scenario: fn(&mut Session)) {
    if !support::server_available(Kind::Gearmand) {
        return;
    }
    let start = |kind: Kind| {
        let server = match kind {
            Kind::Gearboxd => {
                let mut all = vec!["--verbose", "ERROR"];
                all.extend_from_slice(args);
                Server::start(kind, &all)
            }
            Kind::Gearmand => Server::start(kind, args),
        };
        Session {
            kind,
            server,
            norm: Norm::default(),
            log: Vec::new(),
        }
    };
    for kind in [Kind::Gearmand, Kind::Gearboxd] {
        scenario(&mut start(kind));
    }
    support::with_slow_store(|| scenario(&mut start(Kind::Gearboxd)));
}

/// The handle in a JOB_CREATED (or the first field of a JOB_ASSIGN*).
fn handle_of(replies: &[Reply]) -> Vec<u8> {
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

fn lines(replies: &[Reply]) -> Vec<Vec<u8>> {
    replies
        .iter()
        .map(|r| match r {
            Reply::Line(l) => l.clone(),
            other => panic!("expected text, got {}", other.describe()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Utility packets
// ---------------------------------------------------------------------------------------------

#[test]
fn echo_payloads() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::EchoReq, &[b""]);
        s.req("c", &mut c, T::EchoReq, &[b"hello"]);
        s.req("c", &mut c, T::EchoReq, &[b"a\0b\0\0"]);
        s.req("c", &mut c, T::EchoReq, &[b"\0"]);
        let all: Vec<u8> = (0..=255u8).collect();
        s.req("c", &mut c, T::EchoReq, &[&all]);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let r = s.req("c", &mut c, T::EchoReq, &[&big]);
        assert_eq!(r[0].packet().body.as_ref(), &big[..]);
    });
}

#[test]
fn echo_1000_pipelined_in_one_write() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        for i in 0..1000 {
            bytes.extend(req(T::EchoReq, &[format!("echo\0{i}").as_bytes()]));
        }
        c.send(&bytes);
        let replies = c.recv_n(1000);
        for (i, r) in replies.iter().enumerate() {
            assert!(r.is(T::EchoRes), "reply {i}: {}", r.describe());
            assert_eq!(r.packet().body.as_ref(), format!("echo\0{i}").as_bytes());
        }
        s.log.push("1000 ECHO_RES, in order".to_owned());
        s.pending("c", &mut c);
    });
}

#[test]
fn option_req_exceptions_and_unknown_option() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::OptionReq, &[b"exceptions"]);
        s.req("c", &mut c, T::OptionReq, &[b"EXCEPTIONS"]);
        s.req("c", &mut c, T::OptionReq, &[b"ExCePtIoNs"]);
        s.req("c", &mut c, T::OptionReq, &[b"exceptions\0"]);
        s.req("c", &mut c, T::OptionReq, &[b"foo"]);
        s.req("c", &mut c, T::OptionReq, &[b""]);
        s.req("c", &mut c, T::OptionReq, &[b"exception"]);
    });
}

#[test]
fn response_magic_gets_invalid_magic() {
    differential(|s| {
        let mut c = s.conn();
        s.send("c", &mut c, &raw_packet(b"\0RES", 16, b"ok"));
        // A submission with response magic creates no job.
        s.send("c", &mut c, &raw_packet(b"\0RES", 7, b"f\0u\0data"));
        s.send("c", &mut c, &raw_packet(b"\0RES", 9, b""));
        s.admin("c", &mut c, "status");
        s.req("c", &mut c, T::EchoReq, &[b"still here"]);
    });
}

#[test]
fn reply_only_and_reserved_types_get_invalid_command() {
    differential(|s| {
        let mut c = s.conn();
        let cases: &[(T, &[&[u8]])] = &[
            (T::Unused, &[]),
            (T::Noop, &[]),
            (T::JobCreated, &[b"H:x:1"]),
            (T::NoJob, &[]),
            (T::JobAssign, &[b"H:x:1", b"f", b"d"]),
            (T::EchoRes, &[b"e"]),
            (T::Error, &[b"CODE", b"text"]),
            (T::StatusRes, &[b"H:x:1", b"1", b"0", b"0", b"0"]),
            (T::AllYours, &[]),
            (T::OptionRes, &[b"exceptions"]),
            (T::JobAssignUniq, &[b"H:x:1", b"f", b"u", b"d"]),
            (
                T::SubmitJobSched,
                &[b"f", b"u", b"1", b"2", b"3", b"4", b"5", b"d"],
            ),
            (T::JobAssignAll, &[b"H:x:1", b"f", b"u", b"r", b"d"]),
            (T::StatusResUnique, &[b"u", b"1", b"0", b"0", b"0", b"0"]),
        ];
        for (kind, args) in cases {
            s.req("c", &mut c, *kind, args);
        }
        // All in one write as well.
        let mut all = Vec::new();
        for (kind, args) in cases {
            all.extend(req(*kind, args));
        }
        s.send("c", &mut c, &all);
        // SUBMIT_JOB_SCHED created nothing.
        s.admin("c", &mut c, "status");
    });
}

// ---------------------------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------------------------

#[test]
fn every_submit_variant_gets_job_created() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"normal"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"", b"high"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"low"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"normal bg"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"high bg"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"low bg"]);
        s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"", b"0", b"epoch now"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJob,
            &[b"f", b"", b"r", b"", b"reduce"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"", b"r", b"", b"reduce bg"],
        );
        // Uniques, empty function name, binary data.
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"u-1", b"x\0y"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"", b"u-2", b""]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"g", b"u-3", b"\0\0"]);
        // Unique of 65 bytes is refused.
        s.req("c", &mut c, T::SubmitJob, &[b"f", &[b'u'; 65], b"d"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", &[b'u'; 65], b"d"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "prioritystatus");
        s.admin("c", &mut c, "show unique jobs");
    });
}

/// An epoch job due in an hour is created, known to GET_STATUS, counted in `status` and, as a
/// queued normal-priority job, in `prioritystatus`; a worker cannot take it yet.
#[test]
fn epoch_job_not_yet_due() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        // 2100-01-01: a fixed value, so that both transcripts show the same request.
        let later = "4102444800";
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"now"]);
        let epoch = s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"later", later.as_bytes(), b"epoch later"],
        );
        s.req("c", &mut c, T::GetStatus, &[&handle_of(&epoch)]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"later"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "prioritystatus");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "status");
    });
}

#[test]
fn several_submissions_in_one_write_are_answered_in_order() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        for i in 0..50 {
            let unique = format!("u{}", i % 7);
            let kind = [T::SubmitJobBg, T::SubmitJob, T::SubmitJobLowBg][i % 3];
            bytes.extend(req(kind, &[b"f", unique.as_bytes(), b"d"]));
            if i % 10 == 0 {
                bytes.extend(req(T::EchoReq, &[format!("mark {i}").as_bytes()]));
            }
        }
        s.send("c", &mut c, &bytes);
        s.admin("c", &mut c, "status");
    });
}

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

#[test]
fn worker_grab_variants_pre_sleep_and_noop() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        // No registrations: every GRAB gets NO_JOB.
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        // Asleep with nothing to do: no NOOP until a job arrives, then exactly one.
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u1", b"d1"]);
        s.expect("w", &mut w, 1);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u2", b"d2"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u3", b"d3"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"other", b"u4", b"d4"]);
        s.pending("w", &mut w);
        s.admin("c", &mut c, "status");
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // GRAB_JOB_ALL on a job without a reducer gives JOB_ASSIGN_UNIQ.
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.admin("c", &mut c, "status");
        // A non-empty body on a no-argument type is read and ignored.
        s.send("w", &mut w, &raw_packet(b"\0REQ", 9, b"junk"));
        // PRE_SLEEP while a job is queued: NOOP at once, and again for a second PRE_SLEEP.
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u5", b"d5"]);
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // Sleeping again; a job for a function this worker lacks wakes nobody.
        s.req("w", &mut w, T::PreSleep, &[]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"other", b"u6", b"d6"]);
        s.pending("w", &mut w);
        s.req("w", &mut w, T::CantDo, &[b"f"]);
        s.req("w", &mut w, T::CanDo, &[b"other"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::ResetAbilities, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "status");
    });
}

/// gearmand wakes every sleeping worker for a new job; gearboxd does with `-w 0`.
#[test]
fn difference_default_wakes_one_sleeper_per_job() {
    each(|s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        for w in [&mut w1, &mut w2] {
            w.send_req(T::CanDo, &[b"f"]);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
            // Synced, so both are asleep before the job is submitted on another connection.
            assert!(w.request_req(T::PreSleep, &[]).is_empty());
        }
        assert!(c.request_req(T::SubmitJobBg, &[b"f", b"", b"d"])[0].is(T::JobCreated));
        assert!(w1.recv().is(T::Noop));
        let second = w2.recv_within(std::time::Duration::from_millis(300));
        if s.gearmand() {
            assert!(second.expect("gearmand wakes every sleeper").is(T::Noop));
        } else {
            assert!(second.is_err(), "gearboxd wakes one sleeper per job");
        }
    });
}

#[test]
fn several_sleeping_workers_are_woken() {
    differential_with(&["-w", "0"], |s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        for w in [&mut w1, &mut w2] {
            s.req("w", w, T::CanDo, &[b"f"]);
            s.req("w", w, T::GrabJob, &[]);
            s.req("w", w, T::PreSleep, &[]);
        }
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"d"]);
        s.expect("w1", &mut w1, 1);
        s.expect("w2", &mut w2, 1);
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::GrabJob, &[]);
    });
}

#[test]
fn work_packets_are_relayed_to_a_foreground_client() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let created = s.req("c", &mut c, T::SubmitJob, &[b"f", b"uniq", b"payload"]);
        let h = handle_of(&created);
        // Queued: known, not running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        // Running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"1", b"4"]);
        s.expect("c", &mut c, 1);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        let mut bytes = req(T::WorkData, &[&h, b"da\0ta"]);
        bytes.extend(req(T::WorkWarning, &[&h, b"warn\0ing"]));
        bytes.extend(req(T::WorkData, &[&h, b""]));
        bytes.extend(req(T::WorkStatus, &[&h, b"3", b"4"]));
        bytes.extend(req(T::WorkComplete, &[&h, b"result\0bytes"]));
        s.send("w", &mut w, &bytes);
        s.expect("c", &mut c, 5);
        s.pending("c", &mut c);
        // Finished: forgotten.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"uniq"]);
        s.admin("c", &mut c, "status");
        // Never-existing handle and unique.
        s.req("c", &mut c, T::GetStatus, &[b"H:nowhere:1"]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"nope"]);
    });
}

#[test]
fn work_complete_with_large_binary_result() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", &payload]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::WorkComplete, &[&h, &payload]);
        let r = s.expect("c", &mut c, 1);
        assert_eq!(&r[0].args()[1], &payload);
    });
}

#[test]
fn work_fail_is_relayed() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkFail, &[&h]);
        s.expect("c", &mut c, 1);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        // The same unique is free again once the job is finished.
        let again = s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]);
        assert_ne!(handle_of(&again), h);
    });
}

#[test]
fn background_job_status_and_dropped_work_data() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"bgu", b"x"]));
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"5", b"10"]);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
        // Non-numeric progress parses as 0 (atoi), leading digits are kept.
        s.req("w", &mut w, T::WorkStatus, &[&h, b"abc", b"7x"]);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("w", &mut w, T::WorkData, &[&h, b"nobody listens"]);
        s.req("w", &mut w, T::WorkWarning, &[&h, b"nobody listens"]);
        s.req("w", &mut w, T::WorkComplete, &[&h, b"done"]);
        s.pending("c", &mut c);
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"bgu"]);
    });
}

#[test]
fn job_not_found_errors_and_their_texts() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let mut other = s.conn();
        let bogus: &[u8] = b"H:bogus:1";
        s.req("w", &mut w, T::WorkStatus, &[bogus, b"1", b"2"]);
        s.req("w", &mut w, T::WorkData, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkWarning, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkComplete, &[bogus, b"d"]);
        s.req("w", &mut w, T::WorkFail, &[bogus]);
        s.req("w", &mut w, T::WorkException, &[bogus, b"d"]);
        // A queued job nobody holds, then a job held by another connection.
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::WorkComplete, &[&h, b"d"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        for kind in [
            T::WorkData,
            T::WorkWarning,
            T::WorkComplete,
            T::WorkException,
        ] {
            s.req("other", &mut other, kind, &[&h, b"d"]);
        }
        s.req("other", &mut other, T::WorkStatus, &[&h, b"1", b"2"]);
        s.req("other", &mut other, T::WorkFail, &[&h]);
        s.pending("c", &mut c);
        // The holder finishes; everything after that is unknown.
        s.req("w", &mut w, T::WorkComplete, &[&h, b"ok"]);
        s.expect("c", &mut c, 1);
        s.req("w", &mut w, T::WorkComplete, &[&h, b"again"]);
        s.req("w", &mut w, T::WorkData, &[&h, b"late"]);
        s.req("w", &mut w, T::WorkStatus, &[&h, b"1", b"2"]);
        s.req("w", &mut w, T::WorkFail, &[&h]);
        s.req("w", &mut w, T::WorkException, &[&h, b"late"]);
        s.pending("c", &mut c);
    });
}

#[test]
fn worker_disconnect_requeues_its_job() {
    differential(|s| {
        let mut c = s.conn();
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("w1", &mut w1, T::CanDo, &[b"f"]);
        s.req("w1", &mut w1, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::WorkStatus, &[&h, b"1", b"2"]);
        s.expect("c", &mut c, 1);
        s.req("w2", &mut w2, T::CanDo, &[b"f"]);
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w2", &mut w2, T::PreSleep, &[]);
        drop(w1);
        s.expect("w2", &mut w2, 1);
        // Requeued: progress reset, not running.
        s.req("c", &mut c, T::GetStatus, &[&h]);
        s.req("w2", &mut w2, T::GrabJobUniq, &[]);
        s.req("w2", &mut w2, T::WorkComplete, &[&h, b"r"]);
        s.expect("c", &mut c, 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Coalescing
// ---------------------------------------------------------------------------------------------

#[test]
fn coalescing_on_unique_relays_once_per_submission() {
    differential(|s| {
        let mut c1 = s.conn();
        let mut c2 = s.conn();
        let mut w = s.conn();
        // Same connection twice, then another connection (foreground and background).
        let mut two = req(T::SubmitJob, &[b"f", b"u", b"d1"]);
        two.extend(req(T::SubmitJob, &[b"f", b"u", b"d2"]));
        s.send("c1", &mut c1, &two);
        s.req("c2", &mut c2, T::SubmitJobHigh, &[b"f", b"u", b"d3"]);
        s.req("c2", &mut c2, T::SubmitJobBg, &[b"f", b"u", b"d4"]);
        s.req("c2", &mut c2, T::GetStatusUnique, &[b"u"]);
        // Same unique, other function: a different job.
        s.req("c2", &mut c2, T::SubmitJobBg, &[b"g", b"u", b"other fn"]);
        s.admin("c2", &mut c2, "status");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        let assign = s.req("w", &mut w, T::GrabJob, &[]);
        let h = handle_of(&assign);
        s.req("w", &mut w, T::GrabJob, &[]);
        // Attaching to a running job.
        s.req("c2", &mut c2, T::SubmitJob, &[b"f", b"u", b"d5"]);
        s.req("c2", &mut c2, T::GetStatusUnique, &[b"u"]);
        let mut work = req(T::WorkData, &[&h, b"part"]);
        work.extend(req(T::WorkStatus, &[&h, b"1", b"1"]));
        work.extend(req(T::WorkComplete, &[&h, b"res"]));
        s.send("w", &mut w, &work);
        s.expect("c1", &mut c1, 6);
        s.expect("c2", &mut c2, 6);
        s.pending("c1", &mut c1);
        s.pending("c2", &mut c2);
        // Finished: the unique makes a new job.
        s.req("c1", &mut c1, T::SubmitJobBg, &[b"f", b"u", b"d6"]);
    });
}

#[test]
fn coalescing_dash_unique_and_empty_unique() {
    differential(|s| {
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b"other"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"g", b"-", b"same"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b""]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"-", b""]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"U", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"u", b"x"]);
        s.admin("c", &mut c, "status");
        s.admin("c", &mut c, "show unique jobs");
    });
}

// ---------------------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------------------

/// gearmand converts WORK_EXCEPTION into `WORK_FAIL "handle\0"` for clients without the
/// `exceptions` option (a stray NUL, [G-bug]); gearboxd sends `WORK_FAIL "handle"`. The raw
/// bodies are asserted here, then the transcripts are compared modulo that NUL.
#[test]
fn work_exception_to_opted_in_and_plain_clients() {
    differential(|s| {
        s.norm.strip_fail_nul = true;
        let mut opted = s.conn();
        let mut plain = s.conn();
        let mut w = s.conn();
        s.req("opted", &mut opted, T::OptionReq, &[b"exceptions"]);
        let h = handle_of(&s.req("opted", &mut opted, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("plain", &mut plain, T::SubmitJob, &[b"f", b"u", b"x"]);
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkData, &[&h, b"before"]);
        s.req("w", &mut w, T::WorkException, &[&h, b"boom\0bin"]);
        s.expect("opted", &mut opted, 2);
        let got = s.expect("plain", &mut plain, 2);
        let fail = got[1].packet();
        assert_eq!(fail.kind, T::WorkFail);
        let mut with_nul = h.clone();
        with_nul.push(0);
        if s.gearmand() {
            assert_eq!(fail.body.as_ref(), &with_nul[..], "gearmand's stray NUL");
        } else {
            assert_eq!(fail.body.as_ref(), &h[..], "gearboxd sends the bare handle");
        }
        // Exception is terminal.
        s.req("opted", &mut opted, T::GetStatus, &[&h]);
        s.admin("opted", &mut opted, "status");
    });
}

/// gearboxd silently drops a WORK_FAIL that immediately follows a WORK_EXCEPTION for the same
/// handle from the same worker ([R], for workers written for the Perl server's non-terminal
/// exceptions); gearmand answers it with ERROR JOB_NOT_FOUND.
#[test]
fn difference_work_fail_right_after_work_exception() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"x"]));
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        let mut both = req(T::WorkException, &[&h, b"e"]);
        both.extend(req(T::WorkFail, &[&h]));
        let replies = w.request(&both);
        if s.gearmand() {
            assert_eq!(replies.len(), 1, "{replies:?}");
            assert_eq!(
                replies[0].args(),
                [
                    b"JOB_NOT_FOUND".to_vec(),
                    b"Job given in work result not found".to_vec()
                ]
            );
        } else {
            assert!(replies.is_empty(), "{replies:?}");
        }
        // The client got one terminal packet either way.
        let got = c.recv();
        assert!(got.is(T::WorkFail), "{}", got.describe());
        assert!(c.sync().is_empty());
        // A second WORK_FAIL is no longer "immediately after": JOB_NOT_FOUND on both.
        let replies = w.request(&req(T::WorkFail, &[&h]));
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].args()[0], b"JOB_NOT_FOUND");
    });
}

// ---------------------------------------------------------------------------------------------
// Priorities and reducers
// ---------------------------------------------------------------------------------------------

#[test]
fn priorities_within_one_function() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"low 1"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"normal 1"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"high 1"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"f", b"", b"low 2"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"", b"high 2"]);
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"normal 2"]);
        s.req(
            "c",
            &mut c,
            T::SubmitJobEpoch,
            &[b"f", b"", b"1", b"epoch 1"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"", b"r", b"", b"reduce 1"],
        );
        s.admin("c", &mut c, "prioritystatus");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        for _ in 0..8 {
            s.req("w", &mut w, T::GrabJob, &[]);
        }
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("c", &mut c, "prioritystatus");
        s.admin("c", &mut c, "status");
    });
}

#[test]
fn reducer_jobs_and_grab_job_all() {
    differential(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru1", b"red", b"agg", b"p1"],
        );
        let h2 = handle_of(&s.req(
            "c",
            &mut c,
            T::SubmitReduceJob,
            &[b"f", b"ru2", b"red2", b"", b"p\x002"],
        ));
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru3", b"red3", b"", b"p3"],
        );
        s.req(
            "c",
            &mut c,
            T::SubmitReduceJobBackground,
            &[b"f", b"ru4", b"red4", b"", b"p4"],
        );
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        // Reducer jobs to the older grabs: plain JOB_ASSIGN / JOB_ASSIGN_UNIQ.
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJobUniq, &[]);
        s.req("w", &mut w, T::GrabJobAll, &[]);
        s.req("w", &mut w, T::WorkComplete, &[&h2, b"reduced"]);
        s.expect("c", &mut c, 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Admin protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn admin_status_workers_prioritystatus() {
    differential(|s| {
        let mut a = s.conn();
        // No `workers` yet: gearmand may still list the harness's closed readiness probe.
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
        let mut w1 = s.conn();
        let mut w2 = s.conn();
        let mut c = s.conn();
        s.req("w1", &mut w1, T::SetClientId, &[b"worker-one"]);
        s.req("w1", &mut w1, T::CanDo, &[b"alpha"]);
        s.req("w1", &mut w1, T::CanDo, &[b"beta"]);
        s.req("w2", &mut w2, T::CanDoTimeout, &[b"beta", b"5000"]);
        s.req("w2", &mut w2, T::SetClientId, &[b"first"]);
        s.req("w2", &mut w2, T::SetClientId, &[b"second"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"alpha", b"", b"1"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"alpha", b"", b"2"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"beta", b"", b"3"]);
        s.req("c", &mut c, T::SubmitJob, &[b"gamma", b"", b"4"]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        s.admin("a", &mut a, "prioritystatus");
        s.req("w2", &mut w2, T::GrabJob, &[]);
        s.req("w1", &mut w1, T::GrabJobUniq, &[]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
        s.req("w1", &mut w1, T::CantDo, &[b"alpha"]);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        drop(w2);
        wait_status(&mut a, "beta", "1\t0\t1");
        s.pending("w1", &mut w1);
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "workers");
        // Case-insensitive command word, trailing spaces.
        s.admin("a", &mut a, "STATUS");
        s.admin("a", &mut a, "Workers");
        s.admin("a", &mut a, "status  ");
        s.admin("a", &mut a, "PriorityStatus");
    });
}

#[test]
fn admin_show_jobs_and_show_unique_jobs() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
        // Foreground jobs only: see difference_show_jobs_flags_background_jobs.
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"one", b"1"]);
        s.req("c", &mut c, T::SubmitJobHigh, &[b"f", b"two", b"2"]);
        s.req("c", &mut c, T::SubmitJobLow, &[b"g", b"", b"3"]);
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "SHOW JOBS");
        s.admin("a", &mut a, "show UNIQUE jobs");
        s.admin("a", &mut a, "show");
        s.admin("a", &mut a, "show errors");
        s.admin("a", &mut a, "show unique");
        s.admin("a", &mut a, "show jobs extra");
        s.admin("a", &mut a, "show unique jobs extra");
        s.admin("a", &mut a, "show  jobs");
    });
}

#[test]
fn admin_maxqueue_forms_and_effects() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        s.admin("a", &mut a, "maxqueue");
        s.admin("a", &mut a, "Maxqueue f");
        // Make the function exist first (see difference_maxqueue_for_unknown_function).
        s.admin("a", &mut a, "create function f");
        s.admin("a", &mut a, "maxqueue f 1");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"1"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"2"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"3"]);
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"", b"4"]);
        // Coalescing onto an existing job is not limited.
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"5"]);
        s.admin("a", &mut a, "maxqueue f");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"6"]);
        s.admin("a", &mut a, "maxqueue f 1");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"dup", b"7"]);
        // high 4, normal 3, low unlimited.
        s.admin("a", &mut a, "maxqueue f 4 3");
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"8"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"9"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"10"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"11"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"12"]);
        // Per-priority: high unlimited (0), normal unlimited (-1), low 1.
        s.admin("a", &mut a, "maxqueue f 0 -1 1");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"13"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"14"]);
        s.req("c", &mut c, T::SubmitJobHighBg, &[b"f", b"", b"15"]);
        // Non-numeric means unlimited.
        s.admin("a", &mut a, "maxqueue f abc");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"16"]);
        s.admin("a", &mut a, "maxqueue f 2x");
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"f", b"", b"17"]);
        s.admin("a", &mut a, "maxqueue  f  1  1  1");
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "prioritystatus");
    });
}

#[test]
fn admin_cancel_job() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut c2 = s.conn();
        s.admin("a", &mut a, "cancel");
        s.admin("a", &mut a, "cancel job");
        s.admin("a", &mut a, "cancel job H:nope:1");
        s.admin("a", &mut a, "cancel a b");
        s.admin("a", &mut a, "cancel job h extra");
        s.admin("a", &mut a, "CANCEL JOB H:nope:1");
        let fg = handle_of(&s.req("c", &mut c, T::SubmitJob, &[b"f", b"u", b"x"]));
        s.req("c2", &mut c2, T::SubmitJob, &[b"f", b"u", b"x"]);
        let bg = handle_of(&s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"", b"y"]));
        let fg = String::from_utf8(fg).unwrap();
        let bg = String::from_utf8(bg).unwrap();
        // Every attached client gets WORK_FAIL.
        s.admin("a", &mut a, &format!("cancel job {fg}"));
        s.expect("c", &mut c, 1);
        s.expect("c2", &mut c2, 1);
        s.admin("a", &mut a, &format!("cancel job {bg}"));
        s.pending("c", &mut c);
        // Cancelled jobs are never handed out.
        let mut w = s.conn();
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
    });
}

#[test]
fn admin_create_and_drop_function() {
    differential(|s| {
        let mut a = s.conn();
        s.admin("a", &mut a, "create");
        s.admin("a", &mut a, "create function");
        s.admin("a", &mut a, "create function a b");
        s.admin("a", &mut a, "create func x");
        s.admin("a", &mut a, "create function made");
        s.admin("a", &mut a, "CREATE FUNCTION Made2");
        s.admin("a", &mut a, "status");
        s.admin("a", &mut a, "drop");
        s.admin("a", &mut a, "drop function");
        s.admin("a", &mut a, "drop function a b");
        s.admin("a", &mut a, "drop function nope");
        s.admin("a", &mut a, "drop function MADE");
        s.admin("a", &mut a, "drop function made");
        s.admin("a", &mut a, "drop function made2");
        s.admin("a", &mut a, "status");
        // A function with a registered worker cannot be dropped.
        let mut w = s.conn();
        s.req("w", &mut w, T::CanDo, &[b"busy"]);
        s.admin("a", &mut a, "drop function busy");
        // Nor one with a running job after the worker unregistered... (the worker holds it).
        let mut c = s.conn();
        s.req("c", &mut c, T::SubmitJobBg, &[b"busy", b"", b"x"]);
        let h = handle_of(&s.req("w", &mut w, T::GrabJob, &[]));
        s.admin("a", &mut a, "drop function busy");
        s.req("w", &mut w, T::WorkComplete, &[&h, b""]);
        drop(w);
        wait_status(&mut a, "busy", "0\t0\t0");
        s.admin("a", &mut a, "drop function busy");
        s.admin("a", &mut a, "status");
    });
}

#[test]
fn admin_version_getpid_verbose() {
    differential(|s| {
        let mut a = s.conn();
        s.admin("a", &mut a, "getpid");
        s.admin("a", &mut a, "GETPID");
        s.admin("a", &mut a, "getpid extra");
        s.admin("a", &mut a, "verbose");
        s.admin("a", &mut a, "verbose extra");
    });
}

#[test]
fn admin_unknown_commands_and_errors() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "bogus",
            "",
            " status",
            "status\t",
            "\tstatus",
            "jobs",
            "clients",
            "gladiator",
            "show",
            "show errors",
            "help",
            "quit",
            "x y z",
            "stat",
            "statusx",
        ] {
            s.admin("a", &mut a, line);
        }
        // Bare LF endings.
        s.admin_raw("a", &mut a, "bogus\n");
        s.admin_raw("a", &mut a, "\n");
        s.admin_raw("a", &mut a, "status\n");
        s.admin_raw("a", &mut a, "\r\n");
    });
}

/// Trailing spaces end a line with one empty token, as gearmand reads it: `cancel job ` names
/// the empty handle (ERR UNKNOWN_JOB), `show ` has an unknown argument, `maxqueue ` names no
/// function.
#[test]
fn admin_lines_with_trailing_spaces() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "cancel job ",
            "cancel job   ",
            "cancel ",
            "cancel job x ",
            "show ",
            "show jobs ",
            "show unique jobs ",
            "status ",
            "workers ",
            "maxqueue ",
            "drop function ",
            "drop function x ",
        ] {
            s.admin("a", &mut a, line);
        }
        s.admin("a", &mut a, "status");
    });
}

#[test]
fn text_and_binary_interleaved_on_one_connection() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = Vec::new();
        bytes.extend(req(T::EchoReq, &[b"one"]));
        bytes.extend(b"status\r\n");
        // Foreground: see background_submit_then_grab_pipelined_on_one_connection.
        bytes.extend(req(T::SubmitJob, &[b"f", b"u", b"x"]));
        bytes.extend(b"status\n");
        bytes.extend(req(T::CanDo, &[b"f"]));
        bytes.extend(b"workers\n");
        bytes.extend(req(T::GrabJobUniq, &[]));
        bytes.extend(b"getpid\r\n");
        bytes.extend(req(T::EchoReq, &[b"two\0"]));
        bytes.extend(b"bogus\n");
        bytes.extend(req(T::GrabJob, &[]));
        bytes.extend(b"prioritystatus\r\n");
        let replies = c.request(&bytes);
        // Check the order of the kinds of replies; contents via the transcript.
        let shape: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Packet(p) => p.kind.name().to_owned(),
                Reply::Line(_) => "line".to_owned(),
                Reply::Partial(_) => "partial".to_owned(),
            })
            .collect();
        s.log.push(format!("shape {shape:?}"));
        let mut keep = Vec::new();
        for r in &replies {
            if let Reply::Packet(_) = r {
                keep.push(r.clone());
            }
        }
        s.record("c", "(packets of the mixed write)".to_owned(), &keep);
        let text = lines(
            &replies
                .into_iter()
                .filter(|r| matches!(r, Reply::Line(_)))
                .collect::<Vec<_>>(),
        );
        let mut text: Vec<String> = text
            .iter()
            .map(|l| {
                let l = String::from_utf8_lossy(l).into_owned();
                // getpid and workers lines carry numbers that differ per server.
                if l.starts_with("OK ") {
                    "OK <pid>\n".to_owned()
                } else if l.contains(" 127.0.0.1 ") {
                    l.split_once(' ')
                        .map(|(_, rest)| format!("FD {rest}"))
                        .unwrap()
                } else {
                    l
                }
            })
            .collect();
        text.sort();
        s.log.push(format!("text lines (sorted) {text:?}"));
    });
}

#[test]
fn admin_show_jobs_with_background_jobs() {
    differential(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        s.req("c", &mut c, T::SubmitJob, &[b"f", b"fg", b"x"]);
        s.req("c", &mut c, T::SubmitJobBg, &[b"f", b"bg", b"y"]);
        s.req("c", &mut c, T::SubmitJobLowBg, &[b"g", b"", b"z"]);
        s.admin("a", &mut a, "show jobs");
        s.req("w", &mut w, T::CanDo, &[b"f"]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.req("w", &mut w, T::GrabJob, &[]);
        s.admin("a", &mut a, "show jobs");
        // A requeued background job counts a retry.
        drop(w);
        wait_status(&mut a, "f", "2\t0\t0");
        s.admin("a", &mut a, "show jobs");
        s.admin("a", &mut a, "show unique jobs");
    });
}

/// The word gearmand names in `ERR INVALID_ARGUMENTS …+command+<word>` is the command word as
/// the client typed it.
#[test]
fn admin_invalid_arguments_echo_the_command_word_as_typed() {
    differential(|s| {
        let mut a = s.conn();
        for line in [
            "MAXQUEUE",
            "MaxQueue",
            "CREATE",
            "Create function",
            "DROP",
            "Drop Function",
            "CANCEL",
            "Cancel job",
            "SHOW",
        ] {
            s.admin("a", &mut a, line);
        }
    });
}

/// One connection pipelines a background submission, a registration and GRABs: requests are
/// processed in order, so the GRAB sees the job whose JOB_CREATED came just before.
#[test]
fn background_submit_then_grab_pipelined_on_one_connection() {
    differential(|s| {
        let mut c = s.conn();
        let mut bytes = req(T::SubmitJobBg, &[b"f", b"u", b"x"]);
        bytes.extend(req(T::GetStatusUnique, &[b"u"]));
        bytes.extend(b"status\n");
        bytes.extend(req(T::CanDo, &[b"f"]));
        bytes.extend(req(T::GrabJobUniq, &[]));
        bytes.extend(req(T::GetStatusUnique, &[b"u"]));
        s.send("c", &mut c, &bytes);
        s.req("c", &mut c, T::GrabJobUniq, &[]);
        s.req("c", &mut c, T::GetStatusUnique, &[b"u"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Deliberate differences ([G-bug] / [R]): each server's own answer, asserted explicitly
// ---------------------------------------------------------------------------------------------

fn line_str(l: &[u8]) -> &str {
    std::str::from_utf8(l).unwrap()
}

/// `version`: gearmand (Debian build) answers `OK 1.1.20+ds`; gearboxd a plain dotted number
/// that compares as ≥ 1.1.19 ([R]).
#[test]
fn difference_version_text() {
    each(|s| {
        let mut a = s.conn();
        let answer = a.admin_line("version");
        let expected: &[u8] = if s.gearmand() {
            b"OK 1.1.20+ds\n"
        } else {
            b"OK 1.1.20\n"
        };
        assert_eq!(line_str(&answer), line_str(expected));
        // Extra arguments are ignored.
        assert_eq!(a.admin_line("version x"), expected);
    });
}

/// 1.1.x gearmand NOOPs a sleeping worker at once for a not-yet-due epoch job and never when
/// it becomes due ([G-bug]); gearboxd NOOPs only when the job is due ([R]). Both hand the job
/// out only after its time.
#[test]
fn difference_epoch_job_wakes_sleeping_worker_when_due() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        w.send_req(T::PreSleep, &[]);
        assert!(w.sync().is_empty());
        let due = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2;
        let created = c.request_req(
            T::SubmitJobEpoch,
            &[b"f", b"", due.to_string().as_bytes(), b"later"],
        );
        assert!(created[0].is(T::JobCreated));
        let early = w.sync();
        if s.gearmand() {
            assert_eq!(early.len(), 1, "gearmand wakes at submission");
            assert!(early[0].is(T::Noop));
            // Not due yet: nothing to grab.
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
            w.send_req(T::PreSleep, &[]);
            // No NOOP when the time comes.
            let late = w.drain_for(Duration::from_secs(4));
            assert!(late.is_empty(), "{late:?}");
        } else {
            assert!(early.is_empty(), "{early:?}");
            let wake = w.recv();
            assert!(wake.is(T::Noop), "{}", wake.describe());
        }
        let assign = w.request_req(T::GrabJob, &[]);
        assert!(assign[0].is(T::JobAssign), "{}", assign[0].describe());
        assert_eq!(assign[0].args()[2], b"later");
    });
}

/// A worker with two functions: gearmand 1.1 scans its functions in registration order (most
/// recent first) and serves the first one with any job, so a low job can beat a high one; gearboxd
/// serves priority across all of the worker's functions ([R], gearmand 2.0 semantics).
#[test]
fn difference_priority_across_functions() {
    each(|s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJobLowBg, &[b"a", b"", b"a-low"]);
        c.request_req(T::SubmitJobHighBg, &[b"b", b"", b"b-high"]);
        c.request_req(T::SubmitJobBg, &[b"a", b"", b"a-normal"]);
        let mut w = s.conn();
        // Registered b first, then a: gearmand looks at a first.
        w.send_req(T::CanDo, &[b"b"]);
        w.send_req(T::CanDo, &[b"a"]);
        let order: Vec<Vec<u8>> = (0..3)
            .map(|_| w.request_req(T::GrabJob, &[])[0].args()[2].clone())
            .collect();
        let expected: [&[u8]; 3] = if s.gearmand() {
            [b"a-normal", b"a-low", b"b-high"]
        } else {
            [b"b-high", b"a-normal", b"a-low"]
        };
        assert_eq!(order, expected.map(<[u8]>::to_vec));
    });
}

/// CAN_DO of the same function twice: gearmand keeps two registrations (counted twice in
/// `status`, listed twice in `workers`); gearboxd de-duplicates ([R]).
#[test]
fn difference_can_do_same_function_twice() {
    each(|s| {
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        w.send_req(T::CanDo, &[b"f"]);
        w.send_req(T::CanDoTimeout, &[b"f", b"5000"]);
        w.sync();
        let mut a = s.conn();
        let status = a.admin_list("status");
        let workers = a.admin_list("workers");
        let worker_line = workers
            .iter()
            .map(|l| line_str(l))
            .find(|l| l.contains(": f"))
            .unwrap()
            .split_once(' ')
            .unwrap()
            .1
            .to_owned();
        if s.gearmand() {
            assert_eq!(status, [b"f\t0\t0\t3\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(worker_line, "127.0.0.1 - : f f f\n");
        } else {
            assert_eq!(status, [b"f\t0\t0\t1\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(worker_line, "127.0.0.1 - : f\n");
        }
        // CANT_DO removes every registration on both.
        w.send_req(T::CantDo, &[b"f"]);
        w.sync();
        assert_eq!(
            a.admin_list("status"),
            [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]
        );
    });
}

/// A trailing NUL on CAN_DO's function name: gearmand registers a different function `f\0`
/// ([G]); gearboxd strips one trailing NUL from identifiers ([R]), so the worker gets `f` jobs.
#[test]
fn difference_can_do_with_trailing_nul() {
    each(|s| {
        let mut w = s.conn();
        let mut c = s.conn();
        w.send_req(T::CanDo, &[b"f\0"]);
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
        let got = w.request_req(T::GrabJob, &[]);
        if s.gearmand() {
            assert!(got[0].is(T::NoJob), "{}", got[0].describe());
        } else {
            assert!(got[0].is(T::JobAssign), "{}", got[0].describe());
        }
    });
}

/// `cancel job` twice: gearmand answers OK again and re-sends WORK_FAIL ([G-bug]); gearboxd
/// removed the job at the first cancel, so the second gets `ERR UNKNOWN_JOB` ([R]). gearmand
/// also keeps cancelled jobs in `status` totals until a worker would pull them.
#[test]
fn difference_cancel_job_twice() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let line = format!("cancel job {}", String::from_utf8(h.clone()).unwrap());
        assert_eq!(a.admin_line(&line), b"OK\r\n");
        let fail = c.recv();
        assert!(fail.is(T::WorkFail) && fail.packet().body.as_ref() == h.as_slice());
        let status = a.admin_list("status");
        if s.gearmand() {
            assert_eq!(a.admin_line(&line), b"OK\r\n");
            let again = c.recv();
            assert!(again.is(T::WorkFail), "{}", again.describe());
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        } else {
            assert_eq!(a.admin_line(&line), b"ERR UNKNOWN_JOB\r\n");
            assert!(c.sync().is_empty());
            assert_eq!(status, [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]);
        }
    });
}

/// Cancelling a running job: both send WORK_FAIL to the client. gearmand leaves the client
/// attached, so the worker's later WORK_COMPLETE reaches it too (two terminal packets,
/// [G-bug]); gearboxd detaches it and answers the worker's late result with JOB_NOT_FOUND.
#[test]
fn difference_cancel_running_job_then_late_result() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        let line = format!("cancel job {}", String::from_utf8(h.clone()).unwrap());
        assert_eq!(a.admin_line(&line), b"OK\r\n");
        assert!(c.recv().is(T::WorkFail));
        let late = w.request_req(T::WorkComplete, &[&h, b"late"]);
        if s.gearmand() {
            assert!(late.is_empty(), "{late:?}");
            let second = c.recv();
            assert!(second.is(T::WorkComplete), "{}", second.describe());
        } else {
            assert_eq!(late.len(), 1);
            assert_eq!(late[0].args()[0], b"JOB_NOT_FOUND");
            assert!(c.sync().is_empty());
        }
    });
}

/// `create function x` with a bare LF: gearmand computes the name length assuming CRLF and
/// loses the last character ([G-bug]); gearboxd creates `x` as typed.
#[test]
fn difference_create_function_with_bare_lf() {
    each(|s| {
        let mut a = s.conn();
        assert_eq!(a.admin_line("create function abcd"), b"OK\r\n");
        a.send(b"create function wxyz\r\n");
        assert_eq!(a.recv_line(), b"OK\r\n");
        let status: Vec<Vec<u8>> = {
            let mut l = a.admin_list("status");
            l.sort();
            l
        };
        if s.gearmand() {
            assert_eq!(
                status,
                [
                    b".\n".to_vec(),
                    b"abc\t0\t0\t0\n".to_vec(),
                    b"wxyz\t0\t0\t0\n".to_vec()
                ]
            );
        } else {
            assert_eq!(
                status,
                [
                    b".\n".to_vec(),
                    b"abcd\t0\t0\t0\n".to_vec(),
                    b"wxyz\t0\t0\t0\n".to_vec()
                ]
            );
        }
    });
}

/// `drop function` while the function still has queued jobs: gearmand drops it and orphans
/// the jobs ([G-bug]); gearboxd refuses with the "still connected workers or executing clients"
/// error ([R]).
#[test]
fn difference_drop_function_with_queued_jobs() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
        let answer = a.admin_line("drop function f");
        let status = a.admin_list("status");
        if s.gearmand() {
            assert_eq!(answer, b"OK\r\n");
            assert_eq!(status, [b".\n".to_vec()]);
        } else {
            assert_eq!(
                line_str(&answer),
                "ERR there are still connected workers or executing clients\r\n"
            );
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        }
    });
}

/// `maxqueue` for a function that does not exist: gearmand answers OK and does nothing
/// ([G]); gearboxd creates the function, so the limit holds for later jobs ([R]).
#[test]
fn difference_maxqueue_for_unknown_function() {
    each(|s| {
        let mut a = s.conn();
        let mut c = s.conn();
        assert_eq!(a.admin_line("maxqueue f 1"), b"OK\r\n");
        let status = a.admin_list("status");
        c.request_req(T::SubmitJobBg, &[b"f", b"", b"1"]);
        let second = c.request_req(T::SubmitJobBg, &[b"f", b"", b"2"]);
        if s.gearmand() {
            assert_eq!(status, [b".\n".to_vec()]);
            assert!(second[0].is(T::JobCreated));
        } else {
            assert_eq!(status, [b"f\t0\t0\t0\n".to_vec(), b".\n".to_vec()]);
            assert_eq!(
                second[0].args(),
                [b"QUEUE_ERROR".to_vec(), b"Job queue is full".to_vec()]
            );
        }
    });
}

/// Admin lines of six or more tokens: gearmand closes the connection; gearboxd answers
/// `ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line` and keeps it ([R]).
#[test]
fn difference_six_token_admin_lines() {
    each(|s| {
        for line in ["status a b c d e", "a b c d e f", "maxqueue f 1 2 3 4"] {
            let mut a = s.conn();
            a.send(format!("{line}\r\n").as_bytes());
            if s.gearmand() {
                let before = a.expect_closed();
                assert!(before.is_empty(), "{before:?}");
            } else {
                assert_eq!(
                    line_str(&a.recv_line()),
                    "ERR INVALID_ARGUMENTS Too+many+arguments+were+sent+in+one+line\r\n"
                );
                assert_eq!(a.admin_list("status"), [b".\n".to_vec()]);
            }
        }
        // Five tokens are fine on both.
        let mut a = s.conn();
        assert_eq!(a.admin_line("maxqueue f 1 2 3"), b"OK\r\n");
    });
}

/// The admin `shutdown` was removed from gearmand 1.1.15 (unknown command); gearboxd keeps it
/// for loopback peers ([R]) and stops.
#[test]
fn difference_shutdown_command() {
    each(|s| {
        let mut a = s.conn();
        if s.gearmand() {
            assert_eq!(
                line_str(&a.admin_line("shutdown")),
                "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
            );
            assert_eq!(
                line_str(&a.admin_line("shutdown graceful")),
                "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
            );
        } else {
            assert_eq!(a.admin_line("shutdown"), b"OK\r\n");
            a.expect_closed();
        }
    });
}

/// A foreground job whose only client disconnects before it runs: gearmand keeps it
/// (abandoned) in `status` totals and `show jobs` until a worker would pull it ([G]);
/// gearboxd removes it at once ([R]). Neither hands it to a worker.
#[test]
fn difference_abandoned_foreground_job() {
    each(|s| {
        let mut a = s.conn();
        {
            let mut c = s.conn();
            c.request_req(T::SubmitJob, &[b"f", b"u", b"x"]);
        }
        if s.gearmand() {
            // Give it time to notice the close; nothing changes anyway.
            std::thread::sleep(Duration::from_millis(300));
            let status = a.admin_list("status");
            assert_eq!(status, [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]);
        } else {
            wait_status(&mut a, "f", "0\t0\t0");
        }
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        assert_eq!(
            a.admin_list("status"),
            [b"f\t0\t0\t1\n".to_vec(), b".\n".to_vec()]
        );
    });
}

/// `show jobs`, fourth column: gearmand prints 1 for background jobs, which it hands to its
/// queue back end even when that is the no-op builtin one; gearboxd prints the same with
/// `-q memory` as with its default durable store.
#[test]
fn show_jobs_background_flag_with_memory_store() {
    if !support::server_available(Kind::Gearmand) {
        return;
    }
    for kind in Kind::ALL {
        let server = match kind {
            Kind::Gearmand => Server::start(kind, &[]),
            Kind::Gearboxd => Server::start(kind, &["-q", "memory"]),
        };
        let mut a = Conn::connect(server.addr);
        let mut c = Conn::connect(server.addr);
        let fg = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let bg = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"y"]));
        let mut listing: Vec<String> = a
            .admin_list("show jobs")
            .iter()
            .map(|l| line_str(l).to_owned())
            .collect();
        listing.sort();
        let fg = String::from_utf8(fg).unwrap();
        let bg = String::from_utf8(bg).unwrap();
        let bg_flag = 1;
        let mut expected = vec![
            ".\n".to_owned(),
            format!("{fg}\t0\t0\t0\n"),
            format!("{bg}\t0\t0\t{bg_flag}\n"),
        ];
        expected.sort();
        assert_eq!(listing, expected, "{kind}");
    }
}

/// A 64-byte unique: gearmand stores only 63 bytes of it ([G-bug]); gearboxd stores it whole
/// and finds it by GET_STATUS_UNIQUE. (gearmand does not answer a GET_STATUS_UNIQUE of 64
/// bytes at all: see difference_status_queries_with_64_byte_arguments.)
#[test]
fn difference_unique_of_64_bytes() {
    each(|s| {
        let mut c = s.conn();
        let unique = [b'u'; 64];
        assert!(c.request_req(T::SubmitJobBg, &[b"f", &unique, b"x"])[0].is(T::JobCreated));
        let listing = c.admin_list("show unique jobs");
        if s.gearmand() {
            assert_eq!(listing, [[&unique[..63], b"\n"].concat(), b".\n".to_vec()]);
        } else {
            assert_eq!(listing, [[&unique[..], b"\n"].concat(), b".\n".to_vec()]);
            let r = c.request_req(T::GetStatusUnique, &[&unique]);
            assert_eq!(r[0].args()[1], b"1");
        }
    });
}

/// GET_STATUS with a handle, or GET_STATUS_UNIQUE with a unique, of 64 bytes or more: gearmand
/// never answers (and usually closes the connection when the next request arrives, [G-bug]);
/// gearboxd answers "unknown" and goes on ([R]).
#[test]
fn difference_status_queries_with_64_byte_arguments() {
    each(|s| {
        let long_handle = [b'h'; 64];
        let long_unique = [b'u'; 65];
        for (kind, arg) in [
            (T::GetStatus, &long_handle[..]),
            (T::GetStatus, &[b'h'; 200][..]),
            (T::GetStatusUnique, &long_unique[..64]),
            (T::GetStatusUnique, &long_unique[..]),
        ] {
            let mut c = s.conn();
            let mut bytes = req(kind, &[arg]);
            bytes.extend(req(T::EchoReq, &[b"after"]));
            c.send(&bytes);
            if s.gearmand() {
                // Whatever comes (nothing, the echo, or EOF), it is never a status answer.
                let got = c.drain_for(Duration::from_millis(500));
                assert!(
                    !got.iter()
                        .any(|r| r.is(T::StatusRes) || r.is(T::StatusResUnique)),
                    "{got:?}"
                );
            } else {
                let r = c.recv();
                let args = r.args();
                assert_eq!(args[0], arg);
                assert!(args[1..].iter().all(|a| a == b"0"), "{}", r.describe());
                assert!(c.recv().is(T::EchoRes));
            }
        }
    });
}

/// WORK_FAIL with a 64-byte handle: gearmand answers ARGUMENT_TOO_LARGE (its handle buffer);
/// gearboxd treats it as any unknown handle: JOB_NOT_FOUND.
#[test]
fn difference_work_fail_with_64_byte_handle() {
    each(|s| {
        let mut w = s.conn();
        let r = w.request_req(T::WorkFail, &[&[b'h'; 64]]);
        let expected: &[u8] = if s.gearmand() {
            b"ARGUMENT_TOO_LARGE"
        } else {
            b"JOB_NOT_FOUND"
        };
        assert_eq!(r[0].args()[0], expected);
    });
}

/// A reducer name longer than gearmand's buffer: both refuse with ARGUMENT_TOO_LARGE, but
/// gearmand's text names the unique ([G-bug]: it checks the reducer against the unique limit).
#[test]
fn difference_reducer_name_too_long_text() {
    each(|s| {
        let mut c = s.conn();
        let r = c.request_req(T::SubmitReduceJob, &[b"f", b"u", &[b'r'; 600], b"", b"d"]);
        let text: &[u8] = if s.gearmand() {
            b"Unique value too large"
        } else {
            b"Reducer name too large"
        };
        assert_eq!(r[0].args(), [b"ARGUMENT_TOO_LARGE".to_vec(), text.to_vec()]);
        assert!(c.request_req(T::EchoReq, &[b"x"])[0].is(T::EchoRes));
    });
}

/// WORK_STATUS numbers outside u32: both servers copy at most 10 bytes and store `atoi` in a
/// u32, so `-5` reads back as 4294967291 and `99999999999` as 1410065407.
#[test]
fn work_status_numbers_out_of_range_read_like_atoi() {
    each(|s| {
        let mut c = s.conn();
        let mut w = s.conn();
        let h = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]));
        w.send_req(T::CanDo, &[b"f"]);
        w.request_req(T::GrabJob, &[]);
        w.request_req(T::WorkStatus, &[&h, b"-5", b"99999999999"]);
        let r = c.request_req(T::GetStatus, &[&h]);
        assert_eq!(r[0].args()[3], b"4294967291");
        assert_eq!(r[0].args()[4], b"1410065407");
    });
}

/// A job that kills every worker taking it, among three good ones, one worker at a time.
/// gearmand requeues a lost job at the tail; gearboxd at the head the first time (it was first
/// in line), then at the tail, so the poison job cannot starve the jobs behind it.
#[test]
fn difference_lost_job_goes_to_the_head_once_then_to_the_tail() {
    each(|s| {
        let mut c = s.conn();
        for data in ["poison", "ok1", "ok2", "ok3"] {
            c.request_req(T::SubmitJobBg, &[b"f", b"", data.as_bytes()]);
        }
        let mut ran = Vec::new();
        for _ in 0..6 {
            let mut w = s.conn();
            w.send_req(T::CanDo, &[b"f"]);
            let assigned = w.request_req(T::GrabJob, &[]);
            let args = assigned[0].args();
            ran.push(String::from_utf8_lossy(&args[2]).into_owned());
            if args[2] == b"poison" {
                drop(w);
                // Let the server see the close before the next worker asks.
                std::thread::sleep(Duration::from_millis(100));
            } else {
                w.request_req(T::WorkComplete, &[&args[0], b""]);
            }
        }
        let expected = if s.gearmand() {
            ["poison", "ok1", "ok2", "ok3", "poison", "poison"]
        } else {
            ["poison", "poison", "ok1", "ok2", "ok3", "poison"]
        };
        assert_eq!(ran, expected, "[{}]", s.kind);
    });
}

/// `--job-retries 0`: unlimited in gearmand 1.1.20, no requeue at all in gearboxd (gearmand
/// 2.0's meaning, with -1 for unlimited).
#[test]
fn difference_job_retries_zero() {
    each_with(&["--job-retries", "0"], |s| {
        let mut c = s.conn();
        let handle = handle_of(&c.request_req(T::SubmitJob, &[b"f", b"", b"x"]));
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        drop(w);
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        if s.gearmand() {
            std::thread::sleep(Duration::from_millis(200));
            let again = w.request_req(T::GrabJob, &[]);
            assert!(again[0].is(T::JobAssign), "requeued without limit");
        } else {
            let fail = c.recv();
            assert!(fail.is(T::WorkFail), "{}", fail.describe());
            assert_eq!(fail.args()[0], handle);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::NoJob));
        }
    });
}

/// `--job-retries 1`: gearmand fails the job the first time its worker is lost (N counts
/// runs); gearboxd requeues it once and fails it the second time (N counts requeues).
#[test]
fn difference_job_retries_one() {
    each_with(&["--job-retries", "1"], |s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJob, &[b"f", b"", b"x"]);
        let lose = |s: &mut Session| {
            let mut w = s.conn();
            w.send_req(T::CanDo, &[b"f"]);
            assert!(w.request_req(T::GrabJob, &[])[0].is(T::JobAssign));
        };
        lose(s);
        if !s.gearmand() {
            std::thread::sleep(Duration::from_millis(200));
            lose(s);
        }
        let fail = c.recv();
        assert!(fail.is(T::WorkFail), "[{}] {}", s.kind, fail.describe());
    });
}

/// CAN_DO_TIMEOUT: gearmand runs one timer per connection, armed at the first grab; once that
/// job is done, a second job taken later is never timed out (gearmand #301) and hangs.
/// gearboxd times every assignment: the second job goes back to the queue after its second.
#[test]
fn difference_run_timeout_per_assignment() {
    each(|s| {
        let mut c = s.conn();
        c.request_req(T::SubmitJob, &[b"f", b"", b"j1"]);
        c.request_req(T::SubmitJob, &[b"f", b"", b"j2"]);
        let mut w = s.conn();
        w.send_req(T::CanDoTimeout, &[b"f", b"1000"]);
        let first = w.request_req(T::GrabJob, &[]);
        std::thread::sleep(Duration::from_millis(600));
        w.request_req(T::WorkComplete, &[&first[0].args()[0], b""]);
        let second = w.request_req(T::GrabJob, &[]);
        assert_eq!(second[0].args()[2], b"j2");
        let mut other = s.conn();
        other.send_req(T::CanDo, &[b"f"]);
        let started = std::time::Instant::now();
        let mut taken = false;
        while started.elapsed() < Duration::from_millis(2500) && !taken {
            taken = other.request_req(T::GrabJob, &[])[0].is(T::JobAssign);
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(taken, !s.gearmand(), "[{}]", s.kind);
    });
}

/// A background submission coalesced onto a foreground job; the foreground client leaves.
/// gearmand abandons the job with its client; gearboxd keeps it, since a background
/// submission contributed to it.
#[test]
fn difference_foreground_client_leaving_a_coalesced_background_job() {
    each(|s| {
        {
            let mut f = s.conn();
            f.request_req(T::SubmitJob, &[b"f", b"u", b"x"]);
            let mut b = s.conn();
            b.request_req(T::SubmitJobBg, &[b"f", b"u", b"x"]);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut w = s.conn();
        w.send_req(T::CanDo, &[b"f"]);
        let got = w.request_req(T::GrabJob, &[]);
        assert_eq!(got[0].is(T::JobAssign), !s.gearmand(), "[{}]", s.kind);
    });
}

/// `workers` shows a client id with spaces and control bytes as gearboxd's `_`, where
/// gearmand prints it raw and breaks the line format.
#[test]
fn difference_workers_client_id_with_spaces() {
    each(|s| {
        let mut w = s.conn();
        w.send_req(T::SetClientId, &[b"my worker\tone"]);
        w.send_req(T::CanDo, &[b"f"]);
        w.sync();
        let mut a = s.conn();
        let listing = a.admin_list("workers");
        let line = listing
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .find(|l| l.ends_with(" : f\n"))
            .unwrap_or_else(|| panic!("[{}] {listing:?}", s.kind));
        let id = if s.gearmand() {
            "my worker\tone"
        } else {
            "my_worker_one"
        };
        assert!(
            line.contains(&format!(" {id} : f")),
            "[{}] {line:?}",
            s.kind
        );
    });
}

/// Handle numbers: gearmand counts from 1 at every start, so a handle from before a restart
/// names a new job; gearboxd seeds the count from the clock (seconds × 10^6).
#[test]
fn difference_handle_numbers_are_seeded_from_the_clock() {
    each(|s| {
        let mut c = s.conn();
        let handle = handle_of(&c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]));
        let handle = String::from_utf8(handle).unwrap();
        let n: u64 = handle.rsplit(':').next().unwrap().parse().unwrap();
        if s.gearmand() {
            assert_eq!(n, 1, "{handle}");
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(
                (now - 60) * 1_000_000 <= n && n <= (now + 1) * 1_000_000,
                "{handle}"
            );
        }
    });
}
