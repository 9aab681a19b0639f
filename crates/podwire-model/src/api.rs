//! The views the agent's local API serves (JSON over HTTP/1.1 on its unix socket), which the
//! CLI prints and the metrics endpoint exports.
//!
//! Views are snapshots: plain values copied out of the data plane, with counters as totals
//! since the agent started. Derived figures (vectors per call, nanoseconds per packet) are
//! left to the reader so that a view never holds two numbers that could disagree.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Writes an enum as the word it travels as in JSON, so that tables and JSON agree.
macro_rules! display_as_serde_words {
    ($type:ty { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(<$type>::$variant => $word,)+
                })
            }
        }
    };
}

/// One data-plane interface and its counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceView {
    /// The data plane's index of the interface.
    pub index: u32,
    /// podwire's name for it (`uplink0`, or the pod's name for a pod's tap).
    pub name: String,
    /// The driver it really got: `tap`, `memif`, `host`, `af-packet`; for a `kind = "af-xdp"`
    /// interface `af-xdp native` (or `af-xdp native zero-copy`), `af-xdp generic`, or
    /// `af-packet (af-xdp refused)` when the kernel or the driver refused AF_XDP.
    pub kind: String,
    /// The data plane's MAC address on it, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The largest IP packet it sends, in bytes.
    pub mtu: u32,
    /// The work its device finishes for packets sent on it: `csum` (TCP/UDP checksums),
    /// `tso4`, `tso6` (TCP segmentation), `uso` (UDP segmentation). Empty: every packet
    /// leaves complete, cut to the MTU.
    #[serde(default)]
    pub offloads: Vec<String>,
    /// Whether it passes traffic.
    pub up: bool,
    /// The switch's own addresses on it, as `address/length`.
    pub addresses: Vec<String>,
    /// What it is wired to: the kernel interface and its network namespace.
    pub peer: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets lost on the interface (ring full, driver errors).
    pub drops: u64,
}

/// How much work one graph node did on one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRuntimeView {
    /// The worker thread's number.
    pub worker: u32,
    /// The graph node's name (`ip4-lookup`).
    pub node: String,
    /// Times the node ran.
    pub calls: u64,
    /// Vectors it processed.
    pub vectors: u64,
    /// Packets it processed.
    pub packets: u64,
    /// Time spent in it, in nanoseconds.
    pub nanos: u64,
}

/// A count of packets a node dropped or punted for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    /// The worker thread's number.
    pub worker: u32,
    /// The graph node that counted them.
    pub node: String,
    /// A short stable identifier of the reason (`ttl-expired`), used as a metrics label.
    pub reason: String,
    /// A sentence for people (`IP TTL expired`).
    pub description: String,
    /// Packets counted.
    pub count: u64,
}

/// One worker's session table (connection tracking for Services and masquerading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTableView {
    /// The worker thread's number.
    pub worker: u32,
    /// Sessions tracked now.
    pub active: u64,
    /// The most it holds (`services.sessions_per_worker`).
    pub capacity: u64,
    /// Sessions made since the agent started.
    pub created: u64,
    /// Sessions that timed out.
    pub expired: u64,
    /// Unanswered sessions evicted to make room for new ones.
    pub evicted: u64,
    /// New flows refused because the table was full of answered sessions.
    pub refused_full: u64,
    /// UDP sessions cleared because their endpoint stopped serving.
    pub cleared: u64,
}

/// What a route does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAction {
    /// Sent to a next hop through an interface.
    Forward,
    /// Addressed to the switch itself.
    Local,
    /// Silently discarded.
    Drop,
    /// Discarded with an ICMP unreachable answer.
    Unreachable,
    /// On the subnet of an interface: resolved to a neighbor directly.
    Connected,
}

/// One entry of the forwarding table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// The prefix it matches, `address/length`.
    pub prefix: String,
    /// What it does.
    pub action: RouteAction,
    /// The next hop, for forwarded routes that have a gateway.
    pub via: Option<String>,
    /// The interface packets leave on.
    pub interface: Option<String>,
}

/// How sure the data plane is of a neighbor's MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeighborState {
    /// Configured (a local pod, a static entry); never expires.
    Static,
    /// Learned recently.
    Reachable,
    /// Learned a while ago; refreshed on use.
    Stale,
    /// Asked for (ARP / neighbor solicitation), no answer yet.
    Incomplete,
}

/// One entry of the neighbor (ARP / ND) table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborView {
    /// The interface the neighbor is on.
    pub interface: String,
    /// Its IP address.
    pub ip: String,
    /// Its MAC address, empty while incomplete.
    pub mac: String,
    /// How sure the entry is.
    pub state: NeighborState,
    /// Milliseconds since the entry was last confirmed; `None` for static entries.
    pub age_ms: Option<u64>,
}

