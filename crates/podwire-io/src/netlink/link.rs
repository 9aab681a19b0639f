//! Links: lookup, state, MTU, MAC, names, namespaces, veth pairs.

use std::os::fd::{AsFd, AsRawFd};

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Error, Netlink, Result, kernel_errno, request_failed};
use crate::ifname;
use crate::netns::NetNs;

impl Netlink {
    /// The index of interface `name`, or `None` if there is none of that name.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.link(name).await?.map(|link| link.header.index))
    }

    /// Brings interface `name` up (`ip link set NAME up`).
    pub async fn set_up(&self, name: &str) -> Result<()> {
        let index = self.index(name).await?;
        self.set_link(LinkUnspec::new_with_index(index).up(), || {
            format!("bringing interface {name} up")
        })
        .await
    }

    /// Takes interface `name` down (`ip link set NAME down`).
    pub async fn set_down(&self, name: &str) -> Result<()> {
        let index = self.index(name).await?;
        self.set_link(LinkUnspec::new_with_index(index).down(), || {
            format!("taking interface {name} down")
        })
        .await
    }

    /// Sets the MTU of interface `name`.
    pub async fn set_mtu(&self, name: &str, mtu: u32) -> Result<()> {
        let index = self.index(name).await?;
        self.set_link(LinkUnspec::new_with_index(index).mtu(mtu), || {
            format!("setting the MTU of interface {name} to {mtu}")
        })
        .await
    }

    /// The MTU of interface `name`.
    pub async fn mtu(&self, name: &str) -> Result<u32> {
        let link = self.existing_link(name).await?;
        Ok(link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Sets the MAC address of interface `name`.
    pub async fn set_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        let index = self.index(name).await?;
        self.set_link(
            LinkUnspec::new_with_index(index).address(mac.to_vec()),
            || {
                format!(
                    "setting the MAC address of interface {name} to {}",
                    Mac(mac)
                )
            },
        )
        .await
    }

    /// The MAC address of interface `name`.
    pub async fn mac(&self, name: &str) -> Result<[u8; 6]> {
        let link = self.existing_link(name).await?;
        let address = link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(address) => Some(address.as_slice()),
                _ => None,
            });
        let address = address.unwrap_or_default();
        address.try_into().map_err(|_| Error::NotEthernet {
            name: name.to_owned(),
            len: address.len(),
        })
    }

    /// Renames interface `name` to `new_name`. The kernel refuses to rename an interface that
    /// is up.
    pub async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        ifname::validate(new_name)?;
        let index = self.index(name).await?;
        self.set_link(LinkUnspec::new_with_index(index).name(new_name), || {
            format!("renaming interface {name} to {new_name}")
        })
        .await
    }

    /// Moves interface `name` into the network namespace `ns` (`ip link set NAME netns NS`). It
    /// keeps its name there, and is down afterwards.
    pub async fn move_to_netns(&self, name: &str, ns: &NetNs) -> Result<()> {
        let index = self.index(name).await?;
        // The kernel resolves the descriptor while handling the request, which this call
        // awaits, so `ns` (borrowed for the whole call) keeps it open long enough.
        let fd = ns.as_fd().as_raw_fd();
        self.set_link(LinkUnspec::new_with_index(index).setns_by_fd(fd), || {
            format!("moving interface {name} to another network namespace")
        })
        .await
    }

    /// Deletes interface `name` (for a veth, both ends). An interface that does not exist is
    /// not an error.
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        let Some(index) = self.link_index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(index).execute().await {
            // Gone between the lookup and the delete: what was asked for.
            Err(e) if kernel_errno(&e) == Some(libc::ENODEV) => Ok(()),
            result => result.map_err(request_failed(format!("deleting interface {name}"))),
        }
    }

    /// Creates a veth pair `name` ↔ `peer`, both down, in this namespace.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        ifname::validate(name)?;
        ifname::validate(peer)?;
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(request_failed(format!(
                "creating veth pair {name} / {peer}"
            )))
    }

    /// The index of interface `name`, which must exist.
    pub(super) async fn index(&self, name: &str) -> Result<u32> {
        Ok(self.existing_link(name).await?.header.index)
    }

    /// Interface `name`'s link message, which must exist.
    async fn existing_link(&self, name: &str) -> Result<LinkMessage> {
        self.link(name).await?.ok_or_else(|| Error::NoSuchLink {
            name: name.to_owned(),
        })
    }

    /// Interface `name`'s link message, if there is such an interface.
    async fn link(&self, name: &str) -> Result<Option<LinkMessage>> {
        ifname::validate(name)?;
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if kernel_errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(request_failed(format!("looking up interface {name}"))(e)),
        }
    }

    /// Sends one RTM_SETLINK; `action` describes it for the error message.
    async fn set_link(
        &self,
        change: LinkMessageBuilder<LinkUnspec>,
        action: impl FnOnce() -> String,
    ) -> Result<()> {
        self.handle
            .link()
            .set(change.build())
            .execute()
            .await
            .map_err(|e| request_failed(action())(e))
    }
}

/// A MAC address in the usual `aa:bb:cc:dd:ee:ff` notation.
pub(super) struct Mac(pub(super) [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_as_colon_hex() {
        let mac = Mac([0x02, 0x00, 0x5e, 0x10, 0xab, 0x0f]);
        assert_eq!(mac.to_string(), "02:00:5e:10:ab:0f");
    }
}
