//! `edgeless_cli version`: this CLI's version and the controller's.

use edgeless_api::proto;
use serde::Serialize;

use super::{Output, Session, controller, print_data};
use crate::error::CliError;
use crate::output::out;

#[derive(Serialize)]
struct Versions {
    client: Version,
    controller: Option<ControllerVersion>,
}

#[derive(Serialize)]
struct Version {
    version: String,
    api_version: u32,
}

#[derive(Serialize)]
struct ControllerVersion {
    url: String,
    version: String,
    api_version: u32,
}

/// Prints both versions; the controller's error (after the client's
/// version) when it cannot be asked.
pub async fn run(session: &Session) -> Result<(), CliError> {
    let client = Version {
        version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: edgeless_api::API_VERSION,
    };
    let url = session.cluster.controller_url.clone();
    let answer = match controller(session) {
        Ok(mut controller) => controller
            .version(proto::Empty {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| CliError::from_status(&url, s)),
        Err(error) => Err(error),
    };
    let (controller, error) = match answer {
        Ok(info) => (
            Some(ControllerVersion {
                url,
                version: info.version,
                api_version: info.api_version,
            }),
            None,
        ),
        Err(error) => (None, Some(error)),
    };
    let versions = Versions { client, controller };
    match session.output {
        Output::Json | Output::Yaml => print_data(&versions, session.output)?,
        Output::Text | Output::Wide => {
            out!(
                "client      {} (API {})",
                versions.client.version,
                versions.client.api_version
            );
            if let Some(c) = &versions.controller {
                out!(
                    "controller  {} (API {}) at {}",
                    c.version,
                    c.api_version,
                    c.url
                );
                if c.api_version != versions.client.api_version {
                    eprintln!(
                        "warning: the controller speaks API {}, this CLI API {}",
                        c.api_version, versions.client.api_version
                    );
                }
            }
        }
    }
    match error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
