//! A disk's `-blockdev` graph: for each layer of its chain a protocol node
//! (file, host device, vvfat, nbd, iscsi, rbd, gluster, nfs, curl, nvme),
//! a slice where one is given, and a format node backed by the next
//! layer's, deepest first so that each names nodes that exist.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    DiskBackingStore, DiskFormat, DiskSource, HostTransport, NetworkDiskSource, NetworkHost, NetworkProtocol,
    SourceLocation,
};

use super::{ArgvError, Builder, json_arg, unsupported};

/// QEMU's name for a format, if it has the driver.
pub(super) fn qemu_format(f: DiskFormat) -> Option<&'static str> {
    Some(match f {
        DiskFormat::Raw | DiskFormat::Iso | DiskFormat::Fat => "raw",
        DiskFormat::Qcow2 => "qcow2",
        DiskFormat::Qcow => "qcow",
        DiskFormat::Qed => "qed",
        DiskFormat::Vmdk => "vmdk",
        DiskFormat::Vdi => "vdi",
        DiskFormat::Vpc | DiskFormat::Vhd => "vpc",
        DiskFormat::Cloop => "cloop",
        DiskFormat::Dmg => "dmg",
        DiskFormat::Bochs => "bochs",
        _ => return None,
    })
}

/// Formats whose images name a backing file.
fn has_backing(f: DiskFormat) -> bool {
    matches!(f, DiskFormat::Qcow2 | DiskFormat::Qcow | DiskFormat::Qed | DiskFormat::Vmdk | DiskFormat::Cow)
}

/// How one layer is opened.
pub(super) struct Layer<'d> {
    /// Where in the document (for refusals).
    pub path: String,
    pub source: &'d DiskSource,
    pub format: DiskFormat,
    /// `drive-vda`, `drive-vda-b1` …: the node names' stem.
    pub node: String,
    pub readonly: bool,
    /// The top layer of a CD-ROM (a host device is `host_cdrom`).
    pub cdrom: bool,
    pub floppy: bool,
    /// Extra properties of the protocol node (cache, aio, discard).
    pub storage_props: Map<String, Value>,
    /// Extra properties of the format node (cache-size, detect-zeroes).
    pub format_props: Map<String, Value>,
}

