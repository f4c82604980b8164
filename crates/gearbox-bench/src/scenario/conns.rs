//! `conns`: the cost of many idle connections. K worker connections each register an unrelated
//! function and go to sleep (CAN_DO, PRE_SLEEP); the server's resident memory before and
//! after gives the bytes per idle connection. A foreground run before and one while they are
//! open show whether idle connections slow the busy ones (p99). The idle connections must
//! receive nothing at all: a NOOP for a function they never registered is a server bug.
//!
//! The generator needs one descriptor per connection, so `main` raises the soft open-file
//! limit to the hard one before the run, and fails with a clear message if even that is too
//! low.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use bytes::BytesMut;
use gearbox_proto::{encode_packet, Magic, PacketType};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::fg::{self, FgArgs};
use super::{rate, share, Env};
use crate::ledger::Ledger;
use crate::report::Record;
use crate::run;

/// Connections opened in parallel. gearmand's default listen backlog is 32; staying below it
/// measures the server, not SYN retransmission timers.
const OPENERS: u64 = 16;

/// Sizes of a `conns` run.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnsArgs {
    /// Idle worker connections to hold open.
    #[arg(short = 'k', long, default_value_t = 10_000)]
    pub conns: u64,
    /// The foreground runs (before and with the idle connections).
    #[command(flatten)]
    pub fg: FgArgs,
}

/// Descriptors the generator needs besides the idle connections (clients, workers, admin,
/// stdio, the runtime's own).
pub const SPARE_FDS: u64 = 256;

/// Run it.
pub async fn run(env: &Env, a: &ConnsArgs) -> Result<Record> {
    let mut rec = Record::default();
    // The run without idle connections comes first: it also warms the server up, so the
    // memory delta below is the connections' and not first-use allocations'.
    fg::measure(env, &a.fg, "idle0_", &mut rec).await?;

    let rss_before = env.server_rss()?;
    let opened = Arc::new(Ledger::new(a.conns, Instant::now()));
    run::stage("opening idle connections", Some(&opened));
    let idle = Arc::new(Mutex::new(Vec::with_capacity(a.conns as usize)));
    let t0 = Instant::now();
    let openers: Vec<_> = (0..OPENERS.min(a.conns))
        .map(|i| {
            run::spawn(
                format!("opener {i}"),
                open_idle(
                    env.addr,
                    share(a.conns, OPENERS.min(a.conns), i),
                    Arc::clone(&opened),
                    Arc::clone(&idle),
                ),
            )
        })
        .collect();
    run::join(&openers).await?;
    let open_secs = t0.elapsed().as_secs_f64();
    let rss_after = env.server_rss()?;
    rec.num("open_per_s", rate(a.conns, open_secs))
        .num(
            "bytes_per_conn",
            rss_after.saturating_sub(rss_before) as f64 * 1024.0 / a.conns as f64,
        )
        .num("rss_with_conns_kb", rss_after as f64);

    fg::measure(env, &a.fg, "idle_", &mut rec).await?;

    run::stage("checking the idle connections got nothing", None);
    let idle = std::mem::take(&mut *idle.lock().unwrap_or_else(|e| e.into_inner()));
    let mut buf = [0u8; 64];
    for (i, mut s) in idle.iter().enumerate() {
        match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(0) => bail!("idle connection {i} was closed by the server"),
            Ok(n) => bail!(
                "idle connection {i} received {n} unexpected bytes (a NOOP for a function it \
                 never registered?): {:02x?}",
                &buf[..n.min(24)]
            ),
            Err(e) => bail!("idle connection {i}: {e}"),
        }
    }
    drop(idle);
    rec.text("params", format!("conns={} {}", a.conns, a.fg.params()));
    Ok(rec)
}

/// Open the idle connections `range`, one at a time: register, sleep, and an ECHO round trip
/// that proves the server has processed both. The sockets are handed over as std sockets so
/// that ten thousand of them cost the generator no reactor registrations.
async fn open_idle(
    addr: SocketAddr,
    range: std::ops::Range<u64>,
    opened: Arc<Ledger>,
    idle: Arc<Mutex<Vec<std::net::TcpStream>>>,
) -> Result<()> {
    let mut hello = BytesMut::new();
    encode_packet(
        &mut hello,
        Magic::Req,
        PacketType::CanDo,
        &[],
        b"bench_idle",
    );
    encode_packet(&mut hello, Magic::Req, PacketType::PreSleep, &[], b"");
    encode_packet(&mut hello, Magic::Req, PacketType::EchoReq, &[], b"idle");
    let mut expected = BytesMut::new();
    encode_packet(&mut expected, Magic::Res, PacketType::EchoRes, &[], b"idle");
    let mut answer = vec![0u8; expected.len()];
    for i in range {
        let mut s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("opening idle connection {i}"))?;
        s.write_all(&hello).await?;
        s.read_exact(&mut answer)
            .await
            .with_context(|| format!("idle connection {i}: no ECHO_RES"))?;
        if answer[..] != expected[..] {
            bail!(
                "idle connection {i}: expected ECHO_RES, got {:02x?}",
                answer
            );
        }
        opened
            .mark(i, "idle connection")
            .map_err(anyhow::Error::msg)?;
        idle.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s.into_std()?);
    }
    Ok(())
}
