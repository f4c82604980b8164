//! Gearbox's own admin commands as typed calls on [`Client`]: kept results (`result`) and
//! dead letters (`dead list|show|retry|purge`), over the text admin protocol (PROTOCOL.md §9;
//! gearmand answers each with `ERR UNKNOWN_COMMAND`, an [`Error::Server`]).
//!
//! This module owns the exchange — one command line out on a connection of its own (opened by
//! `conn::dial` with the client's TLS settings and connect timeout), one answer back, framed by
//! gearbox-proto's [`AdminReplyReader`] as every Gearbox reader of admin answers is — and the
//! decoding of each answer into typed values. Which server is asked:
//!
//! * a result by handle: every server in the order added, until one knows the job (handles
//!   are per server), as [`Client::status`] does;
//! * a result by function and unique: the server the unique id routes to first, then the
//!   others, as [`Client::status_unique`] does;
//! * dead letters: the first server added, only. Their ids are per server, so asking another
//!   one would name another letter; use a client with just that server to reach it.
//!
//! A command is never sent twice: `dead retry` and `dead purge` change what the server holds,
//! and the lookups move on to the next server only after an answer or a failure. Nothing a
//! server sends may panic here: an answer that does not parse is [`Error::Protocol`].

use base64::Engine as _;
use bytes::Bytes;
use gearbox_proto::{AdminReply, AdminReplyReader, ReplyShape, DEFAULT_MAX_BODY};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

pub use gearbox_proto::DeadSelector;

use crate::client::Client;
use crate::conn::{dial, Dialed};
use crate::deadline::with_deadline;
use crate::error::Error;
use crate::request::Priority;
use crate::ring::server_index;

/// Longest answer line read: a `dead show` carries the whole workload in base64, and a
/// workload is at most the largest packet body. Anything longer is not a Gearbox answer.
const MAX_ANSWER_LINE: u64 = DEFAULT_MAX_BODY as u64 / 3 * 4 + 1024;

/// What became of a background job, as the server kept it (`result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultState {
    /// The worker completed it (WORK_COMPLETE); the data is the result.
    Complete,
    /// The worker failed it (WORK_FAIL), or it failed for good after its retries.
    Fail,
    /// The worker raised an exception (WORK_EXCEPTION); the data is the exception's text.
    Exception,
    /// The job is still queued, waiting or running.
    Pending,
    /// No such job, and no outcome kept: its function keeps none (`keep_results`), the
    /// outcome expired, the job was never there, or the server is not gearboxd.
    Unknown,
}

impl ResultState {
    /// The state as the protocol names it: `complete`, `fail`, `exception`, `pending` or
    /// `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            ResultState::Complete => "complete",
            ResultState::Fail => "fail",
            ResultState::Exception => "exception",
            ResultState::Pending => "pending",
            ResultState::Unknown => "unknown",
        }
    }

    fn parse(word: &str) -> Option<ResultState> {
        Some(match word {
            "complete" => ResultState::Complete,
            "fail" => ResultState::Fail,
            "exception" => ResultState::Exception,
            "pending" => ResultState::Pending,
            "unknown" => ResultState::Unknown,
            _ => return None,
        })
    }
}

/// A kept outcome ([`Client::kept_result`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptResult {
    /// How the job ended, or that it has not.
    pub state: ResultState,
    /// The full size of the result (or exception text) in bytes.
    pub size: u64,
    /// The data as kept: cut to the function's `keep_results_max` when longer
    /// ([`KeptResult::is_cut`]); empty for `fail`, `pending` and `unknown`.
    pub data: Bytes,
}

impl KeptResult {
    /// True when the server kept less than the whole result.
    pub fn is_cut(&self) -> bool {
        (self.data.len() as u64) < self.size
    }
}

/// How a dead letter's last attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The worker disconnected, or gave the function up, holding the job.
    Lost,
    /// The worker overran its CAN_DO_TIMEOUT.
    Timeout,
    /// The worker sent WORK_FAIL.
    Fail,
    /// The worker sent WORK_EXCEPTION.
    Exception,
}

impl FailureKind {
    /// `lost`, `timeout`, `fail` or `exception`, as the server names it.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Lost => "lost",
            FailureKind::Timeout => "timeout",
            FailureKind::Fail => "fail",
            FailureKind::Exception => "exception",
        }
    }

    fn parse(word: &str) -> Option<FailureKind> {
        Some(match word {
            "lost" => FailureKind::Lost,
            "timeout" => FailureKind::Timeout,
            "fail" => FailureKind::Fail,
            "exception" => FailureKind::Exception,
            _ => return None,
        })
    }
}

