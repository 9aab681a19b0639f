//! A daemon for the Service tests: one routed pod network, a host tap, a Service CIDR of its
//! own, and optionally an AF_PACKET uplink to an "outside" namespace; pods attached through
//! the real CNI plugin with their Kubernetes identity in `CNI_ARGS`; manifests applied with
//! `podwire ctl`; the agent's cluster views read through its API client.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use podwire_agent::api::client::Client;
use podwire_model::cluster::{EndpointView, ServiceView};
use podwire_model::policy::{Explanation, PolicyRuleView};
use serde_json::json;

use super::super::cni::{
    Attached, Block, CniEnv, PluginDir, Runtime, addr_of, block_on, netns_path, plugin_dir,
    result_ips,
};
use super::super::{Daemon, Netns, Veth, ok, podwire, unique};
use super::manifest::{self, NAMESPACE};
use super::traffic::Backend;

/// The `[[network]]` the tests' pods attach to.
const NETWORK: &str = "default";

/// How long the agent may take to show what a manifest or a pod changed.
const CONVERGE: Duration = Duration::from_secs(10);

/// The switch's address on the uplink (a node address: NodePorts answer on it, masqueraded
/// traffic leaves from it). Every lab has its own outside namespace and switch, so the
/// subnet needs no uniqueness: the host's kernel never sees it.
pub const UPLINK_NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);

/// The outside namespace's address on the uplink.
pub const UPLINK_OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

/// A Service CIDR (a /24 of 10.96.0.0/12) unique to this process and call: the agent routes
/// it from the host into its own tap, and two daemons cannot route one prefix.
fn unique_service_cidr() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 64;
    let index = (std::process::id() % 64) * 64 + n;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + index * 256)
}

/// The "outside" of a lab with an uplink: a namespace behind a veth whose other end the
/// switch attaches with AF_PACKET.
pub struct Uplink {
    /// The outside namespace (192.168.77.2/24, no other route).
    pub outside: Netns,
    // Declared after the namespace: the veth goes with it; deleting it again is harmless.
    _veth: Veth,
}

/// A pod attached through the CNI plugin, DELeted on drop, then its namespace deleted.
pub struct Pod {
    // Declared first: DEL runs while the namespace still exists.
    _attached: Attached,
    /// Its network namespace.
    pub ns: Netns,
    /// Its Kubernetes name (in [`NAMESPACE`]).
    pub name: String,
    /// Its IPv4 address.
    pub ip: IpAddr,
}

/// A pod running a [`Backend`] named after it, and the Pod object's labels.
pub struct BackendPod {
    /// The server (stopped before the pod goes).
    pub server: Backend,
    /// The pod.
    pub pod: Pod,
    /// Its labels.
    pub labels: Vec<(String, String)>,
}

impl BackendPod {
    /// Its Pod manifest.
    pub fn manifest(&self) -> String {
        let labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        manifest::pod(&self.pod.name, &labels)
    }
}

/// What a [`SvcLab`] starts with.
#[derive(Copy, Clone, Debug)]
pub struct SvcOptions {
    /// An uplink (see [`SvcLab::with_uplink`]).
    pub uplink: bool,
    /// The daemon's data-plane workers.
    pub workers: u32,
}

impl Default for SvcOptions {
    fn default() -> Self {
        SvcOptions {
            uplink: false,
            workers: 1,
        }
    }
}

/// A podwire daemon for Service tests, with its plugin and state directories.
pub struct SvcLab {
    /// The running daemon.
    pub daemon: Daemon,
    plugins: PluginDir,
    /// The pod network's addresses.
    pub block: Block,
    /// The first address of this lab's Service CIDR (a /24).
    pub service_base: Ipv4Addr,
    /// The uplink, when the lab has one.
    pub uplink: Option<Uplink>,
    /// The daemon's data-plane workers.
    workers: u32,
    body: String,
    // Declared last: removed after the daemon has stopped.
    _state: tempfile::TempDir,
}

impl SvcLab {
    /// A daemon with a pod network, a host tap and a Service CIDR.
    pub fn start() -> SvcLab {
        SvcLab::start_with(SvcOptions::default())
    }

    /// [`SvcLab::start`] with `workers` data-plane workers.
    pub fn start_with_workers(workers: u32) -> SvcLab {
        SvcLab::start_with(SvcOptions {
            workers,
            ..SvcOptions::default()
        })
    }

