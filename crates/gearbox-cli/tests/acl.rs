//! The access list (`gearboxd --acl`): for two certificate identities, an administrator and
//! anonymous connections (TLS without a certificate, and a plaintext listener), every allow
//! and deny of registering, submitting, status lookups and each admin command; denials logged
//! once; the list re-read on SIGHUP for connections already open.

mod cli;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use gearbox_client::{Tls, TlsOptions};
use gearbox_proto::{encode_packet, Magic, PacketType};
use gearbox_testkit::pki::{CertFiles, Pki};
use gearbox_testkit::{free_port, wait_until, Kind, Server};

const ACL: &str = r#"
[[rule]]
identity = "billing-worker"
work = ["billing.*"]
admin = "none"

[[rule]]
identity = "web"
submit = ["billing.*", "thumbnail"]
admin = "read"

[[rule]]
identity = "ops"
admin = "all"

[[rule]]
identity = "anonymous"
submit = ["public"]
"#;

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// One connection, as one identity, speaking both protocols.
struct Peer {
    reader: BufReader<Box<dyn Stream>>,
}

impl Peer {
    fn tls(addr: SocketAddr, pki: &Pki, cert: Option<&CertFiles>) -> Peer {
        let tls = Tls::new(&TlsOptions {
            ca_file: Some(pki.ca().to_owned()),
            certificate: cert.map(|c| c.cert.clone()),
            key: cert.map(|c| c.key.clone()),
            server_name: None,
        })
        .unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = rustls::ClientConnection::new(
            tls.config(),
            tls.server_name(&addr.to_string()).unwrap(),
        )
        .unwrap();
        Peer {
            reader: BufReader::new(Box::new(rustls::StreamOwned::new(conn, sock))),
        }
    }

    fn plain(addr: SocketAddr) -> Peer {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Peer {
            reader: BufReader::new(Box::new(sock)),
        }
    }

    fn send(&mut self, kind: PacketType, fields: &[&[u8]], last: &[u8]) {
        let mut out = BytesMut::new();
        encode_packet(&mut out, Magic::Req, kind, fields, last);
        let stream = self.reader.get_mut();
        stream.write_all(&out).unwrap();
        stream.flush().unwrap();
    }

    fn receive(&mut self) -> (u32, Vec<u8>) {
        let mut header = [0u8; 12];
        self.reader.read_exact(&mut header).expect("a reply");
        assert_eq!(&header[..4], b"\0RES");
        let kind = u32::from_be_bytes(header[4..8].try_into().unwrap());
        let size = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
        let mut body = vec![0u8; size];
        self.reader.read_exact(&mut body).unwrap();
        (kind, body)
    }

    /// Send `kind` then an ECHO; the ERROR text that came before the echo, if any.
    fn refusal_of(&mut self, kind: PacketType, fields: &[&[u8]], last: &[u8]) -> Option<String> {
        self.send(kind, fields, last);
        self.send(PacketType::EchoReq, &[], b"sync");
        let mut refusal = None;
        loop {
            let (reply, body) = self.receive();
            match reply {
                17 if body == b"sync" => return refusal,
                19 => {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    assert!(text.starts_with("PERMISSION_DENIED\0"), "{text}");
                    refusal = Some(text);
                }
                _ => {}
            }
        }
    }

    /// CAN_DO: `None` when registered, else the refusal.
    fn can_do(&mut self, function: &str) -> Option<String> {
        self.refusal_of(PacketType::CanDo, &[], function.as_bytes())
    }

    /// SUBMIT_JOB_BG: the handle, or `Err` with the refusal.
    fn submit(&mut self, function: &str, unique: &str) -> Result<String, String> {
        self.send(
            PacketType::SubmitJobBg,
            &[function.as_bytes(), unique.as_bytes()],
            b"work",
        );
        let (kind, body) = self.receive();
        let text = String::from_utf8_lossy(&body).into_owned();
        match kind {
            8 => Ok(text),
            19 => {
                assert!(text.starts_with("PERMISSION_DENIED\0"), "{text}");
                Err(text)
            }
            other => panic!("unexpected reply {other}: {text}"),
        }
    }

