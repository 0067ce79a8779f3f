//! Reading function annotations the same way everywhere (controller and
//! orchestrator alike).

use std::collections::HashMap;

/// The comma-separated values of `key` (trimmed, empty ones dropped).
pub fn list(annotations: &HashMap<String, String>, key: &str) -> Vec<String> {
    annotations
        .get(key)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Is `key` set to `required` (any case)?
pub fn required(annotations: &HashMap<String, String>, key: &str) -> bool {
    annotations
        .get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_requirements() {
        let a = HashMap::from([
            ("labels".to_string(), " a, ,b ".to_string()),
            ("tee".to_string(), "REQUIRED".to_string()),
        ]);
        assert_eq!(list(&a, "labels"), ["a", "b"]);
        assert!(list(&a, "none").is_empty());
        assert!(required(&a, "tee") && !required(&a, "tpm"));
    }
}