    /// [`SvcLab::start`] with an uplink: an af-packet interface with [`UPLINK_NODE`] on a
    /// veth to an outside namespace with [`UPLINK_OUTSIDE`]. The uplink is the node's only
    /// routed interface, so its address is the node address and masquerade address by
    /// default, and pod traffic leaving by it is masqueraded by default.
    pub fn with_uplink() -> SvcLab {
        SvcLab::start_with(SvcOptions {
            uplink: true,
            ..SvcOptions::default()
        })
    }

    /// A lab as `options` say.
    pub fn start_with(options: SvcOptions) -> SvcLab {
        let state = tempfile::Builder::new()
            .prefix("podwire-state")
            .tempdir()
            .expect("create a state directory");
        let block = Block::unique();
        let service_base = unique_service_cidr();
        // Keys before the first table land in [node] (the support Daemon writes its head).
        let mut body = format!(
            "state_dir = \"{}\"\n\n[host]\ninterface = \"{}\"\naddress4 = \"{}\"\nroutes = [\"{}\"]\n\n",
            state.path().display(),
            unique("pwh"),
            block.host4,
            block.v4
        );
        let uplink = options.uplink.then(|| {
            let outside = Netns::new("sout");
            let veth = Veth::new("psu");
            ok("ip", &["link", "set", &veth.b, "netns", &outside.name]);
            let cidr = format!("{UPLINK_OUTSIDE}/24");
            outside.ok(&["ip", "addr", "add", &cidr, "dev", &veth.b]);
            outside.ok(&["ip", "link", "set", &veth.b, "up"]);
            body += &format!(
                "[[interface]]\nname = \"{}\"\nkind = \"af-packet\"\nhost_interface = \"{}\"\naddresses = [\"{UPLINK_NODE}/24\"]\n\n",
                unique("up"),
                veth.a
            );
            Uplink {
                outside,
                _veth: veth,
            }
        });
        body += &format!(
            "[[network]]\nname = \"{NETWORK}\"\npod_cidrs = [\"{}\"]\n\n[services]\ncidrs = [\"{service_base}/24\"]\n",
            block.v4
        );
        let daemon = Daemon::start_with_workers(options.workers, &body);
        SvcLab {
            daemon,
            plugins: plugin_dir(),
            block,
            service_base,
            uplink,
            workers: options.workers,
            body,
            _state: state,
        }
    }

    /// The outside namespace (the lab must have an uplink).
    pub fn outside(&self) -> &Netns {
        &self
            .uplink
            .as_ref()
            .expect("this lab has no uplink: start it with SvcLab::with_uplink")
            .outside
    }

