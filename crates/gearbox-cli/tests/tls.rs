//! TLS end to end: gearboxd with `--ssl` (and a plaintext listener beside it) serving our
//! client library, the `gearbox` command and a client nobody here wrote (Python's `ssl`
//! module speaking the binary and admin protocols); plaintext on the TLS port and TLS on the
//! plaintext port failing within a second; client certificates required, with expired,
//! unknown-CA and missing ones refused; certificates re-read on SIGHUP while a connection
//! stays open.

mod cli;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cli::bare;
use gearbox_client::{Client, JobRequest, Tls, TlsOptions, Worker};
use gearbox_proto::{encode_packet, Magic, PacketType};
use gearbox_testkit::pki::{CertFiles, Pki};
use gearbox_testkit::{
    admin_command, client_script, free_port, require, run, wait_until, Kind, Server, PROC_TIMEOUT,
};

/// gearboxd serving TLS with `pki`'s server certificate, a plaintext listener on the second
/// address for the harness's admin queries, and `extra` flags.
fn tls_server(pki: &Pki, extra: &[&str]) -> (Server, SocketAddr) {
    let plain: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cert = pki.server.cert.to_str().unwrap().to_owned();
    let key = pki.server.key.to_str().unwrap().to_owned();
    let plain_arg = plain.to_string();
    let mut args = vec![
        "--ssl",
        "--ssl-certificate",
        &cert,
        "--ssl-key",
        &key,
        "--plain-listen",
        &plain_arg,
    ];
    args.extend_from_slice(extra);
    let server = Server::start(Kind::Gearboxd, &args);
    (server, plain)
}

fn tls_options(pki: &Pki, client: Option<&CertFiles>) -> TlsOptions {
    TlsOptions {
        ca_file: Some(pki.ca().to_owned()),
        certificate: client.map(|c| c.cert.clone()),
        key: client.map(|c| c.key.clone()),
        server_name: None,
    }
}

/// A blocking TLS connection to `addr` through the library's configuration.
fn connect(
    addr: SocketAddr,
    options: &TlsOptions,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tls = Tls::new(options).expect("TLS options");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn =
        rustls::ClientConnection::new(tls.config(), tls.server_name(&addr.to_string()).unwrap())
            .expect("client connection");
    rustls::StreamOwned::new(conn, sock)
}

fn packet(kind: PacketType, fields: &[&[u8]], last: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_packet(&mut out, Magic::Req, kind, fields, last);
    out.to_vec()
}

/// ECHO_REQ and its ECHO_RES over `stream`; an error for anything else, EOF included.
fn echo(stream: &mut impl ReadWrite, payload: &[u8]) -> std::io::Result<()> {
    stream.write_all(&packet(PacketType::EchoReq, &[], payload))?;
    stream.flush()?;
    let mut header = [0u8; 12];
    stream.read_exact(&mut header)?;
    let size = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body)?;
    if &header[..4] != b"\0RES" || header[4..8] != 17u32.to_be_bytes() || body != payload {
        return Err(std::io::Error::other(format!(
            "unexpected reply {header:?} {body:?}"
        )));
    }
    Ok(())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The certificate the server showed on `stream`.
