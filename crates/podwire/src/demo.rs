//! `podwire demo`: the embedded default. On one machine, with nothing but
//! the kernel: four pods (network namespaces) wired through podwire's data
//! plane with taps, traffic between them, a packet trace, a Service, a
//! NetworkPolicy and its explanations, the counters; everything removed at
//! the end. `--check` runs it without waiting and
//! exits non-zero unless every step worked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::api;
use podwire_agent::node::Node;
use podwire_io::netns::NetNs;
use podwire_model::config::Config;
use podwire_model::policy::{ExplainRequest, Explanation};
use podwire_model::service::Protocol;

use crate::ctl::{self, CtlArgs, CtlCommand, ShowCommand, TraceCommand};

/// The demo's pods: (name, IPv4, IPv6). a, b and c are the Service's backends, d its client.
const PODS: [(&str, &str, &str); 4] = [
    ("a", "10.0.0.2", "fd10::2"),
    ("b", "10.0.0.3", "fd10::3"),
    ("c", "10.0.0.4", "fd10::4"),
    ("d", "10.0.0.5", "fd10::5"),
];

/// The demo's Service: its ClusterIP, port, and its backends' target port.
const SERVICE_IP: &str = "10.96.0.10";
const SERVICE_PORT: u16 = 80;
const BACKEND_PORT: u16 = 8080;

/// The port pod c serves in the NetworkPolicy step.
const POLICY_PORT: u16 = 9090;

/// How long a client of the NetworkPolicy step that should be blocked waits to connect: a
/// policy drops the SYN, so a blocked connection times out.
const BLOCKED_AFTER: Duration = Duration::from_secs(1);

/// How long a client that should be let in waits to connect, as the other steps do.
const CONNECT_WITHIN: Duration = Duration::from_secs(3);

/// The demo node's name (`spec.nodeName` of its Pod objects).
const NODE: &str = "demo";

/// The demo's Pod objects, one per static pod: its addresses in `status.podIPs`, this node
/// in `spec.nodeName` (so that its NetworkPolicies are enforced here), labelled `pod: NAME`.
/// a, b and c are `web-…`, labelled `app: web` (what the Service selects); d is `client-d`.
fn pods_manifest() -> String {
    PODS.iter()
        .map(|(pod, v4, v6)| {
            let (name, app) = pod_object(pod);
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default, labels: {{app: {app}, pod: {pod}}}}}\nspec:\n  nodeName: {NODE}\n  containers:\n  - {{name: {app}, image: demo, ports: [{{containerPort: {BACKEND_PORT}}}]}}\nstatus:\n  podIPs: [{{ip: {v4}}}, {{ip: \"{v6}\"}}]\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The name and `app` label of the Pod object of the demo's pod `pod`.
fn pod_object(pod: &str) -> (String, &'static str) {
    if pod == "d" {
        (format!("client-{pod}"), "client")
    } else {
        (format!("web-{pod}"), "web")
    }
}

/// The Service and its backend Pods, as Kubernetes YAML.
fn service_manifest() -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  clusterIP: {SERVICE_IP}\n  selector: {{app: web}}\n  ports:\n  - {{name: http, port: {SERVICE_PORT}, targetPort: {BACKEND_PORT}, protocol: TCP}}\n---\n{}",
        pods_manifest()
    )
}

/// The NetworkPolicy of the policy step: pod c isolated for ingress, open to pod a only.
fn policy_manifest() -> String {
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: c-from-a, namespace: default}\nspec:\n  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Ingress]\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: a}}\n".to_owned()
}

fn netns_name(pod: &str) -> String {
    format!("pwdemo-{pod}")
}

/// The demo's network namespaces, deleted on drop.
struct DemoPods;

impl DemoPods {
    fn create() -> anyhow::Result<DemoPods> {
        // A run that was killed may have left them.
        Self::remove();
        let pods = DemoPods;
        for (pod, _, _) in PODS {
            NetNs::create_named(&netns_name(pod))
                .with_context(|| format!("cannot create network namespace {}", netns_name(pod)))?;
        }
        Ok(pods)
    }

    fn remove() {
        for (pod, _, _) in PODS {
            let _ = NetNs::delete_named(&netns_name(pod));
        }
    }
}

impl Drop for DemoPods {
    fn drop(&mut self) {
        Self::remove();
    }
}

