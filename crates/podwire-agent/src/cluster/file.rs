//! The cluster store's file, `<state_dir>/cluster.json`, read whole and replaced atomically.
//!
//! ```json
//! {"version": 1,
//!  "objects": [{"apiVersion": "v1", "kind": "Service", "metadata": {…}, "spec": {…}}, …]}
//! ```
//!
//! Each object is written as Kubernetes writes it, with its `apiVersion` and `kind`, so the
//! file can be read (and, in an emergency, edited) with the usual tools.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use podwire_k8s::object::Object;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::ClusterError;
use super::inputs::Objects;
use crate::state_file::ReadError;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "cluster.json";
/// The format this agent writes and understands.
pub const VERSION: u32 = 1;

/// What the file holds, as it is written: each object serialized straight into the file's
/// bytes (a store at Kubernetes' limits would take gigabytes as JSON trees).
#[derive(Serialize)]
struct Written<'a> {
    version: u32,
    objects: Vec<&'a Object>,
}

/// What the file holds, as it is read (its version is checked before).
#[derive(Deserialize)]
struct Read {
    objects: Decoded,
}

/// The file's objects, each decoded as it is read, so that only one is a JSON tree at a
/// time; without their `managedFields`, as the store keeps them (an older agent kept them).
struct Decoded(Objects);

impl<'de> Deserialize<'de> for Decoded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(DecodedVisitor)
    }
}

struct DecodedVisitor;

impl<'de> Visitor<'de> for DecodedVisitor {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Decoded, A::Error> {
        let mut objects = Objects::new();
        let mut i = 0;
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            let object = Object::from_json(value)
                .map_err(|e| de::Error::custom(format!("objects[{i}]: {e}")))?
                .without_managed_fields();
            let key = object.key();
            if objects.insert(key.clone(), Arc::new(object)).is_some() {
                return Err(de::Error::custom(format!("it holds {key} twice")));
            }
            i += 1;
        }
        Ok(Decoded(objects))
    }
}

/// Reads the objects of `path`; an absent file is an empty store.
pub fn load(path: &Path) -> Result<Objects, ClusterError> {
    let text = match crate::state_file::read_versioned(path, VERSION) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(Objects::new()),
        Err(ReadError::Read(source)) => {
            return Err(ClusterError::Read {
                path: path.to_owned(),
                source,
            });
        }
        Err(ReadError::Corrupt(detail)) => {
            return Err(ClusterError::Corrupt {
                path: path.to_owned(),
                detail,
            });
        }
        Err(ReadError::Newer(found)) => {
            return Err(ClusterError::NewerVersion {
                path: path.to_owned(),
                found,
                supported: VERSION,
            });
        }
    };
    let read: Read = serde_json::from_slice(&text).map_err(|e| ClusterError::Corrupt {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(read.objects.0)
}

/// Replaces `path` with `objects`, atomically and durably.
pub fn save<'a>(
    path: &Path,
    objects: impl Iterator<Item = &'a Object>,
) -> Result<(), ClusterError> {
    let contents = Written {
        version: VERSION,
        objects: objects.collect(),
    };
    let mut bytes = serde_json::to_vec(&contents).map_err(|e| ClusterError::Write {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    bytes.push(b'\n');
    crate::state_file::replace_durably(path, &bytes)
        .map_err(|(path, source)| ClusterError::Write { path, source })
}
