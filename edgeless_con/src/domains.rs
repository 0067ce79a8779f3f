//! The orchestration domains known to the controller, with their leases, and
//! the choice of a domain for a workflow.

use std::collections::{BTreeMap, HashSet};

use edgeless_api::client::Channel;
use edgeless_api::proto::{
    self, domain_inspection_client::DomainInspectionClient,
    function_instance_client::FunctionInstanceClient,
    resource_configuration_client::ResourceConfigurationClient,
    workflow_wiring_client::WorkflowWiringClient,
};

/// A registered domain.
pub struct Domain {
    /// Where its orchestrator listens.
    pub orchestrator_url: String,
    /// The credential its orchestrator handed out for being called at
    /// `orchestrator_url` (the controller never presents its own token
    /// there: the orchestrator chose the address).
    pub link_token: String,
    /// What it reported.
    pub capabilities: proto::DomainCapabilities,
    /// Seconds since the epoch after which it is gone.
    pub deadline: u64,
    /// Changes when the orchestrator restarts.
    pub nonce: u64,
    /// The orchestrator's clients.
    pub clients: DomainClients,
    /// The name of the orchestrator identity that registered it: while its
    /// lease runs, no other identity may register the same domain id.
    pub owner: String,
    /// Where other domains reach its nodes: its ε-BAL (empty: directly).
    pub balancer_url: String,
    /// Whether its ε-BAL answered its orchestrator.
    pub balancer_healthy: bool,
}

/// The clients of one orchestrator.
#[derive(Clone)]
pub struct DomainClients {
    /// Function requests.
    pub functions: FunctionInstanceClient<Channel>,
    /// Resource requests.
    pub resources: ResourceConfigurationClient<Channel>,
    /// Its view of nodes and instances.
    pub inspection: DomainInspectionClient<Channel>,
    /// Wiring to components of other domains.
    pub wiring: WorkflowWiringClient<Channel>,
}

impl DomainClients {
    fn new(channel: Channel) -> Self {
        Self {
            functions: FunctionInstanceClient::new(channel.clone())
                .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE),
            resources: ResourceConfigurationClient::new(channel.clone()),
            inspection: DomainInspectionClient::new(channel.clone())
                .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE),
            wiring: WorkflowWiringClient::new(channel)
                .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE),
        }
    }
}

/// A registered domain with one node of `labels` running WebAssembly (for
/// tests of placement).
#[cfg(test)]
pub(crate) fn domain_for_tests(labels: &[&str]) -> Domain {
    let channel = edgeless_api::client::channel("http://127.0.0.1:1").expect("a valid URL");
    Domain {
        orchestrator_url: String::new(),
        link_token: String::new(),
        capabilities: proto::DomainCapabilities {
            num_nodes: 1,
            runtimes: vec![edgeless_api::RUST_WASM.to_string()],
            labels: labels.iter().map(|l| l.to_string()).collect(),
            ..Default::default()
        },
        deadline: 0,
        nonce: 0,
        clients: DomainClients::new(channel),
        owner: String::new(),
        balancer_url: String::new(),
        balancer_healthy: false,
    }
}

/// The most domains a controller keeps.
pub const MAX_DOMAINS: usize = 1000;

/// The domains, by id.
pub type Domains = BTreeMap<String, Domain>;

/// The outcome of a registration.
pub enum Registration {
    /// A domain not seen before.
    New,
    /// A refresh of a known domain.
    Refreshed,
    /// A known domain whose orchestrator restarted.
    Restarted,
}

