//! `warroom kafka consumer-groups ...`: the same snapshot, planning and guard executor as
//! the TUI. Tables for people (sanitized), JSON for scripts.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::cli::{ConsumerGroupsCmd, KafkaCmd};
use warroom_core::backends::kafka::{
    ConsumerGroup, History, KafkaAdmin, KafkaSnapshot, KafkaSource, RealKafka, ResetSpec, ResetTo,
    history::status_without_history, plan::parse_time,
};
use warroom_core::config::Config;
use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget, KafkaResetTarget};
use warroom_core::guard::{ContextKind, GuardedAction};
use warroom_core::sanitize;
use warroom_tui::panes::kafka::view;
use warroom_tui::setup::{self, Options};

pub async fn run(config: &Config, opts: &Options, cmd: KafkaCmd) -> anyhow::Result<ExitCode> {
    let KafkaCmd::ConsumerGroups(cmd) = cmd;
    match cmd {
        ConsumerGroupsCmd::List { cluster, output } => {
            let kafka = client(config, &cluster)?;
            let snap = snapshot(&kafka, &cluster).await?;
            super::output::print(output, || list_json(&snap), || list_table(&snap))?;
            eprintln!("{}", snap.cost.debug_line());
            Ok(ExitCode::SUCCESS)
        }
        ConsumerGroupsCmd::Describe {
            cluster,
            group,
            output,
        } => {
            let (_, found) = read_group(config, &cluster, &group).await?;
            let g = found.map_err(anyhow::Error::msg)?;
            super::output::print(output, || group_json(&g), || describe_table(&g))?;
            Ok(ExitCode::SUCCESS)
        }
        ConsumerGroupsCmd::Delete {
            cluster,
            group,
            reason,
            confirm_context,
        } => {
            let (kafka, found) = read_group(config, &cluster, &group).await?;
            let g = match found {
                Ok(g) => g,
                Err(missing) => {
                    eprintln!("refused: {missing} (nothing was done)");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let action =
                GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget::of(&cluster, &g)));
            guarded(config, opts, kafka, action, reason, confirm_context).await
        }
        ConsumerGroupsCmd::ResetOffsets {
            cluster,
            group,
            topic,
            to_earliest,
            to_latest,
            to_datetime,
            to_offset,
            shift_by,
            execute,
            reason,
            confirm_context,
        } => {
            let to = match (to_earliest, to_latest, to_datetime, to_offset, shift_by) {
                (true, ..) => ResetTo::Earliest,
                (_, true, ..) => ResetTo::Latest,
                (_, _, Some(ts), ..) => {
                    ResetTo::Datetime(parse_time(&ts).map_err(anyhow::Error::msg)?)
                }
                (_, _, _, Some(n), _) if n >= 0 => ResetTo::Offset(n),
                (_, _, _, Some(n), _) => bail!("--to-offset {n}: an offset is >= 0"),
                (_, _, _, _, Some(n)) => ResetTo::ShiftBy(n),
                _ => bail!(
                    "say where to: --to-earliest, --to-latest, --to-datetime, --to-offset or --shift-by"
                ),
            };
            let kafka = client(config, &cluster)?;
            let plan = kafka
                .plan_reset(&group, &ResetSpec { to, topic })
                .await
                .with_context(|| format!("cannot preview the reset on {cluster}"))?;
            for line in plan.preview_lines() {
                println!("{}", sanitize::cell(&line, 400));
            }
            if !execute {
                eprintln!(
                    "preview only, nothing changed: add --execute --reason \"...\" to commit these offsets"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let Some(reason) = reason else {
                eprintln!("refused: --execute needs --reason \"why\" (nothing was done)");
                return Ok(ExitCode::FAILURE);
            };
            let action = GuardedAction::Kafka(KafkaAction::ResetOffsets(KafkaResetTarget::new(
                &cluster, plan, None,
            )));
            guarded(config, opts, kafka, action, reason, confirm_context).await
        }
    }
}

fn client(config: &Config, cluster: &str) -> anyhow::Result<RealKafka> {
    if config.kafka_context(cluster).is_none() {
        bail!(
            "unknown Kafka context {cluster:?}; configured: {}",
            config.contexts.listed(ContextKind::Kafka)
        );
    }
    setup::real_kafka(config)?
        .remove(cluster)
        .context("context has no client")
}

async fn snapshot(kafka: &RealKafka, cluster: &str) -> anyhow::Result<KafkaSnapshot> {
    kafka
        .snapshot()
        .await
        .with_context(|| format!("context {cluster}"))
}

/// The client of `cluster` and its group `group` as one snapshot reads it; `Err` inside when
/// the cluster answered but has no such group (describe fails, delete refuses).
async fn read_group(
    config: &Config,
    cluster: &str,
    group: &str,
) -> anyhow::Result<(RealKafka, Result<ConsumerGroup, String>)> {
    let kafka = client(config, cluster)?;
    let snap = snapshot(&kafka, cluster).await?;
    let found = snap
        .group(group)
        .cloned()
        .ok_or_else(|| format!("no consumer group {group:?} on {cluster}"));
    Ok((kafka, found))
}

/// Run `action` through the guard, with `kafka` as the client of the action's cluster.
async fn guarded(
    config: &Config,
    opts: &Options,
    kafka: RealKafka,
    action: GuardedAction,
    reason: String,
    confirm_context: Option<String>,
) -> anyhow::Result<ExitCode> {
    let executor = super::guarded::cli_executor(config, opts)?
        .with_kafka(action.context(), Arc::new(kafka) as Arc<dyn KafkaAdmin>);
    Ok(super::guarded::run_guarded(&executor, action, reason, confirm_context).await)
}

fn group_json(g: &ConsumerGroup) -> serde_json::Value {
    serde_json::json!({
        "group": g.id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "members": g.members,
        "total_lag": g.total_lag(),
        "max_lag": g.max_lag(),
        "status": status_without_history(g).label(),
        "error": g.error,
        "partitions": g.partitions.iter().map(|p| {
            let owner = g.owner(&p.topic, p.partition);
            serde_json::json!({
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "log_end": p.log_end,
                "lag": p.lag(),
                "owner_client_id": owner.map(|m| &m.client_id),
                "owner_host": owner.map(|m| &m.client_host),
            })
        }).collect::<Vec<_>>(),
    })
}

fn list_json(snap: &KafkaSnapshot) -> serde_json::Value {
    serde_json::json!({
        "taken_at": humantime::format_rfc3339_millis(snap.taken_at).to_string(),
        "groups": snap.groups.iter().map(group_json).collect::<Vec<_>>(),
        "cost": snap.cost,
    })
}

fn list_table(snap: &KafkaSnapshot) -> String {
    // One snapshot has no history: the status says only what membership and lag say.
    let history = History::new();
    let mut out = format!(
        "{:<40} {:<20} {:>7} {:>10} {:>10} {:<7} TOPICS\n",
        "GROUP", "STATE", "MEMBERS", "LAG", "MAX", "STATUS"
    );
    let mut groups: Vec<&ConsumerGroup> = snap.groups.iter().collect();
    groups.sort_by(|a, b| b.total_lag().cmp(&a.total_lag()).then(a.id.cmp(&b.id)));
    for g in groups {
        out.push_str(&format!(
            "{:<40} {:<20} {:>7} {:>10} {:>10} {:<7} {}\n",
            sanitize::cell(&g.id, 40),
            sanitize::cell(&g.state, 20),
            g.members.len(),
            if g.error.is_some() {
                "?".to_string()
            } else {
                g.total_lag().to_string()
            },
            g.max_lag(),
            history.status(g).label(),
            sanitize::cell(&g.topics().join(","), 80)
        ));
    }
    out
}

fn describe_table(g: &ConsumerGroup) -> String {
    let mut out = format!(
        "group {} · {} · {} member(s) · lag {} (max {})\n",
        sanitize::cell(&g.id, 80),
        sanitize::cell(&g.state, 20),
        g.members.len(),
        g.total_lag(),
        g.max_lag()
    );
    out.push_str(&format!(
        "{:<30} {:>5} {:>12} {:>12} {:>10}  {}\n",
        "TOPIC", "PART", "COMMITTED", "LOG END", "LAG", "OWNER"
    ));
    for p in &g.partitions {
        let owner = view::owner_text(g, &p.topic, p.partition, (40, 40));
        let [committed, end, lag] = view::offset_cells(p);
        let topic = sanitize::cell(&p.topic, 30);
        out.push_str(&format!(
            "{topic:<30} {:>5} {committed:>12} {end:>12} {lag:>10}  {owner}\n",
            p.partition,
        ));
    }
    out
}