    /// Address `n` of the Service CIDR (a ClusterIP).
    pub fn cluster_ip(&self, n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(self.service_base) + u32::from(n)))
    }

    /// Stops the daemon and starts it again on the same config and state.
    pub fn restart(&mut self) {
        self.restart_with_workers(self.workers);
    }

    /// [`SvcLab::restart`] with `workers` data-plane workers from now on.
    pub fn restart_with_workers(&mut self, workers: u32) {
        assert!(
            self.daemon.stop(),
            "the daemon did not stop cleanly on SIGTERM:\n{}",
            self.daemon.log()
        );
        self.workers = workers;
        self.daemon = Daemon::start_with_workers(workers, &self.body);
    }

    /// A new namespace attached by the CNI plugin as Kubernetes pod `name` of
    /// [`NAMESPACE`] (`K8S_POD_NAMESPACE`/`K8S_POD_NAME` in `CNI_ARGS`, as a runtime sends
    /// them).
    pub fn attach_pod(&self, name: &str) -> Pod {
        self.attach_pod_in(NAMESPACE, name)
    }

    /// [`SvcLab::attach_pod`] for a pod of Kubernetes namespace `namespace`.
    pub fn attach_pod_in(&self, namespace: &str, name: &str) -> Pod {
        let ns = Netns::new("spod");
        let container = unique("svc");
        let env = CniEnv::pod(&container, &netns_path(&ns), "eth0").args(&format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};\
             K8S_POD_INFRA_CONTAINER_ID={container}"
        ));
        let list = json!({
            "cniVersion": "1.0.0",
            "name": unique("svcnet"),
            "plugins": [{
                "type": "podwire",
                "network": NETWORK,
                "agentSocket": self.daemon.socket,
            }],
        });
        let attached = Runtime::new(&self.plugins)
            .attach(&list, &env, &json!({}))
            .unwrap_or_else(|failure| panic!("CNI ADD of pod {namespace}/{name}: {failure}"));
        let ip = result_ips(&attached.result)
            .iter()
            .find(|a| !a.contains(':'))
            .and_then(|a| addr_of(a).parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the ADD result of pod {namespace}/{name} has no IPv4 address: {}",
                    attached.result
                )
            });
        Pod {
            _attached: attached,
            ns,
            name: name.to_owned(),
            ip,
        }
    }

    /// `count` pods `APP-0`, `APP-1` ... labelled `app: APP`, each running a [`Backend`]
    /// named after it on [`manifest::BACKEND_PORT`]; their Pod objects are applied.
    pub fn backends(&self, app: &str, count: usize) -> Vec<BackendPod> {
        let pods: Vec<BackendPod> = (0..count)
            .map(|i| {
                let pod = self.attach_pod(&format!("{app}-{i}"));
                BackendPod {
                    server: Backend::start(&pod.ns, &pod.name, manifest::BACKEND_PORT),
                    pod,
                    labels: vec![("app".to_owned(), app.to_owned())],
                }
            })
            .collect();
        let docs: Vec<String> = pods.iter().map(BackendPod::manifest).collect();
        self.apply(&manifest::documents(&docs));
        pods
    }

    /// A pod `name` (labelled `app: client`) for clients; its Pod object is applied.
    pub fn client_pod(&self, name: &str) -> Pod {
        let pod = self.attach_pod(name);
        self.apply(&manifest::pod(name, &[("app", "client")]));
        pod
    }

    /// `podwire ctl apply -f FILE` with `manifest` in FILE.
    pub fn try_apply(&self, manifest: &str) -> Output {
        self.ctl_with_file("apply", manifest)
    }

    /// `podwire ctl apply -f FILE`, which must succeed; its output.
    pub fn apply(&self, manifest: &str) -> String {
        self.expect_ok(self.try_apply(manifest), "apply", manifest)
    }

    /// `podwire ctl apply -f -` with `manifest` on standard input, which must succeed.
    pub fn apply_stdin(&self, manifest: &str) -> String {
        let mut child = Command::new(podwire())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.daemon.socket)
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run podwire ctl apply -f -");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(manifest.as_bytes())
            .expect("write the manifest to ctl's stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("wait for podwire ctl");
        self.expect_ok(out, "apply -f -", manifest)
    }

    /// `podwire ctl delete -f FILE` with `manifest` in FILE, which must succeed.
    pub fn delete(&self, manifest: &str) -> String {
        self.expect_ok(self.ctl_with_file("delete", manifest), "delete", manifest)
    }

    fn ctl_with_file(&self, verb: &str, manifest: &str) -> Output {
        let mut file = tempfile::Builder::new()
            .prefix("manifest")
            .suffix(".yaml")
            .tempfile()
            .expect("a temporary manifest file");
        file.write_all(manifest.as_bytes())
            .expect("write the manifest");
        let path = file.path().display().to_string();
        self.daemon.ctl(&[verb, "-f", &path])
    }

    fn expect_ok(&self, out: Output, verb: &str, manifest: &str) -> String {
        assert!(
            out.status.success(),
            "podwire ctl {verb} failed ({}):\n{}{}\nthe manifest:\n{manifest}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.views()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `podwire ctl get WHAT` (services, endpoints, pods): its output, or its error.
    pub fn get(&self, what: &str) -> String {
        self.get_output(&["get", what])
    }

    /// What `ctl get` shows of services, endpoints and pods, and the drops the switch
    /// counted (`ctl show errors`), for failure messages.
    pub fn views(&self) -> String {
        let mut views: Vec<String> = ["services", "endpoints", "pods"]
            .iter()
            .map(|what| format!("--- podwire ctl get {what} ---\n{}", self.get(what)))
            .collect();
        views.push(format!(
            "--- podwire ctl show errors ---\n{}",
            self.get_output(&["show", "errors"])
        ));
        views.join("\n")
    }

    /// The agent's API client.
    fn client(&self) -> Client {
        Client::new(&self.daemon.socket)
    }

    /// The path of the packets `send` makes through the switch's graph, as `podwire ctl
    /// show trace` prints it (for failure messages: it shows each NAT decision).
    pub fn trace(&self, send: impl FnOnce()) -> String {
        for args in [&["trace", "clear"][..], &["trace", "add", "16"]] {
            let out = self.daemon.ctl(args);
            if !out.status.success() {
                return format!(
                    "podwire ctl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        send();
        self.get_output(&["show", "trace"])
    }

    fn get_output(&self, args: &[&str]) -> String {
        let out = self.daemon.ctl(args);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The daemon's `podwire_sessions*` metrics (for failure messages: how many sessions
    /// were made, expired and cleared).
    pub fn session_metrics(&self) -> String {
        self.metrics("podwire_sessions")
    }

    /// The lines of the daemon's `/metrics` that start with `prefix`, or why it could not
    /// be read.
    pub fn metrics(&self, prefix: &str) -> String {
        let Ok(mut stream) = std::net::TcpStream::connect(&self.daemon.metrics) else {
            return format!(
                "cannot connect to the metrics listener {}",
                self.daemon.metrics
            );
        };
        let _ = stream.set_read_timeout(Some(CONVERGE));
        let _ = write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.daemon.metrics
        );
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
        answer
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `podwire ctl --json explain --from FROM --to TO --port PORT`, which must succeed: the
    /// verdict on a new connection and what decided it.
    pub fn explain(&self, from: &str, to: &str, port: &str) -> Explanation {
        let args = [
            "--json", "explain", "--from", from, "--to", to, "--port", port,
        ];
        let out = self.daemon.ctl(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "podwire ctl {} failed ({}): {stdout}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "podwire ctl {} printed no Explanation ({e}):\n{stdout}",
                args.join(" ")
            )
        })
    }

    /// `podwire ctl --json show policies`, which must succeed: each compiled rule of each
    /// pod with its counter.
    pub fn policy_rules(&self) -> Vec<PolicyRuleView> {
        let out = self.daemon.ctl(&["--json", "show", "policies"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "podwire ctl --json show policies failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("podwire ctl --json show policies printed no rule list ({e}):\n{stdout}")
        })
    }

    /// The packets the switch dropped at graph node `node` for `reason` (`GET /v1/errors`),
    /// summed over the workers.
    pub fn drops(&self, node: &str, reason: &str) -> u64 {
        block_on(self.client().errors())
            .unwrap_or_else(|e| panic!("GET /v1/errors: {e}"))
            .iter()
            .filter(|e| e.node == node && e.reason == reason)
            .map(|e| e.count)
            .sum()
    }

    /// [`SvcLab::views`], the compiled rules (`ctl show policies`) and the policy metrics,
    /// for failure messages of the NetworkPolicy tests.
    pub fn policy_views(&self) -> String {
        format!(
            "{}\n--- podwire ctl show policies ---\n{}\n--- podwire_policy metrics ---\n{}",
            self.views(),
            self.get_output(&["show", "policies"]),
            self.metrics("podwire_policy")
        )
    }

    /// `GET /v1/cluster/services`.
    pub fn services(&self) -> Vec<ServiceView> {
        block_on(self.client().cluster_services())
            .unwrap_or_else(|e| panic!("GET /v1/cluster/services: {e}"))
    }

    /// The Service `name` of [`NAMESPACE`] as `GET /v1/cluster/services` shows it.
    pub fn service(&self, name: &str) -> Option<ServiceView> {
        self.services()
            .into_iter()
            .find(|s| s.namespace == NAMESPACE && s.name == name)
    }

    /// `GET /v1/cluster/endpoints`.
    pub fn endpoints(&self) -> Vec<EndpointView> {
        block_on(self.client().cluster_endpoints())
            .unwrap_or_else(|e| panic!("GET /v1/cluster/endpoints: {e}"))
    }

    /// The addresses of the ready endpoints of Service `name` of [`NAMESPACE`].
    pub fn ready_endpoints(&self, service: &str) -> BTreeSet<IpAddr> {
        self.endpoints()
            .into_iter()
            .filter(|e| e.namespace == NAMESPACE && e.service == service && e.ready)
            .map(|e| e.address)
            .collect()
    }

    /// Waits until Service `service` has exactly the ready endpoints `expected`, as the
    /// agent's API shows them; fails the test with the agent's views after [`CONVERGE`].
    pub fn wait_endpoints(&self, service: &str, expected: &[IpAddr]) {
        let want: BTreeSet<IpAddr> = expected.iter().copied().collect();
        let start = Instant::now();
        loop {
            let got = self.ready_endpoints(service);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < CONVERGE,
                "Service {service} should have the ready endpoints {want:?}, the API shows {got:?} after {CONVERGE:?}\n{}",
                self.views()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
