//! Checks of `<disk>`: its source of every type, backing chain, mirror,
//! driver, target and I/O limits.

use std::collections::HashMap;

use super::{Checks, idx, is_word};
use crate::domain::devices::{
    Devices, Disk, DiskBackingStore, DiskBus, DiskDevice, DiskSource, DiskType, HostTransport, IoTune,
    NetworkDiskSource, NetworkProtocol, SourceLocation,
};
use crate::xml::truncate;

pub(super) fn disks(k: &mut Checks<'_>, d: &Devices) {
    let n = d.disks.len();
    let mut targets: HashMap<&str, String> = HashMap::new();
    for (i, disk) in d.disks.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("disk", i, n));
        if disk.source.is_empty() && matches!(disk.device, DiskDevice::Disk | DiskDevice::Lun) {
            k.invalid(&p, format!("disk '{}' has no source", disk.target.dev));
        }
        k.disk_source(&format!("{p}/source"), &disk.source);
        let mut indexes = HashMap::new();
        k.chain_index(&p, "source", disk.source.index, &mut indexes);
        k.chain(&p, disk.backing_store.as_ref(), &mut indexes);
        if let Some(m) = &disk.mirror {
            let mp = format!("{p}/mirror");
            k.disk_source(&format!("{mp}/source"), &m.source);
            let mut indexes = HashMap::new();
            k.chain_index(&mp, "source", m.source.index, &mut indexes);
            k.chain(&mp, m.backing_store.as_ref(), &mut indexes);
            if m.file.is_some() && m.source.disk_type() != DiskType::File {
                k.invalid(format!("{mp}/@file"), "file= is the older form of a file mirror only");
            }
        }
        disk_device(k, &p, disk);
        if disk.auth.is_some() {
            if matches!(&disk.source.location, SourceLocation::Network(n) if n.auth.is_some()) {
                k.invalid(format!("{p}/auth"), "auth goes in <disk> or in <source>, not both");
            } else if !matches!(disk.disk_type(), DiskType::Network | DiskType::Volume) {
                k.invalid(format!("{p}/auth"), "only network and volume disks authenticate");
            }
        }
        if disk.encryption.is_some() && disk.source.encryption.is_some() {
            k.invalid(format!("{p}/encryption"), "encryption goes in <disk> or in <source>, not both");
        }
        if let Some(t) = &disk.iotune {
            iotune(k, &format!("{p}/iotune"), t);
        }
        let dev = disk.target.dev.strip_prefix("ioemu:").unwrap_or(&disk.target.dev);
        let prefix_ok = ["fd", "hd", "sd", "vd", "xvd", "ubd"]
            .iter()
            .any(|pre| dev.strip_prefix(pre).is_some_and(|rest| !rest.is_empty() && is_word(rest, "_")));
        if !prefix_ok {
            k.value(
                format!("{p}/target/@dev"),
                format!("'{}' is not a disk name (like vda, sda, hdc)", truncate(&disk.target.dev)),
            );
        } else if let Some(first) = targets.get(dev) {
            k.invalid(format!("{p}/target/@dev"), format!("target '{dev}' is already used by {first}"));
        } else {
            targets.insert(dev, p.clone());
        }
        if let Some(s) = &disk.serial
            && !is_word(s, "_.+- ")
        {
            k.value(format!("{p}/serial"), "a serial is letters, digits, spaces and _ . + -");
        }
        if let Some(w) = &disk.wwn {
            let hex = w.strip_prefix("0x").unwrap_or(w);
            if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                k.value(format!("{p}/wwn"), "a WWN is 16 hex digits");
            }
        }
        for (what, v, max) in [("vendor", &disk.vendor, 8), ("product", &disk.product, 16)] {
            if let Some(v) = v
                && (v.len() > max || !v.bytes().all(|b| (0x20..0x7f).contains(&b)))
            {
                k.value(format!("{p}/{what}"), format!("a {what} is up to {max} printable ASCII characters"));
            }
        }
        k.boot(&p, disk.boot.as_ref());
        k.alias(&p, disk.alias.as_ref());
        k.address(&p, disk.address.as_ref());
    }
}

