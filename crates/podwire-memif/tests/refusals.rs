//! What a server refuses, and says why: secrets, ids, a second client,
//! racing clients, stalled handshakes, memory it must not trust; and how
//! its socket is set up.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::raw::{self, Outcome, Seen};
use common::{abstract_addr, connect, is_connected, path_addr, pump, refusal};
use podwire_memif::connection::HANDSHAKE_TIMEOUT;
use podwire_memif::msg::Message;
use podwire_memif::shm::SealPolicy;
use podwire_memif::sys::{Conn, FileAccess};
use podwire_memif::types::Mode;
use podwire_memif::{Client, ConnectError, DisconnectReason, Event, InterfaceConfig, Server};

fn server_with(addr: &podwire_memif::sys::SocketAddr, config: InterfaceConfig) -> Server {
    let mut server = Server::bind(addr, None).unwrap();
    server.add_interface(config).unwrap();
    server
}

/// Runs a client with `client_config` against a server serving
/// `server_config` until both report the refusal; returns both reasons.
fn refused(server_config: InterfaceConfig, client_config: InterfaceConfig) -> (String, String) {
    let addr = abstract_addr("refused");
    let mut server = server_with(&addr, server_config);
    let mut client = Client::new(addr, client_config).unwrap();
    let log = pump(&mut server, &mut [&mut client], Instant::now(), |log| {
        refusal(&log.server).is_some() && refusal(&log.clients[0]).is_some()
    });
    assert!(!client.is_connected());
    assert!(
        server
            .interface(server.configs().next().unwrap().id)
            .is_none()
    );
    (
        refusal(&log.server).unwrap().to_owned(),
        refusal(&log.clients[0]).unwrap().to_owned(),
    )
}

fn with_secret(secret: Option<&str>) -> InterfaceConfig {
    InterfaceConfig {
        secret: secret.map(str::to_owned),
        ..InterfaceConfig::new(4)
    }
}

#[test]
fn matching_secret_connects() {
    let addr = abstract_addr("secret-ok");
    let mut server = server_with(&addr, with_secret(Some("open sesame")));
    let mut client = Client::new(addr, with_secret(Some("open sesame"))).unwrap();
    connect(&mut server, &mut client, Instant::now());
}

#[test]
fn wrong_or_missing_secret_is_refused_with_the_reason() {
    let (server, client) = refused(with_secret(Some("open sesame")), with_secret(Some("guess")));
    assert_eq!(server, "incorrect secret");
    assert_eq!(client, "the server refused: incorrect secret");
    let (server, client) = refused(with_secret(Some("open sesame")), with_secret(None));
    assert_eq!(server, "secret required");
    assert!(client.ends_with("secret required"), "{client}");
}

#[test]
fn unknown_id_and_other_mode_are_refused() {
    let (server, client) = refused(InterfaceConfig::new(1), InterfaceConfig::new(2));
    assert!(server.starts_with("unmatched interface id 2"), "{server}");
    assert!(client.contains("unmatched interface id 2"), "{client}");
    let ip = InterfaceConfig {
        mode: Mode::Ip,
        ..InterfaceConfig::new(1)
    };
    let (server, _) = refused(InterfaceConfig::new(1), ip);
    assert!(server.starts_with("mode mismatch"), "{server}");
}

#[test]
fn blocking_connect_reports_the_refusal() {
    let addr = abstract_addr("blocking");
    let mut server = server_with(&addr, with_secret(Some("right")));
    let server_thread = std::thread::spawn(move || {
        // Serve until the refusal, then stop.
        loop {
            server.wait(Duration::from_secs(1)).unwrap();
            if let Some(reason) = refusal(&server.poll(Instant::now())) {
                return reason.to_owned();
            }
        }
    });
    let error = Client::connect_blocking(addr, with_secret(Some("wrong")), Duration::from_secs(30))
        .unwrap_err();
    assert!(
        matches!(&error, ConnectError::Refused { id: 4, reason, .. } if reason.ends_with("incorrect secret")),
        "{error}"
    );
    assert_eq!(server_thread.join().unwrap(), "incorrect secret");
}

#[test]
fn blocking_connect_gives_up_and_says_why() {
    let addr = abstract_addr("nobody");
    let error = Client::connect_blocking(addr, InterfaceConfig::new(0), Duration::ZERO)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not connected after"), "{error}");
    assert!(error.contains("is the server listening there?"), "{error}");
}

