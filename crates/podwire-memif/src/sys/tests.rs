//! The socket layer against the real kernel: unix sockets work without
//! privileges; changing a socket file's owner and the pid-namespace test
//! need root.

use std::io::{BufRead, BufReader};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pipe::PipeFlags;

use super::*;
use crate::types::MSG_SIZE;

/// An abstract name no other test (or test run) uses.
fn unique_name(tag: &str) -> Vec<u8> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("podwire-memif-test-{}-{n}-{tag}", std::process::id()).into_bytes()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn path_addr(path: &Path) -> SocketAddr {
    SocketAddr::Path(path.to_owned())
}

/// A message whose every byte is `tag`, so a mix-up shows.
fn message(tag: u8) -> [u8; MSG_SIZE] {
    [tag; MSG_SIZE]
}

/// A listener on `addr` and both ends of one connection to it.
fn connected(addr: &SocketAddr) -> (Listener, Conn, Conn) {
    let listener = Listener::bind(addr, None).expect("bind");
    let client = Conn::connect(addr).expect("connect");
    // A unix connect queues the connection before it returns.
    let server = listener
        .accept()
        .expect("accept")
        .expect("a pending connection");
    (listener, client, server)
}

/// Receives what must be a message; its length and descriptor.
fn recv_message(conn: &Conn, buf: &mut [u8; MSG_SIZE]) -> (usize, Option<OwnedFd>) {
    match conn.recv(buf).expect("recv") {
        Some(Received::Message { len, fd }) => (len, fd),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn assert_exchange(client: &Conn, server: &Conn) {
    let mut buf = [0u8; MSG_SIZE];
    assert!(server.recv(&mut buf).unwrap().is_none(), "nothing sent yet");
    client.send(&message(0xC1), None).unwrap();
    let (len, fd) = recv_message(server, &mut buf);
    assert_eq!((len, fd.is_none(), buf), (MSG_SIZE, true, message(0xC1)));
    server.send(&message(0x5E), None).unwrap();
    let (len, _) = recv_message(client, &mut buf);
    assert_eq!((len, buf), (MSG_SIZE, message(0x5E)));
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn path_socket_carries_messages_both_ways() {
    let dir = tempdir();
    let (_listener, client, server) = connected(&path_addr(&dir.path().join("memif.sock")));
    assert_exchange(&client, &server);
}

#[test]
fn accept_without_a_client_would_block() {
    let dir = tempdir();
    let listener = Listener::bind(&path_addr(&dir.path().join("memif.sock")), None).unwrap();
    assert!(listener.accept().unwrap().is_none());
}

#[test]
fn abstract_socket_has_the_exact_name_dpdk_uses() {
    let name = unique_name("abstract");
    let text = format!("abstract:{}", String::from_utf8_lossy(&name));
    let addr: SocketAddr = text.parse().unwrap();
    let (_listener, client, server) = connected(&addr);
    assert_exchange(&client, &server);

    // /proc/net/unix shows an abstract name as '@' and the name, every NUL
    // as another '@': an addrlen covering trailing NULs would show them.
    let shown = format!("@{}", String::from_utf8_lossy(&name));
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    let bound: Vec<&str> = table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(7))
        .filter(|path| path.starts_with(&shown))
        .collect();
    assert!(!bound.is_empty(), "{shown} not in /proc/net/unix");
    assert!(bound.iter().all(|path| *path == shown), "{bound:?}");
}

#[test]
fn abstract_name_in_use_is_refused() {
    let addr = SocketAddr::Abstract(unique_name("taken"));
    let _first = Listener::bind(&addr, None).unwrap();
    let error = Listener::bind(&addr, None).unwrap_err();
    assert!(matches!(error, SocketError::InUse { .. }), "{error}");
}

#[test]
fn abstract_socket_refuses_file_permissions() {
    let addr = SocketAddr::Abstract(unique_name("access"));
    let access = FileAccess {
        mode: 0o600,
        uid: None,
        gid: None,
    };
    let error = Listener::bind(&addr, Some(access)).unwrap_err();
    assert!(
        matches!(error, SocketError::AccessOnAbstract { .. }),
        "{error}"
    );
    // Nothing was bound: the name is free.
    Listener::bind(&addr, None).unwrap();
}

#[test]
fn missing_parent_directories_are_created() {
    let dir = tempdir();
    let path = dir.path().join("pods/pod-a/memif/memif.sock");
    let (_listener, client, server) = connected(&path_addr(&path));
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert_exchange(&client, &server);
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempdir();
    let path = dir.path().join("memif.sock");
    // What a killed server leaves: a socket file nobody is bound to (std
    // does not remove it when the listener is dropped).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );

    let (_listener, client, server) = connected(&path_addr(&path));
    assert_exchange(&client, &server);
}

#[test]
fn live_socket_is_refused_and_keeps_serving() {
    let dir = tempdir();
    let addr = path_addr(&dir.path().join("memif.sock"));
    let first = Listener::bind(&addr, None).unwrap();
    let error = Listener::bind(&addr, None).unwrap_err();
    assert!(matches!(error, SocketError::InUse { .. }), "{error}");
    assert!(error.to_string().contains("in use"), "{error}");

    // The probe that found the server alive was a real connection: the
    // server sees it end at once, as any client that goes away.
    let probe = first.accept().unwrap().expect("the probe's connection");
    let mut buf = [0u8; MSG_SIZE];
    assert!(matches!(probe.recv(&mut buf), Ok(Some(Received::Closed))));

    let client = Conn::connect(&addr).unwrap();
    let server = first
        .accept()
        .unwrap()
        .expect("the first listener still serves");
    assert_exchange(&client, &server);
}

#[test]
fn live_socket_of_another_type_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("memif.sock");
    let _stream = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let error = Listener::bind(&path_addr(&path), None).unwrap_err();
    assert!(matches!(error, SocketError::InUse { .. }), "{error}");
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
}

#[test]
fn path_that_is_not_a_socket_is_refused_and_kept() {
    let dir = tempdir();
    let file = dir.path().join("memif.sock");
    std::fs::write(&file, b"precious").unwrap();
    let error = Listener::bind(&path_addr(&file), None).unwrap_err();
    assert!(matches!(error, SocketError::NotASocket { .. }), "{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");

    let subdir = dir.path().join("a-directory");
    std::fs::create_dir(&subdir).unwrap();
    let error = Listener::bind(&path_addr(&subdir), None).unwrap_err();
    assert!(matches!(error, SocketError::NotASocket { .. }), "{error}");
    assert!(subdir.is_dir());
}

#[test]
fn file_access_is_applied() {
    let dir = tempdir();
    for mode in [0o600, 0o660] {
        let path = dir.path().join(format!("memif-{mode:o}.sock"));
        let access = FileAccess {
            mode,
            uid: None,
            gid: None,
        };
        let _listener = Listener::bind(&path_addr(&path), Some(access)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode);
    }

    if !is_root() {
        eprintln!(
            "not root: skipping the owner assertion of file_access_is_applied (chown needs CAP_CHOWN)"
        );
        return;
    }
    let path = dir.path().join("memif-owned.sock");
    let access = FileAccess {
        mode: 0o660,
        uid: Some(4242),
        gid: Some(4343),
    };
    let _listener = Listener::bind(&path_addr(&path), Some(access)).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
        (4242, 4343, 0o660)
    );
}

