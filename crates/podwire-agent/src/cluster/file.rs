//! The cluster store's file, `<state_dir>/cluster.json`, read whole and replaced atomically.
//!
//! ```json
//! {"version": 1,
//!  "objects": [{"apiVersion": "v1", "kind": "Service", "metadata": {…}, "spec": {…}}, …]}
//! ```
//!
//! Each object is written as Kubernetes writes it, with its `apiVersion` and `kind`, so the
//! file can be read (and, in an emergency, edited) with the usual tools.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use podwire_k8s::object::Object;
use podwire_model::cluster::ObjectKey;
use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::state_file::ReadError;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "cluster.json";
/// The format this agent writes and understands.
pub const VERSION: u32 = 1;

/// What the file holds, as JSON.
#[derive(Serialize, Deserialize)]
struct Contents {
    version: u32,
    objects: Vec<serde_json::Value>,
}

/// Reads the objects of `path`; an absent file is an empty store.
pub fn load(path: &Path) -> Result<BTreeMap<ObjectKey, Object>, ClusterError> {
    let corrupt = |detail: String| ClusterError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let text = match crate::state_file::read_versioned(path, VERSION) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(BTreeMap::new()),
        Err(ReadError::Read(source)) => {
            return Err(ClusterError::Read {
                path: path.to_owned(),
                source,
            });
        }
        Err(ReadError::Corrupt(detail)) => return Err(corrupt(detail)),
        Err(ReadError::Newer(found)) => {
            return Err(ClusterError::NewerVersion {
                path: path.to_owned(),
                found,
                supported: VERSION,
            });
        }
    };
    let contents: Contents = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    let mut objects = BTreeMap::new();
    for (i, value) in contents.objects.into_iter().enumerate() {
        let object = Object::from_json(value).map_err(|e| corrupt(format!("objects[{i}]: {e}")))?;
        let key = object.key();
        if objects.insert(key.clone(), object).is_some() {
            return Err(corrupt(format!("it holds {key} twice")));
        }
    }
    Ok(objects)
}

/// Replaces `path` with `objects`, atomically and durably.
pub fn save<'a>(
    path: &Path,
    objects: impl Iterator<Item = &'a Object>,
) -> Result<(), ClusterError> {
    let contents = Contents {
        version: VERSION,
        objects: objects.map(Object::to_json).collect(),
    };
    let mut bytes = serde_json::to_vec(&contents).map_err(|e| ClusterError::Write {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    bytes.push(b'\n');
    crate::state_file::replace_durably(path, &bytes)
        .map_err(|(path, source)| ClusterError::Write { path, source })
}
