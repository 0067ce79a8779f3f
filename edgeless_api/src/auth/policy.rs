//! Which role may call which gRPC method, per server. A rule names a whole
//! service (`/edgeless_api.Service/`) or one method
//! (`/edgeless_api.Service/Method`, which wins over its service's rule); a
//! method no rule names is refused.

use super::Role::{self, Admin, Client, Controller, Node, Orchestrator};

/// One server's table of method → roles.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The server's name, for error messages.
    pub server: &'static str,
    /// (service or method path, the roles that may call it).
    pub rules: &'static [(&'static str, &'static [Role])],
    /// Whether its calls are long-lived streams (no handler timeout).
    pub streams: bool,
}

impl Policy {
    fn rule(&self, method: &str) -> Option<&'static [Role]> {
        let exact = self.rules.iter().find(|(path, _)| *path == method);
        let service = || {
            self.rules
                .iter()
                .find(|(path, _)| path.ends_with('/') && method.starts_with(path))
        };
        exact.or_else(service).map(|(_, roles)| *roles)
    }

    /// Whether `role` may call `method` (a gRPC path).
    pub fn allows(&self, method: &str, role: Role) -> bool {
        self.rule(method).is_some_and(|roles| roles.contains(&role))
    }

    /// The roles that may call `method`, for messages.
    pub fn roles_for(&self, method: &str) -> String {
        match self.rule(method) {
            Some(roles) => roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            None => "nobody".into(),
        }
    }
}

/// The controller's workflow API (`controller_url`): users.
pub const CONTROLLER_WORKFLOWS: Policy = Policy {
    server: "controller's workflow API",
    rules: &[
        ("/edgeless_api.WorkflowInstance/", &[Client, Admin]),
        ("/edgeless_api.WorkflowInstance/SetNodeState", &[Admin]),
    ],
    streams: false,
};

/// The controller's domain registration (`domain_register_url`).
pub const CONTROLLER_DOMAINS: Policy = Policy {
    server: "controller's domain registration",
    rules: &[("/edgeless_api.DomainRegistration/", &[Orchestrator])],
    streams: false,
};

/// An orchestrator's API (`orchestrator_url`): its controller; an
/// administrator may inspect the domain and migrate instances.
pub const ORCHESTRATOR_API: Policy = Policy {
    server: "orchestrator's API",
    rules: &[
        ("/edgeless_api.FunctionInstance/", &[Controller]),
        ("/edgeless_api.ResourceConfiguration/", &[Controller]),
        ("/edgeless_api.DomainInspection/", &[Controller, Admin]),
        ("/edgeless_api.WorkflowWiring/", &[Controller]),
    ],
    streams: false,
};

/// An orchestrator's node registration (`node_register_url`).
pub const ORCHESTRATOR_NODES: Policy = Policy {
    server: "orchestrator's node registration",
    rules: &[("/edgeless_api.NodeRegistration/", &[Node])],
    streams: false,
};

/// A node's agent API (`agent_url`): orchestrators.
pub const NODE_AGENT: Policy = Policy {
    server: "node's agent API",
    rules: &[
        ("/edgeless_api.FunctionInstance/", &[Orchestrator]),
        ("/edgeless_api.ResourceConfiguration/", &[Orchestrator]),
        ("/edgeless_api.NodeManagement/", &[Orchestrator]),
        ("/edgeless_api.FunctionLogs/", &[Orchestrator]),
    ],
    streams: false,
};

/// A balancer's agent API (`agent_url`): the orchestrator of its domain
/// tells it where the nodes are.
pub const BALANCER_AGENT: Policy = Policy {
    server: "balancer's agent API",
    rules: &[
        ("/edgeless_api.NodeManagement/", &[Orchestrator]),
        ("/edgeless_api.BalancerRoutes/", &[Orchestrator]),
    ],
    streams: false,
};

/// A node's or balancer's dataplane (`invocation_url`): peer nodes stream
/// events; an administrator may inject one (`edgeless_cli function invoke`).
pub const DATAPLANE: Policy = Policy {
    server: "dataplane",
    rules: &[
        ("/edgeless_api.FunctionInvocation/Stream", &[Node]),
        ("/edgeless_api.FunctionInvocation/Handle", &[Admin]),
    ],
    streams: true,
};

/// Every server's policy, for the documentation and its test.
pub const ALL: [Policy; 7] = [
    CONTROLLER_WORKFLOWS,
    CONTROLLER_DOMAINS,
    ORCHESTRATOR_API,
    ORCHESTRATOR_NODES,
    NODE_AGENT,
    BALANCER_AGENT,
    DATAPLANE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_matched_exactly_or_by_service() {
        let start = "/edgeless_api.WorkflowInstance/Start";
        assert!(CONTROLLER_WORKFLOWS.allows(start, Client));
        assert!(CONTROLLER_WORKFLOWS.allows(start, Admin));
        assert!(!CONTROLLER_WORKFLOWS.allows(start, Node));
        assert!(!CONTROLLER_WORKFLOWS.allows(start, Orchestrator));
        assert!(DATAPLANE.allows("/edgeless_api.FunctionInvocation/Stream", Node));
        assert!(!DATAPLANE.allows("/edgeless_api.FunctionInvocation/Stream", Admin));
        assert!(!DATAPLANE.allows("/edgeless_api.FunctionInvocation/Other", Admin));
        assert!(!NODE_AGENT.allows("/edgeless_api.WorkflowInstance/Start", Orchestrator));
        assert_eq!(NODE_AGENT.roles_for("/x.Y/Z"), "nobody");
        assert_eq!(CONTROLLER_WORKFLOWS.roles_for(start), "client, admin");
    }

    #[test]
    fn every_service_of_the_proto_has_a_rule_somewhere() {
        let proto = include_str!("../../proto/edgeless.proto");
        let covered = |service: &str| {
            ALL.iter().flat_map(|p| p.rules).any(|(path, _)| {
                path.trim_start_matches("/edgeless_api.").split('/').next() == Some(service)
            })
        };
        for line in proto.lines() {
            let Some(service) = line.strip_prefix("service ") else {
                continue;
            };
            let service = service.trim_end_matches(['{', ' ']);
            // The container function protocol runs on its own link with
            // per-instance tokens.
            if matches!(service, "FunctionGuest" | "FunctionHost") {
                continue;
            }
            assert!(covered(service), "service {service} has no rule");
        }
    }
}