#[test]
fn drop_removes_the_socket_file_only_while_it_is_ours() {
    let dir = tempdir();
    let path = dir.path().join("memif.sock");
    let listener = Listener::bind(&path_addr(&path), None).unwrap();
    assert!(path.exists());
    drop(listener);
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "socket file left behind"
    );

    // Someone replaced our file: theirs stays.
    let listener = Listener::bind(&path_addr(&path), None).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
}

#[test]
fn connecting_to_nothing_says_so() {
    let dir = tempdir();
    let addr = path_addr(&dir.path().join("nobody.sock"));
    let error = Conn::connect(&addr).unwrap_err();
    assert!(matches!(error, SocketError::Connect { .. }), "{error}");
    assert!(error.to_string().contains("nobody.sock"), "{error}");
}

#[test]
fn an_eventfd_passes_and_signals_across() {
    let addr = SocketAddr::Abstract(unique_name("eventfd"));
    let (_listener, client, server) = connected(&addr);
    let original = EventFd::new().unwrap();
    client.send(&message(5), Some(original.as_fd())).unwrap();

    let mut buf = [0u8; MSG_SIZE];
    let (len, fd) = recv_message(&server, &mut buf);
    assert_eq!((len, buf), (MSG_SIZE, message(5)));
    let received = EventFd::from_peer(fd.expect("the eventfd")).unwrap();

    assert!(!original.drain(), "nothing notified yet");
    received.notify();
    received.notify();
    assert!(original.drain(), "the notification crossed");
    assert!(!original.drain(), "notifications coalesce and drain clears");
}

