//! `file-log`: appends each event's payload to a node-local file, inside
//! the node's `file_log_dir`: a workflow names a relative path there, never
//! an absolute one, never `..`, and no symbolic link is followed. A file
//! grows to at most `file_log_max_mb`; events beyond are refused.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use edgeless_dataplane::CallOutcome;

use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "file-log";

/// The folder of a node without `file_log_dir`.
pub const DEFAULT_DIR: &str = "file-log";

/// The largest a file grows without `file_log_max_mb`, in MiB.
pub const DEFAULT_MAX_MB: u64 = 1024;

pub struct FileLog {
    dir: PathBuf,
    max_bytes: u64,
}

impl FileLog {
    /// Writes under `dir` (empty: [`DEFAULT_DIR`]), files of at most
    /// `max_mb` MiB.
    pub fn new(dir: &str, max_mb: u64) -> Self {
        let dir = if dir.is_empty() { DEFAULT_DIR } else { dir };
        Self {
            dir: dir.into(),
            max_bytes: max_mb.saturating_mul(1 << 20),
        }
    }
}

/// `filename` inside `dir`, if it is a plain relative path whose existing
/// parts are no symbolic links.
fn confined(dir: &Path, filename: &str) -> Result<PathBuf, String> {
    let relative = Path::new(filename);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if filename.is_empty() || !plain {
        return Err(format!(
            "{filename:?} is not a plain relative path (no leading /, no `..`): files go in the node's file_log_dir"
        ));
    }
    let mut path = dir.to_path_buf();
    for part in relative.components() {
        path.push(part);
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(format!("{filename:?} goes through a symbolic link"));
        }
    }
    Ok(path)
}

/// Opens `path` for appending, creating it and its folders; never follows a
/// symbolic link put there meanwhile.
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW).mode(0o640);
    }
    options.open(path)
}

impl ResourceProvider for FileLog {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let filename = context.required(CLASS, "filename")?;
        let add_timestamp = context.flag("add-timestamp");
        let add_source = context.flag("add-source-id");
        let bad_file = |reason: String| ResourceError::BadValue {
            class: CLASS,
            key: "filename",
            reason,
        };
        let path = confined(&self.dir, &filename).map_err(bad_file)?;
        let file =
            open_append(&path).map_err(|e| bad_file(format!("cannot open {filename:?}: {e}")))?;
        let mut file = BoundedFile::new(file, filename, self.max_bytes);
        let id = context.id;
        Ok(serve(context.dataplane, move |event| {
            let mut line = String::new();
            if add_timestamp {
                line.push_str(&utc_now());
                line.push(' ');
            }
            if add_source {
                line.push_str(&event.source.to_string());
                line.push(' ');
            }
            line.push_str(&String::from_utf8_lossy(&event.payload));
            line.push('\n');
            let outcome = match file.append(line.as_bytes()) {
                Ok(()) => CallOutcome::NoReply,
                Err((error, first)) => {
                    if first {
                        tracing::error!(instance = %id, "{error}");
                    }
                    CallOutcome::Err(error)
                }
            };
            std::future::ready(outcome)
        }))
    }
}

/// A file that grows to at most `max_bytes`.
struct BoundedFile {
    file: std::fs::File,
    name: String,
    size: u64,
    max_bytes: u64,
    /// The last error, logged once until the next one differs.
    last_error: Option<String>,
}

impl BoundedFile {
    fn new(file: std::fs::File, name: String, max_bytes: u64) -> Self {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Self {
            file,
            name,
            size,
            max_bytes,
            last_error: None,
        }
    }

    /// Appends `line` whole, or nothing; an error comes with whether it is
    /// new (to be logged).
    fn append(&mut self, line: &[u8]) -> Result<(), (String, bool)> {
        let result = if self.size.saturating_add(line.len() as u64) > self.max_bytes {
            Err(format!(
                "file-log: {:?} has reached {} bytes, its most ([resources] file_log_max_mb); the event is not written",
                self.name, self.max_bytes
            ))
        } else {
            self.file
                .write_all(line)
                .map(|()| self.size += line.len() as u64)
                .map_err(|error| format!("file-log cannot write {:?}: {error}", self.name))
        };
        match result {
            Ok(()) => {
                self.last_error = None;
                Ok(())
            }
            Err(error) => {
                let first = self.last_error.as_deref() != Some(&error);
                self.last_error = Some(error.clone());
                Err((error, first))
            }
        }
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_secs(), now.subsec_millis())
}

fn format_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("logs");
        for bad in ["/etc/cron.d/x", "../x", "a/../../x", "", "./x/../../y"] {
            let error = confined(&base, bad).unwrap_err();
            assert!(
                error.contains("not a plain relative path"),
                "{bad}: {error}"
            );
        }
        let path = confined(&base, "app/out.log").unwrap();
        assert_eq!(path, base.join("app/out.log"));
        open_append(&path).unwrap().write_all(b"x").unwrap();
        // A link placed inside the folder is not followed.
        #[cfg(unix)]
        {
            let outside = dir.path().join("outside.log");
            std::os::unix::fs::symlink(&outside, base.join("link.log")).unwrap();
            let error = confined(&base, "link.log").unwrap_err();
            assert!(error.contains("symbolic link"), "{error}");
            assert!(open_append(&base.join("link.log")).is_err());
            std::os::unix::fs::symlink(dir.path(), base.join("up")).unwrap();
            assert!(confined(&base, "up/outside.log").is_err());
            assert!(!outside.exists());
        }
    }

    #[test]
    fn a_file_grows_to_its_bound_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, b"kept\n").unwrap();
        let mut file = BoundedFile::new(open_append(&path).unwrap(), "out.log".into(), 12);
        file.append(b"1234567").unwrap();
        let (error, first) = file.append(b"x").unwrap_err();
        assert!(error.contains("has reached 12 bytes") && first, "{error}");
        // Logged once, however many events follow.
        assert!(!file.append(b"y").unwrap_err().1);
        assert_eq!(std::fs::read(&path).unwrap(), b"kept\n1234567");
        // A file found at its bound takes nothing.
        let mut full = BoundedFile::new(open_append(&path).unwrap(), "out.log".into(), 12);
        assert!(full.append(b"z").is_err());
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_709_210_096, 42), "2024-02-29T12:34:56.042Z");
    }
}
