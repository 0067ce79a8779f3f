//! `edgeless_cli workflow logs` and `edgeless_cli events`: streams from the
//! controller, printed as they come.

use edgeless_api::proto;
use futures::{Stream, StreamExt};
use serde::Serialize;

use super::{Output, Session, controller};
use crate::error::CliError;
use crate::output::out;

/// A time as RFC 3339 in UTC, to the millisecond.
fn timestamp(unix_ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// The first 8 characters of an id: enough to tell instances apart.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// One log line as `-o json` prints it.
#[derive(Serialize)]
struct LogLineView<'a> {
    time: String,
    function: &'a str,
    instance: String,
    node: &'a str,
    level: &'a str,
    target: &'a str,
    message: &'a str,
}

fn print_line(line: &proto::LogLine, output: Output, timestamps: bool) -> Result<(), CliError> {
    let (node, function_id) = line
        .instance
        .as_ref()
        .map_or(("", ""), |i| (i.node_id.as_str(), i.function_id.as_str()));
    if matches!(output, Output::Json | Output::Yaml) {
        let view = LogLineView {
            time: timestamp(line.unix_ms),
            function: &line.function_name,
            instance: function_id.to_string(),
            node,
            level: &line.level,
            target: &line.target,
            message: &line.message,
        };
        let text = serde_json::to_string(&view).map_err(|e| CliError::Input(e.into()))?;
        out!("{text}");
        return Ok(());
    }
    let time = if timestamps {
        format!("{} ", timestamp(line.unix_ms))
    } else {
        String::new()
    };
    let level = match line.level.as_str() {
        "info" => String::new(),
        other => format!("{} ", other.to_uppercase()),
    };
    let name = &line.function_name;
    let instance = short(function_id);
    for text in line.message.lines() {
        out!("{time}[{name} {instance}] {level}{text}");
    }
    Ok(())
}

/// Prints the parts of `stream` until it ends (or, when following, until
/// the user stops it).
async fn drain<P, S>(
    url: &str,
    stream: S,
    mut print: impl FnMut(P) -> Result<(), CliError>,
) -> Result<(), CliError>
where
    S: Stream<Item = Result<P, tonic::Status>> + Unpin,
{
    let mut stream = stream;
    while let Some(part) = stream.next().await {
        print(part.map_err(|s| CliError::from_status(url, s))?)?;
    }
    Ok(())
}

/// What `workflow logs` asks for.
pub struct LogsQuery {
    pub workflow_id: String,
    pub function: Option<String>,
    pub follow: bool,
    pub since_seconds: Option<u64>,
    pub tail: Option<u32>,
    pub timestamps: bool,
}

/// Prints the log lines of a workflow's functions.
pub async fn logs(session: &Session, query: LogsQuery) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let since_unix_ms = query.since_seconds.map_or(0, |s| {
        edgeless_api::feed::now_ms().saturating_sub(s.saturating_mul(1000))
    });
    let request = proto::LogsRequest {
        workflow_id: query.workflow_id,
        function_name: query.function.unwrap_or_default(),
        since_unix_ms,
        tail: query.tail.unwrap_or(0),
        follow: query.follow,
    };
    let stream = controller(session)?
        .logs(request)
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner();
    drain(url, stream, |part: proto::LogLines| {
        for line in &part.lines {
            print_line(line, session.output, query.timestamps)?;
        }
        Ok(())
    })
    .await
}

/// One event as `-o json` prints it.
#[derive(Serialize)]
struct EventView<'a> {
    time: String,
    source: &'a str,
    kind: &'a str,
    workflow: &'a str,
    component: &'a str,
    node: &'a str,
    message: &'a str,
}

fn print_event(event: &proto::ClusterEvent, output: Output) -> Result<(), CliError> {
    let view = EventView {
        time: timestamp(event.unix_ms),
        source: &event.source,
        kind: &event.kind,
        workflow: &event.workflow_id,
        component: &event.component,
        node: &event.node_id,
        message: &event.message,
    };
    if matches!(output, Output::Json | Output::Yaml) {
        let text = serde_json::to_string(&view).map_err(|e| CliError::Input(e.into()))?;
        out!("{text}");
        return Ok(());
    }
    let mut text = format!("{}  {:<22} {:<20}", view.time, view.kind, view.source);
    for (label, value) in [
        ("workflow", short(view.workflow)),
        ("component", view.component),
        ("node", short(view.node)),
    ] {
        if !value.is_empty() {
            text.push_str(&format!(" {label}={value}"));
        }
    }
    if !view.message.is_empty() {
        text.push_str(&format!("  {}", view.message));
    }
    out!("{}", text.trim_end());
    Ok(())
}

/// Prints what the controller and the orchestrators recorded.
pub async fn events(
    session: &Session,
    workflow_id: Option<String>,
    tail: Option<u32>,
    follow: bool,
) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let request = proto::EventsRequest {
        workflow_id: workflow_id.unwrap_or_default(),
        tail: tail.unwrap_or(0),
        follow,
    };
    let stream = controller(session)?
        .events(request)
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner();
    drain(url, stream, |part: proto::ClusterEvents| {
        for event in &part.events {
            print_event(event, session.output)?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn ids_are_shortened_safely() {
        assert_eq!(short("0123456789"), "01234567");
        assert_eq!(short("ab"), "ab");
    }
}
