//! The attachment state file, `<state_dir>/attachments.json`, read whole and written
//! atomically.
//!
//! ```json
//! {"version": 1,
//!  "attachments": [{"key": {"network": "default", "container_id": "…", "ifname": "eth0"}, …}],
//!  "cursors": {"default": {"10.251.0.0/24": "10.251.0.7", "fd00:251::/112": "fd00:251::7"}}}
//! ```
//!
//! Each attachment is encoded once, when it is added, and a write joins the encoded records:
//! serializing every record again on every ADD would cost more than writing the file.
//!
//! A write goes to `attachments.json.tmp` in the same directory, is flushed to the disk, and
//! is renamed over the file; then the directory is flushed so that the rename itself is
//! durable. A crash at any point leaves the old file or the new one, never a torn one; a
//! leftover `.tmp` is never read and is overwritten by the next write.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use podwire_model::attach::Attachment;

use crate::state_file::ReadError;
use serde::Deserialize;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "attachments.json";
/// The name it is written under before the rename (by [`crate::state_file::replace_durably`]).
#[cfg(test)]
pub const STATE_FILE_TMP: &str = "attachments.json.tmp";
/// The format this agent writes and understands.
pub const VERSION: u32 = 1;

/// Network → pod CIDR (as written by [`podwire_model::Cidr`]'s `Display`) → the address
/// handed out last.
pub type Cursors = BTreeMap<String, BTreeMap<String, IpAddr>>;

/// What the file holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct State {
    /// Every attachment, in no particular order.
    pub attachments: Vec<Attachment>,
    /// Where each pool's round robin stands.
    #[serde(default)]
    pub cursors: Cursors,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory is missing and cannot be made.
    #[error(
        "cannot create the state directory {path}: {source}; create it, or set node.state_dir to a writable directory"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file exists but cannot be read.
    #[error(
        "cannot read the attachment state {path}: {source}; the agent does not start without it, so that it never hands out an address twice: fix its permissions, or restore it"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not what this agent writes.
    #[error(
        "the attachment state {path} is corrupt: {detail}; the agent does not start with it, so that it never hands out an address twice: restore it from a backup, or, only if no pod on this node still uses a podwire address, move it away"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        detail: String,
    },
    /// The file was written by a newer agent.
    #[error(
        "the attachment state {path} has format version {found}, newer than this agent's {supported}: run the podwire version that wrote it, or a newer one"
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this agent writes.
        supported: u32,
    },
    /// An attachment cannot be written as JSON.
    #[error(
        "attachment {key} cannot be saved: {detail}; nothing was changed: give paths that are valid UTF-8"
    )]
    Encode {
        /// Which attachment.
        key: String,
        /// Why.
        detail: String,
    },
    /// The state could not be saved; the change it records was not made.
    #[error(
        "cannot save the attachment state to {path}: {source}; nothing was changed: make room on its file system or fix the state directory's permissions"
    )]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Makes `dir` if it is missing.
pub fn create_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Reads `<dir>/attachments.json`; an absent file is an empty state.
pub fn load(dir: &Path) -> Result<State, StoreError> {
    let path = dir.join(STATE_FILE);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.clone(),
        detail,
    };
    let text = match crate::state_file::read_versioned(&path, VERSION) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(State::default()),
        Err(ReadError::Read(source)) => return Err(StoreError::Read { path, source }),
        Err(ReadError::Corrupt(detail)) => return Err(corrupt(detail)),
        Err(ReadError::Newer(found)) => {
            return Err(StoreError::NewerVersion {
                path,
                found,
                supported: VERSION,
            });
        }
    };
    let state: State = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    let mut seen = HashSet::new();
    if let Some(twice) = state.attachments.iter().find(|a| !seen.insert(&a.key)) {
        return Err(corrupt(format!("it holds {} twice", twice.key)));
    }
    Ok(state)
}

/// `attachment` as it is written in the file.
pub fn encode_record(attachment: &Attachment) -> Result<Box<str>, StoreError> {
    serde_json::to_string(attachment)
        .map(String::into_boxed_str)
        .map_err(|e| StoreError::Encode {
            key: attachment.key.to_string(),
            detail: e.to_string(),
        })
}

/// The whole file: the records (each from [`encode_record`]) and the cursors.
fn encode<'a>(
    records: impl Iterator<Item = &'a str>,
    cursors: &Cursors,
) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(4096);
    bytes.extend_from_slice(format!("{{\"version\":{VERSION},\"attachments\":[").as_bytes());
    for (i, record) in records.enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(record.as_bytes());
    }
    bytes.extend_from_slice(b"],\"cursors\":");
    serde_json::to_writer(&mut bytes, cursors)?;
    bytes.extend_from_slice(b"}\n");
    Ok(bytes)
}

/// Replaces `<dir>/attachments.json` with the records (each from [`encode_record`]) and the
/// cursors, atomically and durably.
pub fn save<'a>(
    dir: &Path,
    records: impl Iterator<Item = &'a str>,
    cursors: &Cursors,
) -> Result<(), StoreError> {
    let path = dir.join(STATE_FILE);
    // Cannot fail in practice: the cursors' keys are strings and their values addresses.
    let bytes = encode(records, cursors).map_err(|e| StoreError::Write {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    crate::state_file::replace_durably(&path, &bytes)
        .map_err(|(path, source)| StoreError::Write { path, source })
}
