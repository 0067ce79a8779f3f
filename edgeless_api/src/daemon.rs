//! What every edgeless daemon does the same way: logging set-up, config
//! files and templates, and running until Ctrl-C or SIGTERM.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the daemon fails while
//! running, 64 for a bad command line or configuration.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::server::{Listening, ListeningReport};

/// The command-line options every daemon has.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The configuration file (built-in defaults when absent).
    #[arg(short = 'c', long)]
    pub config_file: Option<std::path::PathBuf>,
    /// Write a commented configuration template to FILE and exit.
    #[arg(short = 't', long, value_name = "FILE")]
    pub template: Option<std::path::PathBuf>,
    /// Once every listener is bound, write the URLs the daemon listens on to
    /// FILE (TOML, `key = "url"`), with the ports the system chose for URLs
    /// configured with port 0.
    #[arg(long, value_name = "FILE")]
    pub listening_file: Option<std::path::PathBuf>,
    /// Listen on addresses other hosts reach even without [tls] or [auth]
    /// tokens_file, where anyone who reaches a port owns the cluster.
    #[arg(long)]
    pub insecure: bool,
    /// How log lines look: `text`, or `json` (one object per line, for
    /// log collectors); default: `EDGELESS_LOG_FORMAT`, else text.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), and the span.
    Json,
}

impl LogFormat {
    /// `format` if given, else `EDGELESS_LOG_FORMAT` (`json` or `text`),
    /// else text.
    pub fn chosen(format: Option<LogFormat>) -> LogFormat {
        format.unwrap_or_else(|| match std::env::var("EDGELESS_LOG_FORMAT") {
            Ok(value) if value.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        })
    }
}

/// The whole life of a daemon: write the template, or load the configuration
/// (defaults without `-c`, then `EDGELESS_…` variables, see
/// [`crate::config_env`]) and run until a signal.
pub async fn main<C, F, Fut>(
    args: DaemonArgs,
    template: impl FnOnce() -> String,
    run: F,
) -> ExitCode
where
    C: DeserializeOwned + serde::Serialize + Default,
    F: FnOnce(C, CancellationToken, ListeningReport) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    init_tracing_as(LogFormat::chosen(args.log_format), "info");
    if args.insecure {
        crate::auth::allow_insecure();
        tracing::warn!("--insecure: listening without authentication where others may reach it");
    }
    if let Some(path) = args.template {
        return write_template(&path, &template());
    }
    let config = match args
        .config_file
        .as_deref()
        .map(load_config::<C>)
        .transpose()
    {
        Ok(config) => config.unwrap_or_default(),
        Err(error) => return config_error(error),
    };
    let config = match crate::config_env::apply(config, |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => return config_error(error),
    };
    let report = match args.listening_file {
        Some(path) => ListeningReport::to(move |listening| {
            if let Err(error) = write_listening_file(&path, listening) {
                tracing::error!("{error:#}");
            }
        }),
        None => ListeningReport::default(),
    };
    run_until_signal(|shutdown| run(config, shutdown, report)).await
}

/// Writes a `--listening-file` whole (a reader never sees half of it).
pub fn write_listening_file(path: &Path, listening: &Listening) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, listening.to_toml())
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| anyhow::anyhow!("cannot write the listening file {}: {e}", path.display()))
}

/// Exit code for usage and configuration errors.
pub const EXIT_CONFIG: u8 = 64;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    init_tracing_at("info");
}

/// Like [`init_tracing`], with `default` as the filter when `RUST_LOG` is
/// not set.
pub fn init_tracing_at(default: &str) {
    init_tracing_as(LogFormat::chosen(None), default);
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (else `default`).
pub fn init_tracing_as(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Reads a TOML configuration file; errors name the file and the key.
pub fn load_config<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes a template, refusing to overwrite an existing file.
pub fn write_template_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Writes a template for `-t FILE` and reports the outcome as an exit code.
pub fn write_template(path: &Path, text: &str) -> ExitCode {
    match write_template_file(path, text) {
        Ok(()) => {
            eprintln!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => config_error(error),
    }
}

/// Reports a configuration error and returns the matching exit code.
pub fn config_error(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_CONFIG)
}

/// Runs a daemon until Ctrl-C or SIGTERM, then lets it shut down.
pub async fn run_until_signal<F, Fut>(run: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let shutdown = CancellationToken::new();
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal_token.cancel();
    });
    match run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Defines the tests every daemon binary must pass: `-t FILE` writes a
/// commented template and never overwrites; a configuration with an unknown
/// key, or a missing file, is refused with exit code 64 and the file's name.
/// Use it in a daemon crate's `tests/`: `edgeless_api::daemon_cli_tests!("edgeless_con_d");`
/// (the crate needs `tempfile` as a dev-dependency).
#[macro_export]
macro_rules! daemon_cli_tests {
    ($bin:literal) => {
        const BIN: &str = env!(concat!("CARGO_BIN_EXE_", $bin));

        #[test]
        fn the_template_is_written_and_refuses_to_overwrite() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config.toml");
            let run = |path: &std::path::Path| {
                std::process::Command::new(BIN)
                    .arg("-t")
                    .arg(path)
                    .output()
                    .unwrap()
            };
            assert!(run(&path).status.success());
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.lines().any(|l| l.starts_with('#')),
                "the template is commented"
            );
            let again = run(&path);
            assert_eq!(again.status.code(), Some(64));
            assert!(String::from_utf8_lossy(&again.stderr).contains("cannot create"));
        }

        #[test]
        fn a_bad_config_file_is_refused_with_its_name() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, "no_such_key = 1\n").unwrap();
            let run = |path: &std::path::Path| {
                std::process::Command::new(BIN)
                    .arg("-c")
                    .arg(path)
                    .output()
                    .unwrap()
            };
            let output = run(&path);
            assert_eq!(output.status.code(), Some(64));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("bad.toml") && stderr.contains("unknown field"),
                "{stderr}"
            );
            assert_eq!(run(&dir.path().join("absent.toml")).status.code(), Some(64));
        }
    };
}
