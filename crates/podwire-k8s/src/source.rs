//! What a source of cluster objects (etcd, the Kubernetes API) tells the store: the same
//! events whichever it is, so everything downstream is one code path.

use podwire_model::cluster::{ObjectKey, ObjectKind};

use crate::object::Object;

/// One change a source saw, in the order it saw them.
// Unboxed like `Object` itself: `Applied` is by far the most common event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// Every object of `kind` the source has now, after a (re)list: the store's objects of
    /// that kind become exactly these (those missing were deleted while nobody watched).
    Listed {
        /// The kind listed.
        kind: ObjectKind,
        /// Its objects.
        objects: Vec<Object>,
    },
    /// An object created or changed.
    Applied(Object),
    /// An object gone.
    Deleted(ObjectKey),
}
