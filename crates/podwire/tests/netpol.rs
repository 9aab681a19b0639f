//! End-to-end: Kubernetes NetworkPolicies enforced by a running `podwire daemon`, with real
//! TCP and UDP connections through the switch between pods that the real CNI plugin attached
//! in Kubernetes namespaces `x` and `y` (the upstream netpol model: pods `a` and `b` in each,
//! labelled `pod: NAME`, namespaces labelled `ns: NAME`). Namespaces, Pods, Services,
//! NetworkPolicies and ClusterNetworkPolicies (the Admin and Baseline tiers) are applied with
//! `podwire ctl apply` as ordinary Kubernetes YAML.
//!
//! Each phase of a test states the cells (client, server) it expects blocked, as upstream's
//! reachability matrices do; every other cell must connect. A blocked TCP connection must
//! time out (a policy drops the SYN), a blocked UDP request must get no answer, and
//! `podwire ctl explain` must agree with the traffic on every cell. Each test starts its own
//! daemon with its own address block and Service CIDR, so the tests run in parallel.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use podwire_model::policy::{Explanation, Tier, Verdict};
use support::services::*;
use support::*;

/// The port every pod serves, TCP and UDP (its container port `http` for TCP).
const PORT: u16 = manifest::BACKEND_PORT;

/// How long a TCP probe waits to connect before it calls the server blocked: a policy drops
/// the SYN silently, so a blocked connection times out. One second is one SYN (Linux sends
/// it again after a second); a cell expected open that times out is probed again patiently
/// before it counts as blocked, since its first SYN may meet a cold neighbor cache.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The protocols every cell is probed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    const ALL: [Proto; 2] = [Proto::Tcp, Proto::Udp];

    /// As `ctl explain --port` takes it.
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    /// The server answered and saw the client's own address.
    Open,
    /// The connection timed out, or the request got no answer.
    Blocked,
    /// Anything else: refused, reset, answered by the wrong server... (a bug either way).
    Broken(String),
}

impl Reach {
    /// One character for the matrices: `.` open, `X` blocked, `!` broken.
    fn mark(&self) -> char {
        match self {
            Reach::Open => '.',
            Reach::Blocked => 'X',
            Reach::Broken(_) => '!',
        }
    }
}

/// Whether `e` is what a silently dropped packet looks like to a client.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// One new connection (TCP) or request (UDP, from a fresh socket) from `client` to `to`,
/// where `server` must answer. Impatient: a TCP connect gives up after [`PROBE_TIMEOUT`].
fn probe(client: &Pod, to: SocketAddr, server: &str, proto: Proto, patient: bool) -> Reach {
    let answer = match proto {
        Proto::Tcp => {
            let connected = if patient {
                TcpConn::connect(Some(&client.ns), to)
            } else {
                TcpConn::connect_within(Some(&client.ns), to, PROBE_TIMEOUT)
            };
            match connected {
                Err(e) if timed_out(&e) => return Reach::Blocked,
                // Once connected, a lost answer is a bug, not a policy.
                Err(e) => Err(e),
                Ok(mut conn) => conn
                    .ask()
                    .map_err(|e| io::Error::other(format!("connected, then: {e}"))),
            }
        }
        Proto::Udp => match udp_ask(Some(&client.ns), to) {
            Err(e) if timed_out(&e) => return Reach::Blocked,
            other => other,
        },
    };
    match answer {
        Ok(answer) if answer.backend == server && answer.source.ip() == client.ip => Reach::Open,
        Ok(answer) => Reach::Broken(format!(
            "answered by {answer}, expected {server} seeing the client's {}",
            client.ip
        )),
        Err(e) => Reach::Broken(format!("{e} ({:?})", e.kind())),
    }
}

/// [`probe`], and once more patiently when it found the server blocked but `open` expects
/// it open (only a cell expected blocked must be blocked at the first try).
fn probe_expecting(client: &Pod, to: SocketAddr, server: &str, proto: Proto, open: bool) -> Reach {
    match probe(client, to, server, proto, false) {
        Reach::Blocked if open => probe(client, to, server, proto, true),
        reach => reach,
    }
}

/// A pod of the model: attached by the CNI plugin as `namespace/name`, serving [`PORT`]
/// (TCP and UDP) with a server that answers with `namespace/name`.
struct ModelPod {
    // Declared first: stopped before its pod goes.
    _server: Backend,
    pod: Pod,
    namespace: &'static str,
    name: &'static str,
}

impl ModelPod {
    /// `namespace/name`, as `ctl explain` and the servers' answers name it.
    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Its Pod object, labelled `labels`.
    fn manifest(&self, labels: &[(&str, &str)]) -> String {
        manifest::pod_in(self.namespace, self.name, labels)
    }
}