    /// GET_STATUS: whether the job is known.
    fn known(&mut self, handle: &str) -> bool {
        self.send(PacketType::GetStatus, &[], handle.as_bytes());
        let (kind, body) = self.receive();
        assert_eq!(kind, 20);
        body.split(|&b| b == 0).nth(1) == Some(b"1")
    }

    /// GET_STATUS_UNIQUE: whether the job is known.
    fn known_unique(&mut self, unique: &str) -> bool {
        self.send(PacketType::GetStatusUnique, &[], unique.as_bytes());
        let (kind, body) = self.receive();
        assert_eq!(kind, 42);
        body.split(|&b| b == 0).nth(1) == Some(b"1")
    }

    /// An admin command: its reply, the whole list for list commands.
    fn admin(&mut self, line: &str) -> String {
        let stream = self.reader.get_mut();
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        stream.flush().unwrap();
        let mut reply = String::new();
        loop {
            let mut text = String::new();
            self.reader.read_line(&mut text).expect("an admin reply");
            let end = reply.is_empty() && (text.starts_with("OK") || text.starts_with("ERR"))
                || text == ".\n";
            reply.push_str(&text);
            if end {
                return reply;
            }
        }
    }
}

/// Every admin command, with whether `read` rights suffice.
const ADMIN: &[(&str, bool)] = &[
    ("status", true),
    ("workers", true),
    ("version", true),
    ("show jobs", true),
    ("show unique jobs", true),
    ("prioritystatus", true),
    ("getpid", true),
    ("verbose", false),
    ("maxqueue thumbnail 10", false),
    ("cancel job H:nothing:1", false),
    ("create function made.here", false),
    ("drop function made.here", false),
];

/// SIGHUP the server and wait for `logged` in its log.
fn hang_up(server: &Server, logged: &str) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || server.log().contains(logged)),
        "{}",
        server.log()
    );
}

fn denied(reply: &str) -> bool {
    reply.starts_with("ERR PERMISSION_DENIED")
}