impl Builder<'_> {
    /// Emits `layer` and the chain below it; returns the format node.
    pub(super) fn blockdev_chain(
        &mut self,
        layer: Layer<'_>,
        backing: Option<&DiskBackingStore>,
    ) -> Result<String, ArgvError> {
        let below = match backing {
            Some(DiskBackingStore::Layer(l)) => {
                let stem = backing_stem(&layer.node);
                let at = format!("{}/backingStore", layer.path.trim_end_matches("/source"));
                let next = Layer {
                    path: format!("{at}/source"),
                    source: &l.source,
                    format: l.format.format,
                    node: stem,
                    readonly: true,
                    cdrom: false,
                    floppy: false,
                    storage_props: layer.storage_props.clone(),
                    format_props: l
                        .format
                        .metadata_cache
                        .and_then(|m| m.max_size)
                        .map(|s| Map::from_iter([("cache-size".to_owned(), json!(s.as_bytes()))]))
                        .unwrap_or_default(),
                };
                Some(Some(self.blockdev_chain(next, l.backing_store.as_ref())?))
            }
            Some(DiskBackingStore::End) => Some(None),
            _ => None,
        };
        let fmt = qemu_format(layer.format).ok_or_else(|| {
            unsupported(format!("{}/format", layer.path), format!("disk format '{}' is not supported", layer.format))
        })?;
        let storage = self.storage_node(&layer)?;
        let mut file = storage;
        let mut format = Map::new();
        format.insert("node-name".into(), json!(format!("{}-format", layer.node)));
        format.insert("read-only".into(), json!(layer.readonly));
        format.insert("driver".into(), json!(fmt));
        if let Some(s) = &layer.source.slice {
            if fmt == "raw" {
                format.insert("offset".into(), json!(s.offset));
                format.insert("size".into(), json!(s.size));
            } else {
                let slice = format!("{}-slice", layer.node);
                self.opt(
                    "-blockdev",
                    json_arg(json!({
                        "driver": "raw", "node-name": slice, "offset": s.offset, "size": s.size, "file": file,
                    })),
                );
                file = slice;
            }
        }
        format.extend(layer.format_props.clone());
        format.insert("file".into(), json!(file));
        match below {
            Some(Some(node)) => {
                format.insert("backing".into(), json!(node));
            }
            Some(None) if has_backing(layer.format) => {
                format.insert("backing".into(), Value::Null);
            }
            _ => {}
        }
        self.opt("-blockdev", json_arg(Value::Object(format)));
        Ok(format!("{}-format", layer.node))
    }

    /// The protocol node of one layer; returns its name.
    fn storage_node(&mut self, l: &Layer<'_>) -> Result<String, ArgvError> {
        let name = format!("{}-storage", l.node);
        let p = &l.path;
        if l.source.encryption.is_some() {
            return Err(unsupported(
                format!("{p}/encryption"),
                "encrypted disks are not supported yet (QEMU is not given their passphrase secret)",
            ));
        }
        if l.source.startup_policy.is_some() {
            return Err(unsupported(format!("{p}/@startupPolicy"), "a startup policy is not supported yet"));
        }
        let mut n = Map::new();
        match &l.source.location {
            SourceLocation::File { path, fdgroup } => {
                if fdgroup.is_some() {
                    return Err(unsupported(
                        format!("{p}/@fdgroup"),
                        "an fdgroup needs files handed over by the client, which virtkit does not take",
                    ));
                }
                n.insert("driver".into(), json!("file"));
                n.insert("filename".into(), json!(path.as_deref().unwrap_or_default()));
            }
            SourceLocation::Block { dev, reservations } => {
                n.insert("driver".into(), json!(if l.cdrom { "host_cdrom" } else { "host_device" }));
                n.insert("filename".into(), json!(dev.as_deref().unwrap_or_default()));
                if let Some(r) = reservations {
                    let Some(sock) = r.socket.as_ref().filter(|_| r.managed != Some(true)) else {
                        return Err(unsupported(
                            format!("{p}/reservations"),
                            "managed persistent reservations need qemu-pr-helper run for the guest, which virtkit does not do; give the helper's socket",
                        ));
                    };
                    let id = format!("pr-helper-{name}");
                    self.opt(
                        "-object",
                        json_arg(json!({"qom-type": "pr-manager-helper", "id": id, "path": sock.path})),
                    );
                    n.insert("pr-manager".into(), json!(id));
                }
            }
            SourceLocation::Dir { dir } => {
                n.insert("driver".into(), json!("vvfat"));
                n.insert("dir".into(), json!(dir.as_deref().unwrap_or_default()));
                n.insert("floppy".into(), json!(l.floppy));
                n.insert("rw".into(), json!(false));
            }
            SourceLocation::Network(net) => self.network_node(&mut n, p, net)?,
            SourceLocation::Volume(v) => {
                return Err(unsupported(
                    p.as_str(),
                    format!(
                        "volume '{}' of pool '{}' is resolved by the storage driver at start, which this host does not have for it",
                        v.volume, v.pool
                    ),
                ));
            }
            SourceLocation::Nvme(nv) => {
                if nv.managed != Some(false) {
                    return Err(unsupported(
                        format!("{p}/@managed"),
                        "a managed NVMe disk needs its controller detached from the host for vfio, which virtkit does not do; bind it to vfio-pci and say managed='no'",
                    ));
                }
                let a = &nv.address;
                let dev = format!(
                    "{:04x}:{:02x}:{:02x}.{:x}",
                    a.domain.unwrap_or(0),
                    a.bus.unwrap_or(0),
                    a.slot.unwrap_or(0),
                    a.function.unwrap_or(0)
                );
                n.insert("driver".into(), json!("nvme"));
                n.insert("device".into(), json!(dev));
                n.insert("namespace".into(), json!(nv.namespace));
            }
            SourceLocation::VhostUser { .. } => {
                return Err(unsupported(
                    p.as_str(),
                    "vhost-user disks are not supported yet (a vhost-user-blk device on shared guest memory)",
                ));
            }
            _ => return Err(unsupported(p.as_str(), "this disk source type is not supported")),
        }
        n.insert("node-name".into(), json!(name));
        n.insert("read-only".into(), json!(l.readonly));
        n.extend(l.storage_props.clone());
        self.opt("-blockdev", json_arg(Value::Object(n)));
        Ok(name)
    }

    /// A network disk's `<auth>`: the user, and the secret object QEMU
    /// reads its value from (given once however many disks use it).
    fn login(&mut self, n: &mut Map<String, Value>, p: &str, net: &NetworkDiskSource) -> Result<(), ArgvError> {
        let Some(a) = &net.auth else { return Ok(()) };
        let Some(i) = self.ctx.secrets.iter().position(|s| *s == a.secret) else {
            return Err(unsupported(format!("{p}/auth"), "the secret this disk logs in with was not given"));
        };
        if net.protocol != NetworkProtocol::Iscsi {
            return Err(unsupported(
                format!("{p}/auth"),
                format!("an authenticated {} disk is not supported yet", net.protocol),
            ));
        }
        let id = format!("secret{i}");
        if self.secrets.insert(i) {
            let file = super::secret_file(&self.ctx.run_dir, i).display().to_string().replace(',', ",,");
            self.opt("-object", format!("secret,id={id},format=raw,file={file}"));
        }
        n.insert("user".into(), json!(a.username));
        n.insert("password-secret".into(), json!(id));
        Ok(())
    }

    fn network_node(&mut self, n: &mut Map<String, Value>, p: &str, net: &NetworkDiskSource) -> Result<(), ArgvError> {
        use NetworkProtocol as P;
        let proto = net.protocol;
        self.login(n, p, net)?;
        let module = match proto {
            P::Http | P::Https | P::Ftp | P::Ftps => Some("curl"),
            P::Iscsi => Some("iscsi"),
            P::Rbd => Some("rbd"),
            P::Gluster => Some("gluster"),
            P::Nfs => Some("nfs"),
            _ => None,
        };
        if let Some(m) = module
            && !self.ctx.has_block_module(m)
        {
            return Err(unsupported(
                format!("{p}/@protocol"),
                format!("this QEMU has no {proto} block driver (its module block-{m} is not installed)"),
            ));
        }
        let host = net.hosts.first();
        let host_name = |h: Option<&NetworkHost>| h.and_then(|h| h.name.clone()).unwrap_or_default();
        let name = net.name.as_deref().unwrap_or("");
        match proto {
            P::Nbd => {
                if net.tls == Some(true) {
                    return Err(unsupported(
                        format!("{p}/@tls"),
                        "NBD over TLS needs x509 certificates for QEMU, which virtkit does not set up",
                    ));
                }
                n.insert("driver".into(), json!("nbd"));
                n.insert("server".into(), server(host, 10809));
                if !name.is_empty() {
                    n.insert("export".into(), json!(name));
                }
            }
            P::Iscsi => {
                let (target, lun) = match name.rsplit_once('/') {
                    Some((t, l)) => (
                        t,
                        l.parse::<u32>().map_err(|_| {
                            unsupported(format!("{p}/@name"), format!("'{l}' is not a LUN number (iqn…/LUN)"))
                        })?,
                    ),
                    None => (name, 0),
                };
                let h = host_name(host);
                let port = host.and_then(|h| h.port).unwrap_or(3260);
                let portal = if h.contains(':') { format!("[{h}]:{port}") } else { format!("{h}:{port}") };
                let transport =
                    if host.and_then(|h| h.transport) == Some(HostTransport::Rdma) { "iser" } else { "tcp" };
                n.insert("driver".into(), json!("iscsi"));
                n.insert("portal".into(), json!(portal));
                n.insert("target".into(), json!(target));
                n.insert("lun".into(), json!(lun));
                n.insert("transport".into(), json!(transport));
                if let Some(i) = &net.initiator {
                    n.insert("initiator-name".into(), json!(i));
                }
            }
            P::Rbd => {
                let (pool, image) = name.split_once('/').unwrap_or((name, ""));
                n.insert("driver".into(), json!("rbd"));
                n.insert("pool".into(), json!(pool));
                n.insert("image".into(), json!(image));
                if let Some(s) = &net.snapshot {
                    n.insert("snapshot".into(), json!(s));
                }
                if let Some(c) = &net.config {
                    n.insert("conf".into(), json!(c));
                }
                if !net.hosts.is_empty() {
                    let servers: Vec<Value> = net
                        .hosts
                        .iter()
                        .map(|h| {
                            let mut s = Map::new();
                            s.insert("host".into(), json!(h.name.clone().unwrap_or_default()));
                            if let Some(port) = h.port {
                                s.insert("port".into(), json!(port.to_string()));
                            }
                            Value::Object(s)
                        })
                        .collect();
                    n.insert("server".into(), Value::Array(servers));
                }
            }
            P::Gluster => {
                let (volume, path) = name.split_once('/').unwrap_or((name, ""));
                n.insert("driver".into(), json!("gluster"));
                n.insert("volume".into(), json!(volume));
                n.insert("path".into(), json!(path));
                n.insert("server".into(), Value::Array(net.hosts.iter().map(|h| server(Some(h), 24007)).collect()));
                n.insert("debug".into(), json!(4));
            }
            P::Nfs => {
                n.insert("driver".into(), json!("nfs"));
                n.insert("server".into(), json!({"host": host_name(host), "type": "inet"}));
                n.insert(
                    "path".into(),
                    json!(if name.starts_with('/') { name.to_owned() } else { format!("/{name}") }),
                );
                if let Some(id) = &net.identity {
                    for (key, v) in [("user", &id.user), ("group", &id.group)] {
                        let Some(v) = v else { continue };
                        let num = v.trim_start_matches('+').parse::<u32>().map_err(|_| {
                            unsupported(
                                format!("{p}/identity/@{key}"),
                                format!("'{v}' is not a numeric id: virtkit takes ids (+1000), not names"),
                            )
                        })?;
                        n.insert(key.into(), json!(num));
                    }
                }
            }
            P::Http | P::Https | P::Ftp | P::Ftps => {
                let h = host_name(host);
                let h = if h.contains(':') { format!("[{h}]") } else { h };
                let port = host.and_then(|h| h.port).map(|p| format!(":{p}")).unwrap_or_default();
                let slash = if name.starts_with('/') { "" } else { "/" };
                let query = net.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
                n.insert("driver".into(), json!(proto.as_str()));
                n.insert("url".into(), json!(format!("{proto}://{h}{port}{slash}{name}{query}")));
                if let Some(v) = net.ssl_verify {
                    n.insert("sslverify".into(), json!(v));
                }
                if !net.cookies.is_empty() {
                    let c: Vec<String> = net.cookies.iter().map(|c| format!("{}={}", c.name, c.value)).collect();
                    n.insert("cookie".into(), json!(c.join("; ")));
                }
                if let Some(r) = net.readahead {
                    n.insert("readahead".into(), json!(r));
                }
                if let Some(t) = net.timeout {
                    n.insert("timeout".into(), json!(t));
                }
            }
            P::Tftp | P::Sheepdog | P::Vxhs => {
                return Err(unsupported(
                    format!("{p}/@protocol"),
                    format!("QEMU has no {proto} block driver (it was removed)"),
                ));
            }
            _ => return Err(unsupported(format!("{p}/@protocol"), format!("protocol '{proto}' is not supported"))),
        }
        Ok(())
    }
}

