//! `<filesystem>`: a host directory shared with the guest over 9p
//! (`-fsdev local` and a `virtio-9p-pci` device, as libvirt starts it), or
//! virtiofs through a virtiofsd someone else runs on a socket
//! (`vhost-user-fs-pci`).

use serde_json::{Map, Value, json};
use virtkit_model::domain::MemAccess;
use virtkit_model::domain::devices::{AccessMode, Filesystem, FsDriverType, FsSource, FsWrPolicy};

use super::misc::virtio_suffix;
use super::{ArgvError, Builder, esc, unsupported};

pub(super) fn filesystem_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let fss = &b.def.devices.filesystems;
    for (i, f) in fss.iter().enumerate() {
        let path = super::idx_path("filesystem", i, fss.len());
        let driver = f.driver.as_ref();
        match driver.and_then(|d| d.driver_type) {
            None | Some(FsDriverType::Path) => {}
            Some(FsDriverType::Handle) => {
                return Err(unsupported(
                    format!("{path}/driver/@type"),
                    "QEMU has no 'handle' 9p driver any more; use type='path'",
                ));
            }
            Some(FsDriverType::Virtiofs) => {
                virtiofs(b, f, i, &path)?;
                continue;
            }
            Some(t) => {
                return Err(unsupported(
                    format!("{path}/driver/@type"),
                    format!("'{t}' filesystems are for containers"),
                ));
            }
        }
        if driver.and_then(|d| d.format).is_some() {
            return Err(unsupported(format!("{path}/driver/@format"), "a 9p share is a directory, it has no format"));
        }
        let model = match f.accessmode {
            None | Some(AccessMode::Passthrough) => "passthrough",
            Some(AccessMode::Mapped) => "mapped",
            Some(AccessMode::Squash) => "none",
            Some(other) => {
                return Err(unsupported(format!("{path}/@accessmode"), format!("access mode '{other}' is not for 9p")));
            }
        };
        let id = format!("fs{i}");
        let mut fsdev = format!("local,security_model={model}");
        if driver.and_then(|d| d.wrpolicy) == Some(FsWrPolicy::Immediate) {
            fsdev.push_str(",writeout=immediate");
        }
        for (name, m) in [("fmode", f.fmode), ("dmode", f.dmode)] {
            if let Some(m) = m {
                fsdev.push_str(&format!(",{name}={m:04o}"));
            }
        }
        if let Some(m) = f.multidevs {
            fsdev.push_str(&format!(",multidevs={m}"));
        }
        let Some(dir) = f.dir() else {
            return Err(unsupported(format!("{path}/source"), "a 9p share is a host directory"));
        };
        fsdev.push_str(&format!(",id=fsdev-{id},path={}", esc(dir)));
        if f.readonly {
            fsdev.push_str(",readonly=on");
        }
        b.opt("-fsdev", fsdev);
        let mut props = Map::new();
        props.insert("driver".into(), json!(format!("virtio-9p-pci{}", virtio_suffix(f.model))));
        props.insert("id".into(), json!(id));
        props.insert("fsdev".into(), json!(format!("fsdev-{id}")));
        props.insert("mount_tag".into(), json!(f.target));
        finish(b, props, f, &path)?;
    }
    Ok(())
}

/// The virtio options, boot order and PCI address, and the device.
fn finish(b: &mut Builder<'_>, mut props: Map<String, Value>, f: &Filesystem, path: &str) -> Result<(), ArgvError> {
    if let Some(o) = f.driver.as_ref().map(|d| &d.virtio) {
        b.virtio_options(&mut props, o, &format!("{path}/driver"))?;
    }
    if let Some(boot) = &f.boot {
        props.insert("bootindex".into(), json!(boot.order));
    }
    b.pci_addr(&mut props, f.address.as_ref(), path)?;
    b.device(Value::Object(props));
    Ok(())
}

/// virtiofs through a virtiofsd listening on `<source socket>`; virtkit
/// does not start virtiofsd itself.
fn virtiofs(b: &mut Builder<'_>, f: &Filesystem, i: usize, path: &str) -> Result<(), ArgvError> {
    let FsSource::Socket(sock) = &f.source else {
        return Err(unsupported(
            format!("{path}/source"),
            "virtkit does not start virtiofsd: share through a virtiofsd you run, on its socket (<source socket=…>)",
        ));
    };
    let cells_shared = b
        .def
        .cpu
        .as_ref()
        .and_then(|c| c.numa.as_ref())
        .is_some_and(|n| !n.cells.is_empty() && n.cells.iter().all(|c| c.mem_access == Some(MemAccess::Shared)));
    let shared = b.def.memory_backing.as_ref().and_then(|m| m.access) == Some(MemAccess::Shared) || cells_shared;
    if !shared {
        return Err(unsupported(
            path,
            "virtiofsd reads the guest's memory: it must be shared (<memoryBacking><access mode='shared'/>)",
        ));
    }
    let id = format!("fs{i}");
    let chardev = format!("chr-vu-{id}");
    b.opt("-chardev", format!("socket,id={chardev},path={}", esc(sock)));
    let mut props = Map::new();
    props.insert("driver".into(), json!("vhost-user-fs-pci"));
    props.insert("id".into(), json!(id));
    props.insert("chardev".into(), json!(chardev));
    if let Some(q) = f.driver.as_ref().and_then(|d| d.queue) {
        props.insert("queue-size".into(), json!(q));
    }
    props.insert("tag".into(), json!(f.target));
    finish(b, props, f, path)
}
