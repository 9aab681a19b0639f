//! Interrupt mode wakes a receiver sleeping on its queue's eventfd; polling
//! mode asks the peer not to signal at all.

mod common;

use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::Instant;

use common::{abstract_addr, connect};
use podwire_memif::{Client, InterfaceConfig, Server};
use rustix::event::{PollFd, PollFlags, Timespec, poll};

fn pair(what: &str, polling: bool) -> (Server, Client) {
    let config = InterfaceConfig {
        polling,
        ..InterfaceConfig::new(0)
    };
    let addr = abstract_addr(what);
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(config.clone()).unwrap();
    let mut client = Client::new(addr, config).unwrap();
    connect(&mut server, &mut client, Instant::now());
    (server, client)
}

/// Whether `fd` is readable now, without waiting.
fn readable(fd: impl AsFd) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut fds, Some(&Timespec::default())).unwrap() == 1
}

#[test]
fn a_receiver_asleep_on_its_eventfd_wakes_when_the_peer_sends() {
    let (mut server, mut client) = pair("wake", false);
    let (ready, is_ready) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let interface = client.interface_mut().unwrap();
        let fd = interface.rx_interrupt_fd(0).unwrap();
        assert!(!readable(fd), "signalled before anything was sent");
        ready.send(()).unwrap();
        // Asleep until the peer signals. The bound only keeps a broken
        // build from hanging the test run: it must wake by readability.
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let bound = Timespec {
            tv_sec: 60,
            tv_nsec: 0,
        };
        assert_eq!(
            poll(&mut fds, Some(&bound)).unwrap(),
            1,
            "woke without a signal"
        );
        assert!(interface.drain_interrupt(0).unwrap() >= 1);
        let mut frames = 0;
        while frames < 3 {
            frames += interface.rx_burst(0, 32, |_| {}).unwrap();
        }
        frames
    });
    is_ready.recv().unwrap();
    let sent = server
        .interface_mut(0)
        .unwrap()
        .tx_burst(0, &[b"one", b"two", b"three"])
        .unwrap();
    assert_eq!(sent, 3);
    assert_eq!(receiver.join().unwrap(), 3);
}

#[test]
fn interrupt_mode_signals_each_burst_on_both_rings() {
    let (mut server, mut client) = pair("signals", false);
    let c = client.interface_mut().unwrap();
    let s = server.interface_mut(0).unwrap();
    c.tx_burst(0, &[b"up"]).unwrap();
    s.tx_burst(0, &[b"down"]).unwrap();
    assert_eq!(s.drain_interrupt(0).unwrap(), 1);
    assert_eq!(c.drain_interrupt(0).unwrap(), 1);
    // Drained: nothing pending until the next burst.
    assert_eq!(s.drain_interrupt(0).unwrap(), 0);
}

#[test]
fn polling_mode_masks_the_peers_signals() {
    let (mut server, mut client) = pair("polling", true);
    let c = client.interface_mut().unwrap();
    let s = server.interface_mut(0).unwrap();
    for _ in 0..10 {
        assert_eq!(c.tx_burst(0, &[b"up"]).unwrap(), 1);
        assert_eq!(s.tx_burst(0, &[b"down"]).unwrap(), 1);
    }
    // The packets arrived, yet no eventfd was ever written.
    assert_eq!(s.drain_interrupt(0).unwrap(), 0);
    assert_eq!(c.drain_interrupt(0).unwrap(), 0);
    assert_eq!(s.rx_burst(0, 32, |_| {}).unwrap(), 10);
    assert_eq!(c.rx_burst(0, 32, |_| {}).unwrap(), 10);

    // Back to interrupts: signals flow again.
    s.set_polling(0, false).unwrap();
    c.tx_burst(0, &[b"up"]).unwrap();
    assert_eq!(s.drain_interrupt(0).unwrap(), 1);
    s.tx_burst(0, &[b"down"]).unwrap();
    assert_eq!(c.drain_interrupt(0).unwrap(), 0, "the client still polls");
}
