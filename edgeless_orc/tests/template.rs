//! `edgeless_orc_d -t FILE` writes a template that the daemon accepts, and a
//! bad configuration file is refused with exit code 64 and the file's name.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_edgeless_orc_d");

#[test]
fn the_template_is_written_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orc.toml");
    let status = Command::new(BIN).arg("-t").arg(&path).status().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with('#')),
        "the template is commented"
    );
    let again = Command::new(BIN).arg("-t").arg(&path).output().unwrap();
    assert_eq!(again.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&again.stderr).contains("cannot create"));
}

#[test]
fn a_bad_config_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "no_such_key = 1\n").unwrap();
    let output = Command::new(BIN).arg("-c").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("unknown field"),
        "{stderr}"
    );
    let missing = Command::new(BIN)
        .arg("-c")
        .arg(dir.path().join("absent.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(64));
}
