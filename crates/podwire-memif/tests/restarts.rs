//! Restarts on either side: the server serves client after client, and a
//! client finds its server again after the server comes back.

mod common;

use std::time::{Duration, Instant};

use common::{connect, exchange_checked, path_addr, pump};
use podwire_memif::connection::{RECONNECT_FIRST, RECONNECT_PERIOD};
use podwire_memif::{Client, DisconnectReason, Event, InterfaceConfig, Server};

#[test]
fn the_server_survives_twenty_client_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = path_addr(&dir, "restarts");
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(InterfaceConfig::new(0)).unwrap();
    let now = Instant::now();
    for round in 0..20 {
        let mut client = Client::new(addr.clone(), InterfaceConfig::new(0)).unwrap();
        connect(&mut server, &mut client, now);
        let s = server.interface_mut(0).unwrap();
        let c = client.interface_mut().unwrap();
        exchange_checked(c, s, 100 + round, |seq| 64 + seq);
        exchange_checked(s, c, 100 + round, |seq| 64 + seq);
        drop(client);
        let events = server.poll(now);
        assert_eq!(
            events,
            [Event::Disconnected {
                id: 0,
                reason: DisconnectReason::Peer("the memif interface was closed".into())
            }],
            "round {round}"
        );
        assert!(server.interface(0).is_none());
        assert_eq!(server.fds().len(), 1, "only the listener is left");
    }
}

#[test]
fn the_client_reconnects_by_itself_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = path_addr(&dir, "server-restart");
    let config = InterfaceConfig::new(3);
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(config.clone()).unwrap();
    let mut client = Client::new(addr.clone(), config.clone()).unwrap();
    let t0 = Instant::now();
    connect(&mut server, &mut client, t0);
    exchange_checked(
        client.interface_mut().unwrap(),
        server.interface_mut(3).unwrap(),
        500,
        |_| 64,
    );

    drop(server);
    assert!(matches!(
        client.poll(t0),
        Some(Event::Disconnected {
            id: 3,
            reason: DisconnectReason::Peer(_)
        })
    ));
    assert!(client.interface().is_none());
    // Reconnecting at once finds nobody; the next tries come after waits that double, up
    // to the period.
    assert_eq!(client.poll(t0), None);
    assert!(client.last_error().unwrap().contains("cannot connect"));
    let mut due = t0 + RECONNECT_FIRST;
    let mut wait = RECONNECT_FIRST;
    assert_eq!(client.next_deadline(), Some(due));
    assert!(client.fds().is_empty());
    while wait < RECONNECT_PERIOD {
        assert_eq!(client.poll(due), None);
        wait = (wait * 2).min(RECONNECT_PERIOD);
        due += wait;
        assert_eq!(client.next_deadline(), Some(due));
    }
    assert_eq!(client.poll(due), None);
    due += RECONNECT_PERIOD;
    assert_eq!(
        client.next_deadline(),
        Some(due),
        "never longer than the period"
    );

    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(config).unwrap();
    let early = due - Duration::from_millis(1);
    assert_eq!(client.poll(early), None);
    assert!(server.poll(early).is_empty(), "no attempt before it is due");

    let t1 = due;
    let log = pump(&mut server, &mut [&mut client], t1, |log| {
        log.clients[0].iter().any(common::is_connected)
    });
    assert!(log.server.iter().any(common::is_connected));
    exchange_checked(
        server.interface_mut(3).unwrap(),
        client.interface_mut().unwrap(),
        500,
        |_| 64,
    );
}
