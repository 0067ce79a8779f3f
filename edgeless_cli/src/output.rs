//! Standard output for data. A reader that goes away (`edgeless_cli ... |
//! head -1`) ends the CLI quietly with the conventional status 141 (128 +
//! SIGPIPE), never a panic.

use std::io::Write;

/// The exit status of a process whose output pipe closed.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Writes one line of data to stdout.
pub fn line(args: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// `println!` for data: see [`line`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use out;
