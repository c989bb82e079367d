//! Where a disk's data is: the `type=` of a `<disk>` (or of a
//! `<backingStore>`, `<mirror>` or `<nvram>`) and its `<source>`.

use serde::{Deserialize, Serialize};

use super::super::PciAddress;
use super::super::chardev::Reconnect;
use super::super::seclabel::{DeviceSeclabel, read_seclabels};
use crate::ErrorKind;
use crate::storage::{Encryption, SecretRef};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Where the disk's data lives on the host.
    pub enum DiskType {
        File = "file",
        Block = "block",
        Dir = "dir",
        Network = "network",
        Volume = "volume",
        Nvme = "nvme",
        VhostUser = "vhostuser",
    }
}

xml_enum! {
    /// The protocol a network disk speaks to its server.
    pub enum NetworkProtocol {
        Nbd = "nbd",
        Iscsi = "iscsi",
        Rbd = "rbd",
        Gluster = "gluster",
        Http = "http",
        Https = "https",
        Ftp = "ftp",
        Ftps = "ftps",
        Tftp = "tftp",
        Sheepdog = "sheepdog",
        Vxhs = "vxhs",
        Nfs = "nfs",
    }
}

xml_enum! {
    pub enum HostTransport {
        Tcp = "tcp",
        Rdma = "rdma",
        Unix = "unix",
    }
}

xml_enum! {
    /// How a volume of an iSCSI pool is reached: through the host's own
    /// initiator (`host`, a block device) or by QEMU itself (`direct`).
    pub enum VolumeMode {
        Host = "host",
        Direct = "direct",
    }
}

xml_enum! {
    /// What to do when the source is missing at start.
    pub enum StartupPolicy {
        Mandatory = "mandatory",
        Requisite = "requisite",
        Optional = "optional",
    }
}

xml_enum! {
    /// The kind of secret a disk's `<auth>` names.
    pub enum DiskSecretType {
        Ceph = "ceph",
        Iscsi = "iscsi",
    }
}

xml_enum! {
    pub enum SocketMode {
        Server = "server",
        Client = "client",
    }
}

/// One storage source of any type: a disk's, a backing layer's, a
/// mirror's or an NVRAM's.
///
/// ```
/// use virtkit_model::domain::devices::{DiskSource, DiskType, NetworkHost, NetworkProtocol, NetworkDiskSource};
///
/// let s = DiskSource::network(
///     NetworkDiskSource::new(NetworkProtocol::Nbd).with_name("export").with_host(NetworkHost::tcp("nbd.lan", 10809)),
/// );
/// assert_eq!(s.disk_type(), DiskType::Network);
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiskSource {
    pub location: SourceLocation,
    /// The layer's place in the backing chain (libvirt numbers the layers
    /// of a running disk).
    pub index: Option<u32>,
    /// Only part of the source holds the image (`<slices>`).
    pub slice: Option<Slice>,
    pub startup_policy: Option<StartupPolicy>,
    pub encryption: Option<Encryption>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<DeviceSeclabel>,
}

/// The source by type.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SourceLocation {
    /// An image file; an empty CD-ROM or floppy drive has none.
    File {
        path: Option<String>,
        /// Files passed in by the client under this name (`virDomainFDAssociate`).
        fdgroup: Option<String>,
    },
    /// A host block device.
    Block {
        dev: Option<String>,
        reservations: Option<Reservations>,
    },
    /// A host directory, shown to the guest as a FAT image.
    Dir {
        dir: Option<String>,
    },
    Network(Box<NetworkDiskSource>),
    /// A volume of a storage pool, resolved by the storage driver at start.
    Volume(VolumeSource),
    /// An NVMe namespace of a host PCI controller, driven by QEMU itself.
    Nvme(NvmeSource),
    /// A vhost-user block backend on a unix socket.
    #[serde(rename = "vhostuser")]
    VhostUser {
        path: String,
        reconnect: Option<Reconnect>,
    },
}