/// Applies an `UpdateDomain` request from the orchestrator named `owner`.
pub fn register(
    domains: &mut Domains,
    request: proto::UpdateDomainRequest,
    owner: &str,
) -> Result<Registration, String> {
    if request.domain_id.is_empty() {
        return Err("the domain id is empty".into());
    }
    if domains.len() >= MAX_DOMAINS && !domains.contains_key(&request.domain_id) {
        return Err(format!(
            "the controller has {MAX_DOMAINS} domains, its maximum; domain `{}` is not taken",
            request.domain_id
        ));
    }
    if let Some(domain) = domains.get(&request.domain_id)
        && domain.owner != owner
    {
        return Err(format!(
            "domain `{}` is registered by orchestrator `{}`; another orchestrator cannot take it over",
            request.domain_id, domain.owner
        ));
    }
    // An orchestrator identity holds one domain: it cannot add domains of
    // its own making (which could win placement) beside the real one.
    if !owner.is_empty()
        && let Some((held, _)) = domains
            .iter()
            .find(|(id, d)| d.owner == owner && **id != request.domain_id)
    {
        return Err(format!(
            "orchestrator `{owner}` already holds domain `{held}`; an orchestrator identity registers one domain (give each domain's orchestrator its own token or certificate)"
        ));
    }
    let deadline =
        edgeless_api::capped_deadline(request.refresh_deadline, edgeless_api::now_secs());
    if let Some(domain) = domains.get_mut(&request.domain_id)
        && domain.nonce == request.nonce
        && domain.orchestrator_url == request.orchestrator_url
        && domain.link_token == request.link_token
    {
        domain.deadline = deadline;
        domain.capabilities = request.capabilities.unwrap_or_default();
        domain.balancer_url = request.balancer_url;
        domain.balancer_healthy = request.balancer_healthy;
        return Ok(Registration::Refreshed);
    }
    let channel =
        edgeless_api::client::linked_channel(&request.orchestrator_url, &request.link_token)
            .map_err(|e| e.to_string())?;
    let outcome = if domains.contains_key(&request.domain_id) {
        Registration::Restarted
    } else {
        Registration::New
    };
    domains.insert(
        request.domain_id,
        Domain {
            orchestrator_url: request.orchestrator_url,
            link_token: request.link_token,
            capabilities: request.capabilities.unwrap_or_default(),
            deadline,
            nonce: request.nonce,
            clients: DomainClients::new(channel),
            owner: owner.to_string(),
            balancer_url: request.balancer_url,
            balancer_healthy: request.balancer_healthy,
        },
    );
    Ok(outcome)
}

/// Removes domains whose lease ran out; returns their ids.
pub fn expire(domains: &mut Domains, now: u64) -> Vec<String> {
    let expired: Vec<String> = domains
        .iter()
        .filter(|(_, d)| d.deadline < now)
        .map(|(id, _)| id.clone())
        .collect();
    for id in &expired {
        domains.remove(id);
    }
    expired
}

/// Picks the domain for a whole workflow: the first (by id) that has nodes,
/// every runtime the functions need, the labels, TEE/TPM and resource
/// providers their annotations ask for, and every resource class. When none
/// fits, the error says what each domain lacks.
pub fn select(domains: &Domains, request: &proto::SpawnWorkflowRequest) -> Result<String, String> {
    if domains.is_empty() {
        return Err("no orchestration domain is registered (is an orchestrator running?)".into());
    }
    // Validated with the request: a bad annotation cannot get here.
    let placement =
        edgeless_api::annotations::workflow_placement(&request.annotations).unwrap_or_default();
    let mut reasons = Vec::new();
    for (id, domain) in domains {
        if !placement.domains.is_empty() && !placement.domains.contains(id) {
            reasons.push(format!(
                "domain `{id}` is not in domain_match_any ({})",
                placement.domains.join(", ")
            ));
            continue;
        }
        let labels = &domain.capabilities.labels;
        if let Some(label) = placement.domain_labels.iter().find(|l| !labels.contains(l)) {
            reasons.push(format!(
                "domain `{id}` has no node labelled `{label}` (domain_label_match_all)"
            ));
            continue;
        }
        match missing(&domain.capabilities, request) {
            None => return Ok(id.clone()),
            Some(reason) => reasons.push(format!("domain `{id}` {reason}")),
        }
    }
    Err(format!(
        "no domain can host the workflow: {}",
        reasons.join("; ")
    ))
}

