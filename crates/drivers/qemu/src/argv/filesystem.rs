//! `<filesystem>`: a host directory shared with the guest over 9p
//! (`-fsdev local` and a `virtio-9p-pci` device, as libvirt starts it).

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{AccessMode, FsDriverType, FsWrPolicy};

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
                return Err(unsupported(
                    format!("{path}/driver/@type"),
                    "virtiofs needs a virtiofsd per share, which virtkit does not run yet; 9p (type='path') works",
                ));
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
        fsdev.push_str(&format!(",id=fsdev-{id},path={}", esc(&f.source)));
        if f.readonly {
            fsdev.push_str(",readonly=on");
        }
        b.opt("-fsdev", fsdev);
        let mut props = Map::new();
        props.insert("driver".into(), json!(format!("virtio-9p-pci{}", virtio_suffix(f.model))));
        props.insert("id".into(), json!(id));
        props.insert("fsdev".into(), json!(format!("fsdev-{id}")));
        props.insert("mount_tag".into(), json!(f.target));
        b.pci_addr(&mut props, f.address.as_ref(), &path)?;
        b.device(Value::Object(props));
    }
    Ok(())
}