/// A disk on a server: `<source protocol=… name=…>` with its hosts.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkDiskSource {
    pub protocol: NetworkProtocol,
    /// The export, image, target or path on the server (`pool/image`,
    /// `iqn.…:target/1`, `/dir/file.img`).
    pub name: Option<String>,
    /// http(s): the URL's query string.
    pub query: Option<String>,
    /// nbd, vxhs: TLS (with the host's certificates).
    pub tls: Option<bool>,
    /// nbd: the name the server's certificate carries.
    pub tls_hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<NetworkHost>,
    /// rbd: the snapshot to open.
    pub snapshot: Option<String>,
    /// rbd: the Ceph configuration file.
    pub config: Option<String>,
    pub auth: Option<DiskAuth>,
    /// iscsi: the initiator's IQN.
    pub initiator: Option<String>,
    /// https, ftps: whether the server's certificate is checked.
    pub ssl_verify: Option<bool>,
    /// http(s): cookies sent with each request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<Cookie>,
    /// curl protocols: bytes read ahead.
    pub readahead: Option<u64>,
    /// curl protocols: seconds a request may take.
    pub timeout: Option<u64>,
    /// nfs: the user and group QEMU acts as.
    pub identity: Option<NfsIdentity>,
}

/// A server of a network disk: a name (or address) and port, or a unix socket.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkHost {
    pub transport: Option<HostTransport>,
    pub name: Option<String>,
    pub port: Option<u16>,
    /// `transport='unix'`: the socket.
    pub socket: Option<String>,
}

