//! Connections per source address, for `max_connections_per_ip`: a slot is taken when a
//! connection is accepted and given back when its last handle is dropped, whichever way it
//! ends (handshake failure, close, server stop).
//!
//! Only counting lives here; the decision to refuse is the accept loop's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

/// Open connections by address.
#[derive(Debug, Default)]
pub struct PerIp {
    counts: RefCell<HashMap<IpAddr, usize>>,
}

/// One connection's place in the count; dropping it gives the place back.
#[derive(Debug)]
pub struct IpSlot {
    table: Rc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Take a slot for `ip` unless it already has `max` (0: no limit).
    pub fn take(self: &Rc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = self.counts.borrow_mut();
        let count = counts.entry(ip).or_insert(0);
        if max != 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.borrow_mut();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let table = Rc::new(PerIp::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a = table.take(ip, 2).unwrap();
        let b = table.take(ip, 2).unwrap();
        assert!(table.take(ip, 2).is_none());
        assert!(table.take(other, 2).is_some());
        drop(a);
        let c = table.take(ip, 2).unwrap();
        drop((b, c));
        assert!(table.counts.borrow().get(&ip).is_none());
        assert!(table.take(ip, 0).is_some());
    }
}
