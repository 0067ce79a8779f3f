//! Reading function annotations the same way everywhere (controller and
//! orchestrator alike), and the workflow-level annotations.

use std::collections::HashMap;

/// The function annotation whose value the function gets at start.
pub const INIT_PAYLOAD: &str = "init-payload";

/// The workflow-level annotations (top-level `annotations` of a workflow).
pub const WORKFLOW_KEYS: [&str; 4] = [
    "domain_match_any",
    "domain_label_match_all",
    "max_domains",
    "colocate",
];

/// Where a workflow may be placed, from its workflow-level annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowPlacement {
    /// `domain_match_any`: the domains it may use (empty: any).
    pub domains: Vec<String>,
    /// `domain_label_match_all`: labels a domain must have (its nodes'
    /// labels, together).
    pub domain_labels: Vec<String>,
    /// `max_domains`: how many domains it may span (absent: no limit).
    pub max_domains: Option<u32>,
    /// `colocate`: components that must share a domain.
    pub colocate: Vec<String>,
}

/// A workflow-level annotation that is not known or not valid: the key and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAnnotation {
    /// The key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// Reads the workflow-level annotations; an unknown key or a bad value is
/// an error naming it.
pub fn workflow_placement(
    annotations: &HashMap<String, String>,
) -> Result<WorkflowPlacement, BadAnnotation> {
    let bad = |key: &str, reason: String| BadAnnotation {
        key: key.to_string(),
        reason,
    };
    let mut keys: Vec<&String> = annotations.keys().collect();
    keys.sort();
    if let Some(key) = keys.iter().find(|k| !WORKFLOW_KEYS.contains(&k.as_str())) {
        return Err(bad(
            key,
            format!(
                "not a workflow annotation (known: {})",
                WORKFLOW_KEYS.join(", ")
            ),
        ));
    }
    let max_domains = match annotations.get("max_domains") {
        None => None,
        Some(value) => match value.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(bad(
                    "max_domains",
                    format!("{value:?} is not a number of domains (1 or more)"),
                ));
            }
        },
    };
    Ok(WorkflowPlacement {
        domains: list(annotations, "domain_match_any"),
        domain_labels: list(annotations, "domain_label_match_all"),
        max_domains,
        colocate: list(annotations, "colocate"),
    })
}

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
    fn workflow_annotations_are_read_and_unknown_ones_named() {
        let annotations = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let placement = workflow_placement(&annotations(&[
            ("domain_match_any", "a, b"),
            ("domain_label_match_all", "site-1"),
            ("max_domains", "1"),
            ("colocate", "x,y"),
        ]))
        .unwrap();
        assert_eq!(placement.domains, ["a", "b"]);
        assert_eq!(placement.max_domains, Some(1));
        assert_eq!(placement.colocate, ["x", "y"]);
        let unknown = workflow_placement(&annotations(&[("domain_matchany", "a")])).unwrap_err();
        assert_eq!(unknown.key, "domain_matchany");
        assert!(
            unknown.reason.contains("known: domain_match_any"),
            "{unknown:?}"
        );
        for value in ["0", "many", "-1"] {
            let error = workflow_placement(&annotations(&[("max_domains", value)])).unwrap_err();
            assert_eq!(error.key, "max_domains");
        }
    }

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
