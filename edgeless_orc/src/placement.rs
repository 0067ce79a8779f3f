//! Placement: which node gets a new instance. Pure functions over a view of
//! the nodes, so every rule is tested with plain tables.
//!
//! Annotations narrow the eligible nodes (`node_id_match_any`,
//! `label_match_all`, `tee`, `tpm`, and the function type's runtime); the
//! policy picks one of them. When none fits, the error says which
//! constraint ruled every node out.

use std::borrow::Cow;
use std::collections::HashMap;

use uuid::Uuid;

use crate::config::Strategy;

/// What placement needs to know about a node (borrowed from the registry:
/// a placement among a thousand nodes copies nothing).
#[derive(Debug, Clone)]
pub struct NodeView<'a> {
    /// The node.
    pub node_id: Uuid,
    /// Its labels.
    pub labels: Cow<'a, [String]>,
    /// Its function runtimes.
    pub runtimes: Cow<'a, [String]>,
    /// Its number of CPUs (weight for `Random`).
    pub num_cpus: u32,
    /// Runs in a TEE.
    pub tee: bool,
    /// Has a TPM.
    pub tpm: bool,
    /// Ids of its resource providers.
    pub providers: Vec<&'a str>,
    /// Instances it runs per CPU (for `LeastLoaded`).
    pub load: f64,
}

/// No node can host the instance.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlacementError {
    /// The domain has no nodes.
    #[error("the domain has no nodes")]
    NoNodes,
    /// Every node was ruled out by one constraint.
    #[error("no node satisfies {0}")]
    Unsatisfied(String),
}

/// The picking state of a policy (the round-robin position).
#[derive(Debug, Default)]
pub struct Placer {
    next: usize,
}

impl Placer {
    /// Picks a node for an instance of `function_type` with `annotations`,
    /// preferring nodes not in `avoid` (those already running the component).
    pub fn place(
        &mut self,
        strategy: Strategy,
        nodes: &[NodeView<'_>],
        function_type: &str,
        annotations: &HashMap<String, String>,
        avoid: &[Uuid],
    ) -> Result<Uuid, PlacementError> {
        let mut eligible = eligible(nodes, function_type, annotations)?;
        if eligible.iter().any(|n| !avoid.contains(&n.node_id)) {
            eligible.retain(|n| !avoid.contains(&n.node_id));
        }
        Ok(match strategy {
            Strategy::LeastLoaded => {
                let least = eligible.iter().min_by(|a, b| a.load.total_cmp(&b.load));
                least.map(|n| n.node_id).unwrap_or(eligible[0].node_id)
            }
            Strategy::RoundRobin => {
                let node = eligible[self.next % eligible.len()];
                self.next = self.next.wrapping_add(1);
                node.node_id
            }
            Strategy::Random => weighted_random(&eligible, rand::random::<u64>()),
        })
    }
}

/// The nodes that satisfy every constraint, in registry order.
pub fn eligible<'n, 'a>(
    nodes: &'n [NodeView<'a>],
    function_type: &str,
    annotations: &HashMap<String, String>,
) -> Result<Vec<&'n NodeView<'a>>, PlacementError> {
    if nodes.is_empty() {
        return Err(PlacementError::NoNodes);
    }
    let list = |key: &str| edgeless_api::annotations::list(annotations, key);
    let wanted_ids = list("node_id_match_any");
    let wanted_labels = list("label_match_all");
    let wanted_providers = list("resource_match_all");
    let required = |key: &str| edgeless_api::annotations::required(annotations, key);
    type Rule<'r> = (String, Box<dyn Fn(&NodeView<'_>) -> bool + 'r>);
    let mut rules: Vec<Rule> = Vec::new();
    if !function_type.is_empty() {
        rules.push((
            format!("runtime {function_type}"),
            Box::new(move |n: &NodeView| n.runtimes.iter().any(|r| r == function_type)),
        ));
    }
    if !wanted_ids.is_empty() {
        rules.push((
            format!("node_id_match_any = {}", wanted_ids.join(",")),
            Box::new(move |n: &NodeView| wanted_ids.iter().any(|id| *id == n.node_id.to_string())),
        ));
    }
    if !wanted_labels.is_empty() {
        rules.push((
            format!("label_match_all = {}", wanted_labels.join(",")),
            Box::new(move |n: &NodeView| wanted_labels.iter().all(|l| n.labels.contains(l))),
        ));
    }
    if !wanted_providers.is_empty() {
        rules.push((
            format!("resource_match_all = {}", wanted_providers.join(",")),
            Box::new(move |n: &NodeView| {
                wanted_providers
                    .iter()
                    .all(|p| n.providers.contains(&p.as_str()))
            }),
        ));
    }
    if required("tee") {
        rules.push(("tee = required".into(), Box::new(|n: &NodeView| n.tee)));
    }
    if required("tpm") {
        rules.push(("tpm = required".into(), Box::new(|n: &NodeView| n.tpm)));
    }
    let mut candidates: Vec<&NodeView<'a>> = nodes.iter().collect();
    for (name, rule) in &rules {
        candidates.retain(|n| rule(n));
        if candidates.is_empty() {
            return Err(PlacementError::Unsatisfied(name.clone()));
        }
    }
    Ok(candidates)
}