/// Namespaces `x` and `y` with some of the model's pods, on a daemon of their own, and the
/// policies applied so far (for failure messages).
struct Model {
    // Declared before the lab: the pods are DELeted while the daemon runs.
    pods: Vec<ModelPod>,
    lab: SvcLab,
    /// Each applied policy's manifest, by the name `ctl explain` gives it
    /// (`namespace/name`, `ClusterNetworkPolicy/name`).
    policies: BTreeMap<String, String>,
}

/// A cell of the matrices: client, server, protocol.
type Cell<'a> = (&'a str, &'a str, Proto);

/// The cells of the pairs (client, server) over each protocol.
fn over_both_protocols<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Cell<'a>> {
    pairs
        .iter()
        .flat_map(|&(client, server)| Proto::ALL.map(|proto| (client, server, proto)))
        .collect()
}

impl Model {
    /// A daemon, Namespaces `x` and `y` (labelled `ns: NAME`) and the pods `ids`
    /// (`NAMESPACE/NAME`, labelled `pod: NAME`), each serving [`PORT`].
    fn start(ids: &[&'static str]) -> Model {
        let lab = SvcLab::start();
        lab.apply(&manifest::documents(&[
            manifest::namespace("x", &[("ns", "x")]),
            manifest::namespace("y", &[("ns", "y")]),
        ]));
        let pods: Vec<ModelPod> = ids
            .iter()
            .map(|id| {
                let (namespace, name) = id
                    .split_once('/')
                    .unwrap_or_else(|| panic!("a model pod is NAMESPACE/NAME, not {id}"));
                let pod = lab.attach_pod_in(namespace, name);
                ModelPod {
                    _server: Backend::start(&pod.ns, id, PORT),
                    pod,
                    namespace,
                    name,
                }
            })
            .collect();
        let docs: Vec<String> = pods
            .iter()
            .map(|p| p.manifest(&[("pod", p.name)]))
            .collect();
        lab.apply(&manifest::documents(&docs));
        Model {
            pods,
            lab,
            policies: BTreeMap::new(),
        }
    }

    /// The pod `id` (`NAMESPACE/NAME`).
    fn pod(&self, id: &str) -> &ModelPod {
        self.pods
            .iter()
            .find(|p| p.id() == id)
            .unwrap_or_else(|| panic!("{id} is not a pod of this model"))
    }

    /// Applies the NetworkPolicy `name` of namespace `namespace` with `spec` (YAML, indented
    /// by two spaces), replacing any of that name.
    fn apply_policy(&mut self, namespace: &str, name: &str, spec: &str) {
        let yaml = network_policy(namespace, name, spec);
        self.apply_named(format!("{namespace}/{name}"), yaml);
    }

    /// Applies the ClusterNetworkPolicy `name` (see [`cluster_network_policy`]), replacing
    /// any of that name.
    fn apply_cluster_policy(&mut self, name: &str, tier: &str, priority: u16, rest: &str) {
        let yaml = cluster_network_policy(name, tier, priority, rest);
        self.apply_named(format!("ClusterNetworkPolicy/{name}"), yaml);
    }

    fn apply_named(&mut self, id: String, yaml: String) {
        self.lab.apply(&yaml);
        self.policies.insert(id, yaml);
    }

    /// Deletes the NetworkPolicy `namespace/name`.
    fn delete_policy(&mut self, namespace: &str, name: &str) {
        self.delete_named(&format!("{namespace}/{name}"));
    }

    /// Deletes the ClusterNetworkPolicy `name`.
    fn delete_cluster_policy(&mut self, name: &str) {
        self.delete_named(&format!("ClusterNetworkPolicy/{name}"));
    }

    fn delete_named(&mut self, id: &str) {
        let yaml = self
            .policies
            .remove(id)
            .unwrap_or_else(|| panic!("no policy {id} was applied"));
        let out = self.lab.delete(&yaml);
        assert!(
            out.contains("deleted"),
            "ctl delete should say the policy {id} was deleted: {out}"
        );
    }

    /// A ClusterIP Service `name` on address `n` of the lab's Service CIDR whose one endpoint
    /// is the pod `backend` (port 80 → [`PORT`], TCP and UDP); its address and port once
    /// the agent shows the endpoint.
    fn service_to(&self, name: &str, n: u8, backend: &str) -> SocketAddr {
        let service = Service::new(name, self.lab.cluster_ip(n), name).without_selector();
        let address = self.pod(backend).pod.ip;
        self.lab.apply(&manifest::documents(&[
            service.yaml(),
            manifest::endpoint_slice(&format!("{name}-1"), name, &[address]),
        ]));
        self.lab.wait_endpoints(name, &[address]);
        SocketAddr::new(service.cluster_ip, SERVICE_PORT)
    }

    /// Probes the Service at `vip`, whose one endpoint is `backend`, from `client` over TCP
    /// and UDP: each must be open or blocked as `open` says.
    fn expect_through(
        &self,
        phase: &str,
        vip: SocketAddr,
        backend: &str,
        client: &str,
        open: bool,
    ) {
        for proto in Proto::ALL {
            let reach = probe_expecting(&self.pod(client).pod, vip, backend, proto, open);
            let want = if open { Reach::Open } else { Reach::Blocked };
            assert_eq!(
                reach,
                want,
                "{phase}: {} {client} → the Service {vip} (endpoint {backend}:{PORT})\nthe policies:\n{}\n{}",
                proto.name(),
                self.policies(),
                self.lab.policy_views()
            );
        }
    }

    /// The policies applied now, as one manifest.
    fn policies(&self) -> String {
        if self.policies.is_empty() {
            return "(no policy)\n".to_owned();
        }
        manifest::documents(&self.policies.values().cloned().collect::<Vec<_>>())
    }

    /// Probes every ordered pair of distinct pods over TCP and UDP, all at once, and asks
    /// `ctl explain` about each; every pair in `blocked` (client, server) must be blocked
    /// over both protocols, every other cell open, and explain must say the same.
    fn expect(&self, phase: &str, blocked: &[(&str, &str)]) {
        self.expect_cells(phase, &over_both_protocols(blocked));
    }

    /// [`Model::expect`] with the blocked cells given per protocol.
    fn expect_cells(&self, phase: &str, blocked: &[Cell<'_>]) {
        // A name in `blocked` that is no pod of the model (a typo) would expect nothing.
        for (client, server, _) in blocked {
            self.pod(client);
            self.pod(server);
        }
        let cells: Vec<(&ModelPod, &ModelPod, Proto)> = self
            .pods
            .iter()
            .flat_map(|c| self.pods.iter().map(move |s| (c, s)))
            .filter(|(c, s)| c.id() != s.id())
            .flat_map(|(c, s)| Proto::ALL.map(|proto| (c, s, proto)))
            .collect();
        let expected_open = |c: &ModelPod, s: &ModelPod, proto: Proto| {
            !blocked
                .iter()
                .any(|&(bc, bs, bp)| bc == c.id() && bs == s.id() && bp == proto)
        };
        let found: Vec<Reach> = std::thread::scope(|scope| {
            let probes: Vec<_> = cells
                .iter()
                .map(|&(c, s, proto)| {
                    let open = expected_open(c, s, proto);
                    scope.spawn(move || {
                        let to = SocketAddr::new(s.pod.ip, PORT);
                        probe_expecting(&c.pod, to, &s.id(), proto, open)
                    })
                })
                .collect();
            probes
                .into_iter()
                .map(|p| p.join().expect("a probe panicked"))
                .collect()
        });

        let mut wrong = String::new();
        let mut observed = BTreeMap::new();
        for (&(c, s, proto), reach) in cells.iter().zip(&found) {
            let open = expected_open(c, s, proto);
            let cell = format!("{} {} → {}:{PORT}", proto.name(), c.id(), s.id());
            let port = format!("{}/{PORT}", proto.name());
            let explained = self.lab.explain(&c.id(), &s.id(), &port);
            let want = if open { Reach::Open } else { Reach::Blocked };
            if *reach != want {
                let _ = writeln!(
                    wrong,
                    "  {cell}: expected {}, the traffic found {reach:?}",
                    if open { "open" } else { "blocked" }
                );
            }
            if explained.verdict != verdict(*reach == Reach::Open) {
                let _ = writeln!(
                    wrong,
                    "  {cell}: the traffic found {reach:?}, ctl explain says {}",
                    describe(&explained)
                );
            }
            observed.insert((c.id(), s.id(), proto), reach.clone());
        }
        if wrong.is_empty() {
            return;
        }
        let ids: Vec<String> = self.pods.iter().map(ModelPod::id).collect();
        let expected: BTreeMap<(String, String, Proto), Reach> = observed
            .keys()
            .map(|(c, s, proto)| {
                let open = expected_open(self.pod(c), self.pod(s), *proto);
                let reach = if open { Reach::Open } else { Reach::Blocked };
                ((c.clone(), s.clone(), *proto), reach)
            })
            .collect();
        panic!(
            "{phase}: the policies were not enforced as expected\n{wrong}\nexpected (client down, server across; . open, X blocked):\n{}\nfound (! broken):\n{}\nthe policies:\n{}\n{}",
            matrix(&ids, &expected),
            matrix(&ids, &observed),
            self.policies(),
            self.lab.policy_views()
        );
    }
}

/// The reachability matrices of both protocols, client down, server across.
fn matrix(ids: &[String], cells: &BTreeMap<(String, String, Proto), Reach>) -> String {
    let cell = ids.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for proto in Proto::ALL {
        let corner = format!("{}/{PORT}", proto.name());
        let first = cell.max(corner.len());
        let _ = write!(text, "{corner:first$}");
        for server in ids {
            let _ = write!(text, " {server:cell$}");
        }
        text.push('\n');
        for client in ids {
            let _ = write!(text, "{client:first$}");
            for server in ids {
                let mark = cells
                    .get(&(client.clone(), server.clone(), proto))
                    .map_or('-', Reach::mark);
                let _ = write!(text, " {mark:cell$}");
            }
            text.push('\n');
        }
    }
    text
}

/// A NetworkPolicy manifest. Names and label values are quoted wherever they may be `y`: YAML
/// 1.1, which podwire reads as kubectl does, takes a bare `y` for `true`.
fn network_policy(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: \"{name}\"\n  namespace: \"{namespace}\"\nspec:\n{spec}"
    )
}

/// `explain`'s verdict word.
fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

/// An explanation in one line, for failure messages.
fn describe(explained: &Explanation) -> String {
    format!(
        "{} (policy {:?}, rule {:?}: {})",
        explained.verdict, explained.policy, explained.rule, explained.reason
    )
}

/// Asserts that `ctl explain` gives `verdict`, decided by `policy` and `rule`.
fn assert_explained(explained: &Explanation, verdict: &str, policy: &str, rule: &str) {
    assert_eq!(
        (
            explained.verdict.as_str(),
            explained.policy.as_deref(),
            explained.rule.as_deref()
        ),
        (verdict, Some(policy), Some(rule)),
        "ctl explain: {}",
        describe(explained)
    );
}

/// Asserts that `ctl show policies` lists `rule` of `pod` with `action` (`Allow` for a
/// NetworkPolicy rule, `Admin Deny`... for a ClusterNetworkPolicy's) and counts connections
/// on it, in its JSON and its table, and that `/metrics` counts them too.
fn assert_counted(lab: &SvcLab, pod: &str, rule: &str, action: &str) {
    let rules = lab.policy_rules();
    let shown = rules.iter().find(|r| r.pod == pod && r.rule == rule);
    assert!(
        shown.is_some_and(|r| r.action == action && r.packets > 0),
        "ctl show policies should count the connections rule {rule} ({action}) of pod {pod} decided; it shows {rules:?}\n{}",
        lab.policy_views()
    );
    let table = lab.shown_policies();
    assert!(
        table
            .lines()
            .any(|line| has_word(line, pod) && line.contains(rule) && line.contains(action)),
        "the table of ctl show policies should have a row with pod {pod}, rule {rule} and action {action}:\n{table}"
    );
    let name = "podwire_policy_rule_packets_total";
    let metrics = lab.metrics(name);
    let labels = [("pod", pod), ("rule", rule), ("action", action)];
    assert!(
        metric_value(&metrics, name, &labels).is_some_and(|v| v > 0.0),
        "/metrics should count the connections rule {rule} of pod {pod} decided ({name} with labels {labels:?}, above 0); it has:\n{metrics}"
    );
}

/// Asserts that the switch counted drops at graph node `node` for `reason`, and that `ctl
/// show errors` shows them.
fn assert_dropped(lab: &SvcLab, node: &str, reason: &str) {
    assert!(
        lab.drops(node, reason) > 0,
        "the switch should count the connections it refused at {node} as {reason}\n{}",
        lab.policy_views()
    );
    let errors = lab.shown_errors();
    assert!(
        errors
            .lines()
            .any(|line| has_word(line, node) && has_word(line, reason)),
        "ctl show errors should show the drops at {node} as {reason}:\n{errors}"
    );
}

/// Whether `word` is one of the blank-separated words of `line` (a row of a `ctl show` table).
fn has_word(line: &str, word: &str) -> bool {
    line.split_whitespace().any(|w| w == word)
}

/// `spec` of a policy selecting pod `a` of its namespace for ingress, allowing nothing.
const DENY_INGRESS_TO_A: &str =
    "  podSelector:\n    matchLabels:\n      pod: a\n  policyTypes:\n  - Ingress\n";

#[test]
fn ingress_policies_pick_who_reaches_a_pod_by_pod_namespace_and_both() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a", "y/b"]);
    model.expect("no policy: every pod reaches every other", &[]);