fn server_certificate(
    stream: &rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> Vec<u8> {
    stream.conn.peer_certificates().expect("peer certificates")[0].to_vec()
}

/// Our library's worker and client round-trip a job over TLS; the job shows in the status
/// of the plaintext listener beside it (one server, two listeners).
#[test]
fn library_round_trip_over_tls() {
    let pki = Pki::new("lib");
    let (server, plain) = tls_server(&pki, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tls = Tls::new(&tls_options(&pki, None)).unwrap();
    runtime.block_on(async {
        let worker = Worker::new();
        worker.set_tls(Some(tls.clone()));
        worker.add_server(&server.addr.to_string()).unwrap();
        worker.register("tls-upper", |job| async move {
            let out = job.workload().to_ascii_uppercase();
            let _ = job.complete(out).await;
        });
        let running = tokio::spawn({
            let worker = worker.clone();
            async move { worker.run().await }
        });
        let client = Client::new();
        client.set_tls(Some(tls));
        client.add_server(&server.addr.to_string()).unwrap();
        client.set_timeout(Some(Duration::from_secs(10)));
        let out = client
            .run(JobRequest::new("tls-upper", "secret"))
            .await
            .expect("job over TLS");
        assert_eq!(&out[..], b"SECRET");
        // A large workload and result cross many TLS records and fill the sockets: the
        // encrypted output is written as the peer reads it, in order.
        let big: Vec<u8> = (0..6 * 1024 * 1024u32)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let out = client
            .run(JobRequest::new("tls-upper", big.clone()))
            .await
            .expect("a large job over TLS");
        assert_eq!(out.len(), big.len());
        assert!(out
            .iter()
            .zip(&big)
            .all(|(o, b)| *o == b.to_ascii_uppercase()));
        let status = admin_command(plain, "status").unwrap();
        assert!(
            status.iter().any(|l| l.starts_with("tls-upper\t0\t0\t1")),
            "{status:?}"
        );
        worker.shutdown().await;
        let _ = running.await;
    });
}

/// `gearbox submit`, `work` and `admin`, and gearboxd's `result`, `dead` and `schedule add`
/// (the library's admin calls and SUBMIT_JOB_SCHED), with gearman's `--ssl` flags.
#[test]
fn gearbox_command_over_tls() {
    let pki = Pki::new("cmd");
    let (server, plain) = tls_server(&pki, &[]);
    let addr = server.addr.to_string();
    let ca = pki.ca().to_str().unwrap().to_owned();
    let tls_args = ["--ssl", "--ssl-ca-file", &ca, "-s", &addr];
    let mut work = bare(&cli::no_home(), &["work"]);
    work.args(tls_args)
        .args(["--count", "1", "tls-rev", "--", "rev"]);
    let worker = gearbox_testkit::Proc::spawn(work);
    assert!(
        wait_until(PROC_TIMEOUT, || admin_command(plain, "status")
            .unwrap_or_default()
            .iter()
            .any(|l| l.starts_with("tls-rev\t") && l.ends_with("\t1"))),
        "the TLS worker never registered\n{}",
        server.log()
    );
    let mut submit = bare(&cli::no_home(), &["submit"]);
    submit.args(tls_args).args(["tls-rev", "olleh"]);
    let out = run(submit, PROC_TIMEOUT);
    out.assert_success();
    assert_eq!(out.stdout, "hello");
    worker.wait(PROC_TIMEOUT).assert_success();

    let mut admin = bare(&cli::no_home(), &["admin"]);
    admin.args(tls_args).args(["version"]);
    let out = run(admin, PROC_TIMEOUT);
    out.assert_success();
    assert!(!out.stdout.trim().is_empty(), "{out}");

    let gearbox_tls = |args: &[&str]| {
        let mut c = bare(&cli::no_home(), &args[..1]);
        c.args(tls_args).args(&args[1..]);
        run(c, PROC_TIMEOUT)
    };
    let out = gearbox_tls(&["result", "H:nowhere:1"]);
    assert_eq!(out.code(), Some(4), "unknown, asked over TLS: {out}");
    let out = gearbox_tls(&["dead", "list", "--json"]);
    out.assert_success();
    assert_eq!(out.stdout, "[]\n");
    let out = gearbox_tls(&["schedule", "add", "--cron", "@daily", "-u", "d", "tls-rev"]);
    out.assert_success();
    assert!(out.stdout.starts_with("H:"), "{out}");

    // Without --ssl the command fails on the TLS port, and says so quickly.
    let started = Instant::now();
    let mut admin = bare(&cli::no_home(), &["admin"]);
    admin.args(["-s", &addr, "-t", "5", "version"]);
    let out = run(admin, PROC_TIMEOUT);
    assert!(!out.success(), "{out}");
    assert!(started.elapsed() < Duration::from_secs(3), "{out}");
}

/// Python's `ssl` module (OpenSSL) submits a background job and reads the admin status over
/// one TLS connection, checking the server's certificate against the CA.
#[test]
fn python_ssl_client() {
    if !require("python3") {
        return;
    }
    let pki = Pki::new("py");
    let (server, _plain) = tls_server(&pki, &[]);
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(client_script("python", "tls_client.py"))
        .arg("127.0.0.1")
        .arg(server.port().to_string())
        .arg(pki.ca());
    let out = run(cmd, PROC_TIMEOUT);
    out.assert_success();
    assert!(out.stdout.contains("JOB_CREATED H:"), "{out}");
    assert!(out.stdout.contains("status tls-py\t1\t0\t0"), "{out}");
}

/// A plaintext client on the TLS port is cut off at once, and so is a TLS client on the
/// plaintext port; both are logged with the reason.
#[test]
fn plaintext_and_tls_mixed_up_fail_fast() {
    let pki = Pki::new("mix");
    let (server, plain) = tls_server(&pki, &[]);

    let started = Instant::now();
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let result = echo(&mut sock, b"plain");
    assert!(
        result.is_err(),
        "a plaintext ECHO was answered on the TLS port"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut admin = TcpStream::connect(server.addr).unwrap();
    admin
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    admin.write_all(b"status\n").unwrap();
    let mut reply = Vec::new();
    let _ = admin.read_to_end(&mut reply);
    assert!(
        !reply.ends_with(b".\n"),
        "a plaintext admin command was answered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut stream = connect(plain, &tls_options(&pki, None));
    assert!(echo(&mut stream, b"tls").is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = server.log();
            log.contains("plaintext on a TLS listener")
                && log.contains("TLS handshake on a plaintext listener")
        }),
        "{}",
        server.log()
    );
}

/// With `--ssl-verify-client`, only a current certificate from the CA gets in.
#[test]
fn client_certificates_are_required() {
    let pki = Pki::new("mtls");
    let ca = pki.ca().to_str().unwrap().to_owned();
    let (server, _plain) = tls_server(&pki, &["--ssl-ca-file", &ca, "--ssl-verify-client"]);
    let good = pki.client("web");
    let mut stream = connect(server.addr, &tls_options(&pki, Some(&good)));
    echo(&mut stream, b"with a certificate").expect("a valid client certificate is let in");

    let refused = |options: TlsOptions, what: &str| {
        let started = Instant::now();
        let mut stream = connect(server.addr, &options);
        assert!(
            echo(&mut stream, b"x").is_err(),
            "a client {what} was let in"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{what}");
    };
    refused(tls_options(&pki, None), "without a certificate");
    refused(
        tls_options(&pki, Some(&pki.expired_client("old"))),
        "with an expired certificate",
    );
    let stranger = Pki::new("stranger");
    refused(
        tls_options(&pki, Some(&stranger.client("web"))),
        "with a certificate from an unknown CA",
    );
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .matches("TLS handshake failed")
            .count()
            >= 3),
        "{}",
        server.log()
    );
    // The server still serves the good client.
    echo(&mut stream, b"still here").unwrap();
}

/// SIGHUP re-reads the certificate: a new connection sees the renewed one while a connection
/// opened before keeps working; a bad file on reload keeps the previous certificate.
#[test]
fn sighup_reloads_the_certificate() {
    let pki = Pki::new("reload");
    let (server, _plain) = tls_server(&pki, &[]);
    let options = tls_options(&pki, None);
    let mut before = connect(server.addr, &options);
    echo(&mut before, b"before").unwrap();
    let old = server_certificate(&before);

    pki.renew_server();
    let hup = |server: &Server| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.pid() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
    };
    hup(&server);
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("TLS certificates reloaded")),
        "{}",
        server.log()
    );
    let mut after = connect(server.addr, &options);
    echo(&mut after, b"after").unwrap();
    assert_ne!(
        server_certificate(&after),
        old,
        "the renewed certificate is not served"
    );
    echo(&mut before, b"kept open").expect("the connection from before the reload was dropped");

    std::fs::write(&pki.server.key, "not a key").unwrap();
    hup(&server);
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("TLS certificates not reloaded")),
        "{}",
        server.log()
    );
    let mut again = connect(server.addr, &options);
    echo(&mut again, b"again").expect("a failed reload took the server off TLS");
}

