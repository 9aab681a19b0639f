//! The eBPF side of an AF_XDP port, without a BPF compiler: an `XSKMAP` holding the socket,
//! and a five-instruction XDP program that redirects every frame of a queue to the socket in
//! the map's slot for that queue, passing frames of other queues (and any frame arriving while
//! the slot is empty) to the kernel's stack.
//!
//! Both are made with the `bpf(2)` system call directly. The attribute structures below are
//! the leading fields of the kernel's `union bpf_attr` for each command; the kernel treats the
//! fields past the size passed as zero.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_ANY`: create the map element or replace it.
const BPF_ANY: u64 = 0;

/// `XDP_PASS`: the verdict that hands a frame to the kernel's stack.
const XDP_PASS: i32 = 2;
/// Helper `bpf_redirect_map(map, key, flags)`. Since Linux 5.3 the low bits of `flags` are the
/// verdict when `key` has no entry, which spares the program a lookup.
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;
/// `src_reg` of a 64-bit immediate load that names a map by file descriptor.
const BPF_PSEUDO_MAP_FD: u8 = 1;

/// The name the program and the map carry in `bpftool` listings.
const NAME: &[u8] = b"podwire_xsk";
/// The program's license. `bpf_redirect_map` is not restricted to GPL programs.
const LICENSE: &[u8] = b"Apache-2.0\0";
/// Room for the verifier's explanation when it refuses the program.
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// One eBPF instruction (`struct bpf_insn`): `regs` holds `dst_reg` in its low and `src_reg`
/// in its high four bits.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }
}

// Instruction classes and fields (linux/bpf_common.h, linux/bpf.h).
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_MOV: u8 = 0xb0;
const BPF_K: u8 = 0x00;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;

/// The program, for the map open as `map_fd`:
///
/// ```text
/// r2 = *(u32 *)(r1 + rx_queue_index)   ; r1: the xdp_md context
/// r1 = map_fd ll                        ; two slots: a 64-bit immediate
/// r3 = XDP_PASS
/// call bpf_redirect_map
/// exit                                  ; r0: the helper's verdict
/// ```
fn redirect_program(map_fd: i32) -> [Insn; 6] {
    [
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        Insn::new(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS),
        Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    ]
}

fn object_name() -> [u8; 16] {
    let mut name = [0; 16];
    name[..NAME.len()].copy_from_slice(NAME);
    name
}

/// `bpf(cmd, attr, sizeof attr)`; returns the non-negative result (a new descriptor for the
/// commands that create one).
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_int> {
    // SAFETY: `attr` is a live, initialized attribute structure of `size_of::<T>()` bytes laid
    // out as the kernel's for `cmd` (the callers pair them); any pointers inside it point to
    // memory that outlives the call. The kernel reads it and, for PROG_LOAD, writes only into
    // the log buffer it names, within `log_size`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            ptr::from_mut(attr),
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel's result is an int.
    Ok(rc as libc::c_int)
}

/// Takes ownership of a descriptor the kernel has just returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` is a fresh descriptor from a successful bpf() call, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Creates an `XSKMAP` with slots for queues `0..entries`.
pub(super) fn create_xskmap(entries: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_flags: 0,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: object_name(),
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// Puts the bound AF_XDP socket `xsk` into slot `queue` of `map`.
pub(super) fn insert_socket(
    map: BorrowedFd<'_>,
    queue: u32,
    xsk: BorrowedFd<'_>,
) -> io::Result<()> {
    let key: u32 = queue;
    let value: u32 = xsk.as_raw_fd() as u32;
    let mut attr = MapUpdateAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: ptr::from_ref(&key) as u64,
        value: ptr::from_ref(&value) as u64,
        flags: BPF_ANY,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Why the kernel refused the program.
#[derive(Debug)]
pub(super) struct LoadError {
    /// The error of `BPF_PROG_LOAD`.
    pub(super) source: io::Error,
    /// What the verifier said, if it said anything.
    pub(super) verifier_log: String,
}

/// Loads the redirect program for `map`.
pub(super) fn load_redirect_program(map: BorrowedFd<'_>) -> Result<OwnedFd, LoadError> {
    let program = redirect_program(map.as_raw_fd());
    let load = |log: &mut [u8]| {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: program.len() as u32,
            insns: program.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            log_level: u32::from(!log.is_empty()),
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: object_name(),
        };
        bpf(BPF_PROG_LOAD, &mut attr).map(owned)
    };
    load(&mut []).map_err(|source| {
        // Load again with the verifier's log on, only to say why.
        let mut log = vec![0u8; VERIFIER_LOG_SIZE];
        let _ = load(&mut log);
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        LoadError {
            source,
            verifier_log: String::from_utf8_lossy(&log[..end]).trim().to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_encoded_as_the_kernel_reads_it() {
        assert_eq!(size_of::<Insn>(), 8, "struct bpf_insn is eight bytes");
        let program = redirect_program(7);
        let fields = |insn: Insn| (insn.code, insn.regs, insn.off, insn.imm);
        // ldxw r2, [r1 + 16]: dst_reg 2 in the low nibble, src_reg 1 in the high one.
        assert_eq!(fields(program[0]), (0x61, 0x12, 16, 0));
        // lddw r1, map: src_reg 1 (BPF_PSEUDO_MAP_FD) marks the immediate as a map descriptor;
        // the second slot carries the (zero) upper half.
        assert_eq!(fields(program[1]), (0x18, 0x11, 0, 7));
        assert_eq!(fields(program[2]), (0, 0, 0, 0));
        // mov r3, XDP_PASS; call 51 (bpf_redirect_map); exit.
        assert_eq!(fields(program[3]), (0xb7, 0x03, 0, 2));
        assert_eq!(fields(program[4]), (0x85, 0, 0, 51));
        assert_eq!(fields(program[5]), (0x95, 0, 0, 0));
    }
}