    model.apply_policy("x", "deny-ingress", DENY_INGRESS_TO_A);
    let all_to_xa = [("x/b", "x/a"), ("y/a", "x/a"), ("y/b", "x/a")];
    model.expect("deny-all ingress on x/a", &all_to_xa);

    // A podSelector alone picks pods of the policy's namespace: y/b, though labelled
    // `pod: b`, stays out.
    model.apply_policy(
        "x",
        "from-b",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          pod: b\n",
    );
    model.expect(
        "ingress to x/a from podSelector pod=b",
        &[("y/a", "x/a"), ("y/b", "x/a")],
    );

    model.delete_policy("x", "from-b");
    model.expect("the allow-from-b policy deleted", &all_to_xa);
    model.apply_policy(
        "x",
        "from-y",
        "  podSelector:\n    matchLabels:\n      pod: a\n  policyTypes:\n  - Ingress\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          ns: \"y\"\n",
    );
    model.expect(
        "ingress to x/a from namespaceSelector ns=y",
        &[("x/b", "x/a")],
    );

    // Both selectors in one peer: pods `b` of namespaces `ns: y` only.
    model.apply_policy(
        "x",
        "from-y",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          ns: \"y\"\n      podSelector:\n        matchLabels:\n          pod: b\n",
    );
    model.expect(
        "ingress to x/a from namespaceSelector ns=y AND podSelector pod=b",
        &[("x/b", "x/a"), ("y/a", "x/a")],
    );
    assert_dropped(&model.lab, "ip4-nat-in", "policy-denied-ingress");
}

