//! memif attachments: a memif server socket in a directory of the pod's own, which the runtime
//! mounts into the pod, and the Network Plumbing WG device-info that tells the pod where it is.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use podwire_io::worker::memif::MemifPortError;
use podwire_io::worker::{RxPort, TxPort};
use podwire_model::attach::Attachment;
use podwire_model::config::{
    DEFAULT_MEMIF_QUEUES, MemifConfig, MemifRole, MemifSocket, SocketAccess,
};

use crate::node::memif::{self as node_memif, MemifLink};

/// Who may connect to a pod's memif socket: anyone who can reach the file. The directory it
/// lives in is the pod's own and is mounted into that pod alone; the pod's application may
/// run as any user.
const POD_SOCKET_MODE: u32 = 0o666;

/// The memif device-info format version (Network Plumbing WG device-info spec).
const DEVICE_INFO_VERSION: &str = "1.1.0";

/// Why a memif attachment could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MemifAttachError {
    /// The attachment has no socket path (the registry holds something this agent did not plan).
    #[error("it has no memif socket path")]
    NoSocket,
    /// Its directory or device-info file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The socket could not be served.
    #[error(transparent)]
    Port(#[from] MemifPortError),
}

/// A pod's memif socket, served: the switch's two sides and the connection's status.
pub struct PodMemif {
    /// Polled by one worker.
    pub rx: Box<dyn RxPort>,
    /// Sent on by every worker.
    pub tx: Arc<dyn TxPort>,
    /// For `show interfaces`.
    pub link: MemifLink,
}

/// Serves the attachment's memif socket and writes its device-info, if the runtime asked for it.
pub fn open(attachment: &Attachment) -> Result<PodMemif, MemifAttachError> {
    let socket = attachment
        .socket_path
        .as_deref()
        .ok_or(MemifAttachError::NoSocket)?;
    if let Some(dir) = socket.parent() {
        fs::create_dir_all(dir).map_err(write_failed(dir))?;
    }
    let config = MemifConfig {
        socket: MemifSocket::Path(socket.to_owned()),
        id: 0,
        secret: None,
        queues: DEFAULT_MEMIF_QUEUES,
        role: MemifRole::Server {
            access: Some(SocketAccess {
                mode: POD_SOCKET_MODE,
                uid: None,
                gid: None,
            }),
            allow_unsealed_regions: false,
        },
    };
    let mtu = attachment.mtu.min(u32::from(u16::MAX)) as u16;
    let port = node_memif::open(&attachment.switch_interface, mtu, &config)?;
    if let Some(file) = &attachment.device_info_file {
        write_device_info(file, socket)?;
    }
    Ok(PodMemif {
        link: MemifLink::new(&config, port.status),
        rx: Box::new(port.rx),
        tx: port.tx,
    })
}

/// Removes the socket's directory and the device-info file; gone already is fine.
pub fn remove(attachment: &Attachment) {
    if let Some(dir) = attachment.socket_path.as_deref().and_then(Path::parent) {
        let _ = fs::remove_dir_all(dir);
    }
    if let Some(file) = &attachment.device_info_file {
        let _ = fs::remove_file(file);
    }
}

/// Whether the socket is still there to connect to.
pub fn check(attachment: &Attachment) -> Result<(), String> {
    match &attachment.socket_path {
        Some(socket) if socket.exists() => Ok(()),
        Some(socket) => Err(format!(
            "{}: its memif socket {} is gone",
            attachment.key,
            socket.display()
        )),
        None => Err(format!("{}: it has no memif socket", attachment.key)),
    }
}

/// The device-info of a memif socket the switch serves: the pod's application is the client
/// ("slave" in the spec's words), frames are Ethernet.
fn device_info(socket: &Path) -> serde_json::Value {
    serde_json::json!({
        "type": "memif",
        "version": DEVICE_INFO_VERSION,
        "memif": {
            "role": "slave",
            "path": socket,
            "mode": "ethernet",
        },
    })
}

fn write_device_info(file: &Path, socket: &Path) -> Result<(), MemifAttachError> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).map_err(write_failed(dir))?;
    }
    let text =
        serde_json::to_vec_pretty(&device_info(socket)).expect("a JSON value always serializes");
    fs::write(file, text).map_err(write_failed(file))
}

fn write_failed(path: &Path) -> impl FnOnce(std::io::Error) -> MemifAttachError + '_ {
    move |source| MemifAttachError::Write {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_info_follows_the_npwg_format() {
        let info = device_info(Path::new("/run/podwire/memif/pods/x/memif.sock"));
        assert_eq!(info["type"], "memif");
        assert_eq!(info["version"], "1.1.0");
        assert_eq!(info["memif"]["role"], "slave");
        assert_eq!(info["memif"]["mode"], "ethernet");
        assert_eq!(
            info["memif"]["path"],
            "/run/podwire/memif/pods/x/memif.sock"
        );
    }
}
