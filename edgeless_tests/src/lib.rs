//! A harness that starts a real edgeless cluster: `edgeless_con_d`,
//! `edgeless_orc_d` and N `edgeless_node_d` processes on free loopback ports,
//! each logging to a file. The processes are killed when the [`Cluster`] is
//! dropped, and a failed wait prints their logs.
//!
//! ```text
//! let cluster = Cluster::builder().nodes(2).round_robin().start();
//! let id = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
//! ```
//!
//! [`bin`] builds the workspace's binaries from the current sources the
//! first time a test process asks for one.

pub mod browser;
mod cluster;
pub mod docker;
pub mod edge;
pub mod lab;
pub mod link;
mod process;
pub mod recorder;

pub use cluster::{CliOutput, Cluster, ClusterBuilder, Domain, count};
pub use process::{
    Daemon, KillOnDrop, Listening, create_topic, kafka_broker, pin_ports, redis_server,
    require_tansu, spawn_redis,
};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the repository")
        .to_path_buf()
}

/// The folder holding the built binaries (next to the test executable).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the executable has a path");
    let dir = exe.parent().expect("the executable is in a folder");
    // Tests run from target/<profile>/deps, binaries from target/<profile>.
    if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    }
    .to_path_buf()
}

/// The path of a built binary of the workspace, built from the current
/// sources: the first call in a test process runs `cargo build --workspace
/// --bins` (same profile and target folder as the tests), so that running
/// one test file alone never tests stale daemons.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(error) = BUILT.get_or_init(build_binaries) {
        panic!("{error}");
    }
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not a binary of the workspace",
        path.display()
    );
    path
}

/// `cargo build --workspace --bins` into the folder the tests run from.
fn build_binaries() -> Result<(), String> {
    let dir = bin_dir();
    let target = dir.parent().ok_or("the binaries' folder has no parent")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--workspace", "--bins", "--quiet", "--target-dir"])
        .arg(target)
        .current_dir(repo_root());
    if dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo to build the binaries: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "building the binaries failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Where the tests' functions are built, laid out like `functions/`:
/// `NAME/NAME.wasm` and `NAME/function.json` (never in the source tree).
pub fn functions_dir() -> PathBuf {
    bin_dir()
        .parent()
        .expect("a target folder")
        .join("test-functions")
}

/// An example's workflow.json with its code paths pointing at
/// [`functions_dir`] (a copy under the target folder).
pub fn example(name: &str) -> String {
    let dir = bin_dir()
        .parent()
        .expect("a target folder")
        .join("test-examples");
    std::fs::create_dir_all(&dir).expect("examples folder");
    example_in(&dir, name, &[])
}

/// An example's workflow.json with code paths pointing at [`functions_dir`]
/// and each `(from, to)` replacement applied, written into `dir`.
pub fn example_in(dir: &Path, name: &str, replacements: &[(&str, &str)]) -> String {
    let functions = functions_dir().display().to_string();
    let source = repo_root()
        .join("examples")
        .join(name)
        .join("workflow.json");
    let mut text = std::fs::read_to_string(source).expect("the example exists");
    text = text.replace("../../functions", &functions);
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{name}: {from:?} is not in the workflow"
        );
        text = text.replace(from, to);
    }
    // Whole or not at all: test processes, and tests within one process,
    // may write the same copy at once; each writes its own partial file.
    static PARTIALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = PARTIALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{name}.json"));
    let partial = dir.join(format!("{name}.json.{}.{serial}", std::process::id()));
    std::fs::write(&partial, text).expect("workflow written");
    std::fs::rename(&partial, &path).expect("workflow renamed");
    path.display().to_string()
}

/// Runs `edgeless_cli function ARGS` once per test process for each `key`
/// (functions build into `target/functions`); panics with cargo's output
/// on failure.
pub(crate) fn build_once(key: &str, args: &[&std::ffi::OsStr]) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|n| n == key) {
        return;
    }
    let output = Command::new(bin("edgeless_cli"))
        .arg("function")
        .args(args)
        .env(
            "EDGELESS_FUNCTIONS_TARGET_DIR",
            bin_dir().parent().unwrap().join("functions"),
        )
        .output()
        .expect("edgeless_cli runs");
    assert!(
        output.status.success(),
        "building {key} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push(key.to_string());
}

/// Builds `functions/NAME` to WebAssembly with `edgeless_cli function build`
/// into [`functions_dir`] (once per test process); returns the module's path.
pub fn build_function(name: &str) -> PathBuf {
    let spec = repo_root()
        .join("functions")
        .join(name)
        .join("function.json");
    let dir = functions_dir().join(name);
    let wasm = dir.join(format!("{name}.wasm"));
    build_once(
        name,
        &[
            "build".as_ref(),
            spec.as_os_str(),
            "--out".as_ref(),
            wasm.as_os_str(),
        ],
    );
    std::fs::copy(&spec, dir.join("function.json")).expect("function.json copied");
    wasm
}

/// A port no one listens on right now.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// A loopback port that refuses connections: bound (so nobody else gets
/// it) but not listening, for as long as the returned socket lives.
pub fn refused_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("a loopback port");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a bound address")
        .port();
    (socket, port)
}

/// Polls `check` every 100 ms until it is true or `timeout` has passed.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `curl -s ARGS`: the response body and the HTTP status code.
pub fn curl(args: &[&str]) -> (String, String) {
    let output = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (body.to_string(), code.to_string())
}

/// A one-route HTTP server on a free port answering every request with
/// `body`; the receiver gets each request as it arrived (head and body).
pub fn http_server(body: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = seen.send(read_http_request(&mut stream));
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, requests)
}

/// One HTTP/1.1 request: the head, then as many body bytes as its
/// Content-Length says.
pub fn read_http_request(stream: &mut std::net::TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match std::io::Read::read(stream, &mut buffer) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    }
}