#[test]
fn an_egress_deny_stops_a_pod_opening_connections_but_not_answering_them() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a"]);
    model.expect("no policy: every pod reaches every other", &[]);

    // Connections to x/b still work: its answers belong to connections it did not open.
    model.apply_policy(
        "x",
        "deny-egress",
        "  podSelector:\n    matchLabels:\n      pod: b\n  policyTypes:\n  - Egress\n",
    );
    model.expect("deny-all egress on x/b", &[("x/b", "x/a"), ("x/b", "y/a")]);

    model.apply_policy(
        "x",
        "to-y",
        "  podSelector:\n    matchLabels:\n      pod: b\n  policyTypes:\n  - Egress\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          ns: \"y\"\n    ports:\n    - protocol: TCP\n      port: 8080\n    - protocol: UDP\n      port: 8080\n",
    );
    model.expect(
        "egress from x/b to namespace y on port 8080",
        &[("x/b", "x/a")],
    );
    assert_dropped(&model.lab, "ip4-nat-in", "policy-denied-egress");
}

#[test]
fn through_a_service_the_policy_sees_the_backend_pod_and_its_target_port() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a"]);
    let vip = model.service_to("web", 10, "x/a");
    model.expect_through("no policy", vip, "x/a", "x/b", true);

    // The target port, named (`http`, the Pod's container port) for TCP, numbered for UDP.
    model.apply_policy(
        "x",
        "web",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          pod: b\n    ports:\n    - protocol: TCP\n      port: http\n    - protocol: UDP\n      port: 8080\n",
    );
    let phase = "ingress to x/a from pod b on its target port";
    model.expect_through(phase, vip, "x/a", "x/b", true);
    model.expect_through(phase, vip, "x/a", "y/a", false);
    model.expect(phase, &[("y/a", "x/a")]);

    // The Service's own port is not what the backend receives: allowing it allows nothing.
    model.apply_policy(
        "x",
        "web",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          pod: b\n    ports:\n    - protocol: TCP\n      port: 80\n    - protocol: UDP\n      port: 80\n",
    );
    let phase = "ingress to x/a from pod b on port 80, the Service port";
    model.expect_through(phase, vip, "x/a", "x/b", false);
    model.expect(phase, &[("x/b", "x/a"), ("y/a", "x/a")]);
    // Refused after the Service's translation, where the backend was chosen.
    assert_dropped(&model.lab, "ip4-nat-in", "policy-denied-ingress");
}

