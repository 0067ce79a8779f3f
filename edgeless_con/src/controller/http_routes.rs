//! Where HTTP requests for each host may go, for the ε-BALs that balance
//! them: every running workflow's `http-ingress` resources, by their
//! `host`, with the ingress URL of each node that runs one of their
//! instances, in whatever domain. Worked out every second while any domain
//! has a balancer; handed to those domains with their registration.

use std::collections::BTreeMap;

use edgeless_api::proto;

use super::claims::{INGRESS, ingress_host};
use super::{Controller, lock};

impl Controller {
    /// The routes as last worked out.
    pub fn http_routes(&self) -> Vec<proto::HttpRoute> {
        lock(&self.http_routes).clone()
    }

    /// Works the routes out again from the domains' views.
    pub(crate) async fn refresh_http_routes(&self) {
        let balanced = lock(&self.domains)
            .values()
            .any(|d| !d.balancer_url.is_empty());
        if !balanced {
            lock(&self.http_routes).clear();
            return;
        }
        // (host, domain, logical id) of every ingress of a running workflow
        // of the tenant that owns the host.
        let owners = self.host_owners();
        let ingresses: Vec<(String, String, String)> = lock(&self.workflows)
            .values()
            .filter(|w| w.state == super::State::Running)
            .flat_map(|w| {
                w.request
                    .workflow_resources
                    .iter()
                    .filter(|r| r.class_type == INGRESS)
                    .filter_map(|r| {
                        let host = ingress_host(r)?;
                        if owners.get(&host) != Some(&w.tenant) {
                            return None;
                        }
                        let component = w.components.iter().find(|c| c.name == r.name)?;
                        Some((host, component.domain_id.clone(), component.lid.to_string()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let domains: Vec<String> = ingresses.iter().map(|(_, d, _)| d.clone()).collect();
        let views = self.domain_views(domains).await;
        let mut routes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (host, domain, lid) in ingresses {
            let Some(Ok(view)) = views.get(&domain) else {
                continue;
            };
            let nodes = view
                .components
                .iter()
                .filter(|c| c.logical_id == lid)
                .flat_map(|c| &c.instances)
                .map(|i| i.node_id.as_str());
            for node in nodes {
                let url = view
                    .nodes
                    .iter()
                    .filter(|n| n.node_id == node)
                    .flat_map(|n| &n.resource_providers)
                    .find(|p| p.class_type == INGRESS && !p.url.is_empty())
                    .map(|p| p.url.clone());
                if let Some(url) = url {
                    let urls = routes.entry(host.clone()).or_default();
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
            }
        }
        *lock(&self.http_routes) = routes
            .into_iter()
            .map(|(host, urls)| proto::HttpRoute { host, urls })
            .collect();
    }
}