/// A background job that failed for good and was kept by the server (its function's policy
/// has `dead_letter`), with what is needed to run it again.
///
/// From [`Client::dead_letter`] every field is exact. From [`Client::dead_letters`] (a
/// listing) `function`, `unique` and `worker` are as the listing shows them — a byte up to
/// space, or DEL, shown as `_` — and `workload` and `detail` are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The server's id for it (per server; ascending in the order the jobs died).
    pub id: u64,
    /// The job's function.
    pub function: Bytes,
    /// The job's unique id (a retry submits it with the same one).
    pub unique: Bytes,
    /// The job's priority.
    pub priority: Priority,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// How the last attempt failed.
    pub failure: FailureKind,
    /// When it failed for good, UTC, as `2026-12-04T19:50:00Z`.
    pub failed_at: String,
    /// Client id of the worker that had it last; `-` when it set none.
    pub worker: Bytes,
    /// Size of the workload in bytes.
    pub size: u64,
    /// The workload (only from [`Client::dead_letter`]).
    pub workload: Option<Bytes>,
    /// The exception's text for [`FailureKind::Exception`], else empty (only from
    /// [`Client::dead_letter`]).
    pub detail: Option<Bytes>,
}

impl Client {
    /// The kept outcome of the background job `handle` (admin `result HANDLE`; gearboxd with
    /// `keep_results` set for the job's function). Every server is asked in the order added
    /// until one does not answer `unknown`; a server that fails is skipped, and its error is
    /// returned only when no server answered at all.
    pub async fn kept_result(&self, handle: &[u8]) -> Result<KeptResult, Error> {
        let mut line = b"result ".to_vec();
        line.extend_from_slice(token("handle", handle)?);
        let order = self.servers();
        with_deadline(self.deadline(None), self.lookup_result(order, &line)).await
    }

    /// The kept outcome of the latest background job of `function` with the unique id
    /// `unique` (admin `result FUNCTION UNIQUE`). The server the unique id routes to is asked
    /// first, then the others, as for [`Client::kept_result`].
    pub async fn kept_result_by_unique(
        &self,
        function: &[u8],
        unique: &[u8],
    ) -> Result<KeptResult, Error> {
        let mut line = b"result ".to_vec();
        line.extend_from_slice(token("function name", function)?);
        line.push(b' ');
        line.extend_from_slice(token("unique id", unique)?);
        let mut order = self.servers();
        if let Some(first) = server_index(unique, b"", order.len()) {
            order.rotate_left(first);
        }
        with_deadline(self.deadline(None), self.lookup_result(order, &line)).await
    }

    async fn lookup_result(&self, order: Vec<String>, line: &[u8]) -> Result<KeptResult, Error> {
        let mut answer = None;
        let mut last_err = None;
        for server in &order {
            let result = self
                .admin_exchange(server, line, ReplyShape::Line)
                .await
                .and_then(|lines| parse_result(server, &lines));
            match result {
                Ok(kept) if kept.state != ResultState::Unknown => return Ok(kept),
                Ok(kept) => answer = Some(kept),
                Err(e) => last_err = Some(e),
            }
        }
        answer.ok_or_else(|| last_err.unwrap_or(Error::NoServers))
    }

    /// The dead letters of the first server added, oldest first; of `function` only when
    /// given (admin `dead list [FUNCTION]`). See [`DeadLetter`] for what a listing shows.
    pub async fn dead_letters(&self, function: Option<&[u8]>) -> Result<Vec<DeadLetter>, Error> {
        let mut line = b"dead list".to_vec();
        if let Some(f) = function {
            line.push(b' ');
            line.extend_from_slice(token("function name", f)?);
        }
        let server = self.first_server()?;
        let lines = with_deadline(
            self.deadline(None),
            self.admin_exchange(&server, &line, ReplyShape::List),
        )
        .await?;
        lines
            .iter()
            .map(|l| parse_dead_row(l).map_err(|detail| malformed(&server, detail)))
            .collect()
    }