#[test]
fn a_label_change_flips_the_verdict_on_new_connections_and_explain_follows() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b"]);
    let as_client = model
        .pod("x/b")
        .manifest(&[("pod", "b"), ("role", "client")]);
    let as_visitor = model
        .pod("x/b")
        .manifest(&[("pod", "b"), ("role", "visitor")]);
    model.lab.apply(&as_client);
    let before = model.lab.explain("x/b", "x/a", "tcp/8080");
    assert_eq!(
        (before.verdict.as_str(), before.policy.as_deref()),
        ("allow", None),
        "ctl explain with no policy: {}",
        describe(&before)
    );

    model.apply_policy(
        "x",
        "from-clients",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          role: client\n",
    );
    model.expect("x/b labelled role=client, allowed in", &[]);
    let (server, client) = (model.pod("x/a"), model.pod("x/b"));
    assert_explained(
        &model.lab.explain("x/b", "x/a", "tcp/8080"),
        "allow",
        "x/from-clients",
        "ingress[0]",
    );
    let to = SocketAddr::new(server.pod.ip, PORT);
    let mut open = TcpConn::connect(Some(&client.pod.ns), to)
        .unwrap_or_else(|e| panic!("x/b → x/a: {e}\n{}", model.lab.policy_views()));
    open.ask()
        .unwrap_or_else(|e| panic!("x/b → x/a: {e}\n{}", model.lab.policy_views()));

    // The label the policy selects by is gone: new connections are denied, the open one
    // keeps its session.
    model.lab.apply(&as_visitor);
    model.expect("x/b relabelled role=visitor", &[("x/b", "x/a")]);
    assert_explained(
        &model.lab.explain("x/b", "x/a", "tcp/8080"),
        "deny",
        "x/from-clients",
        "ingress",
    );
    let answer = open.ask().unwrap_or_else(|e| {
        panic!(
            "a connection opened while x/b was allowed should outlive the change: {e}\n{}",
            model.lab.policy_views()
        )
    });
    assert_eq!(answer.backend, "x/a", "{answer}");

    model.lab.apply(&as_client);
    model.expect("x/b labelled role=client again", &[]);
    assert_explained(
        &model.lab.explain("x/b", "x/a", "tcp/8080"),
        "allow",
        "x/from-clients",
        "ingress[0]",
    );
    assert_counted(&model.lab, "x/a", "x/from-clients ingress[0]", "Allow");
}

