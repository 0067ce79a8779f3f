//! The command line every daemon shares: templates and configuration errors.

edgeless_api::daemon_cli_tests!("edgeless_bal_d");
