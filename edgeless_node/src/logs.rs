//! The log lines of the functions on this node, kept for `workflow logs`:
//! a bounded ring per instance (kept a while after the instance ends, so
//! the lines before a crash can be read), and announcements of new lines
//! for followers.
//!
//! Bounds: a line's message is cut at [`MAX_MESSAGE`] bytes; an instance
//! keeps its last [`LINES_PER_INSTANCE`] lines and [`BYTES_PER_INSTANCE`]
//! bytes; the [`RETIRED_KEPT`] most recently ended instances keep theirs;
//! all rings together hold at most [`BOOK_BYTES`] (the rings of ended
//! instances go first).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use edgeless_api::InstanceId;
use edgeless_api::feed::{Numbered, Source, now_ms, replay};
use edgeless_api::proto;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The longest message kept, in bytes (longer ones are cut, with a mark).
pub const MAX_MESSAGE: usize = 4096;
/// The most lines an instance keeps.
pub const LINES_PER_INSTANCE: usize = 1000;
/// The most bytes of lines an instance keeps.
pub const BYTES_PER_INSTANCE: usize = 256 << 10;
/// How many ended instances keep their lines.
pub const RETIRED_KEPT: usize = 100;
/// The most bytes of lines the node keeps.
pub const BOOK_BYTES: usize = 32 << 20;

#[derive(Default)]
struct Ring {
    lines: VecDeque<Numbered<proto::LogLine>>,
    bytes: usize,
}

impl Ring {
    fn pop(&mut self) -> usize {
        let size = self.lines.pop_front().map_or(0, |(_, l)| size_of(&l));
        self.bytes -= size;
        size
    }
}

#[derive(Default)]
struct Book {
    next: u64,
    rings: HashMap<Uuid, Ring>,
    retired: VecDeque<Uuid>,
    bytes: usize,
}

impl Book {
    fn drop_ring(&mut self, function_id: Uuid) {
        if let Some(ring) = self.rings.remove(&function_id) {
            self.bytes -= ring.bytes;
        }
    }
}

fn size_of(line: &proto::LogLine) -> usize {
    line.message.len() + line.target.len() + 64
}

/// The node's log lines. Cheap to clone.
#[derive(Clone)]
pub struct LogBook {
    book: Arc<Mutex<Book>>,
    live: broadcast::Sender<Numbered<proto::LogLine>>,
    /// The highest level (1 error … 5 trace) of lines also written to the
    /// node's own log; 0: none.
    echo: Arc<AtomicU8>,
}

impl Default for LogBook {
    fn default() -> Self {
        Self {
            book: Arc::default(),
            live: broadcast::channel(1024).0,
            echo: Arc::new(AtomicU8::new(5)),
        }
    }
}

/// The level number of `[telemetry] log_level`: `error` 1 … `trace` 5, an
/// empty name 0 (no line).
pub fn level_number(name: &str) -> Result<u8, String> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" => Ok(0),
        "error" => Ok(1),
        "warn" | "warning" => Ok(2),
        "info" => Ok(3),
        "debug" => Ok(4),
        "trace" => Ok(5),
        _ => Err(format!(
            "[telemetry] log_level = {name:?}: not a level (error, warn, info, debug, trace, or empty for none)"
        )),
    }
}