/// Picks a node with probability proportional to its CPUs, from a random draw.
fn weighted_random(nodes: &[&NodeView<'_>], draw: u64) -> Uuid {
    let total: u64 = nodes.iter().map(|n| u64::from(n.num_cpus.max(1))).sum();
    let mut point = draw % total;
    for node in nodes {
        let weight = u64::from(node.num_cpus.max(1));
        if point < weight {
            return node.node_id;
        }
        point -= weight;
    }
    nodes[nodes.len() - 1].node_id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u128, labels: &[&str], cpus: u32) -> NodeView<'static> {
        NodeView {
            node_id: Uuid::from_u128(n),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            runtimes: Cow::Owned(vec!["RUST_WASM".into()]),
            num_cpus: cpus,
            tee: n == 3,
            tpm: false,
            providers: if n == 2 { vec!["file-log-1"] } else { vec![] },
            load: n as f64,
        }
    }

    fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn round_robin_takes_turns() {
        let nodes = [node(1, &[], 1), node(2, &[], 1)];
        let mut placer = Placer::default();
        let picks: Vec<_> = (0..4)
            .map(|_| {
                placer
                    .place(
                        Strategy::RoundRobin,
                        &nodes,
                        "RUST_WASM",
                        &HashMap::new(),
                        &[],
                    )
                    .unwrap()
            })
            .collect();
        assert_eq!(picks, [1, 2, 1, 2].map(Uuid::from_u128));
    }

    #[test]
    fn constraints_filter_nodes() {
        let nodes = [
            node(1, &["edge"], 1),
            node(2, &["edge", "gpu"], 1),
            node(3, &[], 1),
        ];
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<Vec<u128>, &'a str>);
        let table: &[Case] = &[
            (&[], Ok(vec![1, 2, 3])),
            (&[("label_match_all", "edge,gpu")], Ok(vec![2])),
            (&[("label_match_all", "edge")], Ok(vec![1, 2])),
            (
                &[(
                    "node_id_match_any",
                    "00000000-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000003",
                )],
                Ok(vec![1, 3]),
            ),
            (&[("tee", "required")], Ok(vec![3])),
            (&[("resource_match_all", "file-log-1")], Ok(vec![2])),
            (
                &[("resource_match_all", "redis-1")],
                Err("no node satisfies resource_match_all = redis-1"),
            ),
            (
                &[("label_match_all", "arm")],
                Err("no node satisfies label_match_all = arm"),
            ),
            (
                &[("tpm", "required")],
                Err("no node satisfies tpm = required"),
            ),
        ];
        for (pairs, expected) in table {
            let got = eligible(&nodes, "RUST_WASM", &annotations(pairs))
                .map(|v| v.iter().map(|n| n.node_id.as_u128()).collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            assert_eq!(got, expected.clone().map_err(str::to_string), "{pairs:?}");
        }
    }

    #[test]
    fn least_loaded_picks_the_lightest_node_and_avoid_spreads_instances() {
        let nodes = [node(3, &[], 1), node(1, &[], 1), node(2, &[], 1)];
        let mut placer = Placer::default();
        let none = HashMap::new();
        let place = |placer: &mut Placer, avoid: &[Uuid]| {
            placer
                .place(Strategy::LeastLoaded, &nodes, "RUST_WASM", &none, avoid)
                .unwrap()
                .as_u128()
        };
        assert_eq!(place(&mut placer, &[]), 1);
        assert_eq!(place(&mut placer, &[Uuid::from_u128(1)]), 2);
        let all: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
        assert_eq!(
            place(&mut placer, &all),
            1,
            "when every node is avoided, any may be used"
        );
    }

    #[test]
    fn the_runtime_must_be_offered() {
        let nodes = [node(1, &[], 1)];
        let err = eligible(&nodes, "CONTAINER", &HashMap::new()).unwrap_err();
        assert_eq!(err.to_string(), "no node satisfies runtime CONTAINER");
        assert_eq!(
            eligible(&[], "RUST_WASM", &HashMap::new()).unwrap_err(),
            PlacementError::NoNodes
        );
    }

    #[test]
    fn random_is_weighted_by_cpus() {
        let nodes = [node(1, &[], 1), node(2, &[], 3)];
        let refs: Vec<&NodeView> = nodes.iter().collect();
        let picks: Vec<u128> = (0..4)
            .map(|d| weighted_random(&refs, d).as_u128())
            .collect();
        assert_eq!(picks, [1, 2, 2, 2]);
    }
}
