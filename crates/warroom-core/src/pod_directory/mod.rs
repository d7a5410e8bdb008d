//! Links across systems: which pod a PostgreSQL client address (or a Kafka member's host)
//! belongs to. Pure data, fed by the pod watch; no ratatui, no I/O.
//!
//! A pod that was deleted keeps its address here, marked gone, until another pod takes the
//! address (or too many gone pods pile up): the session of a pod that just died still says
//! where it came from. An address shared by several live pods (host network: the node's
//! address) matches none of them, since warroom cannot tell which one it is.

mod sharded;

use std::net::IpAddr;

use serde::Serialize;

use crate::backends::kube::{Health, PodKey, PodRow};
use sharded::ShardedMap;

/// How many gone pods are remembered at most (the oldest are forgotten first).
const GONE_KEPT: usize = 4096;

/// One pod as the other panes need it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodRef {
    pub context: String,
    pub namespace: String,
    pub name: String,
    /// The workload people think in ("Deployment/api", "Job/migrate").
    pub owner: Option<String>,
    #[serde(skip)]
    pub status: String,
    #[serde(skip)]
    pub health: Health,
    /// A connection pooler (PgBouncer, ...): the sessions it holds are not its own.
    pub pooler: bool,
    /// Deleted: kept until its address is reused.
    pub gone: bool,
    /// Its labels (services find their pods by label selector).
    #[serde(skip)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The order in which pods went (to forget the oldest first).
    #[serde(skip)]
    gone_seq: u64,
}

