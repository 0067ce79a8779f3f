//! The controller's web dashboard in a real browser (headless Chromium)
//! against a running cluster: nodes, a started workflow and its functions
//! appear; a stopped workflow goes; the page's data endpoint counts the
//! events each function handles.

use std::time::Duration;

use edgeless_tests::browser::{rendered, require_chromium};
use edgeless_tests::{Cluster, build_function, curl, example};

/// The rows of the dashboard's table `id` (its `<tbody>`).
fn table<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id} in\n{page}"));
    let rest = &page[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

/// Events handled by `component` of `workflow`, as /api/overview says.
fn handled(overview: &serde_json::Value, workflow: &str, component: &str) -> u64 {
    overview["workflows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["id"] == workflow)
        .flat_map(|w| w["components"].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == component)
        .and_then(|c| c["handled"].as_u64())
        .unwrap_or(0)
}

#[test]
#[cfg_attr(skip_chromium, ignore = "EDGELESS_TEST_SKIP=chromium")]
fn the_dashboard_shows_nodes_and_a_workflow_until_it_stops() {
    require_chromium();
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::builder().nodes(2).start();
    let dashboard = cluster.controller.listening()["dashboard_url"].clone();
    let page_url = format!("{dashboard}/");

    let before = rendered(&page_url);
    assert!(
        table(&before, "workflows").contains("no workflows"),
        "{before}"
    );
    let nodes = table(&before, "nodes");
    for id in &cluster.node_ids {
        assert!(
            nodes.contains(&format!("data-node=\"{id}\"")),
            "{id} in\n{nodes}"
        );
    }

    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    let mut page = String::new();
    cluster.wait_for(Duration::from_secs(20), "the workflow on the page", |_| {
        page = rendered(&page_url);
        table(&page, "events").contains("workflow-started")
    });
    let workflows = table(&page, "workflows");
    for component in ["pinger", "ponger"] {
        assert!(
            workflows.contains(&format!(
                "data-workflow=\"{workflow}\" data-component=\"{component}\""
            )),
            "{component} in\n{workflows}"
        );
    }
    assert!(workflows.contains("ping_pong"), "{workflows}");
    assert!(
        workflows.contains("<span class=\"state running\">running</span>"),
        "{workflows}"
    );
    let ponger_node = &cluster.nodes_of(&workflow, "ponger")[0];
    assert!(workflows.contains(&ponger_node[..8]), "{workflows}");

    // The counts the page turns into rates grow as events flow.
    let overview = || {
        let (body, code) = curl(&[&format!("{dashboard}/api/overview")]);
        assert_eq!(code, "200", "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let first = handled(&overview(), &workflow, "ponger");
    cluster.wait_for(Duration::from_secs(20), "pong's count to grow", |_| {
        handled(&overview(), &workflow, "ponger") > first.max(1)
    });

    cluster.cli_ok(&["workflow", "stop", &workflow]);
    cluster.wait_for(
        Duration::from_secs(20),
        "the workflow gone from the page",
        |_| {
            page = rendered(&page_url);
            !table(&page, "workflows").contains(&workflow)
        },
    );
    assert!(
        table(&page, "events").contains("workflow-stopped"),
        "{page}"
    );
}