#[test]
fn the_access_list_allows_and_denies_each_request() {
    let pki = Pki::new("acl");
    let dir = gearbox_testkit::TempDir::new("acl");
    let acl = dir.path().join("acl.toml");
    std::fs::write(&acl, ACL).unwrap();
    let plain: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let arg = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--ssl",
            "--ssl-certificate",
            &arg(&pki.server.cert),
            "--ssl-key",
            &arg(&pki.server.key),
            "--ssl-ca-file",
            &arg(pki.ca()),
            "--acl",
            &arg(&acl),
            "--plain-listen",
            &plain.to_string(),
        ],
    );
    let mut worker = Peer::tls(server.addr, &pki, Some(&pki.client("billing-worker")));
    let mut web = Peer::tls(server.addr, &pki, Some(&pki.client("web")));
    let mut ops = Peer::tls(server.addr, &pki, Some(&pki.client("ops")));
    let mut anon_tls = Peer::tls(server.addr, &pki, None);
    let mut anon_plain = Peer::plain(plain);

    // Registering.
    assert_eq!(worker.can_do("billing.charge"), None);
    let refusal = worker
        .can_do("thumbnail")
        .expect("billing-worker may not work on thumbnail");
    assert!(
        refusal.contains("billing-worker may not register as a worker for thumbnail"),
        "{refusal}"
    );
    assert!(worker
        .refusal_of(PacketType::CanDoTimeout, &[b"thumbnail"], b"1000")
        .is_some());
    assert!(web.can_do("billing.charge").is_some());
    assert!(anon_tls.can_do("public").is_some());
    assert!(anon_plain.can_do("billing.charge").is_some());
    let status = ops.admin("status");
    assert!(status.contains("billing.charge\t0\t0\t1\n"), "{status}");
    assert!(
        !status.contains("thumbnail"),
        "a refused CAN_DO registered: {status}"
    );
    let workers = ops.admin("workers");
    assert_eq!(
        workers.matches(" : billing.charge\n").count(),
        1,
        "{workers}"
    );

    // Submitting.
    let handle = web
        .submit("billing.charge", "u-charge")
        .expect("web may submit billing.*");
    assert!(web.submit("thumbnail", "u-thumb").is_ok());
    assert!(web
        .submit("reports", "u-reports")
        .unwrap_err()
        .contains("web may not submit jobs to reports"));
    assert!(worker.submit("billing.charge", "u-w").is_err());
    assert!(ops.submit("billing.charge", "u-ops").is_err());
    assert!(anon_tls.submit("public", "u-public").is_ok());
    assert!(anon_plain.submit("thumbnail", "u-anon").is_err());
    for kind in [
        PacketType::SubmitJob,
        PacketType::SubmitJobHigh,
        PacketType::SubmitJobLowBg,
        PacketType::SubmitJobEpoch,
    ] {
        let fields: &[&[u8]] = if kind == PacketType::SubmitJobEpoch {
            &[b"reports", b"u-x", b"0"]
        } else {
            &[b"reports", b"u-x"]
        };
        assert!(web.refusal_of(kind, fields, b"w").is_some(), "{kind:?}");
    }
    let status = ops.admin("status");
    assert!(status.contains("billing.charge\t1\t0\t1\n"), "{status}");
    assert!(status.contains("thumbnail\t1\t0\t0\n"), "{status}");
    assert!(status.contains("public\t1\t0\t0\n"), "{status}");
    assert!(
        !status.contains("reports"),
        "a refused submission created a job: {status}"
    );

    // Status lookups reveal only jobs of functions the identity works on or submits to.
    assert!(web.known(&handle));
    assert!(worker.known(&handle));
    assert!(!anon_tls.known(&handle));
    assert!(!anon_plain.known(&handle));
    assert!(!ops.known(&handle));
    assert!(web.known_unique("u-charge") && worker.known_unique("u-charge"));
    assert!(!anon_plain.known_unique("u-charge") && !ops.known_unique("u-charge"));
    assert!(anon_plain.known_unique("u-public"));

    // Admin commands.
    for &(line, read) in ADMIN {
        assert_eq!(!denied(&web.admin(line)), read, "web: {line}");
        assert!(denied(&worker.admin(line)), "billing-worker: {line}");
        assert!(denied(&anon_tls.admin(line)), "anonymous over TLS: {line}");
        assert!(
            denied(&anon_plain.admin(line)),
            "anonymous plaintext: {line}"
        );
        assert!(!denied(&ops.admin(line)), "ops: {line}");
    }
    assert!(denied(&web.admin("shutdown")));
    // libgearman's gearadmin, on the plaintext listener (anonymous), is refused too.
    if gearbox_testkit::require("gearadmin") {
        let mut gearadmin = std::process::Command::new("gearadmin");
        gearadmin.args([
            "-h",
            "127.0.0.1",
            "-p",
            &plain.port().to_string(),
            "--status",
        ]);
        let out = gearbox_testkit::run(gearadmin, gearbox_testkit::PROC_TIMEOUT);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(
            said.contains("PERMISSION_DENIED"),
            "gearadmin --status: {said}"
        );
    }

    // Every connection is still usable after its refusals.
    for peer in [&mut worker, &mut web, &mut anon_tls, &mut anon_plain] {
        assert_eq!(peer.refusal_of(PacketType::EchoReq, &[], b"still"), None);
    }

    // Each refusal is logged once, with the identity and the address.
    let log = server.log();
    let line = "billing-worker may not register as a worker for thumbnail";
    let logged: Vec<&str> = log.lines().filter(|l| l.contains(line)).collect();
    assert_eq!(logged.len(), 1, "{log}");
    assert!(logged[0].contains("127.0.0.1"), "{log}");
    assert!(
        log.contains("anonymous may not submit jobs to thumbnail"),
        "{log}"
    );

    // SIGHUP re-reads the list, for connections already open.
    std::fs::write(
        &acl,
        format!("{ACL}\n[[rule]]\nidentity = \"anonymous\"\nsubmit = [\"thumbnail\"]\n"),
    )
    .unwrap();
    hang_up(&server, "access list in force");
    assert!(anon_plain.submit("thumbnail", "u-anon-2").is_ok());
    // A broken file on reload keeps the list in force.
    std::fs::write(&acl, "[[rule]\n").unwrap();
    hang_up(&server, "access list not reloaded");
    assert!(anon_plain.submit("thumbnail", "u-anon-3").is_ok());
    assert!(anon_plain.submit("reports", "u-anon-4").is_err());

    // The administrator's shutdown works (last: it stops the server).
    assert!(!denied(&ops.admin("shutdown")));
}
