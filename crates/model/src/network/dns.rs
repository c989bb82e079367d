//! `<dns>`: the network's DNS server (dnsmasq's, for libvirt).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// An SRV record's protocol.
    pub enum SrvProtocol {
        Tcp = "tcp",
        Udp = "udp",
    }
}

/// The network's DNS service and its records.
///
/// ```
/// use virtkit_model::network::{Dns, DnsHost};
///
/// let dns = Dns::default().with_host(DnsHost::new("192.168.122.2".parse().unwrap(), ["db", "db.lan"]));
/// assert_eq!(dns.hosts[0].hostnames.len(), 2);
/// assert!(dns.is_enabled());
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Dns {
    /// `no` turns the DNS server off (then no records may be given).
    pub enable: Option<bool>,
    /// Whether names without a dot are forwarded upstream.
    pub forward_plain_names: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarders: Vec<DnsForwarder>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub txt_records: Vec<DnsTxt>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub srv_records: Vec<DnsSrv>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<DnsHost>,
}

impl Dns {
    /// Whether the DNS server runs (it does unless `enable='no'`).
    pub fn is_enabled(&self) -> bool {
        self.enable != Some(false)
    }

    pub fn with_forwarder(mut self, forwarder: DnsForwarder) -> Self {
        self.forwarders.push(forwarder);
        self
    }

    pub fn with_host(mut self, host: DnsHost) -> Self {
        self.hosts.push(host);
        self
    }

    pub fn with_txt(mut self, txt: DnsTxt) -> Self {
        self.txt_records.push(txt);
        self
    }

    pub fn with_srv(mut self, srv: DnsSrv) -> Self {
        self.srv_records.push(srv);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Dns> {
        Ok(Dns {
            enable: el.yes_no("enable")?,
            forward_plain_names: el.yes_no("forwardPlainNames")?,
            forwarders: el
                .children("forwarder", |f| Ok(DnsForwarder { addr: f.attr("addr")?, domain: f.attr("domain")? }))?,
            txt_records: el.children("txt", DnsTxt::read)?,
            srv_records: el.children("srv", DnsSrv::read)?,
            hosts: el.children("host", DnsHost::read)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("dns");
        w.yes_no("enable", self.enable);
        w.yes_no("forwardPlainNames", self.forward_plain_names);
        for f in &self.forwarders {
            w.start("forwarder");
            w.attr_opt("domain", f.domain.as_ref());
            w.attr_opt("addr", f.addr.as_ref());
            w.end();
        }
        for t in &self.txt_records {
            w.start("txt");
            w.attr("name", &t.name);
            w.attr("value", &t.value);
            w.end();
        }
        for s in &self.srv_records {
            w.start("srv");
            w.attr("service", &s.service);
            w.attr("protocol", s.protocol.as_str());
            w.attr_opt("domain", s.domain.as_ref());
            w.attr_opt("target", s.target.as_ref());
            w.attr_opt("port", s.port.as_ref());
            w.attr_opt("priority", s.priority.as_ref());
            w.attr_opt("weight", s.weight.as_ref());
            w.end();
        }
        for h in &self.hosts {
            w.start("host");
            w.attr_val("ip", &h.ip);
            for n in &h.hostnames {
                w.text_element("hostname", n);
            }
            w.end();
        }
        w.end();
    }
}

/// An upstream server: for every name (`addr` alone), for one domain
/// (`domain` and `addr`), or a domain answered locally only (`domain`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DnsForwarder {
    pub addr: Option<IpAddr>,
    pub domain: Option<String>,
}

impl DnsForwarder {
    /// Every query goes to `addr`.
    pub fn to(addr: IpAddr) -> Self {
        DnsForwarder { addr: Some(addr), domain: None }
    }

    /// Queries for `domain` go to `addr`, or (without one) stay local.
    pub fn for_domain(domain: impl Into<String>, addr: Option<IpAddr>) -> Self {
        DnsForwarder { addr, domain: Some(domain.into()) }
    }
}

/// A TXT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DnsTxt {
    pub name: String,
    pub value: String,
}

impl DnsTxt {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        DnsTxt { name: name.into(), value: value.into() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsTxt> {
        DnsTxtPattern::read(el)?.into_txt(el)
    }
}

/// A `<txt>` as written, its value optional: what names the record a
/// `net-update delete` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsTxtPattern {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
}

impl DnsTxtPattern {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsTxtPattern> {
        Ok(DnsTxtPattern { name: el.req_attr("name")?, value: el.attr("value")? })
    }

