//! The DHCP sections: `ip-dhcp-host` and `ip-dhcp-range`, and which
//! `<ip>` they are for.

use std::net::IpAddr;

use super::{Placed, UpdateResult, Updater, insert, not_found, not_one, only, tag};
use crate::domain::validate::idx;
use crate::error::ErrorKind;
use crate::network::ip::DhcpHostPattern;
use crate::network::{Dhcp, DhcpHost, DhcpRange, NetworkUpdateCommand, NetworkUpdateError};
use crate::xml::truncate;

impl Updater<'_, '_> {
    /// The `<ip>` a DHCP update is for (see [`Network::apply_update`]);
    /// `ipv6` is the element's family when it says. `what` is `host` or
    /// `range`, for messages.
    fn dhcp_ip(&self, ipv6: Option<bool>, what: &str) -> UpdateResult<usize> {
        let ips = &self.net.ips;
        let network = &self.net.name;
        if let Some(i) = self.parent_index {
            return if i < ips.len() {
                Ok(i)
            } else {
                Err(NetworkUpdateError::NoPlace(format!(
                    "couldn't update dhcp {what} entry - no <ip> element found at index {i} in network '{network}'"
                )))
            };
        }
        let candidates: Vec<usize> = (0..ips.len()).filter(|&i| ipv6.is_none_or(|v6| ips[i].is_ipv6() == v6)).collect();
        let pick = candidates
            .iter()
            .find(|&&i| ips[i].has_dhcp())
            .or_else(|| candidates.iter().find(|&&i| !ips[i].is_ipv6()))
            .or_else(|| candidates.first());
        let family = match ipv6 {
            Some(true) => "IPv6 ",
            Some(false) => "IPv4 ",
            None => "",
        };
        pick.copied().ok_or_else(|| {
            NetworkUpdateError::NoPlace(format!(
                "couldn't update dhcp {what} entry - no {family}<ip> element found in network '{network}'"
            ))
        })
    }

    /// Refuses an element of another family than `<ip>` `i`.
    fn same_family(&self, i: usize, address: IpAddr, what: &str) -> UpdateResult<()> {
        if self.net.ips[i].is_ipv6() != address.is_ipv6() {
            return Err(NetworkUpdateError::NoPlace(format!(
                "the address family of a {what} must match the address family of the dhcp element's parent"
            )));
        }
        Ok(())
    }

    /// libvirt serves DHCP on one address of each family: adding to `<ip>`
    /// `i` is refused while another of its family has DHCP.
    fn single_dhcp(&self, i: usize) -> UpdateResult<()> {
        let ipv6 = self.net.ips[i].is_ipv6();
        let other = self.net.ips.iter().enumerate().any(|(j, ip)| j != i && ip.is_ipv6() == ipv6 && ip.has_dhcp());
        if other {
            return Err(NetworkUpdateError::NoPlace(format!(
                "dhcp is supported only for a single {} address on each network",
                if ipv6 { "IPv6" } else { "IPv4" }
            )));
        }
        Ok(())
    }

    fn dhcp_mut(&mut self, i: usize) -> &mut Dhcp {
        self.net.ips[i].dhcp.get_or_insert_with(Dhcp::default)
    }

    /// Where `<ip>` `i`'s `<dhcp>` child `name` number `k` (of its `n`) is.
    fn dhcp_path(&self, i: usize, name: &str, k: usize, n: usize) -> Placed {
        let ip = idx("ip", i, self.net.ips.len());
        vec![(format!("/network/{ip}/dhcp/{}", idx(name, k, n)), format!("/{name}"))]
    }

    pub(super) fn dhcp_host(&mut self) -> UpdateResult<Placed> {
        if self.command == NetworkUpdateCommand::Delete {
            return self.delete_dhcp_host();
        }
        let host = self.read(DhcpHost::read)?;
        let i = self.dhcp_ip(Some(host.ip.is_ipv6()), "host")?;
        self.same_family(i, host.ip, "host entry IP")?;
        let network = self.net.name.clone();
        let hosts = self.net.ips[i].dhcp.as_ref().map_or(&[][..], |d| d.hosts.as_slice());
        let at = if self.command == NetworkUpdateCommand::Modify {
            if host.mac.is_none() && host.id.is_none() && host.name.is_none() {
                return Err(self.element_error("a host to modify is found by its mac, id or name: it has none"));
            }
            match only(hosts, |h| same_host(&host, h)) {
                Ok(k) => Some(k),
                Err(0) => {
                    return Err(NetworkUpdateError::NotFound(format!(
                        "couldn't locate an existing dhcp host entry with {} in network '{network}'",
                        key_text(&host)
                    )));
                }
                Err(n) => return Err(not_one(&network, n, "dhcp host entry")),
            }
        } else {
            self.single_dhcp(i)?;
            None
        };
        if let Some((what, existing)) = host_clash(hosts, at, &host) {
            return Err(NetworkUpdateError::Exists(format!(
                "network '{network}' already has a dhcp host with this {what}: {existing}"
            )));
        }
        let command = self.command;
        let hosts = &mut self.dhcp_mut(i).hosts;
        let k = match at {
            Some(k) => {
                hosts[k] = host;
                k
            }
            None => insert(command, hosts, host),
        };
        let n = hosts.len();
        Ok(self.dhcp_path(i, "host", k, n))
    }