/// The drop reasons of connections a ClusterNetworkPolicy's Deny rule refused.
const ADMIN_DENIED_INGRESS: &str = "policy-denied-admin-ingress";
const ADMIN_DENIED_EGRESS: &str = "policy-denied-admin-egress";
const BASELINE_DENIED_INGRESS: &str = "policy-denied-baseline-ingress";

/// `spec.subject` of a ClusterNetworkPolicy selecting pod `pod` of namespace `namespace`, by
/// the label every namespace carries (`kubernetes.io/metadata.name`) and the pod's.
fn subject_pod(namespace: &str, pod: &str) -> String {
    format!(
        "  subject:\n    pods:\n      namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: \"{namespace}\"\n      podSelector:\n        matchLabels:\n          pod: \"{pod}\"\n"
    )
}

/// Asserts that `side` (an explanation's `ingress` or `egress`) was decided by a rule of
/// `tier` (`None`: by no ClusterNetworkPolicy rule) after passing on `passed`.
fn assert_side(
    explained: &Explanation,
    side: &Option<Verdict>,
    tier: Option<Tier>,
    passed: &[&str],
) {
    let verdict = side
        .as_ref()
        .unwrap_or_else(|| panic!("ctl explain judged only one side: {explained:?}"));
    let passed_on: Vec<String> = verdict.passed.iter().map(ToString::to_string).collect();
    assert_eq!(
        (verdict.tier, passed_on),
        (
            tier,
            passed.iter().map(|p| p.to_string()).collect::<Vec<_>>()
        ),
        "ctl explain's tier and Pass rules of {verdict:?}: {}",
        describe(explained)
    );
}

#[test]
fn an_admin_deny_beats_a_network_policy_that_allows_the_connection_until_it_is_deleted() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a"]);
    let vip = model.service_to("web", 10, "x/a");
    model.apply_policy(
        "x",
        "from-b",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          pod: b\n",
    );
    let phase = "x/a admits pod b by a NetworkPolicy";
    model.expect(phase, &[("y/a", "x/a")]);
    model.expect_through(phase, vip, "x/a", "x/b", true);

    // The Admin tier is asked before NetworkPolicies: its Deny is final.
    let rest = format!(
        "{}  ingress:\n  - name: no-b\n    action: Deny\n    from:\n    - pods:\n        namespaceSelector: {{}}\n        podSelector:\n          matchLabels:\n            pod: b\n    protocols:\n    - tcp:\n        destinationPort:\n          number: {PORT}\n    - udp:\n        destinationPort:\n          number: {PORT}\n",
        subject_pod("x", "a")
    );
    model.apply_cluster_policy("no-b", "Admin", 10, &rest);
    let phase = "an Admin Deny of pods b to x/a, which its NetworkPolicy admits";
    model.expect(phase, &[("x/b", "x/a"), ("y/a", "x/a")]);
    model.expect_through(phase, vip, "x/a", "x/b", false);
    for proto in Proto::ALL {
        let explained = model
            .lab
            .explain("x/b", "x/a", &format!("{}/{PORT}", proto.name()));
        assert_explained(
            &explained,
            "deny",
            "ClusterNetworkPolicy/no-b",
            "ingress[0]",
        );
        assert_side(&explained, &explained.ingress, Some(Tier::Admin), &[]);
        assert!(
            explained.reason.contains("Admin")
                && explained.reason.contains("ClusterNetworkPolicy/no-b"),
            "ctl explain's reason should name the tier and the policy: {}",
            describe(&explained)
        );
    }
    // What the Admin rule does not match, the NetworkPolicy still decides.
    assert_explained(
        &model.lab.explain("y/a", "x/a", "tcp/8080"),
        "deny",
        "x/from-b",
        "ingress",
    );
    assert_counted(
        &model.lab,
        "x/a",
        "ClusterNetworkPolicy/no-b ingress[0]",
        "Admin Deny",
    );
    // Pod to pod and through the Service alike, new flows are refused in ip4-nat-in, which
    // checks every flow it tracks (for the Service, once it chose the backend).
    assert_dropped(&model.lab, "ip4-nat-in", ADMIN_DENIED_INGRESS);

    model.delete_cluster_policy("no-b");
    let phase = "the Admin Deny deleted";
    model.expect(phase, &[("y/a", "x/a")]);
    model.expect_through(phase, vip, "x/a", "x/b", true);
    assert_explained(
        &model.lab.explain("x/b", "x/a", "udp/8080"),
        "allow",
        "x/from-b",
        "ingress[0]",
    );
}

