//! `gearboxd`: the Gearbox job server. Reads gearmand's flags, binds the listeners, drops
//! privileges if asked, opens the job store, and runs the server on one thread until SIGTERM,
//! SIGINT, SIGUSR1 or an admin `shutdown`. This file turns the flags into the server's
//! configuration; the other modules each own one concern of starting up.

mod args;
mod layers;
mod listen;
mod logging;
mod os;
mod store;

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use gearbox_server::acl::AclFile;
use gearbox_server::config::{Keepalive, ServerConfig};
use gearbox_server::engine::EngineConfig;
use gearbox_server::http::HttpSocket;
use gearbox_server::net::{serve, Listener, Listeners, Storage};
use gearbox_server::tls::{ClientAuth, Tls, TlsFiles};
use tokio::net::TcpListener;
use tracing::warn;

use args::Args;

/// mimalloc instead of the system allocator: jobs are many small allocations of similar sizes,
/// which it packs without a per-allocation header, and it returns freed pages to the system
/// once a backlog drains (glibc keeps most of them).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn seconds(value: i64) -> Option<Duration> {
    u64::try_from(value).ok().map(Duration::from_secs)
}

/// The TLS configuration of the -L/-p listeners, with --ssl.
fn tls_settings(args: &Args) -> Result<Option<Arc<Tls>>> {
    if !args.ssl {
        return Ok(None);
    }
    let (Some(certificate), Some(key)) = (&args.ssl_certificate, &args.ssl_key) else {
        bail!("--ssl needs --ssl-certificate and --ssl-key");
    };
    let files = TlsFiles {
        certificate: certificate.clone(),
        key: key.clone(),
        ca: args.ssl_ca_file.clone(),
        client_auth: if args.ssl_verify_client {
            ClientAuth::Required
        } else if args.acl.is_some() && args.ssl_ca_file.is_some() {
            // Identities for the access list; clients without a certificate are anonymous.
            ClientAuth::Optional
        } else {
            ClientAuth::None
        },
    };
    let tls = Tls::load(files).context("--ssl")?;
    Ok(Some(Arc::new(tls)))
}

