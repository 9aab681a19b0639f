//! TCP through the switch from one namespace to another, checked byte for byte.

use super::Netns;

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