/// What the device kind and bus allow.
fn disk_device(k: &mut Checks<'_>, p: &str, disk: &Disk) {
    let bus = disk.target.bus;
    if (disk.device == DiskDevice::Floppy) != (bus == Some(DiskBus::Fdc)) && bus.is_some() {
        k.invalid(format!("{p}/target/@bus"), "a floppy is on the fdc bus, and only a floppy is");
    }
    if disk.device == DiskDevice::Lun {
        if !matches!(disk.disk_type(), DiskType::Block | DiskType::Network | DiskType::Volume) {
            k.invalid(format!("{p}/@device"), "a lun is a block device, a network (iSCSI) disk or a volume");
        }
    } else {
        if disk.rawio.is_some() {
            k.invalid(format!("{p}/@rawio"), "rawio is for device='lun' only");
        }
        if disk.sgio.is_some() {
            k.invalid(format!("{p}/@sgio"), "sgio is for device='lun' only");
        }
    }
    if disk.model.is_some() && bus.is_some_and(|b| b != DiskBus::Virtio) {
        k.invalid(format!("{p}/@model"), "a disk model is for virtio disks only");
    }
    if let Some(d) = &disk.driver {
        let virtio_only =
            d.queues.is_some() || d.queue_size.is_some() || d.event_idx.is_some() || d.ioeventfd.is_some();
        if virtio_only && bus.is_some_and(|b| b != DiskBus::Virtio) {
            k.invalid(format!("{p}/driver"), "queues, queue_size, event_idx and ioeventfd are for virtio disks only");
        }
        if d.queues == Some(0) || d.queue_size == Some(0) {
            k.value(format!("{p}/driver"), "queues and queue_size are 1 or more");
        }
    }
}

fn iotune(k: &mut Checks<'_>, p: &str, t: &IoTune) {
    let limits = t.limits();
    let get = |name: &str| limits.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v);
    for kind in
        ["bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max", "bytes_sec_max_length", "iops_sec_max_length"]
    {
        let total = format!("total_{kind}");
        if get(&total).is_some() && (get(&format!("read_{kind}")).is_some() || get(&format!("write_{kind}")).is_some())
        {
            k.invalid(format!("{p}/{total}"), format!("total_{kind} excludes read_{kind} and write_{kind}"));
        }
    }
    if t.group_name.as_deref().is_some_and(|g| g.is_empty() || g.contains(['\n', '\r'])) {
        k.value(format!("{p}/group_name"), "a group name is one line, not empty");
    }
}