fn main() -> Result<()> {
    os::allocator_settings();
    let settings = layers::Settings::read()?;
    if let Some(path) = &settings.args.check_config {
        layers::check(path)?;
        println!("{}: good", path.display());
        return Ok(());
    }
    if settings.args.print_config {
        print!("{}", settings.print());
        return Ok(());
    }
    let file = settings.file;
    let args = settings.args;
    let level = logging::level(&args)?;
    logging::init(&args, level)?;
    os::raise_fd_limit(args.file_descriptors);

    // Read before binding, so a bad certificate stops the server before it takes a port.
    let tls = tls_settings(&args)?;
    let acl = match &args.acl {
        Some(path) => Some(Arc::new(AclFile::load(path).context("--acl")?)),
        None => None,
    };
    let defaults = listen::addrs(&args)?;
    let mut std_listeners = Vec::new();
    for addr in &defaults {
        if let Some(listener) = listen::bind(*addr, args.backlog, args.listen.is_empty())? {
            std_listeners.push((listener, tls.clone()));
        }
    }
    for addr in &args.plain_listen {
        if let Some(listener) = listen::bind(*addr, args.backlog, false)? {
            std_listeners.push((listener, None));
        }
    }
    let mut http_listeners = Vec::new();
    let secure = args.http_listen.iter().map(|a| (a, tls.clone()));
    let plain = args.http_plain_listen.iter().map(|a| (a, None));
    for (addr, tls) in secure.chain(plain) {
        if let Some(socket) = listen::bind(*addr, args.backlog, false)? {
            http_listeners.push(HttpSocket { socket, tls });
        }
    }
    let http_addrs = gearbox_server::http::addresses(&http_listeners);
    // The pid and ready files are created before dropping privileges, like the listeners:
    // they usually live in directories only the starting user may write.
    if let Some(path) = &args.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", path.display()))?;
    }
    let ready_file = match &args.ready_file {
        Some(path) => Some(
            File::create(path)
                .with_context(|| format!("creating ready file {}", path.display()))?,
        ),
        None => None,
    };
    if let Some(user) = &args.user {
        os::drop_privileges(user)?;
    }
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned());
    // Opened as the final user, so the database files it creates belong to that user.
    let (store, node) = if args.cluster {
        let name = args.node_id.clone().unwrap_or_else(|| hostname.clone());
        let node = store::open_node(&args, &name)?;
        (Some(node.store), Some((name, node.first_id, node.link)))
    } else {
        (store::open(&args)?, None)
    };
    if store.is_none() && args.resident_jobs > 0 {
        bail!("--resident-jobs needs a durable store: workloads can only wait in a store, not with -q memory");
    }

    // Seeded from the clock so that a handle from before a restart never names a new job; in
    // a cluster, from this start's range of ids.
    let first_handle = match &node {
        Some((_, first_id, _)) => *first_id,
        None => {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
                * 1_000_000
        }
    };
    let node_name = node.as_ref().map(|(name, _, _)| name.clone());
    let cluster_link = node.map(|(_, _, link)| link);
    let keepalive = args.keepalive.then(|| Keepalive {
        idle: seconds(args.keepalive_idle),
        interval: seconds(args.keepalive_interval),
        count: u32::try_from(args.keepalive_count).ok(),
    });
    let config = ServerConfig {
        engine: EngineConfig {
            handle_prefix: args
                .job_handle_prefix
                .clone()
                .unwrap_or(format!("H:{}", node_name.as_deref().unwrap_or(&hostname))),
            cluster: args.cluster,
            first_handle,
            job_retries: args.job_retries,
            worker_wakeup: args.worker_wakeup,
            wakeup_timeout_ms: args.wakeup_timeout,
            max_functions: args.max_functions,
            max_worker_functions: args.max_worker_functions,
            exceptions: args.exceptions,
            remote_shutdown: args.remote_shutdown,
            verbose: level.to_owned(),
            ack_before_commit: args.ack_before_commit,
            resident_jobs: args.resident_jobs,
            default_queue_limits: [args.max_queue; 3],
            retry_policies: file.retry_policies,
            schedules: file.schedules,
            keep_policies: file.keep_policies,
            schedule_missed: file.schedule_missed,
            max_queued_bytes: args
                .max_queued_bytes
                .unwrap_or_else(|| os::memory_bytes() / 2),
            ..EngineConfig::default()
        },
        max_body: args.max_body,
        max_outbound: args.max_outbound,
        outbound_timeout: Duration::from_secs(args.outbound_timeout),
        max_outbound_total: args.max_outbound_total,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        request_timeout: (args.request_timeout > 0)
            .then(|| Duration::from_secs(args.request_timeout)),
        keepalive,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        tls_handshake_timeout: Duration::from_secs(args.ssl_handshake_timeout),
        acl: acl.clone(),
        ..ServerConfig::default()
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for (listener, tls) in std_listeners {
            listeners.push(Listener {
                socket: TcpListener::from_std(listener)?,
                tls,
            });
        }
        tokio::spawn(os::reload_on_hangup(tls, acl));
        // Written once the store is replayed and connections are accepted, so a script that
        // waits for it finds a server with its whole queue: the first job listener's
        // address, then `http ADDR` for each HTTP listener.
        let ready = |addrs: &[SocketAddr]| {
            if let (Some(mut file), Some(addr)) = (ready_file, addrs.first()) {
                let mut text = format!("{addr}\n");
                for http in &http_addrs {
                    text.push_str(&format!("http {http}\n"));
                }
                // One write, so a reader never sees half an address.
                if let Err(e) = file.write_all(text.as_bytes()) {
                    warn!(error = %e, "could not write the ready file");
                }
            }
        };
        let listeners = Listeners {
            gearman: listeners,
            http: http_listeners,
        };
        let storage = Storage {
            store,
            cluster: cluster_link,
        };
        serve(listeners, config, storage, ready, os::stop_signal()).await?;
        Ok::<(), anyhow::Error>(())
    })?;
    if let Some(path) = &args.pid_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