display_as_serde_words!(RouteAction {
    Forward => "forward",
    Local => "local",
    Drop => "drop",
    Unreachable => "unreachable",
    Connected => "connected",
});

display_as_serde_words!(NeighborState {
    Static => "static",
    Reachable => "reachable",
    Stale => "stale",
    Incomplete => "incomplete",
});

/// The packets captured by `trace add`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceView {
    /// In the order they were received.
    pub packets: Vec<TracedPacket>,
}

/// One traced packet and the nodes it went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedPacket {
    /// Its number in the trace buffer.
    pub id: u32,
    /// The worker that received it.
    pub worker: u32,
    /// The interface it arrived on.
    pub rx_interface: String,
    /// When it arrived, on the data plane's clock, in nanoseconds.
    pub timestamp_ns: u64,
    /// The nodes it went through, in order.
    pub steps: Vec<TraceStep>,
}

/// What one node did with a traced packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// The graph node.
    pub node: String,
    /// What it saw and decided, for people; may span lines.
    pub detail: String,
}

/// Whether the agent is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything runs.
    Ok,
    /// Still setting up: the data plane is not forwarding yet.
    Starting,
    /// Running, but a worker or an interface is failing.
    Degraded,
}

display_as_serde_words!(HealthStatus {
    Ok => "ok",
    Starting => "starting",
    Degraded => "degraded",
});

/// The agent's health, for `/healthz` and `/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The overall verdict.
    pub status: HealthStatus,
    /// Worker threads running.
    pub workers: u32,
    /// Seconds since the agent started.
    pub uptime_s: u64,
}

/// `GET /v1/transactions`: one batch of changes the agent made to the data plane, what
/// started it and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionView {
    /// Its number: 1 for the first since the agent started, then one more for each.
    pub id: u64,
    /// When it started, in milliseconds since the Unix epoch (UTC).
    pub started_unix_ms: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// What started it: `agent start`, `apply: 3 objects`, `etcd: 2 events`, ….
    pub trigger: String,
    /// What it did to each object, where known, in the order it did it.
    pub objects: Vec<TransactionObject>,
    /// What it did besides, for people: `routes: +2 -0`, `services re-rendered: 3`.
    pub notes: Vec<String>,
    /// `ok`, or `failed: ` and why.
    pub outcome: String,
}

/// What one transaction did to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionObject {
    /// The object: `Service shop/web`, `Namespace shop`.
    pub key: String,
    /// What changed in the store: `created`, `configured`, `unchanged`, `deleted`.
    pub change: String,
    /// Its status after the transaction: `applied`, `pending: …`, `failed: …`, ….
    pub status: String,
}

/// The body of every API answer that is not a success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for people.
    pub error: String,
    /// What kind of failure an attachment request met (attachment requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::attach::FailureKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word serde writes for a unit variant.
    fn serde_word<T: Serialize>(value: T) -> String {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::String(word) => word,
            other => panic!("{other} is not a word"),
        }
    }

    #[test]
    fn display_matches_the_json_words() {
        use NeighborState::*;
        use RouteAction::*;
        for action in [Forward, Local, Drop, Unreachable, Connected] {
            assert_eq!(action.to_string(), serde_word(action));
        }
        for state in [Static, Reachable, Stale, Incomplete] {
            assert_eq!(state.to_string(), serde_word(state));
        }
        for status in [
            HealthStatus::Ok,
            HealthStatus::Starting,
            HealthStatus::Degraded,
        ] {
            assert_eq!(status.to_string(), serde_word(status));
        }
    }

    #[test]
    fn enums_travel_as_the_documented_lowercase_words() {
        let route = RouteView {
            prefix: "10.9.0.0/16".into(),
            action: RouteAction::Unreachable,
            via: None,
            interface: Some("uplink0".into()),
        };
        let json = serde_json::to_value(&route).unwrap();
        assert_eq!(json["action"], "unreachable");
        assert_eq!(json["via"], serde_json::Value::Null);

        let health: Health =
            serde_json::from_str(r#"{"status":"degraded","workers":2,"uptime_s":5}"#).unwrap();
        assert_eq!(health.status, HealthStatus::Degraded);

        let neighbor = NeighborView {
            interface: "uplink0".into(),
            ip: "192.168.50.2".into(),
            mac: String::new(),
            state: NeighborState::Incomplete,
            age_ms: Some(12),
        };
        let json = serde_json::to_string(&neighbor).unwrap();
        assert!(json.contains(r#""state":"incomplete""#), "{json}");
        assert_eq!(
            serde_json::from_str::<NeighborView>(&json).unwrap(),
            neighbor
        );
    }
}
