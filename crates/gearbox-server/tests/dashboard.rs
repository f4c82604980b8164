//! The dashboard in a real browser: headless Chromium driven through chromedriver (W3C
//! WebDriver) against a gearboxd with jobs done, queued and failed. The numbers the page shows
//! match the admin protocol's, the connections and the dead letter are listed, a click on the
//! dead letter's Retry button submits it again, and screenshots (phone and desktop sizes) are
//! saved under `target/tmp/` as the test's artifacts.
//!
//! WebDriver is JSON over HTTP; the few commands used are sent with a small client here
//! rather than a WebDriver crate, which would bring a large HTTP stack into the test build.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::Conn;
use gearbox_testkit::{free_port, require, Kind, Server, TempDir};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it.
struct Browser {
    port: u16,
    session: String,
    driver: Child,
}

/// One HTTP/1.1 request to chromedriver; the JSON body of the answer.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_call(port, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`call`], with failures as errors.
fn try_call(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(WAIT))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver may keep the connection open: read by Content-Length or chunks.
    let mut reader = std::io::BufReader::new(stream);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("content-length:") {
            length = n.trim().parse::<usize>().ok();
        }
        chunked |= line == "transfer-encoding: chunked";
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

impl Browser {
    /// Start chromedriver and a headless Chromium window `width` x `height`.
    fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        // In a process group of its own, so that the browser it starts goes with it.
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={width},{height}")],
            },
        }}});
        let answer = call(port, "POST", "/session", Some(&capabilities));
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Browser {
            port,
            session,
            driver,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.port, method, &path, body.as_ref())["value"].take()
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// The first element matching `css`, waiting for it.
    fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.command(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {found}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.command("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Wait until the text of `css` is `want`.
    fn wait_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.text(css);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{css}: {got:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// A PNG of the window, saved as `name` under the test's scratch directory.
    fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).expect("save the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    /// Close the browser, then make sure nothing of it is left: chromedriver's whole process
    /// group is killed, even when the session could not be closed (a failed test). A browser
    /// left running would slow down every later test on the machine.
    fn drop(&mut self) {
        let _ = try_call(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// Complete `n` jobs and fail one, as the worker `dash-worker`.
fn work(server: &Server, n: usize) {
    let mut client = Conn::connect(server.addr);
    for i in 0..=n {
        let unique = format!("j{i}");
        let r = client.request_req(T::SubmitJobBg, &[b"resize", unique.as_bytes(), b"w"]);
        assert!(r[0].is(T::JobCreated), "{}", r[0].describe());
    }
    for i in 0..2 {
        let unique = format!("q{i}");
        client.request_req(T::SubmitJobBg, &[b"thumbs", unique.as_bytes(), b"w"]);
    }
    client.request_req(
        T::SubmitJobSched,
        &[b"report", b"nightly", b"0", b"3", b"", b"", b"", b""],
    );
    let mut worker = Conn::connect(server.addr);
    worker.send_req(T::SetClientId, &[b"dash-worker"]);
    worker.send_req(T::CanDo, &[b"resize"]);
    for i in 0..=n {
        let r = worker.request_req(T::GrabJob, &[]);
        let handle = r[0].args()[0].clone();
        if i == 0 {
            worker.send_req(T::WorkFail, &[&handle]);
        } else {
            worker.send_req(T::WorkComplete, &[&handle, b"ok"]);
        }
    }
    worker.sync();
    // The worker stays connected (and listed) while the test runs.
    std::mem::forget(worker);
}

#[test]
fn the_dashboard_shows_the_servers_state_and_retries_a_dead_letter() {
    if !(require("chromedriver") && require("chromium")) {
        return;
    }
    let dir = TempDir::new("dashboard");
    let config = dir.path().join("gearbox.toml");
    std::fs::write(&config, "[functions.\"resize\"]\nretries = 0\n").unwrap();
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--http-listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    work(&server, 5);
    let url = format!("http://{}/", server.http[0]);

    let phone = Browser::start(390, 1400);
    phone.open(&url);
    phone.find("body[data-loaded=true]");
    // The numbers match the admin protocol's.
    let prioritystatus = server.admin("prioritystatus");
    let thumbs = prioritystatus
        .iter()
        .find(|l| l.starts_with("thumbs\t"))
        .expect("thumbs in prioritystatus");
    let queued: u64 = thumbs
        .split('\t')
        .skip(1)
        .take(3)
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    phone.wait_text("tr[data-function=thumbs] td.queued", &queued.to_string());
    let (_, running, workers) = server.function_status("resize").unwrap();
    phone.wait_text("tr[data-function=resize] td.running", &running.to_string());
    phone.wait_text("tr[data-function=resize] td.workers", &workers.to_string());
    phone.wait_text("tr[data-function=resize] td.completed", "5");
    phone.wait_text("tr[data-function=resize] td.failed", "1");
    phone.find("tr[data-client-id=dash-worker]");
    phone.find("#scheduled tr[data-handle]");
    assert_eq!(server.admin("dead list").len(), 1);
    phone.find("tr[data-dead-id='1']");
    phone.screenshot("dashboard-phone.png");

    // Retry from the page: the dead letter is submitted again and leaves the list.
    phone.click("tr[data-dead-id='1'] button.retry");
    let deadline = Instant::now() + WAIT;
    while !server.admin("dead list").is_empty() {
        assert!(Instant::now() < deadline, "the dead letter was not retried");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.wait_for("the retried job", |s| {
        s.function_status("resize")
            .is_some_and(|(jobs, _, _)| jobs == 1)
    });
    phone.wait_text("#dead tbody", "none");
    drop(phone);

    let desktop = Browser::start(1280, 1000);
    desktop.open(&url);
    desktop.find("body[data-loaded=true]");
    desktop.screenshot("dashboard-desktop.png");
}