#[test]
fn a_second_client_on_a_connected_id_is_refused() {
    let addr = abstract_addr("second");
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let now = Instant::now();
    let mut first = Client::new(addr.clone(), InterfaceConfig::new(0)).unwrap();
    connect(&mut server, &mut first, now);
    let mut second = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    let log = pump(&mut server, &mut [&mut second], now, |log| {
        refusal(&log.clients[0]).is_some()
    });
    assert_eq!(
        refusal(&log.server),
        Some("already connected: interface id 0 has a peer")
    );
    assert!(first.is_connected());
    // The first connection still carries traffic.
    common::exchange_checked(
        first.interface_mut().unwrap(),
        server.interface_mut(0).unwrap(),
        10,
        |_| 64,
    );
}

#[test]
fn of_two_clients_racing_for_one_id_exactly_one_connects() {
    let addr = abstract_addr("race");
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let mut a = Client::new(addr.clone(), InterfaceConfig::new(0)).unwrap();
    let mut b = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    // Polled in turn, both pass INIT before either sends CONNECT: only the
    // re-check at CONNECT can keep the second out.
    let log = pump(&mut server, &mut [&mut a, &mut b], Instant::now(), |log| {
        log.clients.iter().all(|events| {
            events
                .iter()
                .any(|e| is_connected(e) || refusal(std::slice::from_ref(e)).is_some())
        })
    });
    assert_eq!(
        a.is_connected() as u8 + b.is_connected() as u8,
        1,
        "{log:#?}"
    );
    assert_eq!(
        refusal(&log.server),
        Some("already connected: interface id 0 has a peer")
    );
    assert_eq!(log.server.iter().filter(|e| is_connected(e)).count(), 1);
}

#[test]
fn a_stalled_handshake_is_dropped_after_the_timeout() {
    let addr = abstract_addr("stall");
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let t0 = Instant::now();
    let conn = Conn::connect(&addr).unwrap();
    assert!(server.poll(t0).is_empty());
    assert!(matches!(raw::recv(&conn), Seen::Message(Message::Hello(_))));
    assert_eq!(server.next_deadline(), Some(t0 + HANDSHAKE_TIMEOUT));
    assert!(server.poll(t0 + HANDSHAKE_TIMEOUT / 2).is_empty());
    assert_eq!(server.fds().len(), 2, "listener and the pending connection");

    let events = server.poll(t0 + HANDSHAKE_TIMEOUT);
    let reason = refusal(&events).unwrap();
    assert!(
        reason.contains("did not complete the handshake"),
        "{reason}"
    );
    assert!(matches!(
        raw::recv(&conn),
        Seen::Message(Message::Disconnect { .. })
    ));
    assert_eq!(raw::recv(&conn), Seen::Closed);
    assert_eq!(server.fds().len(), 1);
    assert_eq!(server.next_deadline(), None);
}

#[test]
fn a_datagram_that_is_not_a_memif_message_is_refused() {
    let addr = abstract_addr("garbage");
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let conn = Conn::connect(&addr).unwrap();
    let now = Instant::now();
    server.poll(now);
    let mut frame = [0u8; 128];
    frame[0] = 99;
    conn.send(&frame, None).unwrap();
    let reason = refusal(&server.poll(now)).unwrap().to_owned();
    assert!(reason.starts_with("unknown message type 99"), "{reason}");
}

#[test]
fn unsealable_memory_is_refused_unless_the_interface_trusts_its_client() {
    let addr = abstract_addr("unsealed");
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let trusted = InterfaceConfig {
        seal_policy: SealPolicy::AllowUnsealed,
        ..InterfaceConfig::new(1)
    };
    server.add_interface(trusted).unwrap();
    let now = Instant::now();

    let memory = || raw::unsealable_memory(|_| {});
    let (outcome, events) = raw::handshake(&mut server, &addr, now, raw::params(0), memory);
    let Outcome::Refused(reason) = outcome else {
        panic!("unsealable memory accepted: {events:?}");
    };
    assert!(
        reason.starts_with("region 0: the peer's region file cannot be sealed"),
        "{reason}"
    );
    // The server's event has the whole text; the wire carries 96 bytes.
    assert!(refusal(&events).unwrap().starts_with(&reason));
    assert_eq!(reason.len(), 96);

    let (outcome, events) = raw::handshake(&mut server, &addr, now, raw::params(1), memory);
    assert!(matches!(outcome, Outcome::Connected(_)), "{events:?}");
    assert!(server.interface(1).is_some());
}

