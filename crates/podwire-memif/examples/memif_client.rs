//! A memif client that sends frames to an echoing server (see
//! `memif_server`) and counts them back.
//!
//! ```text
//! cargo run -p podwire-memif --example memif_client -- /tmp/memif.sock 100000
//! ```

use std::time::{Duration, Instant};

use podwire_memif::connection::wait_readable;
use podwire_memif::{Client, InterfaceConfig};

/// Frames in flight at most: well below the ring's 1024 slots, so the
/// echo always finds a buffer.
const WINDOW: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "/tmp/memif.sock".into())
        .parse()?;
    let count: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let mut client =
        Client::connect_blocking(addr, InterfaceConfig::new(0), Duration::from_secs(10))?;
    let peer = &client.interface().expect("connected").peer().name;
    println!("connected to {peer}");

    let frame = [0x5au8; 64];
    let start = Instant::now();
    let (mut sent, mut echoed) = (0, 0);
    while echoed < count {
        if let Some(event) = client.poll(Instant::now()) {
            return Err(format!("{event:?} after {echoed} echoes").into());
        }
        let interface = client.interface_mut().expect("connected");
        let room = (count - sent).min(WINDOW - (sent - echoed)).min(32);
        sent += interface.tx_burst(0, &vec![&frame[..]; room])?;
        interface.drain_interrupt(0)?;
        let got = interface.rx_burst(0, 64, |_| {})?;
        echoed += got;
        if got == 0 {
            let interface = client.interface().expect("connected");
            let fds = [interface.rx_interrupt_fd(0)?, client.fds()[0]];
            wait_readable(&fds, Duration::from_secs(1))?;
        }
    }
    let elapsed = start.elapsed();
    let rate = count as f64 / elapsed.as_secs_f64() / 1e6;
    println!("{count} frames echoed in {elapsed:?} ({rate:.2} Mpps round trip)");
    Ok(())
}
