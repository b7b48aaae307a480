//! Architecture rules that must not erode: operators stay pure (no Kafka, no async runtime,
//! no HTTP), and the example configuration stays valid.

use std::process::Command;

#[test]
fn operators_do_not_depend_on_io_crates() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "kubesage-operators", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(kubesage_tests::crate_dir())
        .output()
        .expect("cargo tree");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("kubesage-schemas"), "unexpected tree:\n{tree}");
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    for forbidden in ["rdkafka", "rdkafka-sys", "tokio", "axum", "hyper", "reqwest", "prometheus-client"] {
        assert!(!crates.contains(&forbidden), "operators must stay pure but depend on {forbidden}");
    }
}

#[test]
fn example_config_validates_with_the_cli() {
    let example = kubesage_tests::crate_dir().join("../deploy/kubesage.example.toml");
    let out = Command::new(kubesage_tests::kubesage_bin()).args(["validate", "--config"]).arg(&example).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[runtime]\nidle_timeout = \"0s\"\n\n[collector.alertmanager]\ndefault_cluster = \"\"\n").expect("write");
    let out = Command::new(kubesage_tests::kubesage_bin()).args(["validate", "--config"]).arg(&bad).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 2: runtime.idle_timeout"), "{err}");
    assert!(err.contains("line 5: collector.alertmanager.default_cluster"), "{err}");
}
