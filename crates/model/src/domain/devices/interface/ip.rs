//! Addresses and routes of an interface's guest or host side (`<ip>`,
//! `<route>`), and ports forwarded to the guest (`<portForward>`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::network::{IpFamily, Route};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// An address of one side of an interface (`<ip address prefix peer>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceIp {
    pub address: IpAddr,
    pub family: Option<IpFamily>,
    pub prefix: Option<u8>,
    /// The other end of a point-to-point link.
    pub peer: Option<IpAddr>,
}

impl InterfaceIp {
    pub fn new(address: IpAddr, prefix: u8) -> Self {
        InterfaceIp {
            address,
            family: Some(if address.is_ipv6() { IpFamily::Ipv6 } else { IpFamily::Ipv4 }),
            prefix: Some(prefix),
            peer: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<InterfaceIp> {
        Ok(InterfaceIp {
            address: el.req_attr("address")?,
            family: el.attr("family")?,
            prefix: el.attr("prefix")?,
            peer: el.attr("peer")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("ip");
        w.attr_val("address", &self.address);
        w.attr_opt("family", self.family.as_ref());
        w.attr_opt("prefix", self.prefix.as_ref());
        w.attr_opt("peer", self.peer.as_ref());
        w.end();
    }
}

/// The `<ip>` and `<route>` children of `el`.
pub(crate) fn read_ip_info(el: &El<'_, '_>) -> Result<(Vec<InterfaceIp>, Vec<Route>)> {
    Ok((el.children("ip", InterfaceIp::read)?, el.children("route", Route::read)?))
}

pub(crate) fn write_ip_info(w: &mut XmlWriter, ips: &[InterfaceIp], routes: &[Route]) {
    ips.iter().for_each(|i| i.write(w));
    routes.iter().for_each(|r| r.write(w));
}

xml_enum! {
    pub enum ForwardProto {
        Tcp = "tcp",
        Udp = "udp",
    }
}

/// Host ports passed to the guest (`<portForward>`, passt's).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PortForward {
    pub proto: ForwardProto,
    /// The host address listened on.
    pub address: Option<IpAddr>,
    /// The host interface listened on.
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<PortRange>,
}

/// Ports `start` to `end` of the host, to port `to` on of the guest, or
/// left out of a wider range (`exclude`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PortRange {
    pub start: u16,
    pub end: Option<u16>,
    pub to: Option<u16>,
    pub exclude: Option<bool>,
}

impl PortForward {
    pub fn new(proto: ForwardProto) -> Self {
        PortForward { proto, address: None, dev: None, ranges: Vec::new() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<PortForward> {
        Ok(PortForward {
            proto: el.req_attr("proto")?,
            address: el.attr("address")?,
            dev: el.attr("dev")?,
            ranges: el.children("range", |r| {
                Ok(PortRange {
                    start: r.req_attr("start")?,
                    end: r.attr("end")?,
                    to: r.attr("to")?,
                    exclude: r.yes_no("exclude")?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("portForward");
        w.attr_val("proto", &self.proto);
        w.attr_opt("address", self.address.as_ref());
        w.attr_opt("dev", self.dev.as_ref());
        for r in &self.ranges {
            w.start("range");
            w.attr_val("start", &r.start);
            w.attr_opt("end", r.end.as_ref());
            w.attr_opt("to", r.to.as_ref());
            w.yes_no("exclude", r.exclude);
            w.end();
        }
        w.end();
    }
}

impl PortRange {
    pub fn new(start: u16) -> Self {
        PortRange { start, end: None, to: None, exclude: None }
    }
}