    /// The record `el` (read as this) is: an error there when it has no value.
    pub(crate) fn into_txt(self, el: &El<'_, '_>) -> Result<DnsTxt> {
        let value = self.value.ok_or_else(|| el.missing_attr("value"))?;
        Ok(DnsTxt { name: self.name, value })
    }
}

/// An SRV record: `_service._protocol.domain`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DnsSrv {
    pub service: String,
    pub protocol: SrvProtocol,
    pub domain: Option<String>,
    /// The host providing the service (`.` for none).
    pub target: Option<String>,
    pub port: Option<u16>,
    pub priority: Option<u16>,
    pub weight: Option<u16>,
}

impl DnsSrv {
    pub fn new(service: impl Into<String>, protocol: SrvProtocol) -> Self {
        DnsSrv {
            service: service.into(),
            protocol,
            domain: None,
            target: None,
            port: None,
            priority: None,
            weight: None,
        }
    }

    /// The service is at `target:port`.
    pub fn at(mut self, target: impl Into<String>, port: u16) -> Self {
        self.target = Some(target.into());
        self.port = Some(port);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsSrv> {
        DnsSrvPattern::read(el)?.into_srv(el)
    }
}

/// An `<srv>` as written, every field optional: what names the records a
/// `net-update delete` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsSrvPattern {
    pub(crate) service: Option<String>,
    pub(crate) protocol: Option<SrvProtocol>,
    pub(crate) domain: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) priority: Option<u16>,
    pub(crate) weight: Option<u16>,
}

impl DnsSrvPattern {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsSrvPattern> {
        Ok(DnsSrvPattern {
            service: el.attr("service")?,
            protocol: el.attr("protocol")?,
            domain: el.attr("domain")?,
            target: el.attr("target")?,
            port: el.attr("port")?,
            priority: el.attr("priority")?,
            weight: el.attr("weight")?,
        })
    }

    /// The record `el` (read as this) is: an error there when it has no
    /// service or protocol.
    pub(crate) fn into_srv(self, el: &El<'_, '_>) -> Result<DnsSrv> {
        let service = self.service.ok_or_else(|| el.missing_attr("service"))?;
        let protocol = self.protocol.ok_or_else(|| el.missing_attr("protocol"))?;
        Ok(DnsSrv {
            service,
            protocol,
            domain: self.domain,
            target: self.target,
            port: self.port,
            priority: self.priority,
            weight: self.weight,
        })
    }
}

/// Names for an address (a hosts-file line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DnsHost {
    pub ip: IpAddr,
    /// At least one.
    pub hostnames: Vec<String>,
}

impl DnsHost {
    pub fn new<S: Into<String>>(ip: IpAddr, hostnames: impl IntoIterator<Item = S>) -> Self {
        DnsHost { ip, hostnames: hostnames.into_iter().map(Into::into).collect() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsHost> {
        DnsHostPattern::read(el)?.into_host(el)
    }
}

/// A `<host>` as written, its address and names optional: what names the
/// record a `net-update delete` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsHostPattern {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) hostnames: Vec<String>,
}

impl DnsHostPattern {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<DnsHostPattern> {
        Ok(DnsHostPattern { ip: el.attr("ip")?, hostnames: el.children("hostname", |n| Ok(n.text()))? })
    }

    /// The record `el` (read as this) is: an error there when it has no
    /// address or no name.
    pub(crate) fn into_host(self, el: &El<'_, '_>) -> Result<DnsHost> {
        let ip = self.ip.ok_or_else(|| el.missing_attr("ip"))?;
        if self.hostnames.is_empty() {
            // Absent: reported as missing, or as the typo it most likely is.
            el.req_child("hostname", |_| Ok(()))?;
        }
        Ok(DnsHost { ip, hostnames: self.hostnames })
    }
}