impl LogBook {
    /// Writes the functions' lines up to `level` (see [`level_number`])
    /// into the node's own log too.
    pub fn set_echo(&self, level: u8) {
        self.echo.store(level, Ordering::Relaxed);
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer of one instance's lines.
    pub fn instance(&self, id: InstanceId, workflow_id: &str, function_name: &str) -> InstanceLog {
        InstanceLog {
            book: self.clone(),
            instance: id.into(),
            function_id: id.function_id,
            workflow_id: workflow_id.to_string(),
            function_name: function_name.to_string(),
        }
    }

    fn write(&self, function_id: Uuid, mut line: proto::LogLine) {
        if line.message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !line.message.is_char_boundary(cut) {
                cut -= 1;
            }
            line.message.truncate(cut);
            line.message.push_str(" [cut]");
        }
        line.target.truncate(line.target.floor_char_boundary(128));
        let size = size_of(&line);
        let mut book = self.book();
        book.next += 1;
        let numbered = (book.next, Arc::new(line));
        let ring = book.rings.entry(function_id).or_default();
        ring.lines.push_back(numbered.clone());
        ring.bytes += size;
        let mut freed = 0;
        while ring.lines.len() > LINES_PER_INSTANCE || ring.bytes > BYTES_PER_INSTANCE {
            freed += ring.pop();
        }
        book.bytes = book.bytes + size - freed;
        while book.bytes > BOOK_BYTES {
            match book.retired.pop_front() {
                Some(old) => book.drop_ring(old),
                None => {
                    // Every ring is live: the writer's own lines go.
                    let freed = book.rings.get_mut(&function_id).map_or(0, Ring::pop);
                    book.bytes -= freed;
                    if freed == 0 {
                        break;
                    }
                }
            }
        }
        drop(book);
        // Nobody following is fine.
        let _ = self.live.send(numbered);
    }

    /// An instance ended: its lines stay until [`RETIRED_KEPT`] newer ended
    /// instances push them out.
    pub fn retire(&self, function_id: Uuid) {
        let mut book = self.book();
        if !book.rings.contains_key(&function_id) || book.retired.contains(&function_id) {
            return;
        }
        book.retired.push_back(function_id);
        while book.retired.len() > RETIRED_KEPT {
            if let Some(old) = book.retired.pop_front() {
                book.drop_ring(old);
            }
        }
    }

    /// The stream a `Logs` request asks for: the kept lines of the
    /// workflow's instances (of one function, if named) logged since the
    /// requested time, then new ones when following.
    pub fn stream(&self, request: &proto::LogsRequest) -> Source<proto::LogLines> {
        let (workflow, function) = (request.workflow_id.clone(), request.function_name.clone());
        let since = request.since_unix_ms;
        let keep = move |line: &proto::LogLine| {
            line.workflow_id == workflow
                && (function.is_empty() || line.function_name == function)
                && line.unix_ms >= since
        };
        let live = self.live.subscribe();
        let mut kept: Vec<_> = {
            let book = self.book();
            book.rings
                .values()
                .flat_map(|ring| ring.lines.iter())
                .filter(|(_, line)| keep(line))
                .cloned()
                .collect()
        };
        kept.sort_by_key(|(seq, _)| *seq);
        replay(kept, live, keep, (request.tail as usize, request.follow))
    }
}

/// Writes the lines of one instance into the node's [`LogBook`].
pub struct InstanceLog {
    book: LogBook,
    instance: proto::InstanceId,
    function_id: Uuid,
    workflow_id: String,
    function_name: String,
}

impl InstanceLog {
    /// A writer whose lines go nowhere (tools and tests).
    pub fn detached(id: InstanceId) -> Self {
        LogBook::default().instance(id, "", "")
    }

    /// Whether a line of `level` goes to the node's own log too.
    pub fn echoed(&self, level: i32) -> bool {
        level.clamp(1, 5) <= i32::from(self.book.echo.load(Ordering::Relaxed))
    }

