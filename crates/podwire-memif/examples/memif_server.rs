//! A memif server that echoes every frame back to its client.
//!
//! ```text
//! cargo run -p podwire-memif --example memif_server -- /tmp/memif.sock
//! cargo run -p podwire-memif --example memif_client -- /tmp/memif.sock
//! ```
//!
//! Serves interface id 0 (ethernet, one queue pair) on the socket given
//! (a path, or `@NAME` for an abstract socket; default `/tmp/memif.sock`)
//! until interrupted. A DPDK client works too:
//! `--vdev=net_memif0,role=client,socket=/tmp/memif.sock,socket-abstract=no`.

use std::time::{Duration, Instant};

use podwire_memif::connection::wait_readable;
use podwire_memif::{Event, InterfaceConfig, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/memif.sock".into())
        .parse()?;
    let mut server = Server::bind(&addr, None)?;
    server.add_interface(InterfaceConfig::new(0))?;
    println!("serving memif interface 0 on {addr}");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    loop {
        for event in server.poll(Instant::now()) {
            match event {
                Event::Connected { id, peer } => println!("{id}: {} connected", peer.name),
                Event::Disconnected { id, reason } => println!("{id}: {reason}"),
                Event::Refused { id, reason } => println!("{id:?}: refused: {reason}"),
            }
        }
        frames.clear();
        if let Some(interface) = server.interface_mut(0) {
            interface.drain_interrupt(0)?;
            interface.rx_burst(0, 64, |packet| {
                let mut frame = vec![0; packet.len()];
                packet.copy_to(&mut frame);
                frames.push(frame);
            })?;
            // Frames that find no room are dropped, as a switch would.
            let echo: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            interface.tx_burst(0, &echo)?;
        }
        if frames.is_empty() {
            // Idle: sleep until the client sends or the control side stirs.
            let mut fds = server.fds();
            if let Some(interface) = server.interface(0) {
                fds.push(interface.rx_interrupt_fd(0)?);
            }
            wait_readable(&fds, Duration::from_secs(1))?;
        }
    }
}