fn config_text(socket: &Path) -> String {
    let mut text = format!(
        "[node]\nname = \"{NODE}\"\napi_socket = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n",
        socket.display(),
        socket.with_file_name("state").display()
    );
    for (pod, v4, v6) in PODS {
        text += &format!(
            "\n[[pod]]\nname = \"demo-{pod}\"\nnetns = \"{}\"\naddresses = [\"{v4}\", \"{v6}\"]\n",
            netns_name(pod)
        );
    }
    text
}

/// Runs the demo.
pub fn run(check: bool) -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the demo creates network namespaces and interfaces: run it as root (sudo podwire demo)"
        );
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let socket = dir.path().join("podwire.sock");
    let text = config_text(&socket);
    let config =
        Config::parse(&text).context("the demo's own config is invalid (a podwire bug)")?;
    println!("podwire demo: four pods wired through podwire's user-space data plane.\n");
    println!("The node's config:\n{}", indent(&text));

    let _pods = DemoPods::create()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let node = Arc::new(Node::start(&config).await.context("cannot start the demo node")?);
        let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(
            node.clone(),
            &config.node.api_socket.clone(),
            "127.0.0.1:0".parse::<SocketAddr>()?,
            async {
                let _ = stopped.await;
            },
        ));
        // The steps block (they run commands and the ctl client, which
        // has a runtime of its own): a plain thread, not this runtime's.
        let steps_socket = socket.clone();
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send(run_steps(&steps_socket));
        });
        let failed = finished.await.context("the demo's steps panicked")?;
        if !check && failed == 0 {
            println!(
                "\nThe pods stay up until you press Ctrl-C. Try:\n  ip netns exec {} ping {}\n  podwire ctl --socket {} show runtime",
                netns_name("a"),
                PODS[2].1,
                socket.display()
            );
            crate::daemon::stop_signal().await;
        }
        let _ = stop_api.send(());
        let _ = server.await;
        if let Ok(node) = Arc::try_unwrap(node) {
            node.stop();
        }
        println!("\nremoved the pods and their interfaces");
        if failed > 0 {
            bail!("{failed} demo step(s) failed");
        }
        println!("every step worked");
        Ok(())
    })
}

/// One step of the demo: what it prints when it worked.
type Step = Box<dyn Fn() -> anyhow::Result<String>>;

/// Runs every step, printing each; returns how many failed.
fn run_steps(socket: &Path) -> usize {
    let (a, b, c) = (PODS[0], PODS[1], PODS[2]);
    let service_socket = socket.to_path_buf();
    let policy_socket = socket.to_path_buf();
    let steps: Vec<(String, Step)> = vec![
        (
            format!("ping pod a → pod b over IPv4 ({})", b.1),
            Box::new(move || ping("a", b.1)),
        ),
        (
            format!("ping pod a → pod c over IPv6 ({})", c.2),
            Box::new(move || ping("a", c.2)),
        ),
        (
            "ping pod b → its gateway, the switch (169.254.1.1)".into(),
            Box::new(|| ping("b", "169.254.1.1")),
        ),
        (
            "TCP pod a → pod b over IPv4, 64 MiB".to_string(),
            Box::new(move || tcp("a", "b", b.1, 64 << 20)),
        ),
        (
            "TCP pod c → pod a over IPv6, 64 MiB".to_string(),
            Box::new(move || tcp("c", "a", a.2, 64 << 20)),
        ),
        (
            "a packet trace: one ping from pod c to pod b".into(),
            Box::new({
                let socket = socket.to_path_buf();
                move || trace(&socket, "c", b.1)
            }),
        ),
        (
            format!(
                "a Service: web ({SERVICE_IP}:{SERVICE_PORT}) over pods a, b and c; 60 connections from pod d"
            ),
            Box::new(move || service(&service_socket)),
        ),
        (
            format!(
                "a NetworkPolicy: pod c ({}:{POLICY_PORT}) takes connections from pod a only",
                c.1
            ),
            Box::new(move || policy(&policy_socket)),
        ),
    ];
    let mut failed = 0;
    for (i, (name, step)) in steps.iter().enumerate() {
        println!("\n[{}/{}] {name}", i + 1, steps.len());
        match step() {
            Ok(out) => println!("{}  ✓ ok", indent(&out)),
            Err(e) => {
                failed += 1;
                println!("  ✗ FAILED: {e:#}");
            }
        }
    }
    for (what, command) in [
        ("interfaces", ShowCommand::Interfaces),
        ("runtime", ShowCommand::Runtime),
        ("errors", ShowCommand::Errors),
    ] {
        println!("\n$ podwire ctl show {what}");
        if let Err(e) = ctl_run(socket, CtlCommand::Show(command)) {
            failed += 1;
            println!("  ✗ FAILED: {e:#}");
        }
    }
    failed
}

