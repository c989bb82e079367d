//! A pool's `<source>`: where its storage comes from. One type for every
//! pool type, as in libvirt; which parts each pool type takes is checked
//! by validation ([`PoolType::source_parts`](super::PoolType::source_parts)).

use serde::{Deserialize, Serialize};

use super::{Extent, PoolFormat, SecretRef};
use crate::ErrorKind;
use crate::domain::devices::PciAddress;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// How a pool authenticates to its server.
    pub enum AuthType {
        /// iSCSI CHAP.
        Chap = "chap",
        /// Ceph's cephx.
        Ceph = "ceph",
    }
}

/// `<source>`. Its parts in libvirt's order; which a pool type takes is
/// [`PoolType::source_parts`](super::PoolType::source_parts).
///
/// ```
/// use virtkit_model::storage::{PoolFormat, PoolSource, SourceHost};
///
/// let nfs = PoolSource::default()
///     .with_host(SourceHost::new("nfs.lan"))
///     .with_dir("/export/images")
///     .with_format(PoolFormat::Nfs);
/// assert_eq!(nfs.hosts[0].name, "nfs.lan");
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolSource {
    /// Servers (NFS, iSCSI, Ceph monitors, Gluster, sheepdog).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<SourceHost>,
    /// Block devices, or the iSCSI target's IQN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<SourceDevice>,
    /// The exported directory (netfs, gluster).
    pub dir: Option<String>,
    /// The SCSI host adapter (scsi pools).
    pub adapter: Option<Adapter>,
    /// The volume group, Ceph pool, Gluster volume, ZFS pool, … by name.
    pub name: Option<String>,
    /// The iSCSI initiator's IQN (`<initiator><iqn name=…>`).
    pub initiator_iqn: Option<String>,
    pub format: Option<PoolFormat>,
    pub auth: Option<SourceAuth>,
    /// The NFS protocol version (`<protocol ver=…>`).
    pub protocol_ver: Option<u32>,
    pub vendor: Option<String>,
    pub product: Option<String>,
}

impl PoolSource {
    /// Whether no part is given.
    pub fn is_empty(&self) -> bool {
        *self == PoolSource::default()
    }

    pub fn with_host(mut self, host: SourceHost) -> Self {
        self.hosts.push(host);
        self
    }

    pub fn with_device(mut self, path: impl Into<String>) -> Self {
        self.devices.push(SourceDevice::new(path));
        self
    }

