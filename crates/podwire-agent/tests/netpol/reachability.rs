//! Upstream's `Reachability` (`test/e2e/network/netpol/reachability.go`): the expected
//! connectivity of every (client, server) pair of the model, written as upstream writes it: a
//! default for every cell, then exceptions by pod or by namespace. Loopback cells are never
//! compared (upstream's `ignoreLoopback`: what a policy does to a pod talking to itself is
//! left to implementations, kubernetes/kubernetes#95879).

use crate::model::{POD_COUNT, PodId};

/// Which pods an exception is about: a namespace, a pod, or any (upstream's `Peer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Peer {
    pub namespace: Option<&'static str>,
    pub pod: Option<&'static str>,
}

impl Peer {
    /// Every pod.
    pub fn any() -> Peer {
        Peer::default()
    }

    /// Every pod of `namespace`.
    pub fn ns(namespace: &'static str) -> Peer {
        Peer {
            namespace: Some(namespace),
            pod: None,
        }
    }

    /// The pod `name` of `namespace`.
    pub fn pod(namespace: &'static str, name: &'static str) -> Peer {
        Peer {
            namespace: Some(namespace),
            pod: Some(name),
        }
    }

    fn matches(&self, pod: PodId) -> bool {
        self.namespace.is_none_or(|n| n == pod.namespace())
            && self.pod.is_none_or(|n| n == pod.name())
    }
}

/// Whether each client reaches each server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachability {
    cells: [[bool; POD_COUNT]; POD_COUNT],
}

impl Reachability {
    /// Every pair `connected` (upstream's `NewReachability(pods, connected)`).
    pub fn new(connected: bool) -> Reachability {
        Reachability {
            cells: [[connected; POD_COUNT]; POD_COUNT],
        }
    }

    /// The matrix `f` gives.
    pub fn from_fn(f: impl Fn(PodId, PodId) -> bool) -> Reachability {
        let mut r = Reachability::new(false);
        for from in PodId::all() {
            for to in PodId::all() {
                r.cells[from.0][to.0] = f(from, to);
            }
        }
        r
    }

    /// Client `from` (`"x/a"`) reaches server `to` or not (`Expect`).
    pub fn expect(mut self, from: &str, to: &str, connected: bool) -> Reachability {
        self.cells[PodId::named(from).0][PodId::named(to).0] = connected;
        self
    }

    /// Every pod `from` matches reaches every pod `to` matches, or not (`ExpectPeer`).
    pub fn expect_peer(mut self, from: Peer, to: Peer, connected: bool) -> Reachability {
        for f in PodId::all().filter(|p| from.matches(*p)) {
            for t in PodId::all().filter(|p| to.matches(*p)) {
                self.cells[f.0][t.0] = connected;
            }
        }
        self
    }

    /// Every pod reaches `to`, or none does (`ExpectAllIngress`).
    pub fn expect_all_ingress(self, to: &str, connected: bool) -> Reachability {
        let to = PodId::named(to);
        self.expect_peer(Peer::any(), Peer::pod(to.namespace(), to.name()), connected)
    }

    /// `from` reaches every pod, or none (`ExpectAllEgress`).
    pub fn expect_all_egress(self, from: &str, connected: bool) -> Reachability {
        let from = PodId::named(from);
        self.expect_peer(
            Peer::pod(from.namespace(), from.name()),
            Peer::any(),
            connected,
        )
    }

    /// Whether `from` reaches `to`.
    pub fn get(&self, from: PodId, to: PodId) -> bool {
        self.cells[from.0][to.0]
    }

    /// The cells that count: every pair but loopback.
    pub fn pairs() -> impl Iterator<Item = (PodId, PodId)> {
        PodId::all().flat_map(|f| PodId::all().filter(move |t| *t != f).map(move |t| (f, t)))
    }

    /// The matrix as upstream prints it: clients down, servers across, `.` connected, `X`
    /// not, `-` loopback (not compared).
    pub fn table(&self) -> String {
        let mut out = String::from("-");
        for to in PodId::all() {
            out.push_str(&format!("\t{to}"));
        }
        for from in PodId::all() {
            out.push_str(&format!("\n{from}"));
            for to in PodId::all() {
                let mark = match (from == to, self.get(from, to)) {
                    (true, _) => '-',
                    (false, true) => '.',
                    (false, false) => 'X',
                };
                out.push('\t');
                out.push(mark);
            }
        }
        out
    }
}