    /// One dead letter of the first server added, every field exact (admin `dead show ID`);
    /// `None` when the server has none with that id.
    pub async fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, Error> {
        let server = self.first_server()?;
        let line = format!("dead show {id}");
        let answer = with_deadline(
            self.deadline(None),
            self.admin_exchange(&server, line.as_bytes(), ReplyShape::List),
        )
        .await;
        match answer {
            Ok(lines) => parse_dead_show(id, &lines)
                .map(Some)
                .map_err(|detail| malformed(&server, detail)),
            Err(Error::Server { code, .. }) if code == "NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Submit the selected dead letters of the first server added again, each as a background
    /// job with its function, unique id, workload and priority (admin `dead retry`); returns
    /// how many were submitted. One whose unique id is still queued, or whose queue is full,
    /// stays a dead letter and is not counted.
    pub async fn retry_dead(&self, selector: DeadSelector) -> Result<u64, Error> {
        self.dead_change("retry", &selector).await
    }

    /// Forget the selected dead letters of the first server added (admin `dead purge`);
    /// returns how many were forgotten.
    pub async fn purge_dead(&self, selector: DeadSelector) -> Result<u64, Error> {
        self.dead_change("purge", &selector).await
    }

    async fn dead_change(&self, verb: &str, selector: &DeadSelector) -> Result<u64, Error> {
        let mut line = format!("dead {verb} ").into_bytes();
        match selector {
            DeadSelector::Id(id) => line.extend_from_slice(id.to_string().as_bytes()),
            DeadSelector::All => line.extend_from_slice(b"all"),
            DeadSelector::Function(f) => {
                // The server reads a token of digits as an id and `all` as every letter.
                let reads_as = if f.eq_ignore_ascii_case(b"all") {
                    Some("all")
                } else if !f.is_empty() && f.iter().all(u8::is_ascii_digit) {
                    Some("an id")
                } else {
                    None
                };
                if let Some(other) = reads_as {
                    return Err(Error::InvalidArgument(format!(
                        "function {:?} cannot be selected over the admin protocol (it reads as \
                         {other})",
                        String::from_utf8_lossy(f)
                    )));
                }
                line.extend_from_slice(token("function name", f)?);
            }
        }
        let server = self.first_server()?;
        let lines = with_deadline(
            self.deadline(None),
            self.admin_exchange(&server, &line, ReplyShape::Line),
        )
        .await?;
        parse_count(&lines).map_err(|detail| malformed(&server, detail))
    }

    fn first_server(&self) -> Result<String, Error> {
        self.servers().into_iter().next().ok_or(Error::NoServers)
    }

    /// One admin exchange with `server` on a connection of its own: the answer's lines (the
    /// `OK…` line, or a listing without its `.`); an `ERR` answer is [`Error::Server`].
    async fn admin_exchange(
        &self,
        server: &str,
        line: &[u8],
        shape: ReplyShape,
    ) -> Result<Vec<String>, Error> {
        let settings = self.connect_settings();
        let dialed = dial(server, settings.timeout, settings.tls.as_ref())
            .await
            .map_err(|last| Error::NoServerReachable { last })?;
        match dialed {
            Dialed::Plain(stream) => talk(stream, server, line, shape).await,
            Dialed::Tls(stream) => talk(*stream, server, line, shape).await,
        }
    }
}

/// Send `line` and read one answer of `shape`.
async fn talk(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    server: &str,
    line: &[u8],
    shape: ReplyShape,
) -> Result<Vec<String>, Error> {
    let lost = || Error::ConnectionLost {
        server: server.to_string(),
        handle: None,
    };
    let mut stream = BufReader::new(stream);
    let mut out = line.to_vec();
    // CRLF, as gearadmin sends (gearmand's `create function` expects it).
    out.extend_from_slice(b"\r\n");
    stream.write_all(&out).await.map_err(|_| lost())?;
    stream.flush().await.map_err(|_| lost())?;
    let mut framer = AdminReplyReader::new(shape);
    loop {
        let mut buf = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER_LINE)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|_| lost())?;
        if buf.last() != Some(&b'\n') {
            if buf.len() as u64 >= MAX_ANSWER_LINE {
                return Err(malformed(server, "an answer line too long".into()));
            }
            return Err(lost());
        }
        match framer.line(&buf) {
            None => {}
            Some(AdminReply::Err(err)) => {
                return Err(Error::Server {
                    server: server.to_string(),
                    code: err.code,
                    text: err.text,
                })
            }
            Some(AdminReply::List(lines)) => return Ok(lines),
            Some(AdminReply::Line(line)) => return Ok(vec![line]),
        }
    }
}

