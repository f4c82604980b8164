//! What gearboxd asks of the operating system: the open-file limit, dropping privileges, the
//! allocator's settings, the machine's memory, the stop signals and SIGHUP.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use gearbox_server::acl::AclFile;
use gearbox_server::net::Stop;
use gearbox_server::tls::Tls;
use tracing::{info, warn};

pub fn raise_fd_limit(wanted: Option<u64>) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let target = wanted.unwrap_or(hard).min(hard);
    if target > soft {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            warn!(error = %e, "could not raise the open-file limit");
        }
    }
}

/// The machine's memory (`MemTotal`), for the default of --max-queued-bytes; 8 GiB when it
/// cannot be read.
pub fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(8 << 30)
}

pub fn drop_privileges(name: &str) -> Result<()> {
    use nix::unistd::{initgroups, setgid, setuid, User};
    let user = User::from_name(name)?.with_context(|| format!("no such user {name}"))?;
    let cname = std::ffi::CString::new(name)?;
    initgroups(&cname, user.gid).context("initgroups")?;
    setgid(user.gid).context("setgid")?;
    setuid(user.uid).context("setuid")?;
    info!(user = name, "dropped privileges");
    Ok(())
}

/// mimalloc gives freed pages back to the system only during later allocator calls, after a
/// delay, so an idle server that has just drained a backlog would keep its peak memory. With
/// `MIMALLOC_PURGE_DELAY=0` it gives them back as they are freed. mimalloc reads its settings
/// before `main`, so the variable has to be in the environment at exec: when it is missing, the
/// process re-executes itself once with it set (same pid, same arguments). A value the operator
/// set is kept.
pub fn allocator_settings() {
    use std::os::unix::process::CommandExt;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "0")
        .exec();
    // exec only returns on failure; run with the default settings then.
    eprintln!("gearboxd: could not re-execute with {PURGE_DELAY}=0: {error}");
}

pub async fn stop_signal() -> Stop {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: stopping gracefully"),
        _ = int.recv() => info!("SIGINT: stopping gracefully"),
        // gearmand's graceful stop.
        _ = usr1.recv() => info!("SIGUSR1: stopping gracefully"),
    }
    Stop::Graceful
}

/// On SIGHUP, re-read the TLS certificates (new connections get them; open ones keep theirs)
/// and the access list (in force for open connections too). What fails to load is logged and
/// the previous version kept. SIGHUP must never stop the server, as its default action would.
pub async fn reload_on_hangup(tls: Option<Arc<Tls>>, acl: Option<Arc<AclFile>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        if tls.is_none() && acl.is_none() {
            info!("SIGHUP: nothing to reload");
        }
        if let Some(tls) = &tls {
            match tls.reload() {
                Ok(()) => info!(
                    certificate = %tls.files().certificate.display(),
                    "SIGHUP: TLS certificates reloaded"
                ),
                Err(e) => {
                    warn!(error = %e, "SIGHUP: TLS certificates not reloaded; keeping the previous ones")
                }
            }
        }
        if let Some(acl) = &acl {
            match acl.reload() {
                Ok(()) => info!(path = %acl.path().display(), "SIGHUP: access list reloaded"),
                Err(e) => {
                    warn!(error = %e, "SIGHUP: access list not reloaded; keeping the previous one")
                }
            }
        }
    }
}
