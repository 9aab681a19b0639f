//! Where each thing lives in etcd: the keys of objects and of pod CIDR claims, and back.

use podwire_model::Cidr;
use podwire_model::cluster::{ObjectKey, ObjectKind};

use super::EtcdError;

/// Every kind the store keeps: a (re)list reports each of them, an empty one included.
pub(super) const KINDS: [ObjectKind; 7] = ObjectKind::ALL;

/// The namespace segment of a cluster-scoped kind's keys (no namespace is called `_`).
const NO_NAMESPACE: &str = "_";

/// The key layout under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// Ends with `/`.
    prefix: String,
}

impl Keys {
    /// The layout under `prefix`, to which a `/` is added when it does not end with one.
    pub(super) fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    /// Where the objects are: `P objects/`.
    pub(super) fn objects(&self) -> String {
        format!("{}objects/", self.prefix)
    }

    /// The key of object `key`: `P objects/<Kind>/<namespace or _>/<name>`.
    pub(super) fn object(&self, key: &ObjectKey) -> Result<String, EtcdError> {
        let bad = |problem| EtcdError::BadKey {
            key: key.clone(),
            problem,
        };
        if key.name.is_empty() {
            return Err(bad("it has no name"));
        }
        if key.name.contains('/') || key.namespace.contains('/') {
            return Err(bad("its name or namespace contains '/'"));
        }
        let namespace = match key.namespace.as_str() {
            "" => NO_NAMESPACE,
            namespace => namespace,
        };
        Ok(format!(
            "{}{}/{namespace}/{}",
            self.objects(),
            key.kind,
            key.name
        ))
    }

    /// The object an etcd key names; `None` for a key this layout does not write.
    pub(super) fn parse_object(&self, key: &[u8]) -> Option<ObjectKey> {
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.strip_prefix(&self.objects())?;
        let mut parts = rest.split('/');
        let (kind, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || name.is_empty() || namespace.is_empty() {
            return None;
        }
        let kind = *KINDS.iter().find(|k| k.to_string() == kind)?;
        let namespace = match namespace {
            NO_NAMESPACE => "",
            namespace => namespace,
        };
        Some(ObjectKey {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Where the pod CIDR claims are: `P cidrs/`.
    pub(super) fn cidrs(&self) -> String {
        format!("{}cidrs/", self.prefix)
    }

    /// The key of a claim on `cidr`: `P cidrs/10.244.3.0_24`.
    pub(super) fn cidr(&self, cidr: Cidr) -> String {
        format!(
            "{}{}_{}",
            self.cidrs(),
            cidr.network().addr(),
            cidr.prefix_len()
        )
    }

    /// The CIDR a claim's key names; `None` for a key this layout does not write.
    pub(super) fn parse_cidr(&self, key: &[u8]) -> Option<Cidr> {
        let key = std::str::from_utf8(key).ok()?;
        let (addr, len) = key.strip_prefix(&self.cidrs())?.rsplit_once('_')?;
        format!("{addr}/{len}").parse().ok()
    }
}

/// The first key after every key that starts with `prefix` (the end of a prefix range).
pub(super) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range runs to the end of the key space.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ObjectKind, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[test]
    fn object_keys_round_trip_for_every_kind() {
        let keys = Keys::new("/podwire/");
        for kind in KINDS {
            for namespace in ["", "shop"] {
                let object = key(kind, namespace, "web-1");
                let etcd_key = keys.object(&object).unwrap();
                assert_eq!(keys.parse_object(etcd_key.as_bytes()), Some(object));
            }
        }
        assert_eq!(
            keys.object(&key(ObjectKind::Node, "", "n1")).unwrap(),
            "/podwire/objects/Node/_/n1"
        );
        assert_eq!(
            keys.object(&key(ObjectKind::Pod, "default", "a")).unwrap(),
            "/podwire/objects/Pod/default/a"
        );
    }

    #[test]
    fn a_prefix_without_a_slash_gets_one() {
        let keys = Keys::new("/test");
        assert_eq!(keys.objects(), "/test/objects/");
        assert_eq!(keys.cidrs(), "/test/cidrs/");
    }

    #[test]
    fn names_that_would_break_the_layout_are_refused() {
        let keys = Keys::new("/p/");
        assert!(matches!(
            keys.object(&key(ObjectKind::Pod, "default", "")),
            Err(EtcdError::BadKey { .. })
        ));
        assert!(matches!(
            keys.object(&key(ObjectKind::Pod, "a/b", "c")),
            Err(EtcdError::BadKey { .. })
        ));
        assert!(matches!(
            keys.object(&key(ObjectKind::Pod, "default", "c/d")),
            Err(EtcdError::BadKey { .. })
        ));
    }

    #[test]
    fn keys_podwire_does_not_write_parse_to_nothing() {
        let keys = Keys::new("/p/");
        for bad in [
            "/p/objects/Deployment/default/a",
            "/p/objects/Pod/default",
            "/p/objects/Pod/default/a/b",
            "/p/objects/Pod//a",
            "/p/objects/Pod/default/",
            "/q/objects/Pod/default/a",
        ] {
            assert_eq!(keys.parse_object(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(keys.parse_object(&[0xff, 0xfe]), None);
    }

    #[test]
    fn claim_keys_round_trip_in_both_families() {
        let keys = Keys::new("/podwire/");
        for text in ["10.244.3.0/24", "fd44:0:0:12::/64"] {
            let cidr: Cidr = text.parse().unwrap();
            let etcd_key = keys.cidr(cidr);
            assert_eq!(keys.parse_cidr(etcd_key.as_bytes()), Some(cidr));
        }
        assert_eq!(
            keys.cidr("10.244.3.0/24".parse().unwrap()),
            "/podwire/cidrs/10.244.3.0_24"
        );
        assert_eq!(keys.parse_cidr(b"/podwire/cidrs/garbage"), None);
    }

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end("/p/objects/"), b"/p/objects0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
