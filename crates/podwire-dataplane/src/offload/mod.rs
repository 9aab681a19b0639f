//! Work a device left to be done, done in software.
//!
//! A frame a kernel interface hands over may carry work its sender left to
//! an offload that never happened on the way: a TCP or UDP checksum not
//! filled in (a veth performs no checksum offload; AF_PACKET reports this as
//! `TP_STATUS_CSUMNOTREADY`, the virtio-net header as `NEEDS_CSUM`), or a
//! TCP segment of up to 64 KiB that a NIC was to cut into MTU-sized ones
//! (TSO/GSO; GRO makes the same on receive), or a UDP datagram to be cut
//! into several (USO). Before such a packet reaches a device that cannot
//! finish the work, it is finished here.
//!
//! Two ways in:
//! - a packet in the graph, a buffer chain with its [`OffloadInfo`]:
//!   [`prepare`] compares what it asks for with what the device it leaves by
//!   takes ([`TxOffloads`]) and completes its checksum or cuts it into new
//!   packets ([`Segmenter`]) from the worker's pool;
//! - a contiguous frame in a receive ring (AF_PACKET): [`segment_frame`] cuts a large
//!   one straight into pool packets, [`partial_checksum`] finds the checksum a frame
//!   left undone; either way the checksums are left partial, for [`prepare`] to finish
//!   where a device cannot.
//!
//! Both share one copy of the header arithmetic (the `headers` module).
//!
//! The other way round, toward a device that takes TSO, [`Gro`] merges consecutive TCP
//! segments of a flow into one large segment.

mod checksum;
mod frame_segment;
mod gro;
mod gso;
mod headers;

pub use checksum::complete_checksum;
pub use frame_segment::{partial_checksum, segment_frame};
pub use gro::{GRO_MAX_BUFFERS, Gro, Offer, Segment, merges_for};
pub use gso::Segmenter;

use crate::buffer::{BufferIndex, BufferPool, GsoKind, OffloadInfo};
use crate::graph::{Context, Dispatch};
use crate::interface::TxOffloads;

/// Why a packet could not be segmented or its checksum completed.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum OffloadError {
    /// The headers are not Ethernet + IPv4/IPv6 + TCP/UDP.
    #[error(
        "not TCP or UDP right after an IPv4 or IPv6 header in an Ethernet frame (IPv6 extension headers and IPv4 fragments are not segmented)"
    )]
    NotTcpOrUdp,
    /// The packet ends before its IP length or its transport header says.
    #[error("the packet is shorter than its IP or transport header says")]
    Truncated,
    /// A header continues past the packet's first buffer.
    #[error(
        "the headers continue past the first buffer of the chain: the receive path must put them all in the first"
    )]
    HeadersOutsideFirstBuffer,
    /// A segment size of zero cannot carry anything.
    #[error("segment size 0: the sender's offload metadata is broken")]
    ZeroSize,
    /// The segmentation asked for is not that of the packet's protocols.
    #[error(
        "the packet asks for {0:?} segmentation but its headers are not that: the sender's offload metadata is broken"
    )]
    KindMismatch(GsoKind),
    /// A segment would not fit the IP length field.
    #[error(
        "a segment would be {0} bytes, more than an IP packet holds: the segment size is too large"
    )]
    TooLong(usize),
    /// The checksum the packet asks for is not within its first buffer.
    #[error(
        "the checksum asked for (start {start}, offset {offset}) lies outside the packet's first buffer: the sender's offload metadata is broken"
    )]
    ChecksumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
    },
    /// The pool cannot hold the segments.
    #[error(
        "the buffer pool cannot hold the {needed} buffers of the segments: raise buffers_per_worker"
    )]
    NoBuffers {
        /// Buffers the segments take.
        needed: usize,
    },
}

