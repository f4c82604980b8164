//! The network layer's side of cluster mode: it turns what the engine's workers want into
//! claims on the shared table, and what the cluster reports (claimed jobs, offers by other
//! nodes, work packets relayed for this node's clients, heartbeats) into engine calls.
//!
//! One claim per function is in flight at a time. A claim that comes back short marks its
//! function dry: nothing more is asked for it until an offer of that function is heard or the
//! next heartbeat (which also covers jobs released from a dead node and epoch jobs come due,
//! neither of which is announced to a dry function otherwise). Nothing here touches the
//! database: the claims run on the store's cluster thread (`gearbox_store::Cluster`).

use std::rc::Rc;

use bytes::Bytes;
use gearbox_store::{ClusterEvent, Heartbeat};
use rustc_hash::FxHashSet;
use tokio::sync::mpsc;
use tracing::warn;

use super::Shared;
use crate::engine::{ClusterView, NodeView};

/// How a server takes part in a cluster: its name, where its claims go and whence its
/// events come.
pub struct ClusterLink {
    /// This node's name.
    pub node: String,
    /// Ask for up to N runnable jobs of a function.
    pub claim: Box<dyn Fn(Bytes, u32)>,
    /// The cluster's reports.
    pub events: mpsc::UnboundedReceiver<ClusterEvent>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink").finish_non_exhaustive()
    }
}

/// Claims in flight and functions found dry.
#[derive(Default)]
struct Claims {
    in_flight: FxHashSet<Bytes>,
    dry: FxHashSet<Bytes>,
}

impl Claims {
    /// Claim for each wanted function not already being claimed for and not dry.
    fn ask(&mut self, link: &ClusterLink, wanted: Vec<(Bytes, u32)>) {
        for (function, count) in wanted {
            if count == 0 || self.dry.contains(&function) || self.in_flight.contains(&function) {
                continue;
            }
            self.in_flight.insert(function.clone());
            (link.claim)(function, count);
        }
    }
}

/// Drive the cluster for the server in `shared` until the link closes.
pub(super) async fn cluster_loop(shared: Rc<Shared>, mut link: ClusterLink) {
    let mut claims = Claims::default();
    let mut failing = false;
    loop {
        tokio::select! {
            event = link.events.recv() => {
                let Some(event) = event else { return };
                match event {
                    ClusterEvent::Claimed { function, asked, jobs } => {
                        claims.in_flight.remove(&function);
                        match jobs {
                            Ok(jobs) => {
                                let full = jobs.len() >= asked as usize;
                                shared.with_engine(|engine, out, now| {
                                    engine.claimed(jobs, now, out);
                                });
                                if full {
                                    // There may be more: claim again while workers want them.
                                    let demand = shared.engine.borrow().demand(&function);
                                    claims.ask(&link, vec![(function, demand)]);
                                } else {
                                    claims.dry.insert(function);
                                }
                            }
                            Err(e) => warn!(error = %e, "claiming jobs from the cluster failed"),
                        }
                    }
                    ClusterEvent::Relayed(packets) => {
                        shared.with_engine(|engine, out, now| engine.relayed(packets, now, out));
                    }
                    ClusterEvent::Offered(function) => {
                        claims.dry.remove(&function);
                        let demand = shared.engine.borrow().demand(&function);
                        claims.ask(&link, vec![(function, demand)]);
                    }
                    ClusterEvent::Heartbeat(nodes) => {
                        match nodes {
                            Ok(beat) => {
                                let read_ms = beat.read_at.elapsed().as_millis();
                                let read_at = shared
                                    .clock
                                    .now()
                                    .saturating_sub(u64::try_from(read_ms).unwrap_or(u64::MAX));
                                let view = view(&link.node, beat, read_at);
                                if failing {
                                    tracing::info!("the cluster's heartbeat works again");
                                    failing = false;
                                }
                                shared.with_engine(|engine, _, now| {
                                    engine.set_cluster_view(view, now);
                                });
                            }
                            Err(e) => {
                                // Whoever holds the lock now, it is not safe to assume it
                                // is still this node.
                                shared.engine.borrow_mut().set_leader(false);
                                if !failing {
                                    warn!(error = %e, "the cluster's heartbeat failed: this node's jobs go to other nodes once its lease runs out");
                                    failing = true;
                                }
                            }
                        }
                        claims.dry.clear();
                        let demands = shared.engine.borrow().demands();
                        claims.ask(&link, demands);
                    }
                }
            }
            () = shared.cluster_wake.notified() => {}
        }
        let wanted = shared.engine.borrow_mut().take_wanted();
        claims.ask(&link, wanted);
    }
}

/// What a heartbeat tells the engine: the nodes (this one marked if it leads), whether this
/// node leads, and what waits in the table by function and priority.
fn view(node: &str, beat: Heartbeat, read_at: u64) -> ClusterView {
    let nodes = beat
        .nodes
        .into_iter()
        .map(|n| NodeView {
            leader: beat.leader && n.node == node,
            node: n.node,
            heartbeat_age: n.heartbeat_age,
            uptime: n.uptime,
        })
        .collect();
    let by_function = |counts: Vec<(Bytes, u8, u64)>| {
        let mut by: std::collections::BTreeMap<Bytes, [u64; 3]> = Default::default();
        for (function, priority, count) in counts {
            by.entry(function).or_default()[usize::from(priority.min(2))] += count;
        }
        by.into_iter().collect()
    };
    ClusterView {
        nodes,
        leader: beat.leader,
        waiting: by_function(beat.waiting),
        held: by_function(beat.held),
        records: beat.records,
        synced: beat.synced,
        read_at,
    }
}
