//! TCP through the switch from one namespace to another, checked byte for byte.

use serde_json::Value;

use super::{Netns, free_port};

/// Moves `bytes` of random data from `from` to `to_addr` (in `to`) over
/// TCP with netcat and checks they arrive intact.
pub fn tcp_transfer(from: &Netns, to: &Netns, to_addr: &str, bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 + i / 253) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let dst_s = dst.display().to_string();
    // netcat-openbsd listens on IPv4 only unless told -6.
    let family = if to_addr.contains(':') { "-6" } else { "-4" };
    let server = to.spawn(&[
        "sh",
        "-c",
        &format!("exec nc {family} -l -N -w 20 -p 5201 > {dst_s}"),
    ]);
    // Wait until the server listens.
    for _ in 0..100 {
        if to.ok(&["ss", "-ltn"]).contains(":5201") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let src_s = src.display().to_string();
    from.ok(&[
        "sh",
        "-c",
        &format!("nc -v -N -w 20 {to_addr} 5201 < {src_s}"),
    ]);
    let out = server.wait();
    assert!(
        out.status.success(),
        "nc server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(&dst).unwrap();
    assert_eq!(got.len(), data.len(), "TCP to {to_addr}: length");
    assert!(got == data, "TCP to {to_addr}: data corrupted");
}

/// Runs an iperf3 test from `client` to the server at `addr` (in `server`), `reverse` for the
/// server sending; fails unless both ends finish and the receiver got what was sent.
pub fn iperf3(client: &Netns, server: &Netns, addr: &str, reverse: bool) -> u64 {
    let port = free_port().to_string();
    let listener = server.spawn(&["iperf3", "-s", "-1", "-B", addr, "-p", &port]);
    for _ in 0..100 {
        if server.ok(&["ss", "-ltn"]).contains(&format!(":{port}")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut args = vec!["iperf3", "-c", addr, "-p", &port, "-t", "2", "-J"];
    if reverse {
        args.push("-R");
    }
    let out = client.run(&args);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "iperf3 to {addr} (reverse: {reverse}): {}\n{report}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server_out = listener.wait();
    assert!(
        server_out.status.success(),
        "iperf3 server: {}",
        String::from_utf8_lossy(&server_out.stderr)
    );
    let end = &report["end"];
    let (sent, received) = (
        end["sum_sent"]["bytes"].as_u64().unwrap_or(0),
        end["sum_received"]["bytes"].as_u64().unwrap_or(0),
    );
    assert!(received > 0, "nothing received to {addr}: {end}");
    assert!(
        received <= sent,
        "received {received} of {sent} bytes to {addr}"
    );
    received
}
