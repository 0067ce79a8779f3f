//! Where each component of a workflow goes.
//!
//! A workflow goes to one domain when one can host all of it (the first by
//! id, or the domain its running components already use): events then never
//! cross a domain boundary. When none can (labels, runtimes, resource
//! providers), or the workflow's annotations limit the domains so, its
//! components are split: `colocate` components stay together, components
//! join a domain the workflow already uses when it fits them, and the rest
//! go to the domain that fits most of them, then the next, so the workflow
//! spans as few domains as it can. `max_domains` bounds how many; 1 never
//! splits.

use std::collections::BTreeMap;

use edgeless_api::annotations::WorkflowPlacement;
use edgeless_api::proto;

use crate::domains::{Domains, missing_for, select};

/// Component name → domain id.
pub type Placement = BTreeMap<String, String>;

/// Chooses a domain for each component named in `wanted`; `placed` are the
/// workflow's components that already run, with their domains. The error
/// says, per domain, why a component cannot go there.
pub fn plan(
    domains: &Domains,
    request: &proto::SpawnWorkflowRequest,
    placed: &Placement,
    wanted: &[String],
) -> Result<Placement, String> {
    if domains.is_empty() {
        return Err("no orchestration domain is registered (is an orchestrator running?)".into());
    }
    let planner = Planner::new(domains, request);
    let rules = &planner.rules;
    let mut used: Vec<String> = placed.values().cloned().collect();
    used.sort();
    used.dedup();
    if let Some(domain) = planner.single(&used, wanted) {
        return Ok(wanted.iter().map(|n| (n.clone(), domain.clone())).collect());
    }
    if used.is_empty() && rules.max_domains == Some(1) {
        // The whole-workflow explanation, domain by domain.
        return Err(select(domains, request).err().unwrap_or_default()
            + " (max_domains is 1: the workflow is not split)");
    }
    let mut placement = Placement::new();
    let mut open: Vec<Vec<String>> = Vec::new();
    for unit in planner.units(wanted) {
        let anchor = unit
            .iter()
            .chain(&rules.colocate)
            .find_map(|name| placed.get(name));
        match anchor {
            Some(domain) => {
                if let Some(why) = unit.iter().find_map(|n| planner.why_not(domain, n)) {
                    return Err(format!(
                        "no domain can host the workflow: `{}` must share domain `{domain}` with its colocated components, but domain `{domain}` {why}",
                        unit[0]
                    ));
                }
                placement.extend(unit.into_iter().map(|n| (n, domain.clone())));
            }
            None => match used.iter().find(|d| planner.fits_all(d, &unit)) {
                Some(domain) => {
                    placement.extend(unit.into_iter().map(|n| (n, domain.clone())));
                }
                None => open.push(unit),
            },
        }
    }
    while !open.is_empty() {
        let best = domains
            .keys()
            .map(|d| (open.iter().filter(|u| planner.fits_all(d, u)).count(), d))
            .filter(|(count, _)| *count > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)));
        let Some((_, domain)) = best else {
            return Err(planner.explain(&open[0][0]));
        };
        let (fitting, rest): (Vec<_>, Vec<_>) =
            open.into_iter().partition(|u| planner.fits_all(domain, u));
        for unit in fitting {
            placement.extend(unit.into_iter().map(|n| (n, domain.clone())));
        }
        used.push(domain.clone());
        open = rest;
    }
    let mut all: Vec<&String> = placed.values().chain(placement.values()).collect();
    all.sort();
    all.dedup();
    if let Some(max) = rules.max_domains
        && all.len() > max as usize
    {
        let list: Vec<&str> = all.iter().map(|d| d.as_str()).collect();
        return Err(format!(
            "no domain can host the workflow: it needs {} domains ({}), and max_domains is {max}",
            all.len(),
            list.join(", ")
        ));
    }
    Ok(placement)
}

/// Why component `name` of `request` may not go to `domain` (its
/// capabilities, or the workflow's annotations), if it may not.
pub fn why_not(
    domains: &Domains,
    request: &proto::SpawnWorkflowRequest,
    domain: &str,
    name: &str,
) -> Option<String> {
    Planner::new(domains, request).why_not(domain, name)
}

struct Planner<'a> {
    domains: &'a Domains,
    request: &'a proto::SpawnWorkflowRequest,
    rules: WorkflowPlacement,
}

impl<'a> Planner<'a> {
    fn new(domains: &'a Domains, request: &'a proto::SpawnWorkflowRequest) -> Self {
        // Validated with the request: a bad annotation cannot get here.
        let rules =
            edgeless_api::annotations::workflow_placement(&request.annotations).unwrap_or_default();
        Self {
            domains,
            request,
            rules,
        }
    }

    /// Why component `name` cannot go to `domain` (none: it can).
    fn why_not(&self, domain: &str, name: &str) -> Option<String> {
        let Some(d) = self.domains.get(domain) else {
            return Some("is not registered".into());
        };
        if !self.rules.domains.is_empty() && !self.rules.domains.iter().any(|x| x == domain) {
            return Some(format!(
                "is not in domain_match_any ({})",
                self.rules.domains.join(", ")
            ));
        }
        let labels = &d.capabilities.labels;
        if let Some(label) = self
            .rules
            .domain_labels
            .iter()
            .find(|l| !labels.contains(l))
        {
            return Some(format!(
                "has no node labelled `{label}` (domain_label_match_all)"
            ));
        }
        missing_for(&d.capabilities, self.request, name)
    }