/// A token of an admin line: the protocol splits on spaces and ends a line at CR or LF.
fn token<'a>(what: &str, value: &'a [u8]) -> Result<&'a [u8], Error> {
    if value.is_empty() || value.iter().any(|b| matches!(b, b' ' | b'\r' | b'\n' | 0)) {
        return Err(Error::InvalidArgument(format!(
            "{what} {:?}: the admin protocol cannot carry an empty one or one with a space, \
             line break or NUL byte",
            String::from_utf8_lossy(value)
        )));
    }
    Ok(value)
}

fn malformed(server: &str, detail: String) -> Error {
    Error::Protocol {
        server: server.to_string(),
        detail,
    }
}

fn base64(field: &str, text: &str) -> Result<Bytes, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .map_err(|e| format!("{field} is not base64 ({e}): {text:?}"))
}

fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{field} is not a number: {text:?}"))
}

fn priority(text: &str) -> Result<Priority, String> {
    match text {
        "high" => Ok(Priority::High),
        "normal" => Ok(Priority::Normal),
        "low" => Ok(Priority::Low),
        other => Err(format!("unknown priority {other:?}")),
    }
}

fn failure(text: &str) -> Result<FailureKind, String> {
    FailureKind::parse(text).ok_or_else(|| format!("unknown failure {text:?}"))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, checked for shape only.
fn utc_time(text: &str) -> Result<String, String> {
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    let fits = text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            s => c == s,
        });
    if fits {
        Ok(text.to_owned())
    } else {
        Err(format!("not a UTC time: {text:?}"))
    }
}

/// `OK STATE SIZE [BASE64]`.
fn parse_result(server: &str, lines: &[String]) -> Result<KeptResult, Error> {
    let parse = || -> Result<KeptResult, String> {
        let line = lines.first().map(String::as_str).unwrap_or_default();
        let mut words = line.split(' ');
        if words.next() != Some("OK") {
            return Err(format!("expected `OK STATE SIZE [DATA]`, got {line:?}"));
        }
        let (Some(state), Some(size)) = (words.next(), words.next()) else {
            return Err(format!("expected `OK STATE SIZE [DATA]`, got {line:?}"));
        };
        let state =
            ResultState::parse(state).ok_or_else(|| format!("unknown result state {state:?}"))?;
        let size = number("size", size)?;
        let data = match words.next() {
            Some(text) => base64("data", text)?,
            None => Bytes::new(),
        };
        if words.next().is_some() {
            return Err(format!("more than `OK STATE SIZE [DATA]` in {line:?}"));
        }
        if data.len() as u64 > size {
            return Err(format!("{} bytes of data for a size of {size}", data.len()));
        }
        Ok(KeptResult { state, size, data })
    };
    parse().map_err(|detail| malformed(server, detail))
}

/// `OK N`.
fn parse_count(lines: &[String]) -> Result<u64, String> {
    let line = lines.first().map(String::as_str).unwrap_or_default();
    match line.strip_prefix("OK ") {
        Some(n) => number("count", n.trim()),
        None => Err(format!("expected `OK N`, got {line:?}")),
    }
}

/// `ID FUNCTION UNIQUE PRIORITY ATTEMPTS FAILURE FAILED_AT WORKER SIZE`, tab-separated.
fn parse_dead_row(line: &str) -> Result<DeadLetter, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [id, function, unique, prio, attempts, fail, failed_at, worker, size] = fields[..] else {
        return Err(format!("expected 9 tab-separated fields in {line:?}"));
    };
    let bytes = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    Ok(DeadLetter {
        id: number("id", id)?,
        function: bytes(function),
        unique: bytes(unique),
        priority: priority(prio)?,
        attempts: number("attempts", attempts)?,
        failure: failure(fail)?,
        failed_at: utc_time(failed_at)?,
        worker: bytes(worker),
        size: number("size", size)?,
        workload: None,
        detail: None,
    })
}