#[test]
fn a_ring_without_the_cookie_is_refused_at_connect() {
    let addr = abstract_addr("cookie");
    let trusted = InterfaceConfig {
        seal_policy: SealPolicy::AllowUnsealed,
        ..InterfaceConfig::new(0)
    };
    let mut server = server_with(&addr, trusted);
    let memory =
        || raw::unsealable_memory(|regions| regions.get(0).unwrap().write_u32(0, 0xdead).unwrap());
    let (outcome, events) =
        raw::handshake(&mut server, &addr, Instant::now(), raw::params(0), memory);
    let Outcome::Refused(reason) = outcome else {
        panic!("bad cookie accepted: {events:?}");
    };
    assert!(
        reason.starts_with("C2S ring 0: the ring's cookie is 0x0000dead"),
        "{reason}"
    );
    assert!(server.interface(0).is_none());
}

#[test]
fn a_client_that_dies_frees_its_id() {
    let addr = abstract_addr("dies");
    let trusted = InterfaceConfig {
        seal_policy: SealPolicy::AllowUnsealed,
        ..InterfaceConfig::new(0)
    };
    let mut server = server_with(&addr, trusted);
    let now = Instant::now();
    let memory = || raw::unsealable_memory(|_| {});
    let (Outcome::Connected(conn), _) =
        raw::handshake(&mut server, &addr, now, raw::params(0), memory)
    else {
        panic!("not connected");
    };
    assert!(server.interface(0).is_some());
    drop(conn); // no DISCONNECT: as if the process was killed
    assert_eq!(
        server.poll(now),
        [Event::Disconnected {
            id: 0,
            reason: DisconnectReason::Closed
        }]
    );
    assert!(server.interface(0).is_none());
    let mut client = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    connect(&mut server, &mut client, now);
}

#[test]
fn removing_a_connected_interface_tells_the_client() {
    let addr = abstract_addr("remove");
    let mut server = server_with(&addr, InterfaceConfig::new(6));
    let mut client = Client::new(addr, InterfaceConfig::new(6)).unwrap();
    let now = Instant::now();
    connect(&mut server, &mut client, now);
    assert_eq!(server.remove_interface(6).unwrap().id, 6);
    let reason = "interface 6 was removed from the server".to_owned();
    assert_eq!(
        server.poll(now),
        [Event::Disconnected {
            id: 6,
            reason: DisconnectReason::Local(reason.clone())
        }]
    );
    assert_eq!(
        client.poll(now),
        Some(Event::Disconnected {
            id: 6,
            reason: DisconnectReason::Peer(reason)
        })
    );
    assert!(server.remove_interface(6).is_err());
    let error = server
        .add_interface(InterfaceConfig::new(1))
        .and_then(|()| server.add_interface(InterfaceConfig::new(1)));
    assert!(
        error
            .unwrap_err()
            .to_string()
            .contains("already configured")
    );
}

#[test]
fn a_stale_socket_file_is_replaced_on_bind() {
    let dir = tempfile::tempdir().unwrap();
    let addr = path_addr(&dir, "stale");
    let podwire_memif::sys::SocketAddr::Path(path) = &addr else {
        unreachable!()
    };
    // A server that died: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    assert!(path.exists());
    let mut server = server_with(&addr, InterfaceConfig::new(0));
    let mut client = Client::new(addr.clone(), InterfaceConfig::new(0)).unwrap();
    connect(&mut server, &mut client, Instant::now());
    drop(client);
    drop(server);
    assert!(!path.exists(), "the server removes its socket file");
}

#[test]
fn the_socket_file_gets_the_permissions_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let addr = path_addr(&dir, "private");
    let access = FileAccess {
        mode: 0o600,
        uid: None,
        gid: None,
    };
    let mut server = Server::bind(&addr, Some(access)).unwrap();
    server.add_interface(InterfaceConfig::new(0)).unwrap();
    let podwire_memif::sys::SocketAddr::Path(path) = &addr else {
        unreachable!()
    };
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Its owner (us) still connects.
    let mut client = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    connect(&mut server, &mut client, Instant::now());
    // An abstract socket has no permissions to set.
    assert!(Server::bind(&abstract_addr("perm"), Some(access)).is_err());
}
