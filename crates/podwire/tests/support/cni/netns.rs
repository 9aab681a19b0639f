//! Reading what a plugin left in a network namespace, and traffic into
//! and out of it.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use super::super::{KillOnDrop, Netns, run};

/// The path runtimes pass as `CNI_NETNS` for a namespace made by `ip netns`.
pub fn netns_path(ns: &Netns) -> String {
    format!("/run/netns/{}", ns.name)
}

/// `ip -j -n NS ARGS...` parsed (an empty list when `ip` fails, e.g. for a
/// device that does not exist).
pub fn ip_json(ns: &Netns, args: &[&str]) -> Value {
    let mut all = vec!["-j", "-n", &ns.name];
    all.extend_from_slice(args);
    let out = run("ip", &all);
    if !out.status.success() {
        return json!([]);
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| json!([]))
}

/// The link `ifname` in `ns`, as `ip -j link` shows it.
pub fn link(ns: &Netns, ifname: &str) -> Option<Value> {
    ip_json(ns, &["link", "show", "dev", ifname])
        .as_array()?
        .first()
        .cloned()
}

/// The names of every link in `ns`.
pub fn link_names(ns: &Netns) -> Vec<String> {
    ip_json(ns, &["link", "show"])
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The global addresses on `ifname` in `ns`, as "ADDRESS/PREFIX".
pub fn addresses(ns: &Netns, ifname: &str) -> Vec<String> {
    let mut found = Vec::new();
    for link in ip_json(ns, &["addr", "show", "dev", ifname])
        .as_array()
        .into_iter()
        .flatten()
    {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["scope"] == "global" {
                found.push(format!(
                    "{}/{}",
                    a["local"].as_str().unwrap_or(""),
                    a["prefixlen"]
                ));
            }
        }
    }
    found
}

/// The routes of `ns` for one family ("-4" or "-6"), as `ip -j route` shows them.
pub fn routes(ns: &Netns, family: &str) -> Vec<Value> {
    ip_json(ns, &[family, "route", "show"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The default route of one family in `ns`: (gateway, device).
pub fn default_route(ns: &Netns, family: &str) -> Option<(String, String)> {
    routes(ns, family)
        .into_iter()
        .find(|r| r["dst"] == "default")
        .map(|r| {
            (
                r["gateway"].as_str().unwrap_or("").to_owned(),
                r["dev"].as_str().unwrap_or("").to_owned(),
            )
        })
}

/// Pings `addr` from `ns` (two echoes).
pub fn ping(ns: &Netns, addr: &str) -> Output {
    ns.run(&["ping", "-c", "2", "-i", "0.2", "-W", "2", addr])
}

/// Pings `addr` from `ns` and fails the test with ping's output unless it answers.
pub fn assert_ping(ns: &Netns, addr: &str) {
    let out = ping(ns, addr);
    assert!(
        out.status.success(),
        "ping {addr} from netns {} failed:\n{}{}",
        ns.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pings `addr` from the host and fails the test unless it answers.
pub fn assert_ping_from_host(addr: &str) {
    let out = run("ping", &["-c", "2", "-i", "0.2", "-W", "2", addr]);
    assert!(
        out.status.success(),
        "ping {addr} from the host failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a one-shot TCP server on `port` in `ns` that sends `greeting` to
/// the first client; returns once it listens.
pub fn serve_greeting(ns: &Netns, port: u16, greeting: &str) -> KillOnDrop {
    let server = ns.spawn(&[
        "sh",
        "-c",
        &format!("echo {greeting} | exec nc -l -N -w 30 -p {port}"),
    ]);
    wait_listening(ns, port);
    server
}

/// Waits (boundedly) until something listens on TCP `port` in `ns`.
pub fn wait_listening(ns: &Netns, port: u16) {
    let needle = format!(":{port} ");
    for _ in 0..250 {
        if ns.ok(&["ss", "-ltnH"]).contains(&needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on TCP port {port} in netns {}", ns.name);
}

/// Connects from the host to `addr`:`port` and returns what the server sent.
pub fn fetch_from_host(addr: &str, port: u16) -> Output {
    run("nc", &["-N", "-w", "5", addr, &port.to_string()])
}

/// A kernel link on the host, deleted on drop (e.g. a Linux bridge the
/// reference `bridge` plugin made and does not remove).
pub struct HostLink(pub String);

impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "delete", &self.0]);
    }
}

/// Whether the host has a link called `name`.
pub fn host_link_exists(name: &str) -> bool {
    run("ip", &["link", "show", "dev", name]).status.success()
}