fn missing(
    caps: &proto::DomainCapabilities,
    request: &proto::SpawnWorkflowRequest,
) -> Option<String> {
    if caps.num_nodes == 0 {
        return Some("has no nodes".into());
    }
    request
        .workflow_functions
        .iter()
        .find_map(|f| missing_for_function(caps, f))
        .or_else(|| {
            request
                .workflow_resources
                .iter()
                .find_map(|r| missing_for_resource(caps, r))
        })
}

/// What a domain lacks to host component `name` of `request`, if anything.
pub(crate) fn missing_for(
    caps: &proto::DomainCapabilities,
    request: &proto::SpawnWorkflowRequest,
    name: &str,
) -> Option<String> {
    if caps.num_nodes == 0 {
        return Some("has no nodes".into());
    }
    let function = request.workflow_functions.iter().find(|f| f.name == name);
    let resource = request.workflow_resources.iter().find(|r| r.name == name);
    function
        .and_then(|f| missing_for_function(caps, f))
        .or_else(|| resource.and_then(|r| missing_for_resource(caps, r)))
}

fn missing_for_function(
    caps: &proto::DomainCapabilities,
    function: &proto::WorkflowFunction,
) -> Option<String> {
    let name = &function.name;
    let runtime = function
        .class_spec
        .as_ref()
        .map(|c| c.function_class_type.as_str())
        .unwrap_or("");
    if !caps.runtimes.iter().any(|r| r == runtime) {
        return Some(format!(
            "has no node with runtime {runtime} (needed by `{name}`)"
        ));
    }
    let annotations = &function.annotations;
    let labels: HashSet<&String> = caps.labels.iter().collect();
    if let Some(label) = edgeless_api::annotations::list(annotations, "label_match_all")
        .into_iter()
        .find(|l| !labels.contains(l))
    {
        return Some(format!(
            "has no node labelled `{label}` (needed by `{name}`)"
        ));
    }
    if let Some(provider) = edgeless_api::annotations::list(annotations, "resource_match_all")
        .into_iter()
        .find(|p| !caps.resource_providers.contains(p))
    {
        return Some(format!(
            "has no resource provider `{provider}` (needed by `{name}`)"
        ));
    }
    let required = |key: &str| edgeless_api::annotations::required(annotations, key);
    if required("tee") && caps.num_tee == 0 {
        return Some(format!("has no node with a TEE (needed by `{name}`)"));
    }
    if required("tpm") && caps.num_tpm == 0 {
        return Some(format!("has no node with a TPM (needed by `{name}`)"));
    }
    None
}