fn ping(from: &str, to: &str) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns_name(from),
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            to,
        ])
        .output()
        .context("cannot run ping (install iputils-ping)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "ping {to} failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text
        .lines()
        .filter(|l| l.contains("bytes from") || l.contains("rtt"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Sends `bytes` from pod `from` to pod `to` over TCP, checks they arrive
/// intact, and says how fast.
fn tcp(from: &str, to: &str, to_addr: &str, bytes: usize) -> anyhow::Result<String> {
    let addr: SocketAddr = SocketAddr::new(to_addr.parse()?, 5201);
    let server_ns = NetNs::open_named(&netns_name(to))?;
    let client_ns = NetNs::open_named(&netns_name(from))?;
    // Sockets belong to the namespace they are made in; made on a
    // namespace's own thread, they are then used from here.
    let listener = server_ns.run_in(move || TcpListener::bind(addr))??;
    let server = std::thread::spawn(move || -> std::io::Result<(usize, u64)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        let (mut n, mut sum) = (0usize, 0u64);
        loop {
            let k = s.read(&mut buf)?;
            if k == 0 {
                return Ok((n, sum));
            }
            sum = buf[..k].iter().fold(sum, |acc, &b| {
                acc.wrapping_mul(31).wrapping_add(u64::from(b))
            });
            n += k;
        }
    });
    let mut stream =
        client_ns.run_in(move || TcpStream::connect_timeout(&addr, Duration::from_secs(3)))??;
    let chunk: Vec<u8> = (0..1 << 16)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let expected = (0..bytes / chunk.len()).fold(0u64, |acc, _| {
        chunk
            .iter()
            .fold(acc, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
    });
    let start = Instant::now();
    for _ in 0..bytes / chunk.len() {
        stream.write_all(&chunk)?;
    }
    drop(stream);
    let (got, sum) = server
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    if got != bytes || sum != expected {
        bail!(
            "received {got} of {bytes} bytes, {} checksum",
            if sum == expected { "matching" } else { "WRONG" }
        );
    }
    Ok(format!(
        "{} MiB arrived intact in {:.2} s: {:.2} Gbit/s",
        bytes >> 20,
        secs,
        bytes as f64 * 8.0 / secs / 1e9
    ))
}

/// Applies the Service, runs a small server in each backend pod that answers with the pod's
/// name, connects from pod d to the ClusterIP again and again, and counts who answered.
fn service(socket: &Path) -> anyhow::Result<String> {
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(manifest.path(), service_manifest())?;
    println!("$ podwire ctl apply -f web.yaml");
    ctl_run(
        socket,
        CtlCommand::Apply(ctl::ManifestArgs {
            file: manifest.path().to_path_buf(),
        }),
    )?;
    for (pod, v4, _) in &PODS[..3] {
        serve_name(pod, SocketAddr::new(v4.parse()?, BACKEND_PORT))?;
    }
    let client = NetNs::open_named(&netns_name("d"))?;
    let service: SocketAddr = SocketAddr::new(SERVICE_IP.parse()?, SERVICE_PORT);
    let mut answers = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..60 {
        let mut stream = client
            .run_in(move || TcpStream::connect_timeout(&service, Duration::from_secs(3)))??;
        let mut name = String::new();
        stream.read_to_string(&mut name)?;
        *answers.entry(name).or_default() += 1;
    }
    println!("$ podwire ctl get services");
    ctl_run(socket, CtlCommand::Get(ctl::GetCommand::Services))?;
    println!("$ podwire ctl get endpoints");
    ctl_run(socket, CtlCommand::Get(ctl::GetCommand::Endpoints))?;
    if answers.len() < 3 {
        bail!("only {answers:?} answered: the connections did not spread over the three backends");
    }
    Ok(answers
        .iter()
        .map(|(pod, n)| format!("pod {pod} answered {n} of 60 connections"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Listens on `addr` in pod `pod` and answers every connection with the pod's name, until
/// the demo ends (the namespace goes with it).
fn serve_name(pod: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let listener =
        NetNs::open_named(&netns_name(pod))?.run_in(move || TcpListener::bind(addr))??;
    let name = pod.to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(name.as_bytes());
        }
    });
    Ok(())
}

/// Isolates pod c with a NetworkPolicy that lets pod a in, then shows a connection from pod d
/// blocked and one from pod a allowed, and what `podwire ctl explain` says of each.
fn policy(socket: &Path) -> anyhow::Result<String> {
    let (a, c, d) = (PODS[0], PODS[2], PODS[3]);
    let server = SocketAddr::new(c.1.parse()?, POLICY_PORT);
    serve_name(c.0, server)?;
    let manifest = tempfile::NamedTempFile::new()?;
    std::fs::write(
        manifest.path(),
        format!("{}---\n{}", pods_manifest(), policy_manifest()),
    )?;
    println!("{}", indent(&policy_manifest()));
    println!("$ podwire ctl apply -f c-from-a.yaml (with the Pods)");
    ctl_run(
        socket,
        CtlCommand::Apply(ctl::ManifestArgs {
            file: manifest.path().to_path_buf(),
        }),
    )?;

    let connect = |from: &str, within: Duration| -> anyhow::Result<Option<String>> {
        let stream = NetNs::open_named(&netns_name(from))?
            .run_in(move || TcpStream::connect_timeout(&server, within))?;
        match stream {
            Ok(mut stream) => {
                let mut name = String::new();
                stream.read_to_string(&mut name)?;
                Ok(Some(name))
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e).with_context(|| format!("pod {from} → {server}")),
        }
    };
    for (client, allowed) in [(d, false), (a, true)] {
        let within = if allowed {
            CONNECT_WITHIN
        } else {
            BLOCKED_AFTER
        };
        let answered = connect(client.0, within)?;
        let what = format!("pod {} → pod c ({server})", client.0);
        match (&answered, allowed) {
            (None, false) => println!("{what}: blocked, no answer within {BLOCKED_AFTER:?}"),
            (Some(name), true) => println!("{what}: answered by pod {name}"),
            (Some(name), false) => {
                bail!("{what}: answered by pod {name}, but the policy should block it")
            }
            (None, true) => {
                bail!("{what}: no answer within {within:?}, but the policy allows it")
            }
        }
        let request = ExplainRequest {
            from: format!("default/{}", pod_object(client.0).0),
            to: format!("default/{}", pod_object(c.0).0),
            protocol: Protocol::Tcp,
            port: POLICY_PORT,
        };
        println!(
            "$ podwire ctl explain --from {} --to {} --port tcp/{POLICY_PORT}",
            request.from, request.to
        );
        ctl_run(
            socket,
            CtlCommand::Explain(ctl::ExplainArgs {
                from: request.from.clone(),
                to: request.to.clone(),
                port: ctl::DestinationPort {
                    protocol: request.protocol,
                    port: request.port,
                },
            }),
        )?;
        let explained = explain(socket, &request)?;
        if explained.verdict != if allowed { "allow" } else { "deny" } {
            bail!(
                "ctl explain says {} ({}) for {what}, which the traffic contradicts",
                explained.verdict,
                explained.reason
            );
        }
    }
    println!("$ podwire ctl show policies");
    ctl_run(socket, CtlCommand::Show(ShowCommand::Policies))?;
    Ok("pod d was blocked and pod a let in, as the policy says and ctl explain agrees".to_owned())
}

/// The agent's explanation of `request`, to check it against the traffic.
fn explain(socket: &Path, request: &ExplainRequest) -> anyhow::Result<Explanation> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(api::client::Client::new(socket).explain(request))
        .context("cannot ask the agent to explain a connection")
}

fn ctl_run(socket: &Path, command: CtlCommand) -> anyhow::Result<()> {
    ctl::run(CtlArgs {
        socket: socket.to_path_buf(),
        json: false,
        output: None,
        command,
    })
}

fn trace(socket: &Path, from: &str, to: &str) -> anyhow::Result<String> {
    ctl_run(socket, CtlCommand::Trace(TraceCommand::Clear))?;
    ctl_run(socket, CtlCommand::Trace(TraceCommand::Add { packets: 2 }))?;
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns_name(from),
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            to,
        ])
        .output()?;
    if !out.status.success() {
        bail!("ping {to} failed");
    }
    println!("$ podwire ctl trace add 2; ping; podwire ctl show trace");
    ctl_run(socket, CtlCommand::Show(ShowCommand::Trace))?;
    Ok(String::new())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
