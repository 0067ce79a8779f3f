//! `edgeless_cli completions SHELL`: a completion script for the shell.

use clap::CommandFactory;

/// Prints the completion script of `shell` to stdout.
pub fn print(shell: clap_complete::Shell) {
    let mut command = crate::Args::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "edgeless_cli", &mut script);
    crate::output::line(format_args!(
        "{}",
        String::from_utf8_lossy(&script).trim_end()
    ));
}
