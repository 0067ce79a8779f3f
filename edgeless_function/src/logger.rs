//! A `log` backend that forwards records to the node's log.

struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, _metadata: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = rust_to_api(record.level()) as usize;
        crate::telemetry_log(level, record.target(), &record.args().to_string());
    }

    fn flush(&self) {}
}

static LOGGER: HostLogger = HostLogger;

/// The level number the node's log takes for a `log` level: 1 error,
/// 2 warn, 3 info, 4 debug, 5 trace.
pub fn rust_to_api(level: log::Level) -> u32 {
    match level {
        log::Level::Error => 1,
        log::Level::Warn => 2,
        log::Level::Info => 3,
        log::Level::Debug => 4,
        log::Level::Trace => 5,
    }
}

/// Routes the `log` macros to the node's log. Call it in `handle_init`;
/// calling it again is harmless.
pub fn init_logger() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}
