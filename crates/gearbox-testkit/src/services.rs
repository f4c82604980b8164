//! The database services the backend tests run against (PostgreSQL, MariaDB, Redis on their
//! standard ports on 127.0.0.1), and a way to take one down and bring it back.
//!
//! Used by gearbox-store's backend tests and by gearbox-server's durability tests, so both
//! agree on the locking rules:
//! * every test that uses a service holds a shared lock on it ([`Service::shared`]), and a test
//!   that restarts it holds the exclusive lock ([`Service::exclusive`]), so a restart never hits
//!   another test, whether it runs in this process or in another test binary (the locks are
//!   `flock`s on files in the temp directory);
//! * an [`Outage`] starts the service again when dropped, so a failing test still leaves it
//!   running;
//! * a service that cannot be reached skips the test locally and fails it in CI
//!   ([`crate::in_ci`]).
//!
//! Nothing here may stop a service without holding its exclusive lock, or leave it stopped.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::env::in_ci;

/// How long a service may take to stop or to start.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// One of the database services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// PostgreSQL, user postgres with trust auth, database `test`.
    Postgres,
    /// MariaDB, root with an empty password, database `test`.
    Mysql,
    /// Redis, keeping nothing on disk.
    Redis,
}

/// A name no other test uses: `<prefix>_<pid>_<seconds>_<sequence>`. The sequence keeps two
/// tests of one process apart even when they ask in the same clock tick (a CI run once gave
/// two parallel tests the same nanosecond-based name); the pid and the time keep processes
/// and runs apart.
pub fn unique_name(prefix: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        seconds % 1_000_000,
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_loudly(program: &str, args: &[&str]) {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "{program} {args:?}: {} {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("{program} {args:?}: {e}"),
    }
}

/// The installed PostgreSQL version (the one directory under /etc/postgresql).
fn pg_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut dir| dir.next())
        .and_then(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| "15".into())
}

impl Service {
    /// Short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Mysql => "mysql",
            Service::Redis => "redis",
        }
    }

    /// The service's address.
    pub fn addr(self) -> SocketAddr {
        let port = match self {
            Service::Postgres => 5432,
            Service::Mysql => 3306,
            Service::Redis => 6379,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Whether the service accepts TCP connections.
    pub fn listening(self) -> bool {
        TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1)).is_ok()
    }

    /// Whether the service answers queries (not only TCP), asked with its own client tool.
    pub fn ready(self) -> bool {
        match self {
            Service::Postgres => run(
                "pg_isready",
                &["-q", "-h", "127.0.0.1", "-p", "5432", "-t", "2"],
            ),
            Service::Mysql => run(
                "mariadb-admin",
                &[
                    "-h127.0.0.1",
                    "-P3306",
                    "-uroot",
                    "--connect-timeout=2",
                    "status",
                ],
            ),
            Service::Redis => Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|out| out.stdout.starts_with(b"PONG")),
        }
    }

    fn lock_file(self) -> File {
        let path = std::env::temp_dir().join(format!("gearbox-test-{}.lock", self.name()));
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
    }

    /// Take the shared lock (no restart happens while it is held), then check that the service
    /// answers. `None` means skip: not reachable and not in CI (in CI this panics).
    pub fn shared(self) -> Option<File> {
        let file = self.lock_file();
        file.lock_shared().expect("shared service lock");
        self.available().then_some(file)
    }

    /// Take the exclusive lock (no other test uses the service while it is held), then check
    /// that the service answers. `None` means skip, as for [`Service::shared`].
    pub fn exclusive(self) -> Option<File> {
        let file = self.lock_file();
        file.lock().expect("exclusive service lock");
        self.available().then_some(file)
    }

    fn available(self) -> bool {
        if self.ready() {
            return true;
        }
        // A restart test that died without its drop guard may have left it stopped.
        if in_ci() {
            self.start();
            if self.wait(true) {
                return true;
            }
            panic!(
                "{} is not reachable at {} (CI=true, so this is a failure, not a skip)",
                self.name(),
                self.addr()
            );
        }
        eprintln!(
            "SKIPPED: {} is not reachable at {}",
            self.name(),
            self.addr()
        );
        false
    }

    /// Stop the service and wait until it no longer accepts connections.
    pub fn stop(self) {
        match self {
            Service::Postgres => run_loudly(
                "pg_ctlcluster",
                &["--skip-systemctl-redirect", &pg_version(), "main", "stop"],
            ),
            Service::Mysql => run_loudly(
                "start-stop-daemon",
                &["--stop", "--retry", "30", "--exec", "/usr/sbin/mariadbd"],
            ),
            Service::Redis => {
                // The connection closes under the command, so its status says nothing.
                run(
                    "redis-cli",
                    &["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
                );
            }
        }
        assert!(self.wait(false), "{} did not stop", self.name());
    }

    /// Start the service (without waiting).
    pub fn start(self) {
        match self {
            Service::Postgres => run_loudly(
                "pg_ctlcluster",
                &["--skip-systemctl-redirect", &pg_version(), "main", "start"],
            ),
            Service::Mysql => run_loudly(
                "start-stop-daemon",
                &[
                    "--start",
                    "--oknodo",
                    "--background",
                    "--exec",
                    "/usr/sbin/mariadbd",
                ],
            ),
            Service::Redis => run_loudly(
                "redis-server",
                &[
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "-::1",
                    "--port",
                    "6379",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    "/var/lib/redis",
                    "--logfile",
                    "/var/log/redis/ci.log",
                ],
            ),
        }
    }

    /// Wait until the service is `up` (answers queries) or down (refuses TCP connections).
    pub fn wait(self, up: bool) -> bool {
        let deadline = Instant::now() + SERVICE_TIMEOUT;
        while Instant::now() < deadline {
            let now_up = if up { self.ready() } else { self.listening() };
            if now_up == up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }
}

/// A service taken down; dropping it (or [`Outage::end`]) starts the service again and waits
/// until it answers. Hold the service's exclusive lock while one exists.
pub struct Outage {
    service: Service,
    ended: bool,
}

impl Outage {
    /// Stop `service`.
    pub fn begin(service: Service) -> Outage {
        let outage = Outage {
            service,
            ended: false,
        };
        service.stop();
        outage
    }

    /// Start the service again and wait until it answers.
    pub fn end(mut self) {
        self.restore();
        assert!(
            self.service.ready(),
            "{} did not come back",
            self.service.name()
        );
    }

    fn restore(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.service.start();
        if !self.service.wait(true) {
            // One more try: the first start may have raced the old process's exit.
            self.service.start();
            self.service.wait(true);
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.restore();
    }
}