fn missing_for_resource(
    caps: &proto::DomainCapabilities,
    resource: &proto::WorkflowResource,
) -> Option<String> {
    if !caps.resource_classes.contains(&resource.class_type) {
        return Some(format!(
            "has no provider of resource class `{}` (needed by `{}`)",
            resource.class_type, resource.name
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(runtime: &str, resource: Option<&str>) -> proto::SpawnWorkflowRequest {
        proto::SpawnWorkflowRequest {
            workflow_functions: vec![proto::WorkflowFunction {
                name: "f".into(),
                class_spec: Some(proto::FunctionClassSpecification {
                    function_class_type: runtime.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            workflow_resources: resource
                .map(|class| proto::WorkflowResource {
                    name: "r".into(),
                    class_type: class.into(),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn domain(nodes: u32, runtimes: &[&str], classes: &[&str]) -> Domain {
        let channel = edgeless_api::client::channel("http://127.0.0.1:1").unwrap();
        Domain {
            orchestrator_url: String::new(),
            link_token: String::new(),
            capabilities: proto::DomainCapabilities {
                num_nodes: nodes,
                runtimes: runtimes.iter().map(|s| s.to_string()).collect(),
                resource_classes: classes.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            deadline: 0,
            nonce: 0,
            clients: DomainClients::new(channel),
            owner: String::new(),
            balancer_url: String::new(),
            balancer_healthy: false,
        }
    }

    #[tokio::test]
    async fn workflow_annotations_choose_among_domains_and_say_why_not() {
        let mut domains = Domains::new();
        domains.insert("site-a".into(), domain(1, &["RUST_WASM"], &[]));
        let mut labelled = domain(1, &["RUST_WASM"], &[]);
        labelled.capabilities.labels = vec!["gpu".into()];
        domains.insert("site-b".into(), labelled);
        let mut pinned = request("RUST_WASM", None);
        pinned
            .annotations
            .insert("domain_match_any".into(), "site-b".into());
        assert_eq!(select(&domains, &pinned).unwrap(), "site-b");
        let mut by_label = request("RUST_WASM", None);
        by_label
            .annotations
            .insert("domain_label_match_all".into(), "gpu".into());
        assert_eq!(select(&domains, &by_label).unwrap(), "site-b");
        by_label
            .annotations
            .insert("domain_match_any".into(), "site-a".into());
        let error = select(&domains, &by_label).unwrap_err();
        assert!(
            error.contains("domain `site-a` has no node labelled `gpu` (domain_label_match_all)")
                && error.contains("domain `site-b` is not in domain_match_any (site-a)"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_registration_cannot_choose_a_lease_that_never_ends() {
        let mut domains = Domains::new();
        let request = proto::UpdateDomainRequest {
            domain_id: "greedy".into(),
            orchestrator_url: "http://127.0.0.1:1".into(),
            refresh_deadline: u64::MAX,
            nonce: 1,
            ..Default::default()
        };
        let now = edgeless_api::now_secs();
        register(&mut domains, request.clone(), "orc").unwrap();
        assert!(domains["greedy"].deadline <= now + 1 + edgeless_api::MAX_LEASE_SEC);
        // A refresh cannot stretch it either; past the cap it expires.
        register(&mut domains, request.clone(), "orc").unwrap();
        assert!(domains["greedy"].deadline <= now + 1 + edgeless_api::MAX_LEASE_SEC);
        let later = now + 2 + edgeless_api::MAX_LEASE_SEC;
        assert_eq!(expire(&mut domains, later), vec!["greedy".to_string()]);
        // Once expired, the id is free again.
        register(&mut domains, request, "other").unwrap();
    }

    #[tokio::test]
    async fn the_number_of_domains_is_bounded() {
        let mut domains = Domains::new();
        let request = |i: usize| proto::UpdateDomainRequest {
            domain_id: format!("d{i}"),
            orchestrator_url: "http://127.0.0.1:1".into(),
            refresh_deadline: edgeless_api::now_secs() + 10,
            nonce: 1,
            ..Default::default()
        };
        for i in 0..MAX_DOMAINS {
            register(&mut domains, request(i), &format!("o{i}")).unwrap();
        }
        let error = register(&mut domains, request(MAX_DOMAINS), "o-new")
            .err()
            .unwrap();
        assert!(error.contains("its maximum"), "{error}");
        // Known domains still refresh.
        assert!(register(&mut domains, request(0), "o0").is_ok());
    }

    /// A registration of domain `id` with a lease of 10 s.
    fn registration(id: &str) -> proto::UpdateDomainRequest {
        proto::UpdateDomainRequest {
            domain_id: id.into(),
            orchestrator_url: "http://127.0.0.1:1".into(),
            refresh_deadline: edgeless_api::now_secs() + 10,
            nonce: 1,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_orchestrator_identity_holds_one_domain() {
        let mut domains = Domains::new();
        let request = registration;
        register(&mut domains, request("real"), "orchestrator-a").unwrap();
        let error = register(&mut domains, request("aaa-fake"), "orchestrator-a")
            .err()
            .unwrap();
        assert!(
            error.contains("`orchestrator-a` already holds domain `real`"),
            "{error}"
        );
        assert!(!domains.contains_key("aaa-fake"));
        // Its own domain refreshes; another identity registers another one;
        // open controllers (anonymous callers) keep any number.
        assert!(register(&mut domains, request("real"), "orchestrator-a").is_ok());
        assert!(register(&mut domains, request("b"), "orchestrator-b").is_ok());
        assert!(register(&mut domains, request("c"), "").is_ok());
        assert!(register(&mut domains, request("d"), "").is_ok());
    }

    #[tokio::test]
    async fn a_new_link_credential_is_a_restart() {
        let mut domains = Domains::new();
        let mut request = proto::UpdateDomainRequest {
            link_token: "edgeless_one".into(),
            ..registration("d")
        };
        register(&mut domains, request.clone(), "o").unwrap();
        request.link_token = "edgeless_two".into();
        assert!(matches!(
            register(&mut domains, request, "o"),
            Ok(Registration::Restarted)
        ));
        assert_eq!(domains["d"].link_token, "edgeless_two");
    }

    #[tokio::test]
    async fn another_orchestrator_cannot_take_over_a_registered_domain() {
        let mut domains = Domains::new();
        let mut request = registration("d");
        register(&mut domains, request.clone(), "orchestrator-a").unwrap();
        request.nonce = 2;
        request.orchestrator_url = "http://127.0.0.1:2".into();
        let error = register(&mut domains, request.clone(), "orchestrator-b")
            .err()
            .unwrap();
        assert!(
            error.contains("registered by orchestrator `orchestrator-a`"),
            "{error}"
        );
        assert_eq!(domains["d"].orchestrator_url, "http://127.0.0.1:1");
        // Its own orchestrator, restarted, takes it back.
        assert!(matches!(
            register(&mut domains, request, "orchestrator-a"),
            Ok(Registration::Restarted)
        ));
    }

    #[tokio::test]
    async fn picks_the_first_domain_that_fits_and_explains_otherwise() {
        let mut domains = Domains::new();
        assert!(
            select(&domains, &request("RUST_WASM", None))
                .unwrap_err()
                .contains("no orchestration domain")
        );
        domains.insert("a".into(), domain(0, &["RUST_WASM"], &[]));
        domains.insert("b".into(), domain(2, &["RUST_WASM"], &[]));
        domains.insert("c".into(), domain(1, &["RUST_WASM"], &["file-log"]));
        assert_eq!(select(&domains, &request("RUST_WASM", None)).unwrap(), "b");
        assert_eq!(
            select(&domains, &request("RUST_WASM", Some("file-log"))).unwrap(),
            "c"
        );
        let err = select(&domains, &request("CONTAINER", None)).unwrap_err();
        assert_eq!(
            err,
            "no domain can host the workflow: domain `a` has no nodes; \
             domain `b` has no node with runtime CONTAINER (needed by `f`); \
             domain `c` has no node with runtime CONTAINER (needed by `f`)"
        );
    }

    #[tokio::test]
    async fn annotations_steer_the_choice() {
        let mut domains = Domains::new();
        let mut gpu = domain(1, &["RUST_WASM"], &[]);
        gpu.capabilities.labels = vec!["gpu".into()];
        domains.insert("a".into(), domain(1, &["RUST_WASM"], &[]));
        domains.insert("b".into(), gpu);
        let mut wf = request("RUST_WASM", None);
        wf.workflow_functions[0]
            .annotations
            .insert("label_match_all".into(), "gpu".into());
        assert_eq!(select(&domains, &wf).unwrap(), "b");
        wf.workflow_functions[0]
            .annotations
            .insert("tee".into(), "required".into());
        let err = select(&domains, &wf).unwrap_err();
        assert_eq!(
            err,
            "no domain can host the workflow: domain `a` has no node labelled `gpu` (needed by `f`); \
             domain `b` has no node with a TEE (needed by `f`)"
        );
    }

    #[tokio::test]
    async fn leases_expire() {
        let mut domains = Domains::new();
        let mut d = domain(1, &[], &[]);
        d.deadline = 10;
        domains.insert("a".into(), d);
        assert!(expire(&mut domains, 5).is_empty());
        assert_eq!(expire(&mut domains, 11), vec!["a".to_string()]);
        assert!(domains.is_empty());
    }
}
