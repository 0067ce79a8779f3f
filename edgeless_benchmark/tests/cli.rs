//! The command line refuses bad arguments with a clear message and exit
//! code 2, before it contacts any controller.

use std::process::Command;

fn benchmark(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeless_benchmark"))
        .args(args)
        .output()
        .expect("the benchmark runs")
}

#[test]
fn bad_arguments_are_explained() {
    for (args, message) in [
        (vec!["--arrival-model", "bursty"], "unknown arrival model"),
        (
            vec!["--duration=-1"],
            "--duration must be a non-negative number",
        ),
        (
            vec![
                "--arrival-model",
                "trace",
                "--workload-trace",
                "/nonexistent/trace.csv",
            ],
            "/nonexistent/trace.csv",
        ),
        (vec!["-w", "chain;0"], "1..=100"),
        (
            vec!["--additional-header", "a,b", "--additional-fields", "x"],
            "--additional-header has 2 names",
        ),
    ] {
        let output = benchmark(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_the_options() {
    let output = benchmark(&["--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for option in ["--arrival-model", "--wf-type", "--dataset-path", "--seed"] {
        assert!(stdout.contains(option), "{stdout}");
    }
}