#[test]
fn a_peer_file_that_is_not_an_eventfd_is_refused() {
    let (read, _write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).unwrap();
    let error = EventFd::from_peer(read).unwrap_err();
    assert!(
        matches!(error, EventFdError::NotAnEventFd { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("pipe"), "{error}");
}

#[test]
fn datagrams_of_other_sizes_are_reported_with_their_size() {
    let dir = tempdir();
    let (_listener, client, server) = connected(&path_addr(&dir.path().join("memif.sock")));
    let mut buf = [0u8; MSG_SIZE];
    for size in [64usize, 200] {
        rustix::net::send(client.as_fd(), &vec![0xAB; size], SendFlags::empty()).unwrap();
        let (len, fd) = recv_message(&server, &mut buf);
        assert_eq!((len, fd.is_none()), (size, true));
        assert!(buf[..size.min(MSG_SIZE)].iter().all(|&b| b == 0xAB));
    }
    // Boundaries hold: the next message is whole.
    client.send(&message(9), None).unwrap();
    assert_eq!(recv_message(&server, &mut buf).0, MSG_SIZE);
    assert_eq!(buf, message(9));
}

/// Pipes whose write ends go to the peer; a read end reads end-of-file only
/// once every copy of its write end is closed.
struct Pipes {
    reads: Vec<OwnedFd>,
    writes: Vec<OwnedFd>,
}

impl Pipes {
    fn new(count: usize) -> Pipes {
        let (reads, writes) = (0..count)
            .map(|_| rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).unwrap())
            .unzip();
        Pipes { reads, writes }
    }

    /// Sends all write ends in one message, as no memif peer should.
    fn send_writes(&self, conn: &Conn) {
        let fds: Vec<_> = self.writes.iter().map(|fd| fd.as_fd()).collect();
        let mut space = [MaybeUninit::uninit(); 256];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        let msg = message(7);
        let iov = [std::io::IoSlice::new(&msg)];
        rustix::net::sendmsg(conn.as_fd(), &iov, &mut control, SendFlags::empty()).unwrap();
    }

    /// Closes our write ends and checks that no other copy stayed open.
    fn assert_all_closed_by_receiver(self) {
        drop(self.writes);
        for (i, read) in self.reads.iter().enumerate() {
            let mut byte = [0u8; 1];
            assert_eq!(
                rustix::io::read(read, &mut byte),
                Ok(0),
                "write end {i} leaked by the receiver"
            );
        }
    }
}

#[test]
fn two_descriptors_in_one_message_are_refused_and_closed() {
    // Over a listener, so credentials (SO_PASSCRED) ride along too.
    let dir = tempdir();
    let (_listener, client, server) = connected(&path_addr(&dir.path().join("memif.sock")));
    let pipes = Pipes::new(2);
    pipes.send_writes(&client);
    let error = server.recv(&mut [0u8; MSG_SIZE]).unwrap_err();
    assert!(
        matches!(error, TransferError::TooManyFds { count: 2 }),
        "{error}"
    );
    pipes.assert_all_closed_by_receiver();
}

#[test]
fn control_data_beyond_our_buffer_is_refused_and_closed() {
    let dir = tempdir();
    let (_listener, client, server) = connected(&path_addr(&dir.path().join("memif.sock")));
    let pipes = Pipes::new(5);
    pipes.send_writes(&client);
    let error = server.recv(&mut [0u8; MSG_SIZE]).unwrap_err();
    assert!(matches!(error, TransferError::ControlTruncated), "{error}");
    pipes.assert_all_closed_by_receiver();
}

#[test]
fn end_of_connection_is_reported_as_closed() {
    let addr = SocketAddr::Abstract(unique_name("eof"));
    let (_listener, client, server) = connected(&addr);
    let mut buf = [0u8; MSG_SIZE];
    assert!(server.recv(&mut buf).unwrap().is_none());
    client.send(&message(1), None).unwrap();
    drop(client);
    // What was sent before the close is still delivered, then the end.
    assert_eq!(recv_message(&server, &mut buf).0, MSG_SIZE);
    assert!(matches!(server.recv(&mut buf), Ok(Some(Received::Closed))));
}

#[test]
fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
    let addr = SocketAddr::Abstract(unique_name("epipe"));
    let (_listener, client, server) = connected(&addr);
    drop(server);
    let error = client.send(&message(1), None).unwrap_err();
    assert!(matches!(error, TransferError::Send(_)), "{error}");
}