impl Checks<'_> {
    /// One storage source at `p` (its `<source>`).
    pub(super) fn disk_source(&mut self, p: &str, s: &DiskSource) {
        if let Some(path) = s.path() {
            self.abs(format!("{p}/@{}", s.path_attr()), path);
        }
        if let Some(sl) = &s.slice {
            if sl.size == 0 {
                self.value(format!("{p}/slices/slice/@size"), "a slice is 1 byte or more");
            }
            if sl.offset > u64::from(u32::MAX) {
                self.value(format!("{p}/slices/slice/@offset"), "a slice's offset is at most 4294967295");
            }
        }
        self.seclabels(p, &s.seclabels);
        match &s.location {
            SourceLocation::Network(n) => self.network_source(p, n),
            SourceLocation::Volume(v) => {
                self.one_line(format!("{p}/@pool"), &v.pool);
                self.one_line(format!("{p}/@volume"), &v.volume);
            }
            SourceLocation::VhostUser { path, .. } => self.abs(format!("{p}/@path"), path),
            SourceLocation::Block { reservations: Some(r), .. } => {
                if let Some(sock) = &r.socket {
                    self.abs(format!("{p}/reservations/source/@path"), &sock.path);
                    if r.managed == Some(true) {
                        self.invalid(format!("{p}/reservations/source"), "a managed helper's socket is libvirt's own");
                    }
                }
            }
            _ => {}
        }
    }

    fn network_source(&mut self, p: &str, n: &NetworkDiskSource) {
        use NetworkProtocol as P;
        let proto = n.protocol;
        let hosts = n.hosts.len();
        match proto {
            P::Rbd => {}
            P::Gluster if hosts == 0 => self.invalid(p, "protocol 'gluster' needs a <host>"),
            P::Gluster => {}
            _ if hosts == 0 => self.invalid(p, format!("protocol '{proto}' needs a <host>")),
            _ if hosts > 1 => self.invalid(format!("{p}/host[2]"), format!("protocol '{proto}' has one <host>")),
            _ => {}
        }
        match &n.name {
            None if !matches!(proto, P::Nbd | P::Rbd) => {
                self.invalid(p, format!("protocol '{proto}' needs a name (the image on the server)"));
            }
            Some(name) if name.is_empty() || name.contains(['\n', '\r']) => {
                self.value(format!("{p}/@name"), "a name is one line, not empty");
            }
            _ => {}
        }
        for (i, h) in n.hosts.iter().enumerate() {
            let hp = format!("{p}/{}", idx("host", i, hosts));
            if h.transport == Some(HostTransport::Unix) {
                match &h.socket {
                    Some(s) => self.abs(format!("{hp}/@socket"), s),
                    None => self.invalid(&hp, "a unix host needs a socket"),
                }
                if h.name.is_some() || h.port.is_some() {
                    self.invalid(&hp, "a unix host has a socket, not a name or port");
                }
            } else {
                match &h.name {
                    Some(name) => self.one_line(format!("{hp}/@name"), name),
                    None => self.invalid(&hp, "a host needs a name (or transport='unix' and a socket)"),
                }
                if h.socket.is_some() {
                    self.invalid(format!("{hp}/@socket"), "a socket is for transport='unix' only");
                }
            }
        }
        let only = |ok: &[P]| ok.contains(&proto);
        let rules: [(&str, bool, &[P]); 11] = [
            ("@query", n.query.is_some(), &[P::Http, P::Https]),
            ("@tls", n.tls.is_some(), &[P::Nbd, P::Vxhs]),
            ("@tlsHostname", n.tls_hostname.is_some(), &[P::Nbd]),
            ("snapshot", n.snapshot.is_some(), &[P::Rbd]),
            ("config", n.config.is_some(), &[P::Rbd]),
            ("auth", n.auth.is_some(), &[P::Rbd, P::Iscsi, P::Http, P::Https, P::Ftp, P::Ftps]),
            ("initiator", n.initiator.is_some(), &[P::Iscsi]),
            ("ssl", n.ssl_verify.is_some(), &[P::Https, P::Ftps]),
            ("cookies", !n.cookies.is_empty(), &[P::Http, P::Https]),
            (
                "readahead",
                n.readahead.is_some() || n.timeout.is_some(),
                &[P::Http, P::Https, P::Ftp, P::Ftps, P::Tftp, P::Sheepdog],
            ),
            ("identity", n.identity.is_some(), &[P::Nfs]),
        ];
        for (what, present, ok) in rules {
            if present && !only(ok) {
                let names: Vec<&str> = ok.iter().map(|p| p.as_str()).collect();
                let name = what.trim_start_matches('@');
                self.invalid(format!("{p}/{what}"), format!("{name} is for protocol {} only", names.join(", ")));
            }
        }
        for c in &n.cookies {
            if c.name.is_empty() || c.value.is_empty() || c.value.contains(['\n', '\r', ';', ' ']) {
                self.value(format!("{p}/cookies/cookie"), "a cookie has a name and a value without spaces or ;");
            }
        }
    }

    /// A layer's index: 1 or more, once in the chain.
    fn chain_index(&mut self, p: &str, what: &str, index: Option<u32>, seen: &mut HashMap<u32, String>) {
        let Some(i) = index else { return };
        let at = format!("{p}/{what}/@index");
        if i == 0 {
            self.value(at, "an index is 1 or more");
        } else if let Some(first) = seen.get(&i) {
            self.invalid(at, format!("index {i} is already used by {first}"));
        } else {
            seen.insert(i, at);
        }
    }

    fn chain(&mut self, p: &str, b: Option<&DiskBackingStore>, seen: &mut HashMap<u32, String>) {
        let mut at = format!("{p}/backingStore");
        let mut next = b;
        while let Some(DiskBackingStore::Layer(l)) = next {
            self.disk_source(&format!("{at}/source"), &l.source);
            if l.source.is_empty() {
                self.invalid(&at, "a backing layer needs a source");
            }
            let bp = at.rsplit_once('/').map(|(head, _)| head.to_owned()).unwrap_or_default();
            self.chain_index(&bp, "backingStore", l.index, seen);
            self.chain_index(&at, "source", l.source.index, seen);
            at.push_str("/backingStore");
            next = l.backing_store.as_ref();
        }
    }
}