    fn fits_all(&self, domain: &str, names: &[String]) -> bool {
        names.iter().all(|n| self.why_not(domain, n).is_none())
    }

    /// The one domain that hosts every component (the one already used,
    /// if there is one), if any.
    fn single(&self, used: &[String], wanted: &[String]) -> Option<String> {
        match used {
            [] => self
                .domains
                .keys()
                .find(|d| self.fits_all(d, wanted))
                .cloned(),
            [domain] => self.fits_all(domain, wanted).then(|| domain.clone()),
            _ => None,
        }
    }

    /// `wanted` in groups that must share a domain: the colocated ones
    /// together, every other alone.
    fn units(&self, wanted: &[String]) -> Vec<Vec<String>> {
        let together: Vec<String> = wanted
            .iter()
            .filter(|n| self.rules.colocate.contains(n))
            .cloned()
            .collect();
        let mut units: Vec<Vec<String>> = Vec::new();
        if !together.is_empty() {
            units.push(together);
        }
        units.extend(
            wanted
                .iter()
                .filter(|n| !self.rules.colocate.contains(n))
                .map(|n| vec![n.clone()]),
        );
        units
    }

    /// Why no domain can host component `name`, domain by domain.
    fn explain(&self, name: &str) -> String {
        let reasons: Vec<String> = self
            .domains
            .keys()
            .map(|d| {
                let why = self.why_not(d, name).unwrap_or_else(|| {
                    "cannot host it together with its colocated components".into()
                });
                format!("domain `{d}` {why}")
            })
            .collect();
        format!(
            "no domain can host the workflow: no domain can host `{name}`: {}",
            reasons.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains::domain_for_tests;

    /// Functions `(name, label it needs)` and the workflow's annotations.
    fn workflow(
        functions: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) -> proto::SpawnWorkflowRequest {
        proto::SpawnWorkflowRequest {
            workflow_functions: functions
                .iter()
                .map(|(name, label)| proto::WorkflowFunction {
                    name: name.to_string(),
                    class_spec: Some(proto::FunctionClassSpecification {
                        function_class_type: edgeless_api::RUST_WASM.into(),
                        ..Default::default()
                    }),
                    annotations: if label.is_empty() {
                        Default::default()
                    } else {
                        [("label_match_all".to_string(), label.to_string())].into()
                    },
                    ..Default::default()
                })
                .collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn sites() -> Domains {
        let mut domains = Domains::new();
        domains.insert("a".into(), domain_for_tests(&["cam"]));
        domains.insert("b".into(), domain_for_tests(&["gpu"]));
        domains.insert("c".into(), domain_for_tests(&["gpu", "cam"]));
        domains
    }

    fn names(request: &proto::SpawnWorkflowRequest) -> Vec<String> {
        request
            .workflow_functions
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    fn plan_all(
        domains: &Domains,
        request: &proto::SpawnWorkflowRequest,
    ) -> Result<Placement, String> {
        plan(domains, request, &Placement::new(), &names(request))
    }

    fn placement(pairs: &[(&str, &str)]) -> Placement {
        pairs
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_workflow_that_fits_one_domain_is_not_split() {
        // `c` has both labels: one domain, though `a` and `b` come first.
        let request = workflow(&[("reader", "cam"), ("model", "gpu")], &[]);
        assert_eq!(
            plan_all(&sites(), &request).unwrap(),
            placement(&[("reader", "c"), ("model", "c")])
        );
    }

    #[tokio::test]
    async fn components_are_split_over_as_few_domains_as_fit() {
        let mut domains = sites();
        domains.remove("c");
        let request = workflow(&[("reader", "cam"), ("model", "gpu"), ("any", "")], &[]);
        // `any` fits both: it joins a domain already used, not a third.
        let planned = plan_all(&domains, &request).unwrap();
        assert_eq!(planned["reader"], "a");
        assert_eq!(planned["model"], "b");
        assert!(planned["any"] == "a" || planned["any"] == "b");
        // Re-placing one component keeps it beside the others when it fits.
        let placed = placement(&[("reader", "a"), ("any", "a")]);
        let again = plan(&domains, &request, &placed, &["model".to_string()]).unwrap();
        assert_eq!(again, placement(&[("model", "b")]));
    }

    #[tokio::test]
    async fn annotations_bound_the_split_and_say_why() {
        let mut domains = sites();
        domains.remove("c");
        let pinned = [("reader", "cam"), ("model", "gpu")];
        let never = workflow(&pinned, &[("max_domains", "1")]);
        let error = plan_all(&domains, &never).unwrap_err();
        assert!(error.contains("max_domains is 1"), "{error}");
        let together = workflow(&pinned, &[("colocate", "reader,model")]);
        let error = plan_all(&domains, &together).unwrap_err();
        assert!(error.contains("colocated"), "{error}");
        let limited = workflow(&pinned, &[("domain_match_any", "a")]);
        let error = plan_all(&domains, &limited).unwrap_err();
        assert!(
            error.contains("no domain can host `model`")
                && error.contains("domain `b` is not in domain_match_any (a)"),
            "{error}"
        );
        // Colocated components that fit together go together.
        domains.insert("c".into(), domain_for_tests(&["gpu", "cam"]));
        let free = workflow(
            &[("reader", "cam"), ("model", "gpu"), ("other", "cam")],
            &[("colocate", "reader,model"), ("max_domains", "2")],
        );
        let planned = plan_all(&domains, &free).unwrap();
        assert_eq!(
            (planned["reader"].as_str(), planned["model"].as_str()),
            ("c", "c")
        );
    }
}