/// What the device a packet leaves by leaves to software.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// Nothing: the device takes what the packet asks for.
    None,
    /// The checksum, on the whole packet.
    Checksum,
    /// Segmentation (and the checksums of the segments, unless the device takes those).
    Segment,
}

impl Work {
    /// The work a packet that asks for `info` needs before a device that takes `device`
    /// sends it.
    #[inline]
    pub fn of(info: &OffloadInfo, device: TxOffloads) -> Work {
        let segmentation = match info.gso {
            GsoKind::None => true,
            GsoKind::Tcp4 => device.tso4,
            GsoKind::Tcp6 => device.tso6,
            GsoKind::Udp => device.uso,
        };
        let checksum = !info.needs_csum || device.csum;
        match (segmentation, checksum) {
            (true, true) => Work::None,
            (true, false) if info.gso == GsoKind::None => Work::Checksum,
            // A device that cuts segments but cannot checksum them (no such tap: the
            // kernel takes TSO only with checksum offload) gets them cut here.
            _ => Work::Segment,
        }
    }
}

/// A packet ready for its device.
#[derive(Debug)]
pub enum Prepared {
    /// The packet itself, as it was: the device takes what it asks for.
    Whole(BufferIndex),
    /// The packet itself, finished in place: its checksum completed, or, when it made a
    /// single segment, its headers rewritten as that segment's.
    Finished(BufferIndex),
    /// The packet cut into segments, made one at a time by the [`Segmenter`], which frees
    /// the packet with the last.
    Segments(Segmenter),
}

/// Finishes in software what packet `bi` asks for and the device it leaves by, which
/// takes `device`, cannot do: completes its checksum (over its chain), or cuts it into
/// segments from `pool`, each a whole packet with its headers and checksums (left to the
/// device, as the pseudo-header sum, when it takes `csum`).
///
/// On error the packet is as it was, or its headers rewritten: the caller drops it.
pub fn prepare(
    pool: &mut BufferPool,
    bi: BufferIndex,
    device: TxOffloads,
) -> Result<Prepared, OffloadError> {
    match Work::of(&pool.meta(bi).offload, device) {
        Work::None => Ok(Prepared::Whole(bi)),
        Work::Checksum => complete_checksum(pool, bi).map(|()| Prepared::Finished(bi)),
        Work::Segment => gso::segment(pool, bi, device.csum),
    }
}