    fn delete_dhcp_host(&mut self) -> UpdateResult<Placed> {
        let key = self.read(|el| {
            let key = DhcpHostPattern::read(el)?;
            if ["mac", "id", "name", "ip"].iter().all(|a| el.raw_attr(a).is_none()) {
                return Err(el.error(ErrorKind::Invalid("a host to delete needs a mac, id, name or ip".into())));
            }
            Ok(key)
        })?;
        let family = key.ip.map(|ip| ip.is_ipv6()).or(key.mac.map(|_| false)).or(key.id.as_ref().map(|_| true));
        let i = self.dhcp_ip(family, "host")?;
        let matches = |h: &DhcpHost| {
            key.mac.is_none_or(|m| h.mac == Some(m))
                && key.id.as_ref().is_none_or(|id| h.id.as_ref() == Some(id))
                && key.name.as_ref().is_none_or(|n| h.name.as_ref() == Some(n))
                && key.ip.is_none_or(|ip| h.ip == ip)
        };
        let network = self.net.name.clone();
        let hosts = &mut self.dhcp_mut(i).hosts;
        let k = only(hosts, matches).map_err(|n| not_one(&network, n, "dhcp host entry"))?;
        hosts.remove(k);
        Ok(Vec::new())
    }

    pub(super) fn dhcp_range(&mut self) -> UpdateResult<Placed> {
        self.no_modify("dhcp ranges")?;
        let range = self.read(DhcpRange::read)?;
        let i = self.dhcp_ip(Some(range.start.is_ipv6()), "range")?;
        self.same_family(i, range.start, "dhcp range")?;
        let network = self.net.name.clone();
        let command = self.command;
        let found = self.dhcp_mut(i).ranges.iter().position(|r| r.start == range.start && r.end == range.end);
        match (command, found) {
            (NetworkUpdateCommand::Delete, Some(k)) => {
                self.dhcp_mut(i).ranges.remove(k);
                Ok(Vec::new())
            }
            (NetworkUpdateCommand::Delete, None) => Err(not_found(&network, "dhcp range entry")),
            (_, Some(_)) => Err(NetworkUpdateError::Exists(format!(
                "there is an existing dhcp range entry in network '{network}' that matches \"{}\"",
                tag("range", &[("start", Some(range.start.to_string())), ("end", Some(range.end.to_string()))])
            ))),
            (_, None) => {
                self.single_dhcp(i)?;
                let ranges = &mut self.dhcp_mut(i).ranges;
                let k = insert(command, ranges, range);
                let n = ranges.len();
                Ok(self.dhcp_path(i, "range", k, n))
            }
        }
    }
}

/// Whether `h` is the host `key` (an element to modify with) names: by
/// its MAC, else its id, else its name.
fn same_host(key: &DhcpHost, h: &DhcpHost) -> bool {
    match (&key.mac, &key.id, &key.name) {
        (Some(mac), _, _) => h.mac.as_ref() == Some(mac),
        (None, Some(id), _) => h.id.as_ref() == Some(id),
        (None, None, Some(name)) => h.name.as_ref() == Some(name),
        (None, None, None) => false,
    }
}

/// The first of `hosts` (but the one at `skip`) sharing a MAC, id, name
/// or address with `host`: what it shares, and it.
fn host_clash(hosts: &[DhcpHost], skip: Option<usize>, host: &DhcpHost) -> Option<(&'static str, String)> {
    hosts.iter().enumerate().filter(|(k, _)| Some(*k) != skip).find_map(|(_, h)| {
        let shared = [
            ("mac", h.mac.is_some() && h.mac == host.mac),
            ("id", h.id.is_some() && h.id == host.id),
            ("name", h.name.is_some() && h.name == host.name),
            ("ip", h.ip == host.ip),
        ];
        shared.iter().find(|(_, s)| *s).map(|(what, _)| (*what, host_tag(h)))
    })
}

fn host_tag(h: &DhcpHost) -> String {
    tag(
        "host",
        &[
            ("mac", h.mac.map(|m| m.to_string())),
            ("id", h.id.clone()),
            ("name", h.name.clone()),
            ("ip", Some(h.ip.to_string())),
        ],
    )
}

/// How a host to modify is found, for the message saying it was not.
fn key_text(h: &DhcpHost) -> String {
    match (&h.mac, &h.id, &h.name) {
        (Some(mac), _, _) => format!("mac='{mac}'"),
        (None, Some(id), _) => format!("id='{}'", truncate(id)),
        (None, None, Some(name)) => format!("name='{}'", truncate(name)),
        (None, None, None) => String::new(),
    }
}