/// `drive-vda` → `drive-vda-b1`, `drive-vda-b1` → `drive-vda-b2`.
fn backing_stem(node: &str) -> String {
    match node.rsplit_once("-b").and_then(|(head, n)| n.parse::<u32>().ok().map(|n| (head, n))) {
        Some((head, n)) => format!("{head}-b{}", n + 1),
        None => format!("{node}-b1"),
    }
}

/// A QEMU `SocketAddress` for `host`: inet with a port (as a string), or unix.
fn server(host: Option<&NetworkHost>, default_port: u16) -> Value {
    match host {
        Some(h) if h.transport == Some(HostTransport::Unix) => {
            json!({"type": "unix", "path": h.socket.clone().unwrap_or_default()})
        }
        h => {
            let mut s = Map::new();
            s.insert("type".into(), json!("inet"));
            s.insert("host".into(), json!(h.and_then(|h| h.name.clone()).unwrap_or_default()));
            s.insert("port".into(), json!(h.and_then(|h| h.port).unwrap_or(default_port).to_string()));
            Value::Object(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_layers_get_their_own_names() {
        assert_eq!(backing_stem("drive-vda"), "drive-vda-b1");
        assert_eq!(backing_stem("drive-vda-b1"), "drive-vda-b2");
        assert_eq!(backing_stem("drive-vda-b9"), "drive-vda-b10");
    }
}
