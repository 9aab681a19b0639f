//! `kind = "memif"`: defaults, both roles, and every problem a memif key can have.

use super::*;

fn memif(config: &Config, name: &str) -> MemifConfig {
    let interface = config.interfaces.iter().find(|i| i.name == name);
    match interface.map(|i| &i.device) {
        Some(Device::Memif(memif)) => memif.clone(),
        other => panic!("{name} is not a memif interface: {other:?}"),
    }
}

#[test]
fn a_memif_server_gets_its_own_socket_directory_and_mode_0600() {
    let text = format!(
        "{MINIMAL}[[interface]]\nname = \"cnf0\"\nkind = \"memif\"\naddresses = [\"10.0.1.1/24\"]\n"
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.interfaces[0].kind(), InterfaceKind::Memif);
    assert_eq!(config.interfaces[0].forwarding, Forwarding::Routed);
    assert_eq!(
        memif(&config, "cnf0"),
        MemifConfig {
            socket: MemifSocket::Path("/run/podwire/memif/cnf0/memif.sock".into()),
            id: 0,
            secret: None,
            queues: 1,
            role: MemifRole::Server {
                access: Some(SocketAccess {
                    mode: 0o600,
                    uid: None,
                    gid: None,
                }),
                allow_unsealed_regions: false,
            },
        }
    );
}

#[test]
fn every_memif_key_is_parsed_for_both_roles() {
    let text = format!(
        r#"{MINIMAL}
[[interface]]
name = "srv"
kind = "memif"
socket = "/tmp/cnf/memif.sock"
id = 7
secret = "s3cret"
mode = "ethernet"
queues = 4
socket_mode = 0o660
socket_owner = {{ gid = 1000 }}
allow_unsealed_regions = true

[[interface]]
name = "abs"
kind = "memif"
socket = "@cnf-abs"

[[interface]]
name = "cli"
kind = "memif"
role = "client"
socket = "abstract:/run/memif.sock"
ring_size = 12
buffer_size = 9216
"#
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        memif(&config, "srv"),
        MemifConfig {
            socket: MemifSocket::Path("/tmp/cnf/memif.sock".into()),
            id: 7,
            secret: Some("s3cret".into()),
            queues: 4,
            role: MemifRole::Server {
                access: Some(SocketAccess {
                    mode: 0o660,
                    uid: None,
                    gid: Some(1000),
                }),
                allow_unsealed_regions: true,
            },
        }
    );
    assert_eq!(
        memif(&config, "abs").role,
        MemifRole::Server {
            access: None,
            allow_unsealed_regions: false,
        },
        "an abstract socket has no file permissions"
    );
    let client = memif(&config, "cli");
    assert_eq!(
        client.socket,
        MemifSocket::Abstract("/run/memif.sock".into())
    );
    assert_eq!(client.socket.to_string(), "@/run/memif.sock");
    assert_eq!(
        client.role,
        MemifRole::Client {
            ring_size: 12,
            buffer_size: 9216,
        }
    );
}