/// The certificate recipe in docs/security.md, run as it stands, gives files that gearboxd
/// serves and the `gearbox` command connects with, client certificate required.
#[test]
fn the_documented_certificate_recipe_works() {
    if !require("openssl") {
        return;
    }
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/security.md"
    ))
    .expect("docs/security.md");
    let start = doc
        .find("```sh\n# make-certificates")
        .expect("the recipe block");
    let block = &doc[start + "```sh\n".len()..];
    let recipe = &block[..block.find("```").expect("the end of the block")];
    let dir = gearbox_testkit::TempDir::new("recipe");
    let mut sh = std::process::Command::new("bash");
    sh.arg("-c").arg(recipe).current_dir(dir.path());
    run(sh, PROC_TIMEOUT).assert_success();
    let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--ssl",
            "--ssl-certificate",
            &file("server.pem"),
            "--ssl-key",
            &file("server.key"),
            "--ssl-ca-file",
            &file("ca.pem"),
            "--ssl-verify-client",
        ],
    );
    for host in ["localhost", "127.0.0.1"] {
        let mut admin = bare(&cli::no_home(), &["admin"]);
        admin.args([
            "--ssl",
            "--ssl-ca-file",
            &file("ca.pem"),
            "--ssl-certificate",
            &file("web.pem"),
            "--ssl-key",
            &file("web.key"),
            "-s",
            &format!("{host}:{}", server.port()),
            "status",
        ]);
        run(admin, PROC_TIMEOUT).assert_success();
    }
    // Without the client certificate the server refuses.
    let mut admin = bare(&cli::no_home(), &["admin"]);
    admin.args([
        "--ssl",
        "--ssl-ca-file",
        &file("ca.pem"),
        "-s",
        &format!("127.0.0.1:{}", server.port()),
        "status",
    ]);
    let out = run(admin, PROC_TIMEOUT);
    assert!(!out.success(), "{out}");
}