#[test]
fn an_admin_pass_leaves_the_verdict_to_network_policies_and_the_baseline_to_unisolated_pods() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a", "y/b"]);
    let from_y = [("y/a", "x/b"), ("y/b", "x/b")];

    // The Baseline tier: nothing from namespace y into namespace x.
    model.apply_cluster_policy(
        "no-y-in-x",
        "Baseline",
        5,
        "  subject:\n    namespaces:\n      matchLabels:\n        ns: x\n  ingress:\n  - name: not-from-y\n    action: Deny\n    from:\n    - namespaces:\n        matchLabels:\n          ns: \"y\"\n",
    );
    model.expect(
        "a Baseline Deny from y into x",
        &[from_y[0], from_y[1], ("y/a", "x/a"), ("y/b", "x/a")],
    );
    let explained = model.lab.explain("y/a", "x/b", "tcp/8080");
    assert_explained(
        &explained,
        "deny",
        "ClusterNetworkPolicy/no-y-in-x",
        "ingress[0]",
    );
    assert_side(&explained, &explained.ingress, Some(Tier::Baseline), &[]);

    // A NetworkPolicy isolating x/a is final for it: the Baseline no longer applies to it.
    model.apply_policy(
        "x",
        "from-y",
        "  podSelector:\n    matchLabels:\n      pod: a\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          ns: \"y\"\n",
    );
    model.expect(
        "x/a admits namespace y by a NetworkPolicy, over the Baseline",
        &[("x/b", "x/a"), from_y[0], from_y[1]],
    );
    let explained = model.lab.explain("y/a", "x/a", "udp/8080");
    assert_explained(&explained, "allow", "x/from-y", "ingress[0]");
    assert_side(&explained, &explained.ingress, None, &[]);

    // The Admin tier: pods b are passed on to the NetworkPolicy tier, the rest of y denied.
    model.apply_cluster_policy(
        "pass-b",
        "Admin",
        1,
        &format!(
            "{}  ingress:\n  - name: b-to-network-policies\n    action: Pass\n    from:\n    - pods:\n        namespaceSelector: {{}}\n        podSelector:\n          matchLabels:\n            pod: b\n  - name: not-from-y\n    action: Deny\n    from:\n    - namespaces:\n        matchLabels:\n          ns: \"y\"\n",
            subject_pod("x", "a")
        ),
    );
    // y/b is passed, and x/a's NetworkPolicy admits it; x/b is passed, and it does not.
    model.expect(
        "an Admin Pass of pods b to x/a, then an Admin Deny of y",
        &[("x/b", "x/a"), ("y/a", "x/a"), from_y[0], from_y[1]],
    );
    let passed = ["ClusterNetworkPolicy/pass-b ingress[0]"];
    let explained = model.lab.explain("y/b", "x/a", "tcp/8080");
    assert_explained(&explained, "allow", "x/from-y", "ingress[0]");
    assert_side(&explained, &explained.ingress, None, &passed);
    let explained = model.lab.explain("x/b", "x/a", "tcp/8080");
    assert_explained(&explained, "deny", "x/from-y", "ingress");
    assert_side(&explained, &explained.ingress, None, &passed);
    let explained = model.lab.explain("y/a", "x/a", "tcp/8080");
    assert_explained(
        &explained,
        "deny",
        "ClusterNetworkPolicy/pass-b",
        "ingress[1]",
    );
    assert_side(&explained, &explained.ingress, Some(Tier::Admin), &[]);

    // Without the NetworkPolicy, what the Admin tier passes on reaches the Baseline: y/b is
    // denied there, x/b is not.
    model.delete_policy("x", "from-y");
    model.expect(
        "the Admin Pass of pods b to x/a, then the Baseline, with no NetworkPolicy",
        &[("y/a", "x/a"), ("y/b", "x/a"), from_y[0], from_y[1]],
    );
    let explained = model.lab.explain("y/b", "x/a", "udp/8080");
    assert_explained(
        &explained,
        "deny",
        "ClusterNetworkPolicy/no-y-in-x",
        "ingress[0]",
    );
    assert_side(
        &explained,
        &explained.ingress,
        Some(Tier::Baseline),
        &passed,
    );

    assert_counted(&model.lab, "x/a", passed[0], "Admin Pass");
    assert_counted(
        &model.lab,
        "x/a",
        "ClusterNetworkPolicy/pass-b ingress[1]",
        "Admin Deny",
    );
    assert_counted(
        &model.lab,
        "x/b",
        "ClusterNetworkPolicy/no-y-in-x ingress[0]",
        "Baseline Deny",
    );
    assert_dropped(&model.lab, "ip4-nat-in", BASELINE_DENIED_INGRESS);
}

