//! Names in namespaces that tenants share: the hosts of `http-ingress`
//! resources (an ε-BAL and a node's ingress route by them), the files of
//! `file-log` resources (one folder per node) and the keys of `redis`
//! resources on one server. A tenant owns such a name while one of its
//! running workflows uses it: another tenant's workflow that names it is
//! refused, so that it cannot receive, or write over, the owner's data.

use edgeless_api::proto;
use uuid::Uuid;

use super::{Controller, ControllerError, lock};

/// The resource class whose hosts are routed.
pub(super) const INGRESS: &str = "http-ingress";
/// What an ingress host is called in refusals.
const INGRESS_HOST: &str = "http-ingress host";

/// The host an `http-ingress` resource serves, in its normal form.
pub(super) fn ingress_host(resource: &proto::WorkflowResource) -> Option<String> {
    let host = resource.configurations.get("host")?.trim();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The shared names a workflow's resources take: (what, name).
pub(super) fn claims(request: &proto::SpawnWorkflowRequest) -> Vec<(&'static str, String)> {
    request
        .workflow_resources
        .iter()
        .filter_map(|r| {
            let get = |key: &str| r.configurations.get(key).map(|v| v.trim());
            match r.class_type.as_str() {
                INGRESS => Some((INGRESS_HOST, ingress_host(r)?)),
                "file-log" => {
                    let path = get("filename")?;
                    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
                    Some(("file-log filename", parts.join("/")))
                }
                "redis" => Some(("redis key", format!("{} on {}", get("key")?, get("url")?))),
                _ => None,
            }
        })
        .filter(|(_, name)| !name.is_empty())
        .collect()
}

impl Controller {
    /// Refuses `request` when one of its shared names belongs to a running
    /// workflow of another tenant (`except`: the workflow being changed).
    pub(super) fn check_claims(
        &self,
        request: &proto::SpawnWorkflowRequest,
        tenant: &str,
        except: Option<Uuid>,
    ) -> Result<(), ControllerError> {
        let wanted = claims(request);
        if wanted.is_empty() {
            return Ok(());
        }
        let workflows = lock(&self.workflows);
        for (id, workflow) in workflows.iter() {
            if workflow.tenant == tenant || Some(*id) == except {
                continue;
            }
            let held = claims(&workflow.request);
            if let Some((what, name)) = wanted.iter().find(|w| held.contains(w)) {
                return Err(ControllerError::Claimed {
                    what,
                    name: name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The tenant that owns each ingress host: that of the earliest started
    /// running workflow naming it (two tenants' starts that raced both
    /// passing [`Controller::check_claims`] still route to one of them).
    pub(super) fn host_owners(&self) -> std::collections::HashMap<String, String> {
        let workflows = lock(&self.workflows);
        let mut owners: std::collections::HashMap<String, (u64, String)> = Default::default();
        for workflow in workflows.values() {
            for (what, host) in claims(&workflow.request) {
                if what != INGRESS_HOST {
                    continue;
                }
                let entry = owners
                    .entry(host)
                    .or_insert((workflow.started_unix, workflow.tenant.clone()));
                if workflow.started_unix < entry.0 {
                    *entry = (workflow.started_unix, workflow.tenant.clone());
                }
            }
        }
        owners.into_iter().map(|(h, (_, t))| (h, t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(class: &str, config: &[(&str, &str)]) -> proto::WorkflowResource {
        proto::WorkflowResource {
            name: "r".into(),
            class_type: class.into(),
            output_mapping: Default::default(),
            configurations: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn hosts_files_and_keys_are_claimed_in_a_normal_form() {
        let request = proto::SpawnWorkflowRequest {
            workflow_resources: vec![
                resource("http-ingress", &[("host", "Shop.Alice.Example")]),
                resource("file-log", &[("filename", "logs//orders.log")]),
                resource("redis", &[("url", "redis://r:6379"), ("key", "k")]),
                resource("http-egress", &[]),
            ],
            ..Default::default()
        };
        assert_eq!(
            claims(&request),
            vec![
                ("http-ingress host", "shop.alice.example".to_string()),
                ("file-log filename", "logs/orders.log".to_string()),
                ("redis key", "k on redis://r:6379".to_string()),
            ]
        );
    }
}
