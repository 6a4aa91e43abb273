//! IPv4 address arithmetic: parsing a CIDR, carving per-node pod CIDRs out of a larger range,
//! handing out pod IPs from a node's CIDR (as CNI's `host-local` does: the network address,
//! the gateway `.1` and the broadcast address are never given out), and numbering the
//! addresses of simulated nodes.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; host bits are cleared.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        Some(Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    /// The number of addresses in the block.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `index`-th sub-block of prefix length `prefix`, if it fits.
    pub fn subnet(&self, prefix: u8, index: u64) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if index >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let network = u64::from(u32::from(self.network)) + index * step;
        Some(Cidr {
            network: Ipv4Addr::from(u32::try_from(network).ok()?),
            prefix,
        })
    }

    /// The address at `offset` from the network address, if inside the block.
    pub fn nth(&self, offset: u64) -> Option<Ipv4Addr> {
        if offset >= self.size() {
            return None;
        }
        let addr = u64::from(u32::from(self.network)) + offset;
        Some(Ipv4Addr::from(u32::try_from(addr).ok()?))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The pod CIDR of node `index` when `nodes` nodes share `range`: the whole range for one
/// node, else the `index`-th /24 (or smaller blocks when /24s do not all fit).
pub fn node_pod_cidr(range: Cidr, index: u64, nodes: u64) -> Option<Cidr> {
    if nodes <= 1 {
        return Some(range);
    }
    let needed_bits = 64 - (nodes - 1).leading_zeros();
    let prefix = 24u32.max(u32::from(range.prefix) + needed_bits);
    if prefix > 30 {
        return None;
    }
    let prefix = u8::try_from(prefix).ok()?;
    range.subnet(prefix, index)
}

/// The address of simulated node `index`: `base` plus `index`.
pub fn node_address(base: Ipv4Addr, index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(index))
}

/// Pod IPs handed out from one node's pod CIDR.
#[derive(Debug)]
pub struct PodAddresses {
    cidr: Cidr,
    used: BTreeSet<u64>,
    next: u64,
}

impl PodAddresses {
    /// An allocator over `cidr` with nothing in use.
    pub fn new(cidr: Cidr) -> Self {
        PodAddresses {
            cidr,
            used: BTreeSet::new(),
            next: 2,
        }
    }

    /// The CIDR addresses come from.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    /// The next free address (round-robin, like `host-local`), or None when all are in use.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let size = self.cidr.size();
        // Offsets 0 (network), 1 (gateway) and size-1 (broadcast) are reserved.
        if size < 4 {
            return None;
        }
        let usable = size - 3;
        for i in 0..usable {
            let offset = 2 + (self.next - 2 + i) % usable;
            if self.used.insert(offset) {
                self.next = offset + 1;
                if self.next >= size - 1 {
                    self.next = 2;
                }
                return self.cidr.nth(offset);
            }
        }
        None
    }

    /// Returns an address to the pool.
    pub fn release(&mut self, ip: Ipv4Addr) {
        let offset = u64::from(u32::from(ip)).wrapping_sub(u64::from(u32::from(self.cidr.network)));
        self.used.remove(&offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn parsing_clears_host_bits() {
        assert_eq!(cidr("10.244.3.7/16").to_string(), "10.244.0.0/16");
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }

    #[test]
    fn each_node_gets_its_own_slash_24() {
        let range = cidr("10.244.0.0/16");
        assert_eq!(node_pod_cidr(range, 0, 1), Some(range));
        assert_eq!(
            node_pod_cidr(range, 0, 3).unwrap().to_string(),
            "10.244.0.0/24"
        );
        assert_eq!(
            node_pod_cidr(range, 2, 3).unwrap().to_string(),
            "10.244.2.0/24"
        );
        assert_eq!(node_pod_cidr(range, 256, 300).unwrap().prefix, 25);
    }

    #[test]
    fn pod_addresses_skip_network_gateway_and_broadcast() {
        let mut ips = PodAddresses::new(cidr("10.244.1.0/30"));
        assert_eq!(ips.allocate(), Some(Ipv4Addr::new(10, 244, 1, 2)));
        assert_eq!(ips.allocate(), None);
        ips.release(Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(ips.allocate(), Some(Ipv4Addr::new(10, 244, 1, 2)));
    }

    #[test]
    fn released_addresses_are_reused_after_the_rest() {
        let mut ips = PodAddresses::new(cidr("10.244.1.0/29"));
        let a = ips.allocate().unwrap();
        let b = ips.allocate().unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 244, 1, 3));
        ips.release(a);
        assert_eq!(ips.allocate(), Some(Ipv4Addr::new(10, 244, 1, 4)));
        assert_eq!(ips.allocate(), Some(Ipv4Addr::new(10, 244, 1, 5)));
        assert_eq!(ips.allocate(), Some(Ipv4Addr::new(10, 244, 1, 6)));
        assert_eq!(ips.allocate(), Some(a));
        assert_eq!(ips.allocate(), None);
    }

    #[test]
    fn simulated_nodes_are_numbered_from_the_base_address() {
        assert_eq!(
            node_address(Ipv4Addr::new(10, 0, 0, 2), 300),
            Ipv4Addr::new(10, 0, 1, 46)
        );
    }
}
