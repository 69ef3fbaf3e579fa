//! `docker-compose.yml` cannot run here (no Docker engine), so this checks what can be
//! checked: it parses, runs Kafka in KRaft mode, and every herd service's command is a
//! real `herd` subcommand.

use yaml_rust2::{Yaml, YamlLoader};

#[test]
fn every_herd_service_runs_a_real_subcommand() {
    let path = herd_tests::workspace_root().join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).expect("docker-compose.yml exists");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let services = docs[0]["services"].as_hash().expect("a services map");

    let kafka = &docs[0]["services"]["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("apache/kafka:")),
        "Kafka comes from the official image"
    );
    let env = format!("{:?}", kafka["environment"]);
    assert!(env.contains("KAFKA_PROCESS_ROLES"), "KRaft mode");

    let mut herd_services = 0;
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        let is_herd = !service["build"].is_badvalue()
            || service["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("herd"));
        if !is_herd {
            continue;
        }
        herd_services += 1;
        let command: Vec<String> = match &service["command"] {
            Yaml::Array(words) => words
                .iter()
                .map(|w| w.as_str().expect("string words").to_owned())
                .collect(),
            Yaml::String(line) => line.split_whitespace().map(str::to_owned).collect(),
            other => panic!("service {name} has no command: {other:?}"),
        };
        // The subcommand words come before the first flag.
        let words: Vec<&str> = command
            .iter()
            .map(String::as_str)
            .take_while(|w| !w.starts_with('-'))
            .collect();
        assert!(!words.is_empty(), "service {name} runs no subcommand");
        let output = herd_tests::herd()
            .args(&words)
            .arg("--help")
            .output()
            .expect("herd runs");
        assert!(
            output.status.success(),
            "service {name}: `herd {}` is not a herd subcommand: {}",
            words.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(herd_services > 0, "no herd service in docker-compose.yml");
}
