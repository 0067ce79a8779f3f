//! The deployment files say what the code does: every systemd unit passes
//! `systemd-analyze verify` without an unknown key, runs a binary of the
//! workspace with the configuration file its daemon's template names, and
//! its `EDGELESS_…` variables set keys that exist; the compose file is valid.

use std::path::Path;
use std::process::Command;

use edgeless_tests::{bin, repo_root};

/// The units, the binary each runs, and its configuration file.
const UNITS: [(&str, &str, &str); 4] = [
    ("edgeless-con.service", "edgeless_con_d", "controller.toml"),
    (
        "edgeless-orc.service",
        "edgeless_orc_d",
        "orchestrator.toml",
    ),
    ("edgeless-node.service", "edgeless_node_d", "node.toml"),
    ("edgeless-bal.service", "edgeless_bal_d", "balancer.toml"),
];

/// Runs `binary -t` into a file and returns the template.
fn template(binary: &str, dir: &Path) -> String {
    let path = dir.join(format!("{binary}.toml"));
    let output = Command::new(bin(binary))
        .arg("-t")
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{binary} -t: {output:?}");
    std::fs::read_to_string(path).unwrap()
}

/// Whether `variable` (`EDGELESS_SECTION_KEY`) names a key of `template`.
fn names_a_key(variable: &str, template: &str) -> bool {
    let table: toml::Table = toml::from_str(template).unwrap();
    let mut names = Vec::new();
    for (key, value) in &table {
        match value.as_table() {
            Some(section) => names.extend(
                section
                    .keys()
                    .map(|k| format!("EDGELESS_{}_{}", key.to_uppercase(), k.to_uppercase())),
            ),
            None => names.push(format!("EDGELESS_{}", key.to_uppercase())),
        }
    }
    names.iter().any(|n| n == variable)
}

#[test]
fn the_systemd_units_are_valid_and_match_the_daemons() {
    let dir = tempfile::tempdir().unwrap();
    for (unit, binary, config) in UNITS {
        let text =
            std::fs::read_to_string(repo_root().join("deployment/systemd").join(unit)).unwrap();
        assert!(
            text.contains(&format!(
                "ExecStart=/usr/local/bin/{binary} -c /etc/edgeless/{config}"
            )),
            "{unit}"
        );
        // Streams and connections need descriptors beyond systemd's 1024.
        assert!(
            text.contains("\nLimitNOFILE="),
            "{unit} sets no LimitNOFILE"
        );
        let template = template(binary, dir.path());
        for line in text
            .lines()
            .filter(|l| l.starts_with("Environment=EDGELESS_"))
        {
            let variable = line["Environment=".len()..].split('=').next().unwrap();
            assert!(
                names_a_key(variable, &template),
                "{unit}: {variable} sets no key"
            );
        }
        // Verified as installed: the binary where ExecStart looks for it.
        let copy = dir.path().join(unit);
        let binary_path = bin(binary);
        std::fs::write(
            &copy,
            text.replace(
                &format!("/usr/local/bin/{binary}"),
                binary_path.to_str().unwrap(),
            ),
        )
        .unwrap();
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze runs (apt-get install systemd)");
        let complaints = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !complaints.contains("Unknown") && !complaints.contains("Failed to parse"),
            "{unit}:\n{complaints}"
        );
    }
}

#[test]
fn the_compose_file_is_valid_and_its_variables_set_keys() {
    let compose = repo_root().join("deployment/compose.yaml");
    let output = Command::new("docker-compose")
        .arg("-f")
        .arg(&compose)
        .arg("config")
        .output()
        .expect("docker-compose runs (apt-get install docker-compose)");
    assert!(output.status.success(), "{output:?}");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(compose).unwrap();
    let templates: Vec<(&str, String)> = [
        ("edgeless-con", "edgeless_con_d"),
        ("edgeless-orc", "edgeless_orc_d"),
        ("edgeless-node", "edgeless_node_d"),
        ("edgeless-bal", "edgeless_bal_d"),
    ]
    .into_iter()
    .map(|(image, binary)| (image, template(binary, dir.path())))
    .collect();
    // Each service's variables follow its `image:` line.
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if let Some(image) = line.strip_prefix("image: ") {
            current = templates.iter().find(|(name, _)| *name == image);
        }
        if let Some((variable, _)) = line.split_once(':')
            && variable.starts_with("EDGELESS_")
            && variable != "EDGELESS_PORT"
        {
            let (image, template) = current.expect("a service with an image");
            assert!(
                names_a_key(variable, template),
                "{image}: {variable} sets no key"
            );
        }
    }
}
