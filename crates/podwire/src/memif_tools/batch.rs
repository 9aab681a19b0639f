//! Frames waiting to go out on one transmit queue, in one buffer that is
//! reused from burst to burst, so that a warm tool allocates nothing.

use podwire_memif::{Interface, InterfaceError, Packet};

/// Frames handed to one `tx_burst` at most (its slice lives on the stack).
const TX_CHUNK: usize = 64;

/// Frames to send, in order; those the ring has no room for stay for the
/// next [`send`](Batch::send).
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// Where each frame ends in `data`.
    ends: Vec<usize>,
    /// Frames already sent, from the front.
    sent: usize,
}

impl Batch {
    /// Frames not sent yet.
    pub fn pending(&self) -> usize {
        self.ends.len() - self.sent
    }

    /// Whether every frame was sent.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Bytes of the frames not sent yet.
    pub fn pending_bytes(&self) -> usize {
        self.data.len().saturating_sub(self.frame_start(self.sent))
    }

    /// Appends the frame `fill` writes into up to `room` bytes; `fill`
    /// returns its length, or `None` to append nothing.
    pub fn push_with(&mut self, room: usize, fill: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let start = self.data.len();
        self.data.resize(start + room, 0);
        let written = self.data.get_mut(start..).and_then(fill);
        match written {
            Some(len) if len <= room => {
                self.data.truncate(start + len);
                self.ends.push(start + len);
            }
            _ => self.data.truncate(start),
        }
    }

    /// Appends a copy of a received packet.
    pub fn push_packet(&mut self, packet: &Packet<'_>) {
        self.push_with(packet.len(), |buf| Some(packet.copy_to(buf)));
    }

    /// The frames not sent yet, to change in place.
    pub fn for_each_pending(&mut self, mut change: impl FnMut(&mut [u8])) {
        let mut start = self.frame_start(self.sent);
        for &end in self.ends.get(self.sent..).unwrap_or_default() {
            if let Some(frame) = self.data.get_mut(start..end) {
                change(frame);
            }
            start = end;
        }
    }

    /// Sends pending frames on transmit queue `queue`, in order, until the
    /// ring is full; returns how many the ring took.
    pub fn send(&mut self, interface: &mut Interface, queue: u16) -> Result<usize, InterfaceError> {
        let mut sent = 0;
        while !self.is_empty() {
            let mut frames: [&[u8]; TX_CHUNK] = [&[]; TX_CHUNK];
            let mut start = self.frame_start(self.sent);
            let pending = self.ends.get(self.sent..).unwrap_or_default();
            let chunk = pending.len().min(TX_CHUNK);
            for (frame, &end) in frames.iter_mut().zip(pending) {
                *frame = self.data.get(start..end).unwrap_or_default();
                start = end;
            }
            let taken = interface.tx_burst(queue, &frames[..chunk])?;
            self.sent += taken;
            sent += taken;
            if taken < chunk {
                break;
            }
        }
        if self.is_empty() {
            self.clear();
        }
        Ok(sent)
    }

    /// Forgets every frame, sent or not.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.sent = 0;
    }

    /// Where frame `index` starts in `data`.
    fn frame_start(&self, index: usize) -> usize {
        match index.checked_sub(1) {
            Some(previous) => self.ends.get(previous).copied().unwrap_or(0),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_kept_whole_in_order_and_refusals_leave_nothing() {
        let mut batch = Batch::default();
        batch.push_with(8, |buf| {
            buf[..3].copy_from_slice(b"abc");
            Some(3)
        });
        batch.push_with(8, |_| None);
        batch.push_with(2, |_| Some(3)); // claims more than its room
        batch.push_with(4, |buf| {
            buf.copy_from_slice(b"defg");
            Some(4)
        });
        assert_eq!((batch.pending(), batch.pending_bytes()), (2, 7));
        let mut frames = Vec::new();
        batch.for_each_pending(|frame| {
            frame.reverse();
            frames.push(frame.to_vec());
        });
        assert_eq!(frames, [b"cba".to_vec(), b"gfed".to_vec()]);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.pending_bytes(), 0);
    }
}
