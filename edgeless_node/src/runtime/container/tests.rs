use std::collections::HashMap;

use super::ContainerLimits;
use crate::config::ContainerRuntime;

fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn limits_default_to_the_node_settings() {
    let settings = ContainerRuntime::default();
    let limits = ContainerLimits::from_annotations(&settings, &HashMap::new()).unwrap();
    assert_eq!(
        limits,
        ContainerLimits {
            memory_mb: 256,
            cpus: 1.0
        }
    );
}

#[test]
fn annotations_override_limits() {
    let settings = ContainerRuntime::default();
    let limits = ContainerLimits::from_annotations(
        &settings,
        &annotations(&[("max_memory_mb", "64"), ("max_cpus", "0.5")]),
    )
    .unwrap();
    assert_eq!(
        limits,
        ContainerLimits {
            memory_mb: 64,
            cpus: 0.5
        }
    );
}

#[test]
fn bad_limits_are_named() {
    let settings = ContainerRuntime::default();
    for (key, value) in [
        ("max_memory_mb", "lots"),
        ("max_memory_mb", "1"),
        ("max_cpus", "-1"),
        ("max_cpus", "NaN"),
    ] {
        let error = ContainerLimits::from_annotations(&settings, &annotations(&[(key, value)]))
            .unwrap_err();
        assert!(error.contains(key), "{error}");
    }
}

#[test]
fn annotations_cannot_raise_the_node_limits() {
    let settings = ContainerRuntime::default();
    for (key, value, maximum) in [
        ("max_memory_mb", "100000", "maximum of 256"),
        ("max_cpus", "64", "maximum of 1"),
    ] {
        let error = ContainerLimits::from_annotations(&settings, &annotations(&[(key, value)]))
            .unwrap_err();
        assert!(error.contains(maximum), "{error}");
    }
}

#[test]
fn only_allowed_images_run() {
    let allowed = ContainerRuntime::default().allowed_images;
    assert!(super::image_allowed(&allowed, "edgeless-pong"));
    assert!(super::image_allowed(&allowed, "edgeless-pong:1.2"));
    for other in ["alpine", "docker.io/library/alpine", "myedgeless-x", ""] {
        assert!(!super::image_allowed(&allowed, other), "{other}");
    }
    let exact = vec!["registry.local/app:1".to_string()];
    assert!(super::image_allowed(&exact, "registry.local/app:1"));
    assert!(!super::image_allowed(&exact, "registry.local/app:2"));
    assert!(!super::image_allowed(&[], "edgeless-pong"));
}