    pub fn with_dir(mut self, dir: impl Into<String>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_format(mut self, format: PoolFormat) -> Self {
        self.format = Some(format);
        self
    }

    pub fn with_adapter(mut self, adapter: Adapter) -> Self {
        self.adapter = Some(adapter);
        self
    }

    pub fn with_auth(mut self, auth: SourceAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn with_initiator(mut self, iqn: impl Into<String>) -> Self {
        self.initiator_iqn = Some(iqn.into());
        self
    }

    /// The parts given, by element name, in libvirt's order.
    pub(crate) fn parts(&self) -> Vec<&'static str> {
        [
            ("host", !self.hosts.is_empty()),
            ("device", !self.devices.is_empty()),
            ("dir", self.dir.is_some()),
            ("adapter", self.adapter.is_some()),
            ("name", self.name.is_some()),
            ("initiator", self.initiator_iqn.is_some()),
            ("format", self.format.is_some()),
            ("auth", self.auth.is_some()),
            ("protocol", self.protocol_ver.is_some()),
            ("vendor", self.vendor.is_some()),
            ("product", self.product.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect()
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<PoolSource> {
        let name_attr = |tag: &'static str| el.child(tag, |e| e.req_attr::<String>("name"));
        Ok(PoolSource {
            hosts: el.children("host", |h| Ok(SourceHost { name: h.req_attr("name")?, port: h.attr("port")? }))?,
            devices: el.children("device", |d| {
                Ok(SourceDevice {
                    path: d.req_attr("path")?,
                    part_separator: d.yes_no("part_separator")?,
                    free_extents: d.children("freeExtent", Extent::read)?,
                })
            })?,
            dir: el.child("dir", |d| d.req_attr("path"))?,
            adapter: el.child("adapter", Adapter::read)?,
            name: el.child_text("name")?,
            initiator_iqn: el.child("initiator", |i| i.req_child("iqn", |q| q.req_attr("name")))?,
            format: el.child("format", |f| f.req_attr("type"))?,
            auth: el.child("auth", |a| {
                Ok(SourceAuth {
                    auth_type: a.req_attr("type")?,
                    username: a.req_attr("username")?,
                    secret: a.req_child("secret", SecretRef::read)?,
                })
            })?,
            protocol_ver: el.child("protocol", |p| p.req_attr("ver"))?,
            vendor: name_attr("vendor")?,
            product: name_attr("product")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("source");
        for h in &self.hosts {
            w.start("host");
            w.attr("name", &h.name);
            w.attr_opt("port", h.port.as_ref());
            w.end();
        }
        for d in &self.devices {
            w.start("device");
            w.attr("path", &d.path);
            w.yes_no("part_separator", d.part_separator);
            d.free_extents.iter().for_each(|e| e.write(w, "freeExtent"));
            w.end();
        }
        if let Some(d) = &self.dir {
            w.start("dir");
            w.attr("path", d);
            w.end();
        }
        if let Some(a) = &self.adapter {
            a.write(w);
        }
        w.opt_text_element("name", self.name.as_ref());
        if let Some(iqn) = &self.initiator_iqn {
            w.start("initiator");
            w.start("iqn");
            w.attr("name", iqn);
            w.end();
            w.end();
        }
        if let Some(f) = &self.format {
            w.start("format");
            w.attr("type", f.as_str());
            w.end();
        }
        if let Some(a) = &self.auth {
            w.start("auth");
            w.attr("type", a.auth_type.as_str());
            w.attr("username", &a.username);
            w.start("secret");
            a.secret.write_attr(w);
            w.end();
            w.end();
        }
        if let Some(v) = &self.protocol_ver {
            w.start("protocol");
            w.attr_val("ver", v);
            w.end();
        }
        for (tag, v) in [("vendor", &self.vendor), ("product", &self.product)] {
            if let Some(v) = v {
                w.start(tag);
                w.attr("name", v);
                w.end();
            }
        }
        w.end();
    }
}

/// A server, by DNS name or address, and port.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceHost {
    pub name: String,
    pub port: Option<u16>,
}

impl SourceHost {
    pub fn new(name: impl Into<String>) -> Self {
        SourceHost { name: name.into(), port: None }
    }

    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

/// A block device of the pool (or, for iSCSI, the target's IQN).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceDevice {
    pub path: String,
    /// disk pools: whether partition names put a `p` between the device
    /// and the number (`/dev/mapper/mpatha1` or `…p1`).
    pub part_separator: Option<bool>,
    /// Runtime: the free space on the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub free_extents: Vec<Extent>,
}

impl SourceDevice {
    pub fn new(path: impl Into<String>) -> Self {
        SourceDevice { path: path.into(), part_separator: None, free_extents: Vec::new() }
    }
}

/// Credentials for the pool's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceAuth {
    #[serde(rename = "type")]
    pub auth_type: AuthType,
    pub username: String,
    pub secret: SecretRef,
}

impl SourceAuth {
    pub fn new(auth_type: AuthType, username: impl Into<String>, secret: SecretRef) -> Self {
        SourceAuth { auth_type, username: username.into(), secret }
    }
}

/// A SCSI pool's host adapter (`<adapter type=…>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Adapter {
    /// A SCSI host: by name (`host0`) or by its PCI parent.
    ScsiHost(ScsiHostAdapter),
    /// A Fibre Channel host (a vHBA made on a parent HBA), by its names.
    FcHost(FcHostAdapter),
}

/// A SCSI host adapter: `name` or `parent_address`, not both.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScsiHostAdapter {
    /// `host0`, …
    pub name: Option<String>,
    /// The host as the PCI device it sits on (names can change on boot).
    pub parent_address: Option<ParentAddress>,
}

/// `<parentaddr>`: a SCSI host by its PCI device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ParentAddress {
    /// The host's unique id among that device's hosts.
    pub unique_id: Option<u32>,
    pub address: PciAddress,
}

impl ParentAddress {
    /// The SCSI host on the PCI device at `address`.
    pub fn new(address: PciAddress) -> Self {
        ParentAddress { unique_id: None, address }
    }
}

/// A Fibre Channel (vHBA) adapter. WWNs are 16 hex digits (`0x` allowed).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FcHostAdapter {
    /// The parent HBA's SCSI host name (`scsi_host5`).
    pub parent: Option<String>,
    /// Whether virtkit made the vHBA (and deletes it with the pool).
    pub managed: Option<bool>,
    pub parent_wwnn: Option<String>,
    pub parent_wwpn: Option<String>,
    pub parent_fabric_wwn: Option<String>,
    pub wwnn: String,
    pub wwpn: String,
}