impl PodRef {
    fn of(context: &str, p: &PodRow) -> PodRef {
        PodRef {
            context: context.to_string(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            owner: p.workload_label(),
            status: p.status.clone(),
            health: p.health,
            pooler: is_pooler(p),
            gone: false,
            labels: p.labels.clone(),
            gone_seq: 0,
        }
    }

    pub fn key(&self) -> PodKey {
        PodKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Crash-looping, failing, not ready for a bad reason.
    pub fn is_failing(&self) -> bool {
        !self.gone && self.health == Health::Bad
    }

    /// "api-7f9c-x2k (via pooler)", "migrate-abc (gone)": the pod column and details.
    pub fn label(&self, workload: bool) -> String {
        let base = if workload {
            self.owner.clone().unwrap_or_else(|| self.name.clone())
        } else {
            self.name.clone()
        };
        match (self.gone, self.pooler) {
            (true, _) => format!("{base} (gone)"),
            (false, true) => format!("{base} (via pooler)"),
            (false, false) => base,
        }
    }
}

/// PgBouncer and its kin, by container or workload name: what the pod runs is not in the
/// pod row, and these names are what every chart uses.
pub fn is_pooler(p: &PodRow) -> bool {
    const POOLERS: [&str; 6] = [
        "pgbouncer",
        "pooler",
        "odyssey",
        "pgcat",
        "supavisor",
        "pgpool",
    ];
    let owner = p.workload_label().unwrap_or_default();
    p.containers
        .iter()
        .map(String::as_str)
        .chain([owner.as_str(), p.name.as_str()])
        .any(|n| {
            let n = n.to_ascii_lowercase();
            POOLERS.iter().any(|k| n.contains(k))
        })
}

/// A client address as PostgreSQL or a broker prints it ("10.0.0.5", "10.0.0.5/32",
/// "::ffff:10.0.0.5", "/10.0.0.5" from Kafka's client host), as one address.
pub fn parse_addr(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_start_matches('/');
    let t = t.split('/').next().unwrap_or(t);
    let t = t.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = t.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// Pods by address, over every Kubernetes context. A clone is cheap and a change after it
/// copies little (sharded maps): the Pods pane hands a copy to the other panes per watch event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDirectory {
    by_ip: ShardedMap<IpAddr, Vec<PodRef>>,
    /// Where each known pod is, to move or mark it.
    by_pod: ShardedMap<(String, PodKey), IpAddr>,
    gone_seq: u64,
    gone_count: usize,
}

impl PodDirectory {
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// The pod behind `addr`: the one live pod there, else the pod that went last.
    pub fn find(&self, addr: &str) -> Option<&PodRef> {
        let at = self.by_ip.get(&parse_addr(addr)?)?;
        let mut live = at.iter().filter(|p| !p.gone);
        match (live.next(), live.next()) {
            (Some(one), None) => Some(one),
            (Some(_), Some(_)) => None,
            (None, _) => at.iter().max_by_key(|p| p.gone_seq),
        }
    }

    /// Every pod (live or gone) at `addr`.
    pub fn pods_at(&self, addr: &str) -> &[PodRef] {
        parse_addr(addr)
            .and_then(|ip| self.by_ip.get(&ip))
            .map_or(&[], Vec::as_slice)
    }

    /// A pod was added or changed. True when the directory changed.
    pub fn upsert(&mut self, context: &str, p: &PodRow) -> bool {
        let id = (context.to_string(), p.key());
        let Some(ip) = p.pod_ip.as_deref().and_then(parse_addr) else {
            return self.forget(&id);
        };
        let new = PodRef::of(context, p);
        if self.by_pod.get(&id) == Some(&ip)
            && let Some(old) = self
                .by_ip
                .get(&ip)
                .and_then(|at| at.iter().find(|r| r.context == context && r.key() == id.1))
            && *old == new
        {
            return false;
        }
        self.forget(&id);
        let at = self.by_ip.entry_or_default(ip);
        // The address is someone else's now: the gone pods that had it are forgotten.
        let (gone, mut live): (Vec<PodRef>, Vec<PodRef>) =
            std::mem::take(at).into_iter().partition(|r| r.gone);
        live.push(new);
        *at = live;
        self.gone_count -= gone.len();
        for r in gone {
            self.by_pod.remove(&(r.context.clone(), r.key()));
        }
        self.by_pod.insert(id, ip);
        true
    }

    /// A pod was deleted: its address stays, marked gone.
    pub fn deleted(&mut self, context: &str, key: &PodKey) -> bool {
        let id = (context.to_string(), key.clone());
        let Some(ip) = self.by_pod.get(&id).copied() else {
            return false;
        };
        self.gone_seq += 1;
        let seq = self.gone_seq;
        let mut changed = false;
        if let Some(r) = self.by_ip.get_mut(&ip).and_then(|at| {
            at.iter_mut()
                .find(|r| r.context == context && r.key() == *key)
        }) && !r.gone
        {
            r.gone = true;
            r.gone_seq = seq;
            self.gone_count += 1;
            changed = true;
        }
        self.trim_gone();
        changed
    }

    /// A full listing of `context` in `namespace` (None: every namespace): pods missing from
    /// it are gone, the others are upserted.
    pub fn listed(&mut self, context: &str, namespace: Option<&str>, pods: &[PodRow]) -> bool {
        let present: std::collections::HashSet<PodKey> = pods.iter().map(PodRow::key).collect();
        let missing: Vec<PodKey> = self
            .by_pod
            .keys()
            .filter(|(c, k)| {
                c == context && namespace.is_none_or(|ns| ns == k.namespace) && !present.contains(k)
            })
            .map(|(_, k)| k.clone())
            .collect();
        let mut changed = false;
        for k in &missing {
            changed |= self.deleted(context, k);
        }
        for p in pods {
            changed |= self.upsert(context, p);
        }
        changed
    }

    /// Every pod with an address (live and gone).
    pub fn pods(&self) -> impl Iterator<Item = &PodRef> {
        self.by_ip.values().flatten()
    }

    /// The live pods of `context` whose address is known (for pod -> sessions/groups).
    pub fn address_of(&self, context: &str, key: &PodKey) -> Option<IpAddr> {
        self.by_pod
            .get(&(context.to_string(), key.clone()))
            .copied()
    }

    /// Drop a pod's entry entirely (it has no address any more).
    fn forget(&mut self, id: &(String, PodKey)) -> bool {
        let Some(ip) = self.by_pod.remove(id) else {
            return false;
        };
        if let Some(at) = self.by_ip.get_mut(&ip) {
            let (gone, kept): (Vec<PodRef>, Vec<PodRef>) = std::mem::take(at)
                .into_iter()
                .partition(|r| r.context == id.0 && r.key() == id.1);
            self.gone_count -= gone.iter().filter(|r| r.gone).count();
            *at = kept;
            if at.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
        true
    }

    fn trim_gone(&mut self) {
        while self.gone_count > GONE_KEPT {
            let oldest = self
                .by_ip
                .values()
                .flatten()
                .filter(|r| r.gone)
                .min_by_key(|r| r.gone_seq)
                .map(|r| (r.context.clone(), r.key()));
            match oldest {
                Some(id) => {
                    self.forget(&id);
                }
                None => break,
            }
        }
    }
}

/// Pods for tests of the panes that link to them.
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures {
    use crate::backends::kube::{Health, Owner, PodRow};

    /// A Running pod of Deployment `{name up to the first '-'}` in namespace shop.
    pub fn running(name: &str, ip: Option<&str>) -> PodRow {
        let app = name.split('-').next().unwrap_or(name).to_string();
        PodRow {
            uid: format!("uid-{name}"),
            resource_version: "1".into(),
            pod_ip: ip.map(str::to_string),
            owner: Some(Owner {
                kind: "ReplicaSet".into(),
                name: format!("{name}-rs"),
            }),
            deployment: Some(app.clone()),
            containers: vec!["app".into()],
            labels: [("app".to_string(), app)].into(),
            ..PodRow::running("shop", name)
        }
    }

    /// A pod of Deployment `{name up to the first '-'}`, Running or crash-looping.
    pub fn pod(name: &str, ip: Option<&str>, crashing: bool) -> PodRow {
        PodRow {
            status: if crashing {
                "CrashLoopBackOff"
            } else {
                "Running"
            }
            .into(),
            health: if crashing { Health::Bad } else { Health::Ok },
            restarts: if crashing { 7 } else { 0 },
            ..running(name, ip)
        }
    }

    /// A directory of these pods in context "k".
    pub fn directory(pods: &[PodRow]) -> super::PodDirectory {
        let mut d = super::PodDirectory::default();
        d.listed("k", None, pods);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::running as pod;
    use super::*;

    #[test]
    fn addresses_are_read_in_every_shape_postgres_and_brokers_print() {
        let v4: IpAddr = "10.0.0.5".parse().expect("ip");
        for text in [
            "10.0.0.5",
            "10.0.0.5/32",
            "::ffff:10.0.0.5",
            "/10.0.0.5",
            " 10.0.0.5 ",
        ] {
            assert_eq!(parse_addr(text), Some(v4), "{text}");
        }
        assert_eq!(parse_addr("fd00::1/128"), "fd00::1".parse().ok());
        assert_eq!(parse_addr("local"), None);
        assert_eq!(parse_addr(""), None);
    }

    #[test]
    fn a_session_address_finds_its_pod_and_a_deleted_pod_stays_gone_until_reused() {
        let mut d = PodDirectory::default();
        assert!(d.listed(
            "k",
            None,
            &[pod("api-1", Some("10.0.0.5")), pod("web-1", None)]
        ));
        let found = d.find("10.0.0.5/32").expect("api-1");
        assert_eq!((found.name.as_str(), found.gone), ("api-1", false));
        assert_eq!(found.owner.as_deref(), Some("Deployment/api"));
        assert!(d.find("10.0.0.6").is_none());
        assert!(
            !d.upsert("k", &pod("api-1", Some("10.0.0.5"))),
            "no change, no news"
        );

        assert!(d.deleted("k", &pod("api-1", None).key()));
        let gone = d.find("10.0.0.5").expect("kept after delete");
        assert!(gone.gone);
        assert_eq!(gone.label(false), "api-1 (gone)");

        // Another pod takes the address: the gone one is forgotten.
        d.upsert("k", &pod("batch-9", Some("10.0.0.5")));
        assert_eq!(d.pods_at("10.0.0.5").len(), 1);
        assert_eq!(d.find("10.0.0.5").map(|p| p.name.as_str()), Some("batch-9"));
    }

    #[test]
    fn a_listing_marks_the_pods_it_no_longer_has_as_gone() {
        let mut d = PodDirectory::default();
        d.listed(
            "k",
            Some("shop"),
            &[pod("a-1", Some("10.0.0.1")), pod("b-1", Some("10.0.0.2"))],
        );
        d.listed("k", Some("shop"), &[pod("a-1", Some("10.0.0.1"))]);
        assert!(d.find("10.0.0.2").is_some_and(|p| p.gone));
        assert!(d.find("10.0.0.1").is_some_and(|p| !p.gone));
        // Another context's listing does not touch this one.
        d.listed("other", None, &[]);
        assert!(d.find("10.0.0.1").is_some_and(|p| !p.gone));
    }

    #[test]
    fn an_address_shared_by_live_pods_matches_none_of_them() {
        let mut d = PodDirectory::default();
        d.upsert("k", &pod("node-agent-1", Some("192.168.1.10")));
        d.upsert("k", &pod("node-exporter-1", Some("192.168.1.10")));
        assert!(d.find("192.168.1.10").is_none());
        assert_eq!(d.pods_at("192.168.1.10").len(), 2);
    }

    #[test]
    fn poolers_are_flagged_by_container_or_workload_name() {
        let mut p = pod("pgbouncer-0", Some("10.0.0.9"));
        assert!(is_pooler(&p));
        p.name = "db-proxy-0".into();
        p.deployment = Some("db-proxy".into());
        p.containers = vec!["PgBouncer".into()];
        assert!(is_pooler(&p));
        assert!(!is_pooler(&pod("api-1", None)));
        let mut d = PodDirectory::default();
        d.upsert("k", &p);
        assert_eq!(
            d.find("10.0.0.9").map(|r| r.label(true)),
            Some("Deployment/db-proxy (via pooler)".into())
        );
    }

    #[test]
    fn gone_pods_are_bounded() {
        let mut d = PodDirectory::default();
        for i in 0..(GONE_KEPT + 10) {
            let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            let p = pod(&format!("job-{i}"), Some(&ip));
            d.upsert("k", &p);
            d.deleted("k", &p.key());
        }
        assert_eq!(d.gone_count, GONE_KEPT);
        assert!(d.find("10.0.0.0").is_none(), "the oldest is forgotten");
        assert!(d.find("10.0.16.9").is_some_and(|p| p.gone));
    }
}