#[test]
fn an_admin_egress_accept_leaves_the_destination_its_ingress_and_a_deny_can_pick_udp() {
    if !root_or_skip() {
        return;
    }
    let mut model = Model::start(&["x/a", "x/b", "y/a"]);
    model.apply_policy("x", "deny-ingress", DENY_INGRESS_TO_A);
    let isolated = [("x/b", "x/a"), ("y/a", "x/a")];
    model.expect("deny-all ingress on x/a", &isolated);

    // The experimental nodes peer is refused whole at apply, saying where and why.
    let with_nodes = cluster_network_policy(
        "to-nodes",
        "Admin",
        20,
        &format!(
            "{}  egress:\n  - name: nodes\n    action: Deny\n    to:\n    - nodes: {{}}\n",
            subject_pod("x", "b")
        ),
    );
    let refused = model.lab.try_apply(&with_nodes);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && said.contains("spec.egress[0].to[0].nodes")
            && said.contains("does not support the experimental nodes peer"),
        "ctl apply should refuse a nodes peer with its field and the reason ({}): {said}",
        refused.status
    );
    model.expect("the policy with a nodes peer refused", &isolated);

    // Egress rules of x/b: anything to x/a's address accepted (which x/a's ingress still
    // refuses), UDP to ports 8000-8090 anywhere else denied.
    let xa = model.pod("x/a").pod.ip;
    model.apply_cluster_policy(
        "b-out",
        "Admin",
        20,
        &format!(
            "{}  egress:\n  - name: to-x-a\n    action: Accept\n    to:\n    - networks:\n      - \"{xa}/32\"\n  - name: no-udp\n    action: Deny\n    to:\n    - namespaces: {{}}\n    protocols:\n    - udp:\n        destinationPort:\n          range:\n            start: 8000\n            end: 8090\n",
            subject_pod("x", "b")
        ),
    );
    let mut blocked = over_both_protocols(&isolated);
    blocked.push(("x/b", "y/a", Proto::Udp));
    model.expect_cells(
        "Admin egress rules of x/b: Accept to x/a, Deny UDP elsewhere",
        &blocked,
    );

    let explained = model.lab.explain("x/b", "x/a", "tcp/8080");
    assert_explained(&explained, "deny", "x/deny-ingress", "ingress");
    let egress = explained
        .egress
        .as_ref()
        .map(|v| (v.allowed, v.rule.as_ref().map(ToString::to_string)));
    assert_eq!(
        egress,
        Some((
            true,
            Some("ClusterNetworkPolicy/b-out egress[0]".to_owned())
        )),
        "ctl explain: x/b's egress is accepted by the Admin tier, x/a's ingress still denies: {}",
        describe(&explained)
    );
    assert_side(&explained, &explained.egress, Some(Tier::Admin), &[]);
    let explained = model.lab.explain("x/b", "y/a", "udp/8080");
    assert_explained(
        &explained,
        "deny",
        "ClusterNetworkPolicy/b-out",
        "egress[1]",
    );
    assert_side(&explained, &explained.egress, Some(Tier::Admin), &[]);
    let explained = model.lab.explain("x/b", "y/a", "tcp/8080");
    assert_eq!(
        (explained.verdict.as_str(), explained.policy.as_deref()),
        ("allow", None),
        "ctl explain: no rule of any tier matches TCP from x/b to y/a: {}",
        describe(&explained)
    );

    assert_counted(
        &model.lab,
        "x/b",
        "ClusterNetworkPolicy/b-out egress[1]",
        "Admin Deny",
    );
    assert_dropped(&model.lab, "ip4-nat-in", ADMIN_DENIED_EGRESS);
}