impl Adapter {
    /// The SCSI host `name` (`host0`).
    pub fn scsi_host(name: impl Into<String>) -> Self {
        Adapter::ScsiHost(ScsiHostAdapter { name: Some(name.into()), parent_address: None })
    }

    /// A vHBA with node name `wwnn` and port name `wwpn`.
    pub fn fc_host(wwnn: impl Into<String>, wwpn: impl Into<String>) -> Self {
        Adapter::FcHost(FcHostAdapter { wwnn: wwnn.into(), wwpn: wwpn.into(), ..Default::default() })
    }

    fn read(el: &El<'_, '_>) -> Result<Adapter> {
        match el.raw_attr("type") {
            None | Some("scsi_host") => Ok(Adapter::ScsiHost(ScsiHostAdapter {
                name: el.attr("name")?,
                parent_address: el.child("parentaddr", |p| {
                    Ok(ParentAddress {
                        unique_id: p.attr("unique_id")?,
                        address: p.req_child("address", PciAddress::read_attrs)?,
                    })
                })?,
            })),
            Some("fc_host") => Ok(Adapter::FcHost(FcHostAdapter {
                parent: el.attr("parent")?,
                managed: el.yes_no("managed")?,
                parent_wwnn: el.attr("parent_wwnn")?,
                parent_wwpn: el.attr("parent_wwpn")?,
                parent_fabric_wwn: el.attr("parent_fabric_wwn")?,
                wwnn: el.req_attr("wwnn")?,
                wwpn: el.req_attr("wwpn")?,
            })),
            Some(other) => Err(el.attr_error(
                "type",
                ErrorKind::InvalidValue(format!("'{}' is not one of scsi_host, fc_host", crate::xml::truncate(other))),
            )),
        }
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("adapter");
        match self {
            Adapter::ScsiHost(a) => {
                w.attr("type", "scsi_host");
                w.attr_opt("name", a.name.as_ref());
                if let Some(p) = &a.parent_address {
                    w.start("parentaddr");
                    w.attr_opt("unique_id", p.unique_id.as_ref());
                    w.start("address");
                    p.address.write_attrs(w);
                    w.end();
                    w.end();
                }
            }
            Adapter::FcHost(a) => {
                w.attr("type", "fc_host");
                w.attr_opt("parent", a.parent.as_ref());
                w.attr_opt("parent_wwnn", a.parent_wwnn.as_ref());
                w.attr_opt("parent_wwpn", a.parent_wwpn.as_ref());
                w.attr_opt("parent_fabric_wwn", a.parent_fabric_wwn.as_ref());
                w.yes_no("managed", a.managed);
                w.attr("wwnn", &a.wwnn);
                w.attr("wwpn", &a.wwpn);
            }
        }
        w.end();
    }
}