/// `<auth>`: the user a disk logs in as, and the secret object holding its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiskAuth {
    pub username: String,
    pub secret_type: DiskSecretType,
    /// A reference to a secret object, not a secret value.
    pub secret: SecretRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Cookie {
    pub name: String,
    pub value: String,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NfsIdentity {
    pub user: Option<String>,
    pub group: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VolumeSource {
    pub pool: String,
    pub volume: String,
    pub mode: Option<VolumeMode>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NvmeSource {
    pub namespace: u32,
    /// Whether libvirt detaches the controller from its host driver.
    pub managed: Option<bool>,
    pub address: PciAddress,
}

/// `<reservations>`: SCSI persistent reservations through a helper.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reservations {
    /// Whether libvirt runs the helper itself.
    pub managed: Option<bool>,
    /// The helper's socket, when it is not libvirt's.
    pub socket: Option<UnixSocket>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UnixSocket {
    pub path: String,
    pub mode: SocketMode,
    pub reconnect: Option<Reconnect>,
}

/// The part of the source that holds the image: `size` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Slice {
    pub offset: u64,
    pub size: u64,
}

impl Slice {
    pub fn new(offset: u64, size: u64) -> Self {
        Slice { offset, size }
    }
}

impl NetworkDiskSource {
    pub fn new(protocol: NetworkProtocol) -> Self {
        NetworkDiskSource {
            protocol,
            name: None,
            query: None,
            tls: None,
            tls_hostname: None,
            hosts: Vec::new(),
            snapshot: None,
            config: None,
            auth: None,
            initiator: None,
            ssl_verify: None,
            cookies: Vec::new(),
            readahead: None,
            timeout: None,
            identity: None,
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_host(mut self, host: NetworkHost) -> Self {
        self.hosts.push(host);
        self
    }

    pub fn with_auth(mut self, auth: DiskAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    fn read(s: &El<'_, '_>) -> Result<NetworkDiskSource> {
        Ok(NetworkDiskSource {
            protocol: s.req_attr("protocol")?,
            name: s.attr("name")?,
            query: s.attr("query")?,
            tls: s.yes_no("tls")?,
            tls_hostname: s.attr("tlsHostname")?,
            hosts: s.children("host", NetworkHost::read)?,
            snapshot: s.child("snapshot", |x| x.req_attr("name"))?,
            config: s.child("config", |x| x.req_attr("file"))?,
            auth: s.child("auth", DiskAuth::read)?,
            initiator: s.child("initiator", |i| i.req_child("iqn", |q| q.req_attr("name")))?,
            ssl_verify: s.child("ssl", |x| x.yes_no("verify")?.ok_or_else(|| x.missing_attr("verify")))?,
            cookies: s
                .child("cookies", |c| {
                    c.one_or_more("cookie", |k| Ok(Cookie { name: k.req_attr("name")?, value: k.text() }))
                })?
                .unwrap_or_default(),
            readahead: s.child("readahead", |x| x.req_attr("size"))?,
            timeout: s.child("timeout", |x| x.req_attr("seconds"))?,
            identity: s.child("identity", |x| Ok(NfsIdentity { user: x.attr("user")?, group: x.attr("group")? }))?,
        })
    }

    fn write_attrs(&self, w: &mut XmlWriter) {
        w.attr("protocol", self.protocol.as_str());
        w.attr_opt("name", self.name.as_ref());
        w.attr_opt("query", self.query.as_ref());
        w.yes_no("tls", self.tls);
        w.attr_opt("tlsHostname", self.tls_hostname.as_ref());
    }

    fn write_children(&self, w: &mut XmlWriter) {
        for h in &self.hosts {
            w.start("host");
            w.attr_opt("name", h.name.as_ref());
            w.attr_opt("port", h.port.as_ref());
            w.attr_opt("transport", h.transport.as_ref());
            w.attr_opt("socket", h.socket.as_ref());
            w.end();
        }
        if let Some(s) = &self.snapshot {
            w.start("snapshot");
            w.attr("name", s);
            w.end();
        }
        if let Some(c) = &self.config {
            w.start("config");
            w.attr("file", c);
            w.end();
        }
        if let Some(i) = &self.initiator {
            w.start("initiator");
            w.start("iqn");
            w.attr("name", i);
            w.end();
            w.end();
        }
        if let Some(v) = self.ssl_verify {
            w.start("ssl");
            w.yes_no("verify", Some(v));
            w.end();
        }
        if !self.cookies.is_empty() {
            w.start("cookies");
            for c in &self.cookies {
                w.start("cookie");
                w.attr("name", &c.name);
                w.text(&c.value);
                w.end();
            }
            w.end();
        }
        if let Some(r) = self.readahead {
            w.start("readahead");
            w.attr_val("size", &r);
            w.end();
        }
        if let Some(t) = self.timeout {
            w.start("timeout");
            w.attr_val("seconds", &t);
            w.end();
        }
        if let Some(i) = &self.identity {
            w.start("identity");
            w.attr_opt("user", i.user.as_ref());
            w.attr_opt("group", i.group.as_ref());
            w.end();
        }
    }
}

impl NetworkHost {
    /// A server by name or address, and port.
    pub fn tcp(name: impl Into<String>, port: u16) -> Self {
        NetworkHost { transport: None, name: Some(name.into()), port: Some(port), socket: None }
    }

    /// A server on a unix socket.
    pub fn unix(socket: impl Into<String>) -> Self {
        NetworkHost { transport: Some(HostTransport::Unix), name: None, port: None, socket: Some(socket.into()) }
    }

    fn read(h: &El<'_, '_>) -> Result<NetworkHost> {
        Ok(NetworkHost {
            transport: h.attr("transport")?,
            name: h.attr("name")?,
            port: h.attr("port")?,
            socket: h.attr("socket")?,
        })
    }
}

impl DiskAuth {
    pub fn new(username: impl Into<String>, secret_type: DiskSecretType, secret: SecretRef) -> Self {
        DiskAuth { username: username.into(), secret_type, secret }
    }

    pub(crate) fn read(a: &El<'_, '_>) -> Result<DiskAuth> {
        let username = a.req_attr("username")?;
        let (secret_type, secret) = a.req_child("secret", |s| Ok((s.req_attr("type")?, SecretRef::read(s)?)))?;
        Ok(DiskAuth { username, secret_type, secret })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("auth");
        w.attr("username", &self.username);
        w.start("secret");
        w.attr("type", self.secret_type.as_str());
        self.secret.write_attr(w);
        w.end();
        w.end();
    }
}

impl DiskSource {
    fn of(location: SourceLocation) -> Self {
        DiskSource { location, index: None, slice: None, startup_policy: None, encryption: None, seclabels: Vec::new() }
    }

    /// An image file (`None`: an empty drive).
    pub fn file(path: Option<String>) -> Self {
        DiskSource::of(SourceLocation::File { path, fdgroup: None })
    }

    pub fn block(dev: impl Into<String>) -> Self {
        DiskSource::of(SourceLocation::Block { dev: Some(dev.into()), reservations: None })
    }

    pub fn dir(dir: impl Into<String>) -> Self {
        DiskSource::of(SourceLocation::Dir { dir: Some(dir.into()) })
    }

    pub fn network(source: NetworkDiskSource) -> Self {
        DiskSource::of(SourceLocation::Network(Box::new(source)))
    }

    pub fn volume(pool: impl Into<String>, volume: impl Into<String>) -> Self {
        DiskSource::of(SourceLocation::Volume(VolumeSource { pool: pool.into(), volume: volume.into(), mode: None }))
    }

    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    pub fn with_index(mut self, index: u32) -> Self {
        self.index = Some(index);
        self
    }

    pub fn disk_type(&self) -> DiskType {
        match &self.location {
            SourceLocation::File { .. } => DiskType::File,
            SourceLocation::Block { .. } => DiskType::Block,
            SourceLocation::Dir { .. } => DiskType::Dir,
            SourceLocation::Network(_) => DiskType::Network,
            SourceLocation::Volume(_) => DiskType::Volume,
            SourceLocation::Nvme(_) => DiskType::Nvme,
            SourceLocation::VhostUser { .. } => DiskType::VhostUser,
        }
    }

    /// The host path of a file, block device or directory source.
    pub fn path(&self) -> Option<&str> {
        match &self.location {
            SourceLocation::File { path, .. } => path.as_deref(),
            SourceLocation::Block { dev, .. } => dev.as_deref(),
            SourceLocation::Dir { dir } => dir.as_deref(),
            _ => None,
        }
    }

    /// The XML attribute of `<source>` holding [`path`](Self::path).
    pub(crate) fn path_attr(&self) -> &'static str {
        match self.location {
            SourceLocation::Block { .. } => "dev",
            SourceLocation::Dir { .. } => "dir",
            _ => "file",
        }
    }

    /// Whether there is no source at all (an empty drive).
    pub fn is_empty(&self) -> bool {
        let bare = self.index.is_none()
            && self.slice.is_none()
            && self.startup_policy.is_none()
            && self.encryption.is_none()
            && self.seclabels.is_empty();
        bare && match &self.location {
            SourceLocation::File { path, fdgroup } => path.is_none() && fdgroup.is_none(),
            SourceLocation::Block { dev, reservations } => dev.is_none() && reservations.is_none(),
            SourceLocation::Dir { dir } => dir.is_none(),
            _ => false,
        }
    }

    /// Reads the source of `el` (a `<disk>`, `<backingStore>`, `<mirror>`
    /// or `<nvram>`), whose `type=` is `ty`.
    pub(crate) fn read(el: &El<'_, '_>, ty: DiskType) -> Result<DiskSource> {
        match ty {
            // An empty volume drive is an empty file drive, as libvirt
            // writes it back.
            DiskType::File | DiskType::Block | DiskType::Dir | DiskType::Volume => {
                let s = el.child("source", |s| DiskSource::read_source(s, ty))?;
                Ok(s.unwrap_or_else(|| DiskSource::of(DiskSource::empty_location(ty))))
            }
            _ => el.req_child("source", |s| DiskSource::read_source(s, ty)),
        }
    }

    fn empty_location(ty: DiskType) -> SourceLocation {
        match ty {
            DiskType::Block => SourceLocation::Block { dev: None, reservations: None },
            DiskType::Dir => SourceLocation::Dir { dir: None },
            _ => SourceLocation::File { path: None, fdgroup: None },
        }
    }

    fn read_source(s: &El<'_, '_>, ty: DiskType) -> Result<DiskSource> {
        let nonempty = |p: Option<String>| p.filter(|p| !p.is_empty());
        let fixed_type = |want: &str| match s.raw_attr("type") {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(s.attr_error(
                "type",
                ErrorKind::InvalidValue(format!("'{}' is not one of {want}", crate::xml::truncate(t))),
            )),
            None => Err(s.missing_attr("type")),
        };
        let location = match ty {
            DiskType::File => SourceLocation::File { path: nonempty(s.attr("file")?), fdgroup: s.attr("fdgroup")? },
            DiskType::Block => SourceLocation::Block {
                dev: nonempty(s.attr("dev")?),
                reservations: s.child("reservations", Reservations::read)?,
            },
            DiskType::Dir => SourceLocation::Dir { dir: Some(s.req_attr("dir")?) },
            DiskType::Network => SourceLocation::Network(Box::new(NetworkDiskSource::read(s)?)),
            DiskType::Volume => SourceLocation::Volume(VolumeSource {
                pool: s.req_attr("pool")?,
                volume: s.req_attr("volume")?,
                mode: s.attr("mode")?,
            }),
            DiskType::Nvme => {
                fixed_type("pci")?;
                SourceLocation::Nvme(NvmeSource {
                    namespace: s.req_attr("namespace")?,
                    managed: s.yes_no("managed")?,
                    address: s.req_child("address", PciAddress::read_attrs)?,
                })
            }
            DiskType::VhostUser => {
                fixed_type("unix")?;
                SourceLocation::VhostUser {
                    path: s.req_attr("path")?,
                    reconnect: s.child("reconnect", Reconnect::read)?,
                }
            }
        };
        let plain = !matches!(ty, DiskType::Network | DiskType::VhostUser);
        Ok(DiskSource {
            location,
            index: s.attr("index")?,
            slice: if ty == DiskType::VhostUser {
                None
            } else {
                s.child("slices", |sl| {
                    sl.req_child("slice", |x| {
                        match x.raw_attr("type") {
                            Some("storage") => {}
                            Some(t) => {
                                let msg = format!("'{}' is not one of storage", crate::xml::truncate(t));
                                return Err(x.attr_error("type", ErrorKind::InvalidValue(msg)));
                            }
                            None => return Err(x.missing_attr("type")),
                        }
                        Ok(Slice { offset: x.req_attr("offset")?, size: x.req_attr("size")? })
                    })
                })?
            },
            startup_policy: if plain { s.attr("startupPolicy")? } else { None },
            encryption: if ty == DiskType::VhostUser {
                None
            } else {
                s.child("encryption", crate::storage::read_encryption)?
            },
            seclabels: if matches!(ty, DiskType::File | DiskType::Block | DiskType::Volume) {
                read_seclabels(s)?
            } else {
                Vec::new()
            },
        })
    }

    /// Writes `<source>`, libvirt's way (nothing for an empty drive).
    pub(crate) fn write(&self, w: &mut XmlWriter) {
        if self.is_empty() {
            return;
        }
        w.start("source");
        match &self.location {
            SourceLocation::File { path, fdgroup } => {
                w.attr_opt("file", path.as_ref());
                w.attr_opt("fdgroup", fdgroup.as_ref());
            }
            SourceLocation::Block { dev, .. } => w.attr_opt("dev", dev.as_ref()),
            SourceLocation::Dir { dir } => w.attr_opt("dir", dir.as_ref()),
            SourceLocation::Network(n) => n.write_attrs(w),
            SourceLocation::Volume(v) => {
                w.attr("pool", &v.pool);
                w.attr("volume", &v.volume);
                w.attr_opt("mode", v.mode.as_ref());
            }
            SourceLocation::Nvme(n) => {
                w.attr("type", "pci");
                w.yes_no("managed", n.managed);
                w.attr_val("namespace", &n.namespace);
            }
            SourceLocation::VhostUser { path, .. } => {
                w.attr("type", "unix");
                w.attr("path", path);
            }
        }
        w.attr_opt("startupPolicy", self.startup_policy.as_ref());
        w.attr_opt("index", self.index.as_ref());
        match &self.location {
            SourceLocation::Network(n) => n.write_children(w),
            SourceLocation::Nvme(n) => {
                w.start("address");
                n.address.write_attrs(w);
                w.end();
            }
            SourceLocation::VhostUser { reconnect: Some(r), .. } => r.write(w),
            _ => {}
        }
        if let Some(s) = &self.slice {
            w.start("slices");
            w.start("slice");
            w.attr("type", "storage");
            w.attr_val("offset", &s.offset);
            w.attr_val("size", &s.size);
            w.end();
            w.end();
        }
        for l in &self.seclabels {
            l.write(w);
        }
        if let SourceLocation::Network(n) = &self.location
            && let Some(a) = &n.auth
        {
            a.write(w);
        }
        if let Some(e) = &self.encryption {
            crate::storage::write_encryption(w, e);
        }
        if let SourceLocation::Block { reservations: Some(r), .. } = &self.location {
            r.write(w);
        }
        w.end();
    }
}

impl Reservations {
    fn read(r: &El<'_, '_>) -> Result<Reservations> {
        Ok(Reservations {
            managed: r.yes_no("managed")?,
            socket: r.child("source", |s| {
                match s.raw_attr("type") {
                    Some("unix") => {}
                    Some(t) => {
                        let msg = format!("'{}' is not one of unix", crate::xml::truncate(t));
                        return Err(s.attr_error("type", ErrorKind::InvalidValue(msg)));
                    }
                    None => return Err(s.missing_attr("type")),
                }
                Ok(UnixSocket {
                    path: s.req_attr("path")?,
                    mode: s.req_attr("mode")?,
                    reconnect: s.child("reconnect", Reconnect::read)?,
                })
            })?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("reservations");
        w.yes_no("managed", self.managed);
        if let Some(s) = &self.socket {
            w.start("source");
            w.attr("type", "unix");
            w.attr("path", &s.path);
            w.attr("mode", s.mode.as_str());
            if let Some(r) = &s.reconnect {
                r.write(w);
            }
            w.end();
        }
        w.end();
    }
}
