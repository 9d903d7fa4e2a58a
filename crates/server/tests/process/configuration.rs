//! The documentation and deployment files agree with the binary: every flag and variable of
//! `rigel --help` (and of its commands' help) is in docs/configuration.md and back, and the Kubernetes manifests and
//! systemd unit name the ports and probe paths the binary serves.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{free_port, rigel_command, terminate_cleanly, wait_ready, Start};

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `rigel --help`, and the help of each of its commands.
fn help() -> String {
    let mut all = String::new();
    for args in [
        &["--help"][..],
        &["export", "--help"],
        &["import", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rigel"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "rigel {args:?}");
        all.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    all
}

/// Words of `text` that start with `prefix` and go on with `[A-Za-z0-9_-]`.
fn words(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at + prefix.len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(tail.len());
        if len > 0 {
            found.insert(format!("{prefix}{}", &tail[..len]));
        }
        rest = &tail[len..];
    }
    found
}

#[test]
fn every_flag_and_variable_of_help_is_documented_and_back() {
    let help = help();
    let docs = repo_file("docs/configuration.md");
    let help_flags: BTreeSet<String> = words(&help, "--")
        .into_iter()
        .filter(|f| f != "--help" && f != "--version")
        .collect();
    let mut names = words(&help, "RIGEL_");
    names.extend(words(&help, "ORIONLD_"));
    assert!(help_flags.len() > 15 && names.len() > 20, "{help}");
    for name in help_flags.iter().chain(&names) {
        assert!(
            docs.contains(&format!("`{name}`")),
            "{name} is not in docs/configuration.md"
        );
    }
    let mut documented = words(&docs, "--");
    documented.retain(|f| f[2..].starts_with(|c: char| c.is_ascii_lowercase()));
    for flag in &documented {
        let builtin = flag == "--help" || flag == "--version";
        assert!(
            builtin || help_flags.contains(flag),
            "docs/configuration.md names {flag}, which rigel does not have"
        );
    }
    for name in words(&docs, "RIGEL_")
        .iter()
        .chain(&words(&docs, "ORIONLD_"))
    {
        assert!(
            names.contains(name),
            "docs/configuration.md names {name}, which rigel does not read"
        );
    }
}

fn yaml_documents(path: &str) -> Vec<serde_yaml_ng::Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(&repo_file(path))
        .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

/// The manifests parse; the StatefulSet's probes use the admin port the binary listens on by
/// default and paths it serves there, and the Service exposes the API port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_manifests_probe_what_the_binary_serves() {
    let docs = yaml_documents("deploy/kubernetes/rigel.yaml");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"StatefulSet") && kinds.contains(&"Service"),
        "{kinds:?}"
    );
    let set = docs.iter().find(|d| d["kind"] == "StatefulSet").unwrap();
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let help = help();
    assert!(
        help.contains("[default: 9026]"),
        "the default admin port is 9026"
    );
    let mut probed = Vec::new();
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["port"].as_u64(), Some(9026), "{probe}");
        probed.push(get["path"].as_str().unwrap().to_owned());
    }
    let api = docs
        .iter()
        .filter(|d| d["kind"] == "Service")
        .flat_map(|d| {
            d["spec"]["ports"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .any(|p| p["port"].as_u64() == Some(1026));
    assert!(api, "a Service exposes port 1026");
    let grace = set["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > 20,
        "the pod's grace period exceeds rigel's default shutdown grace"
    );

    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut child = rigel_command(dir.path(), port, admin)
        .args(["--log-level", "warn"])
        .start();
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}/ngsi-ld/v1")).await;
    for path in probed {
        let r = client
            .get(format!("http://127.0.0.1:{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    terminate_cleanly(&mut child).await;
}

/// The systemd unit stops rigel with SIGTERM and waits longer than its shutdown grace.
#[test]
fn the_systemd_unit_waits_for_a_graceful_shutdown() {
    let unit = repo_file("deploy/rigel.service");
    assert!(unit.contains("KillSignal=SIGTERM"));
    let stop = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap();
    let grace = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=RIGEL_SHUTDOWN_GRACE_SECS="))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(20);
    assert!(
        stop > grace,
        "TimeoutStopSec={stop} must exceed the grace {grace}"
    );
}