    /// Keeps one line: `level` is 1 error, 2 warn, 3 info, 4 debug, else trace.
    pub fn write(&self, level: i32, target: &str, message: &str) {
        let level = match level {
            1 => "error",
            2 => "warn",
            3 => "info",
            4 => "debug",
            _ => "trace",
        };
        self.book.write(
            self.function_id,
            proto::LogLine {
                unix_ms: now_ms(),
                workflow_id: self.workflow_id.clone(),
                function_name: self.function_name.clone(),
                instance: Some(self.instance.clone()),
                level: level.to_string(),
                target: target.to_string(),
                message: message.to_string(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn instance() -> InstanceId {
        InstanceId {
            node_id: Uuid::new_v4(),
            function_id: Uuid::new_v4(),
        }
    }

    fn request(workflow: &str, function: &str) -> proto::LogsRequest {
        proto::LogsRequest {
            workflow_id: workflow.into(),
            function_name: function.into(),
            ..Default::default()
        }
    }

    async fn messages(book: &LogBook, request: proto::LogsRequest) -> Vec<String> {
        let parts: Vec<_> = book.stream(&request).collect().await;
        parts
            .into_iter()
            .flat_map(|p| p.unwrap().lines)
            .map(|l| l.message)
            .collect()
    }

    #[tokio::test]
    async fn lines_are_filtered_by_workflow_and_function_and_cut_to_the_tail() {
        let book = LogBook::default();
        let ping = book.instance(instance(), "w", "ping");
        let pong = book.instance(instance(), "w", "pong");
        let other = book.instance(instance(), "x", "ping");
        for i in 0..5 {
            ping.write(3, "", &format!("ping {i}"));
            pong.write(3, "", &format!("pong {i}"));
            other.write(3, "", "other");
        }
        assert_eq!(messages(&book, request("w", "")).await.len(), 10);
        assert_eq!(
            messages(&book, request("w", "pong")).await,
            ["pong 0", "pong 1", "pong 2", "pong 3", "pong 4"]
        );
        let tail = proto::LogsRequest {
            tail: 2,
            ..request("w", "")
        };
        assert_eq!(messages(&book, tail).await, ["ping 4", "pong 4"]);
    }

    #[tokio::test]
    async fn a_chatty_instance_keeps_only_its_last_lines_and_long_lines_are_cut() {
        let book = LogBook::default();
        let chatty = book.instance(instance(), "w", "chatty");
        for i in 0..LINES_PER_INSTANCE + 10 {
            chatty.write(3, "", &format!("{i}"));
        }
        let lines = messages(&book, request("w", "")).await;
        assert_eq!(lines.len(), LINES_PER_INSTANCE);
        assert_eq!(lines[0], "10");
        let big = book.instance(instance(), "w", "big");
        big.write(3, "", &"é".repeat(MAX_MESSAGE));
        let lines = messages(&book, request("w", "big")).await;
        assert!(lines[0].len() <= MAX_MESSAGE + 6 && lines[0].ends_with("[cut]"));
        // Bytes bound the ring too.
        for _ in 0..200 {
            big.write(3, "", &"x".repeat(MAX_MESSAGE));
        }
        let kept: usize = messages(&book, request("w", "big"))
            .await
            .iter()
            .map(String::len)
            .sum();
        assert!(kept <= BYTES_PER_INSTANCE, "{kept}");
    }

    #[tokio::test]
    async fn ended_instances_keep_their_lines_until_newer_ones_push_them_out() {
        let book = LogBook::default();
        let first = instance();
        book.instance(first, "w", "f").write(1, "", "crashed");
        book.retire(first.function_id);
        assert_eq!(messages(&book, request("w", "f")).await, ["crashed"]);
        for _ in 0..RETIRED_KEPT {
            let id = instance();
            book.instance(id, "v", "g").write(3, "", "x");
            book.retire(id.function_id);
        }
        assert!(messages(&book, request("w", "f")).await.is_empty());
    }

    #[test]
    fn the_echo_level_follows_the_original_names() {
        let book = LogBook::default();
        let log = book.instance(instance(), "w", "f");
        assert!(log.echoed(5), "all by default");
        book.set_echo(level_number("warn").unwrap());
        assert!(log.echoed(1) && log.echoed(2) && !log.echoed(3));
        book.set_echo(level_number("").unwrap());
        assert!(!log.echoed(1));
        assert!(level_number("loud").unwrap_err().contains("log_level"));
    }

    #[tokio::test]
    async fn followers_get_new_lines_once() {
        let book = LogBook::default();
        let log = book.instance(instance(), "w", "f");
        log.write(3, "", "old");
        let mut stream = book.stream(&proto::LogsRequest {
            follow: true,
            ..request("w", "")
        });
        let history = stream.next().await.unwrap().unwrap();
        assert!(history.caught_up);
        assert_eq!(history.lines[0].message, "old");
        log.write(3, "", "new");
        let next = stream.next().await.unwrap().unwrap();
        assert_eq!(next.lines[0].message, "new");
        assert_eq!(next.lines[0].level, "info");
    }
}
