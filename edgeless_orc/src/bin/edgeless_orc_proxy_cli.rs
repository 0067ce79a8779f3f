//! Reads the state an orchestrator mirrors to Redis (`[proxy] proxy_type =
//! "Redis"`) and writes migration intents for it to carry out.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use edgeless_orc::proxy::{INTENTS, MIGRATE_PREFIX, PERFORMANCE_PREFIX};
use redis::AsyncCommands;

/// Shows an orchestrator's state mirrored in Redis, and requests migrations.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Example: edgeless_orc_proxy_cli show node health"
)]
struct Args {
    /// The Redis server the orchestrator mirrors to.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show part of the mirrored state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Request something of the orchestrator.
    Intent {
        #[command(subcommand)]
        intent: Intent,
    },
    /// Print the recorded function execution times.
    Dump {
        /// Only `performance` for now.
        what: Dump,
    },
}

#[derive(Subcommand)]
enum Show {
    /// Function components and their instances.
    Functions,
    /// Resource components and their instances.
    Resources,
    /// Every component's logical id and physical instances.
    LogicalToPhysical,
    /// Node information.
    Node {
        /// What to show of every node.
        what: NodeInfo,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NodeInfo {
    Capabilities,
    ResourceProviders,
    Health,
    Instances,
}

#[derive(Subcommand)]
enum Intent {
    /// Move a component to one of the given nodes.
    #[command(after_help = "Example: edgeless_orc_proxy_cli intent migrate LOGICAL_ID NODE_ID")]
    Migrate {
        /// The component's logical id.
        logical_id: String,
        /// Candidate nodes, in order of preference.
        #[arg(required = true)]
        node_ids: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Dump {
    Performance,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn values(
    conn: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut keys: Vec<String> = conn.keys(pattern).await?;
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        if let Some(value) = conn.get::<_, Option<String>>(&key).await? {
            out.push((key, value));
        }
    }
    Ok(out)
}

fn instances_text(value: &serde_json::Value) -> String {
    value["instances"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| {
                    format!(
                        "{}/{}",
                        i["node_id"].as_str().unwrap_or(""),
                        i["function_id"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = redis::Client::open(args.redis_url.as_str())?;
    let connect = client.get_multiplexed_async_connection();
    let mut conn = tokio::time::timeout(std::time::Duration::from_secs(3), connect)
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach {} (timed out)", args.redis_url))?
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", args.redis_url))?;
    match args.command {
        Command::Show { what } => match what {
            Show::Functions | Show::Resources | Show::LogicalToPhysical => {
                let wanted = match what {
                    Show::Functions => Some("function"),
                    Show::Resources => Some("resource"),
                    _ => None,
                };
                for (key, value) in values(&mut conn, "instance:*").await? {
                    let value: serde_json::Value = serde_json::from_str(&value)?;
                    let lid = key.trim_start_matches("instance:");
                    let kind = value["kind"].as_str().unwrap_or("");
                    match wanted {
                        Some(wanted) if wanted != kind => {}
                        Some(_) => println!(
                            "{lid} {} [{}]",
                            value["class"].as_str().unwrap_or(""),
                            instances_text(&value)
                        ),
                        None => println!("{lid} -> {}", instances_text(&value)),
                    }
                }
            }
            Show::Node { what } => {
                let pattern = match what {
                    NodeInfo::Capabilities => "node:capabilities:*",
                    NodeInfo::Health => "node:health:*",
                    NodeInfo::ResourceProviders => "provider:*",
                    NodeInfo::Instances => "instance:*",
                };
                for (key, value) in values(&mut conn, pattern).await? {
                    match what {
                        NodeInfo::Instances => {
                            let value: serde_json::Value = serde_json::from_str(&value)?;
                            for instance in value["instances"].as_array().into_iter().flatten() {
                                println!(
                                    "{} {} {}",
                                    instance["node_id"].as_str().unwrap_or(""),
                                    instance["function_id"].as_str().unwrap_or(""),
                                    key.trim_start_matches("instance:")
                                );
                            }
                        }
                        _ => println!("{} {value}", key.rsplit(':').next().unwrap_or(&key)),
                    }
                }
            }
        },
        Command::Intent {
            intent:
                Intent::Migrate {
                    logical_id,
                    node_ids,
                },
        } => {
            let key = format!("{MIGRATE_PREFIX}{logical_id}");
            let _: () = conn.set(&key, node_ids.join(",")).await?;
            let _: () = conn.rpush(INTENTS, &key).await?;
            eprintln!("intent {key} queued");
        }
        Command::Dump {
            what: Dump::Performance,
        } => {
            let mut keys: Vec<String> = conn.keys(format!("{PERFORMANCE_PREFIX}*")).await?;
            keys.sort();
            println!("function_id,sample_seconds");
            for key in keys {
                let samples: Vec<String> = conn.lrange(&key, 0, -1).await?;
                for sample in samples {
                    println!("{},{sample}", key.trim_start_matches(PERFORMANCE_PREFIX));
                }
            }
        }
    }
    Ok(())
}