/// `NAME\tVALUE` lines; byte strings in base64. Names the decoder does not know are skipped,
/// so a server may add fields.
fn parse_dead_show(id: u64, lines: &[String]) -> Result<DeadLetter, String> {
    let mut fields = std::collections::HashMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once('\t') else {
            return Err(format!("expected `NAME<tab>VALUE`, got {line:?}"));
        };
        fields.insert(name, value);
    }
    let field = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| format!("no {name} in the dead letter"))
    };
    let shown: u64 = number("id", field("id")?)?;
    if shown != id {
        return Err(format!("asked for dead letter {id}, got {shown}"));
    }
    let workload = base64("workload", field("workload")?)?;
    Ok(DeadLetter {
        id,
        function: base64("function", field("function")?)?,
        unique: base64("unique", field("unique")?)?,
        priority: priority(field("priority")?)?,
        attempts: number("attempts", field("attempts")?)?,
        failure: failure(field("failure")?)?,
        failed_at: utc_time(field("failed_at")?)?,
        worker: base64("worker", field("worker")?)?,
        size: workload.len() as u64,
        workload: Some(workload),
        detail: Some(base64("detail", field("detail")?)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn results_decode() {
        let r = parse_result("s", &lines(&["OK complete 5 aAB5AQ=="])).unwrap();
        assert_eq!(r.state, ResultState::Complete);
        assert_eq!(r.size, 5);
        assert_eq!(&r.data[..], b"h\0y\x01");
        assert!(r.is_cut());
        let r = parse_result("s", &lines(&["OK pending 0"])).unwrap();
        assert_eq!(
            (r.state, r.size, r.data.len()),
            (ResultState::Pending, 0, 0)
        );
        for bad in [
            "OK",
            "OK complete",
            "OK done 1 YQ==",
            "OK complete x",
            "OK complete 1 !!",
            "OK complete 1 YQ== more",
            "OK complete 0 YQ==",
            "complete 1 YQ==",
            "",
        ] {
            assert!(
                matches!(
                    parse_result("s", &lines(&[bad])),
                    Err(Error::Protocol { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(parse_result("s", &[]).is_err());
    }

    #[test]
    fn dead_rows_decode() {
        let d =
            parse_dead_row("7\tf\tu_1\tlow\t2\texception\t2026-12-04T19:50:00Z\tw-1\t12").unwrap();
        assert_eq!(d.id, 7);
        assert_eq!(&d.unique[..], b"u_1");
        assert_eq!(d.priority, Priority::Low);
        assert_eq!(d.failure, FailureKind::Exception);
        assert_eq!(d.size, 12);
        assert_eq!(d.workload, None);
        for bad in [
            "7\tf\tu\tlow\t2\texception\t2026-12-04T19:50:00Z\tw",
            "x\tf\tu\tlow\t2\tfail\t2026-12-04T19:50:00Z\tw\t1",
            "7\tf\tu\turgent\t2\tfail\t2026-12-04T19:50:00Z\tw\t1",
            "7\tf\tu\tlow\t2\texploded\t2026-12-04T19:50:00Z\tw\t1",
            "7\tf\tu\tlow\t2\tfail\tyesterday\tw\t1",
            "7\tf\tu\tlow\t-2\tfail\t2026-12-04T19:50:00Z\tw\t1",
        ] {
            assert!(parse_dead_row(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dead_show_decodes() {
        let full = [
            "id\t3",
            "function\tZg==",
            "unique\tdQ==",
            "priority\thigh",
            "attempts\t2",
            "failure\tfail",
            "detail\t",
            "worker\tLQ==",
            "failed_at\t2026-12-04T19:50:00Z",
            "workload\tAGI=",
            "later\tfield",
        ];
        let d = parse_dead_show(3, &lines(&full)).unwrap();
        assert_eq!(d.workload.as_deref(), Some(&b"\0b"[..]));
        assert_eq!(d.detail.as_deref(), Some(&b""[..]));
        assert_eq!(
            (&d.function[..], &d.worker[..], d.size),
            (&b"f"[..], &b"-"[..], 2)
        );
        assert!(parse_dead_show(4, &lines(&full)).is_err(), "another id");
        assert!(parse_dead_show(3, &lines(&full[1..])).is_err(), "no id");
        let mut bad = full;
        bad[9] = "workload\t***";
        assert!(parse_dead_show(3, &lines(&bad)).is_err());
        bad = full;
        bad[4] = "attempts 2";
        assert!(parse_dead_show(3, &lines(&bad)).is_err());
    }

    #[test]
    fn tokens_the_protocol_can_carry() {
        assert!(token("f", b"a.b-c\t").is_ok());
        for bad in [&b""[..], b"a b", b"a\nb", b"a\rb", b"a\0"] {
            assert!(matches!(token("f", bad), Err(Error::InvalidArgument(_))));
        }
        assert_eq!(parse_count(&lines(&["OK 3"])), Ok(3));
        assert!(parse_count(&lines(&["OK"])).is_err());
        assert!(parse_count(&lines(&["OK x"])).is_err());
    }
}
