//! Workflow names: unique among a tenant's running workflows unless a start
//! allows a duplicate. A name is claimed from the check until the workflow is
//! recorded, so two starts of the same name at once cannot both pass.

use std::collections::HashSet;
use std::sync::Mutex;

use edgeless_api::proto;

use super::{Controller, ControllerError, lock};

/// A name being started; released when dropped.
pub(super) struct NameClaim<'a> {
    starting: &'a Mutex<HashSet<(String, String)>>,
    name: (String, String),
}

impl Drop for NameClaim<'_> {
    fn drop(&mut self) {
        lock(self.starting).remove(&self.name);
    }
}

impl Controller {
    /// Claims the request's name for a start, unless it has none or allows
    /// duplicates; refuses a name a running (or starting) workflow has.
    pub(super) fn claim_name(
        &self,
        request: &proto::SpawnWorkflowRequest,
        tenant: &str,
    ) -> Result<Option<NameClaim<'_>>, ControllerError> {
        let name = &request.name;
        if name.is_empty() || request.allow_duplicate {
            return Ok(None);
        }
        let running = lock(&self.workflows)
            .iter()
            .find(|(_, w)| w.request.name == *name && w.tenant == tenant)
            .map(|(id, _)| *id);
        let mut starting = lock(&self.starting_names);
        if let Some(id) = running {
            return Err(ControllerError::NameTaken {
                name: name.clone(),
                holder: id.to_string(),
            });
        }
        let key = (tenant.to_string(), name.clone());
        if !starting.insert(key.clone()) {
            return Err(ControllerError::NameTaken {
                name: name.clone(),
                holder: "a workflow being started".into(),
            });
        }
        Ok(Some(NameClaim {
            starting: &self.starting_names,
            name: key,
        }))
    }
}
