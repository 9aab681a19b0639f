//! Receiving on every queue of an interface into one scratch buffer: what
//! the tools that look at packets (rather than only send them back) share.

use podwire_memif::{Interface, InterfaceError};

/// Packets taken from one queue at most per call.
pub const RX_BURST: usize = 256;

/// Receives up to [`RX_BURST`] packets from each receive queue, `limit` in
/// all, copying each into `scratch` (cut to its length) for `inspect`;
/// returns how many were received.
pub fn receive_all(
    interface: &mut Interface,
    scratch: &mut [u8],
    limit: u64,
    mut inspect: impl FnMut(&[u8]),
) -> Result<u64, InterfaceError> {
    let mut received = 0;
    for queue in 0..interface.rx_queues() {
        let left = usize::try_from(limit - received).unwrap_or(usize::MAX);
        if left == 0 {
            break;
        }
        let got = interface.rx_burst(queue, left.min(RX_BURST), |packet| {
            let len = packet.copy_to(scratch);
            inspect(scratch.get(..len).unwrap_or_default());
        })?;
        received += got as u64;
    }
    Ok(received)
}