#[test]
fn every_memif_problem_is_named() {
    let text = format!(
        r#"{MINIMAL}
[[interface]]
name = "m0"
kind = "memif"
host_interface = "eth9"
netns = "x"
socket = "memif.sock"
secret = "0123456789abcdef0123456789"
mode = "ip"
queues = 0
ring_size = 11
buffer_size = 4096

[[interface]]
name = "m1"
kind = "memif"
socket = "/run/m1.sock"
socket_mode = 0o4700
socket_owner = {{}}

[[interface]]
name = "m2"
kind = "memif"
socket = "@m2"
socket_mode = 0o600

[[interface]]
name = "m3"
kind = "memif"
role = "client"
socket = "/run/m1.sock"
socket_owner = {{ uid = 0 }}
allow_unsealed_regions = true
ring_size = 15
buffer_size = 0

[[interface]]
name = "m4"
kind = "memif"
role = "client"
socket = "@big"
queues = 256
ring_size = 14
buffer_size = 65535

[[interface]]
name = "m5"
kind = "memif"
socket = "/run/m1.sock"

[[interface]]
name = "m6"
kind = "memif"
role = "client"
socket = "/run/m1.sock"
mode = "punt-inject"

[[interface]]
name = "t0"
kind = "tap"
secret = "x"
queues = 2
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            "interface[0].host_interface: a memif interface has no kernel interface; remove host_interface",
            "interface[0].netns: a memif socket is a file (mount its directory into the pod) or an abstract name in the daemon's network namespace; remove netns",
            r#"interface[0].socket: "memif.sock" is neither an absolute path nor an abstract name (@NAME); the daemon's working directory is not fixed, so give the full path"#,
            "interface[0].secret: the secret is 26 bytes long; memif carries 1 to 24 bytes without NUL (remove it for no secret)",
            r#"interface[0].mode: "ip" is not supported: the switch exchanges Ethernet frames on memif; use mode = "ethernet" (the default) on both ends"#,
            "interface[0].queues: 0 is out of range; give 1 to 256 queues each way (memif has 256 rings per direction) (default 1)",
            r#"interface[0].ring_size: the memif client creates the shared memory and so chooses ring_size; remove it, or set role = "client""#,
            r#"interface[0].buffer_size: the memif client creates the shared memory and so chooses buffer_size; remove it, or set role = "client""#,
            "interface[1].socket_mode: 0o4700 has bits beyond the permission bits; give 0o000 to 0o777, e.g. 0o600 (the default) or 0o660",
            "interface[2].socket_mode: an abstract socket has no file and so no permissions; remove it, or give socket a path",
            r#"interface[3].socket_owner: the memif server creates the socket and sets who may use it; remove it, or set role = "server""#,
            r#"interface[3].allow_unsealed_regions: only a memif server maps its peer's memory; remove it, or set role = "server""#,
            "interface[3].ring_size: 15 is out of range; give 1 to 14 as log2 of the slots per ring (2 to 16384 slots) (default 10)",
            "interface[3].buffer_size: 0 is out of range; give 1 to 65535 bytes per packet buffer (default 2048)",
            "interface[4].buffer_size: 256 queues × 2 directions × 16384 slots × 65535 bytes need 549881708544 bytes of shared memory, more than the 4 GiB a memif region can address; lower queues, ring_size or buffer_size",
            "interface[5].socket: /run/m1.sock is already served by interface[1].socket; give each memif server interface a socket of its own",
            "interface[6].socket: interface[3].socket already connects to id 0 on /run/m1.sock; a server serves an id to one client at a time",
            r#"interface[6].mode: "punt-inject" is not supported: the switch exchanges Ethernet frames on memif; use mode = "ethernet" (the default) on both ends"#,
            r#"interface[7].secret: only a memif interface has secret, and this one is kind = "tap"; remove it or set kind = "memif""#,
            r#"interface[7].queues: only a memif interface has queues, and this one is kind = "tap"; remove it or set kind = "memif""#,
        ]
    );
}

#[test]
fn an_owner_with_neither_uid_nor_gid_is_refused() {
    let text =
        format!("{MINIMAL}[[interface]]\nname = \"m\"\nkind = \"memif\"\nsocket_owner = {{}}\n");
    assert_eq!(
        problems(&text),
        vec![
            "interface[0].socket_owner: names no owner; give uid, gid or both, e.g. { uid = 1000, gid = 1000 }"
        ]
    );
}

#[test]
fn memif_values_of_the_wrong_shape_are_syntax_errors() {
    let role = syntax_error(&format!(
        "{MINIMAL}[[interface]]\nname = \"m\"\nkind = \"memif\"\nrole = \"master\"\n"
    ));
    assert!(role.contains("server") && role.contains("client"), "{role}");
    let owner = syntax_error(&format!(
        "{MINIMAL}[[interface]]\nname = \"m\"\nkind = \"memif\"\nsocket_owner = {{ user = 1 }}\n"
    ));
    assert!(owner.contains("user"), "{owner}");
    let id = syntax_error(&format!(
        "{MINIMAL}[[interface]]\nname = \"m\"\nkind = \"memif\"\nid = -1\n"
    ));
    assert!(id.contains("id"), "{id}");
}