/// What an output node does with a packet that asks for work (`offload.asks_for_work()`):
/// [`prepare`]s it for a device that takes `device` and hands the packet, or each of its
/// segments, to `send`; drops it for reason `D` when it cannot be finished (a reason
/// declared by [`drop_reasons_with_offload`]).
pub(crate) fn finish_then<D: From<OffloadError> + Into<u16>>(
    cx: &mut Context<'_>,
    bi: BufferIndex,
    device: TxOffloads,
    out: &mut Dispatch,
    mut send: impl FnMut(&mut Context<'_>, BufferIndex, &mut Dispatch),
) {
    match prepare(cx.pool, bi, device) {
        Ok(Prepared::Whole(bi)) => send(cx, bi, out),
        Ok(Prepared::Finished(bi)) => {
            cx.state.offload.count_finished();
            send(cx, bi, out)
        }
        Ok(Prepared::Segments(mut segments)) => {
            let n = segments.segments();
            cx.state.offload.count_segmented(n);
            cx.note(bi, || format!("segmented into {n} in software"));
            while let Some(made) = segments.next_segment(cx.pool) {
                match made {
                    Ok(seg) => send(cx, seg, out),
                    Err(e) => out.count_lost(D::from(e)),
                }
            }
        }
        Err(e) => {
            cx.note(bi, || format!("offload: {e}"));
            out.drop(bi, D::from(e));
        }
    }
}

/// Declares a node's drop reasons, as [`crate::drop_reasons!`] does, followed by those of
/// the packets it finishes with [`prepare`], and turns an [`OffloadError`] into one.
macro_rules! drop_reasons_with_offload {
    ($vis:vis enum $name:ident { $($variant:ident => ($code:literal, $desc:literal)),* $(,)? }) => {
        $crate::drop_reasons! {
            $vis enum $name {
                $($variant => ($code, $desc),)*
                GsoSizeZero => ("gso-size-zero", "a segmentation-offload packet with segment size 0 must be cut in software, which cannot be done: the sender's offload metadata is broken"),
                GsoKindMismatch => ("gso-kind-mismatch", "a segmentation-offload packet must be cut in software, but the segmentation it asks for is not that of its headers (TCP over IPv4 or IPv6, UDP)"),
                OffloadHeadersSplit => ("offload-headers-split", "a packet to be segmented in software has headers that continue past its first buffer"),
                OffloadBadHeaders => ("offload-bad-headers", "a packet to be segmented or checksummed in software is not TCP or UDP over IPv4 or IPv6 (IPv6 extension headers and fragments included), is shorter than its headers say, or its checksum offsets point outside its headers"),
                OffloadNoBuffers => ("offload-no-buffers", "the buffer pool cannot hold the segments of a packet to be segmented in software: raise buffers_per_worker"),
            }
        }

        impl From<$crate::offload::OffloadError> for $name {
            fn from(e: $crate::offload::OffloadError) -> Self {
                use $crate::offload::OffloadError as E;
                match e {
                    E::ZeroSize => $name::GsoSizeZero,
                    E::KindMismatch(_) => $name::GsoKindMismatch,
                    E::HeadersOutsideFirstBuffer => $name::OffloadHeadersSplit,
                    E::NoBuffers { .. } => $name::OffloadNoBuffers,
                    E::NotTcpOrUdp
                    | E::Truncated
                    | E::TooLong(_)
                    | E::ChecksumOutside { .. } => $name::OffloadBadHeaders,
                }
            }
        }
    };
}
pub(crate) use drop_reasons_with_offload;

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(needs_csum: bool, gso: GsoKind) -> OffloadInfo {
        OffloadInfo {
            needs_csum,
            gso,
            gso_size: 1448,
            ..OffloadInfo::default()
        }
    }

    #[test]
    fn a_device_is_left_only_what_it_takes() {
        let none = TxOffloads::default();
        let csum = TxOffloads { csum: true, ..none };
        let tso4 = TxOffloads {
            csum: true,
            tso4: true,
            ..none
        };
        let all = TxOffloads {
            csum: true,
            tso4: true,
            tso6: true,
            uso: true,
        };
        let ordinary = OffloadInfo::default();
        assert!(!ordinary.asks_for_work());
        assert_eq!(Work::of(&ordinary, none), Work::None);
        let partial = asking(true, GsoKind::None);
        assert!(partial.asks_for_work());
        assert_eq!(Work::of(&partial, none), Work::Checksum);
        assert_eq!(Work::of(&partial, csum), Work::None);
        for kind in [GsoKind::Tcp4, GsoKind::Tcp6, GsoKind::Udp] {
            let large = asking(true, kind);
            assert!(large.asks_for_work());
            assert_eq!(Work::of(&large, none), Work::Segment, "{kind:?}");
            assert_eq!(Work::of(&large, csum), Work::Segment, "{kind:?}");
            assert_eq!(Work::of(&large, all), Work::None, "{kind:?}");
        }
        assert_eq!(Work::of(&asking(true, GsoKind::Tcp4), tso4), Work::None);
        assert_eq!(Work::of(&asking(true, GsoKind::Tcp6), tso4), Work::Segment);
        assert_eq!(Work::of(&asking(true, GsoKind::Udp), tso4), Work::Segment);
        // TSO without checksum offload: cut and checksummed here.
        let tso_only = TxOffloads { tso4: true, ..none };
        assert_eq!(
            Work::of(&asking(true, GsoKind::Tcp4), tso_only),
            Work::Segment
        );
    }
}