#[test]
fn peer_credentials_name_the_connecting_process() {
    let addr = SocketAddr::Abstract(unique_name("creds"));
    let (_listener, client, server) = connected(&addr);
    let expected = PeerCredentials {
        pid: Some(std::process::id()),
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    };
    assert_eq!(server.peer_credentials().unwrap(), expected);
    assert_eq!(client.peer_credentials().unwrap(), expected);
}

/// Where the pid-namespace receiver binds; set only for that child.
const PIDNS_SOCKET_ENV: &str = "PODWIRE_MEMIF_TEST_PIDNS_SOCKET";
/// The line the receiver prints once it listens.
const PIDNS_READY: &str = "podwire-memif-pidns-receiver-listening";

/// Kills and reaps the child on every exit path of the test.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server in a pod without `hostPID` cannot see its clients' processes:
/// the kernel reports pid 0 in `SCM_CREDENTIALS` (on every message, as the
/// listener sets `SO_PASSCRED`) and in `SO_PEERCRED`. Receiving must work
/// there and say the pid is unknown.
#[test]
fn a_server_in_another_pid_namespace_receives_and_sees_no_pid() {
    if std::env::var_os("PODWIRE_SKIP_ROOT_TESTS").is_some_and(|v| v == "1") {
        eprintln!("PODWIRE_SKIP_ROOT_TESTS=1: skipping the pid-namespace test");
        return;
    }
    assert!(
        is_root(),
        "this test needs root to create a pid namespace (unshare --pid): run it as root, or set \
         PODWIRE_SKIP_ROOT_TESTS=1 to skip it"
    );
    let dir = tempdir();
    let path = dir.path().join("memif.sock");
    let exe = std::env::current_exe().unwrap();
    // Bounded: if the namespace cannot be made or the receiver gets stuck,
    // the test fails instead of waiting for ever on its output.
    let child = Command::new("timeout")
        .args(["30", "unshare", "--pid", "--fork", "--kill-child", "--"])
        .arg(exe)
        .args([
            "--exact",
            "sys::tests::pidns_receiver",
            "--ignored",
            "--nocapture",
        ])
        .env(PIDNS_SOCKET_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot run unshare (util-linux) to make a pid namespace");
    let mut child = ChildGuard(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line == PIDNS_READY);
    assert!(
        listening,
        "the receiver in the pid namespace never listened"
    );

    let client = Conn::connect(&path_addr(&path)).unwrap();
    let eventfd = EventFd::new().unwrap();
    client.send(&message(3), Some(eventfd.as_fd())).unwrap();
    lines.for_each(drop);
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "the receiver failed: {status} (its output is above)"
    );
    assert!(
        eventfd.drain(),
        "the receiver notified through the passed eventfd"
    );
}

/// The other half of the test above, run by it as pid 1 of a new pid
/// namespace, where the connecting test process is invisible.
#[test]
#[ignore = "run by a_server_in_another_pid_namespace_receives_and_sees_no_pid"]
fn pidns_receiver() {
    let Some(path) = std::env::var_os(PIDNS_SOCKET_ENV) else {
        eprintln!("{PIDNS_SOCKET_ENV} is not set: this half runs only inside its pair test");
        return;
    };
    let listener = Listener::bind(&SocketAddr::Path(PathBuf::from(path)), None).unwrap();
    println!("{PIDNS_READY}");
    wait_readable(&listener);
    let server = listener.accept().unwrap().expect("a connection");
    wait_readable(&server);
    let mut buf = [0u8; MSG_SIZE];
    let (len, fd) = recv_message(&server, &mut buf);
    assert_eq!((len, buf), (MSG_SIZE, message(3)));
    EventFd::from_peer(fd.expect("the eventfd"))
        .unwrap()
        .notify();
    assert_eq!(server.peer_credentials().unwrap().pid, None);
}

fn wait_readable(fd: &impl AsFd) {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    rustix::event::poll(&mut fds, None).unwrap();
}
