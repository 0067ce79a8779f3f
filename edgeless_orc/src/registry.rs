//! The nodes of the domain, with their leases and the clients to reach them.

use std::collections::{BTreeMap, HashMap};

use edgeless_api::client::Channel;
use edgeless_api::proto::{
    self, function_instance_client::FunctionInstanceClient,
    function_logs_client::FunctionLogsClient, node_management_client::NodeManagementClient,
    resource_configuration_client::ResourceConfigurationClient,
};
use uuid::Uuid;

use crate::placement::NodeView;

/// A registered node.
#[derive(Clone)]
pub struct Node {
    /// Where its agent listens.
    pub agent_url: String,
    /// Where its dataplane listens.
    pub invocation_url: String,
    /// The link credential it handed out: the key of the peer credentials
    /// made for it.
    pub link_token: String,
    /// What it reported.
    pub capabilities: proto::NodeCapabilities,
    /// Its resource providers.
    pub providers: Vec<proto::ResourceProviderSpecification>,
    /// Its last reported health.
    pub health: proto::NodeHealthStatus,
    /// Client for instance requests.
    pub functions: FunctionInstanceClient<Channel>,
    /// Client for resource requests.
    pub resources: ResourceConfigurationClient<Channel>,
    /// Client for peers and reset.
    pub management: NodeManagementClient<Channel>,
    /// Client for its log streams (no request deadline).
    pub logs: FunctionLogsClient<Channel>,
    /// Whether it knows its peers and may take instances.
    pub ready: bool,
    /// Keys of the WASM code it has started (it starts that code again from
    /// the key alone).
    pub codes: crate::node_codes::NodeCodes,
}

impl Node {
    /// A node from its registration. Its agent is reached at the address
    /// the node chose, so the clients present the node's own link
    /// credential there, never this orchestrator's token.
    pub fn from_registration(request: &proto::UpdateNodeRequest) -> Result<Self, String> {
        let (url, link) = (&request.agent_url, &request.link_token);
        let channel = edgeless_api::client::linked_channel(url, link).map_err(|e| e.to_string())?;
        let stream =
            edgeless_api::client::linked_stream_channel(url, link).map_err(|e| e.to_string())?;
        Ok(Self {
            agent_url: request.agent_url.clone(),
            invocation_url: request.invocation_url.clone(),
            link_token: request.link_token.clone(),
            capabilities: request.capabilities.clone().unwrap_or_default(),
            providers: request.resource_providers.clone(),
            health: request.health_status.clone().unwrap_or_default(),
            functions: FunctionInstanceClient::new(channel.clone())
                .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE),
            resources: ResourceConfigurationClient::new(channel.clone()),
            management: NodeManagementClient::new(channel),
            logs: FunctionLogsClient::new(stream),
            ready: false,
            codes: Default::default(),
        })
    }
}

/// A client of a node's log streams.
pub type LogsClient = FunctionLogsClient<Channel>;

/// The nodes, in a stable order.
pub type Registry = BTreeMap<Uuid, Node>;

/// What placement sees of the registry; `instances` counts what each node runs.
pub fn views<'a>(registry: &'a Registry, instances: &HashMap<Uuid, usize>) -> Vec<NodeView<'a>> {
    registry
        .iter()
        .filter(|(_, node)| node.ready)
        .map(|(id, node)| NodeView {
            providers: node
                .providers
                .iter()
                .map(|p| p.provider_id.as_str())
                .collect(),
            load: instances.get(id).copied().unwrap_or(0) as f64
                / f64::from(node.capabilities.num_cpus.max(1)),
            node_id: *id,
            labels: node.capabilities.labels.as_slice().into(),
            runtimes: node.capabilities.runtimes.as_slice().into(),
            num_cpus: node.capabilities.num_cpus,
            tee: node.capabilities.is_tee_running,
            tpm: node.capabilities.has_tpm,
        })
        .collect()
}

/// What the orchestrator shows of a node.
pub fn view(node_id: &Uuid, node: &Node, lease_remaining: i64) -> proto::NodeView {
    proto::NodeView {
        node_id: node_id.to_string(),
        agent_url: node.agent_url.clone(),
        invocation_url: node.invocation_url.clone(),
        capabilities: Some(node.capabilities.clone()),
        health: Some(node.health.clone()),
        resource_providers: node.providers.clone(),
        lease_remaining,
        cordoned: false,
    }
}

/// The sum of the domain's capabilities, as reported to the controller.
pub fn domain_capabilities(registry: &Registry) -> proto::DomainCapabilities {
    let mut caps = proto::DomainCapabilities {
        num_nodes: registry.len() as u32,
        ..Default::default()
    };
    fn add_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
        for item in items {
            if !list.contains(&item) {
                list.push(item);
            }
        }
    }
    for node in registry.values() {
        let c = &node.capabilities;
        caps.num_cpus += c.num_cpus;
        caps.num_cores += c.num_cores;
        caps.mem_size += c.mem_size;
        caps.num_tee += u32::from(c.is_tee_running);
        caps.num_tpm += u32::from(c.has_tpm);
        caps.disk_tot_space += c.disk_tot_space;
        caps.num_gpus += c.num_gpus;
        caps.mem_size_gpu += c.mem_size_gpu;
        add_unique(&mut caps.labels, c.labels.iter().cloned());
        add_unique(&mut caps.runtimes, c.runtimes.iter().cloned());
        add_unique(
            &mut caps.resource_providers,
            node.providers.iter().map(|p| p.provider_id.clone()),
        );
        add_unique(
            &mut caps.resource_classes,
            node.providers.iter().map(|p| p.class_type.clone()),
        );
    }
    caps
}
