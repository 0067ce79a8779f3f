//! `file-log`: appends each event's payload to a node-local file.

use std::io::Write;

use edgeless_dataplane::CallOutcome;

use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "file-log";

pub struct FileLog;

impl ResourceProvider for FileLog {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let filename = context.required(CLASS, "filename")?;
        let add_timestamp = context.flag(CLASS, "add-timestamp")?;
        let add_source = context.flag(CLASS, "add-source-id")?;
        let bad_file = |e: std::io::Error| ResourceError::BadValue {
            class: CLASS,
            key: "filename",
            reason: format!("cannot open {filename:?}: {e}"),
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&filename)
            .map_err(bad_file)?;
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
            let outcome = match file.write_all(line.as_bytes()) {
                Ok(()) => CallOutcome::NoReply,
                Err(error) => {
                    tracing::error!(instance = %id, %error, "file-log cannot write");
                    CallOutcome::Err(format!("file-log cannot write: {error}"))
                }
            };
            std::future::ready(outcome)
        }))
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
    fn utc_formatting() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_709_210_096, 42), "2024-02-29T12:34:56.042Z");
    }
}
