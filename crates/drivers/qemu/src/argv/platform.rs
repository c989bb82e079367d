//! Memory devices (`-object memory-backend-*` and `-device pc-dimm`,
//! `nvdimm`, `virtio-mem-pci`, `virtio-pmem-pci`, SGX EPC sections), the
//! IOMMU, vsock, shared memory (ivshmem), and leases (refused: there is
//! no lock manager).

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{Address, IommuModel, MemoryDevice, MemoryModel, ShmemModel};
use virtkit_model::domain::{IoapicDriver, MemAccess};

use super::misc::virtio_suffix;
use super::{ArgvError, Builder, esc, json_arg, unsupported};

/// The QEMU id of memory device `i` (`dimm0`, `nvdimm1`, `virtiomem2`).
fn mem_id(m: &MemoryDevice, i: usize) -> String {
    format!("{}{i}", m.model.as_str().replace('-', ""))
}

/// `-machine` properties memory devices need.
pub(super) fn machine_props(b: &Builder<'_>) -> Vec<String> {
    let mut m = Vec::new();
    let mems = &b.def.devices.memories;
    if mems.iter().any(|d| d.model == MemoryModel::Nvdimm) {
        m.push("nvdimm=on".to_owned());
    }
    let epcs = mems.iter().enumerate().filter(|(_, d)| d.model == MemoryModel::SgxEpc);
    for (epc, (i, d)) in epcs.enumerate() {
        m.push(format!("sgx-epc.{epc}.memdev={}", format_args!("mem{}", mem_id(d, i))));
        if let Some(n) = d.target.node {
            m.push(format!("sgx-epc.{epc}.node={n}"));
        }
    }
    m
}

/// What of `<memory>` the guest starts with: without NUMA cells, the
/// devices in it (libvirt counts them in) are not base memory.
pub(super) fn device_memory(b: &Builder<'_>) -> u64 {
    b.def.devices.memories.iter().filter(|m| m.model.counts_in_memory()).map(|m| m.target.size.as_bytes()).sum()
}

/// The memory devices' backends and devices (after `-numa`).
pub(super) fn memory_device_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let mems = &b.def.devices.memories;
    for (i, m) in mems.iter().enumerate() {
        let path = super::idx_path("memory", i, mems.len());
        let id = mem_id(m, i);
        let memdev = format!("mem{id}");
        let obj = mem_backend(b, m, &memdev, &path)?;
        b.opt("-object", json_arg(obj));
        if m.model == MemoryModel::SgxEpc {
            continue; // a -machine sgx-epc section, not a device
        }
        let driver = match m.model {
            MemoryModel::Dimm => "pc-dimm",
            MemoryModel::Nvdimm => "nvdimm",
            MemoryModel::VirtioMem => "virtio-mem-pci",
            _ => "virtio-pmem-pci",
        };
        if !b.ctx.has(driver) {
            return Err(unsupported(&path, format!("this QEMU has no {driver} device")));
        }
        let acpi = b.def.features.as_ref().is_some_and(|f| f.acpi);
        if matches!(m.model, MemoryModel::Dimm | MemoryModel::Nvdimm) && !acpi {
            return Err(unsupported(
                &path,
                format!("a {} is announced to the guest through ACPI: turn it on (<features><acpi/>)", m.model),
            ));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        if let Some(n) = m.target.node.filter(|_| m.model != MemoryModel::VirtioPmem) {
            props.insert("node".into(), json!(n));
        }
        if let Some(l) = m.target.label_size {
            props.insert("label-size".into(), json!(l.as_bytes()));
        }
        if m.target.readonly {
            props.insert("unarmed".into(), json!(true));
        }
        if let Some(blk) = m.target.block {
            props.insert("block-size".into(), json!(blk.as_bytes()));
        }
        if let Some(r) = m.target.requested {
            props.insert("requested-size".into(), json!(r.as_bytes()));
        }
        props.insert("memdev".into(), json!(memdev));
        props.insert("id".into(), json!(id));
        match (&m.address, m.model) {
            (Some(Address::Dimm(a)), _) => {
                if let Some(s) = a.slot {
                    props.insert("slot".into(), json!(s));
                }
                if let Some(base) = a.base {
                    props.insert("addr".into(), json!(base));
                }
            }
            (a, MemoryModel::VirtioMem | MemoryModel::VirtioPmem) => b.pci_addr(&mut props, a.as_ref(), &path)?,
            (None, _) => {}
            (Some(_), _) => return Err(unsupported(format!("{path}/address"), "a DIMM's address is a dimm slot")),
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

fn mem_backend(b: &Builder<'_>, m: &MemoryDevice, id: &str, path: &str) -> Result<Value, ArgvError> {
    let src = m.source.as_ref();
    let mut o = Map::new();
    if m.model == MemoryModel::SgxEpc {
        o.insert("qom-type".into(), json!("memory-backend-epc"));
        o.insert("id".into(), json!(id));
        o.insert("prealloc".into(), json!(true));
    } else if let Some(file) = src.and_then(|s| s.path.as_ref()) {
        o.insert("qom-type".into(), json!("memory-backend-file"));
        o.insert("id".into(), json!(id));
        o.insert("mem-path".into(), json!(file));
        // virtio-pmem writes through to the file; an nvdimm shares it
        // only when asked to.
        let shared = m.access.map(|a| a == MemAccess::Shared).unwrap_or(m.model == MemoryModel::VirtioPmem);
        o.insert("share".into(), json!(shared));
        let pmem = src.is_some_and(|s| s.pmem);
        if m.model == MemoryModel::Nvdimm && !pmem {
            o.insert("prealloc".into(), json!(true));
        }
        if let Some(a) = src.and_then(|s| s.alignsize) {
            o.insert("align".into(), json!(a.as_bytes()));
        }
    } else if let Some(page) = src.and_then(|s| s.pagesize).filter(|p| p.as_bytes() != 4096) {
        let mount = b.ctx.host.hugepages.iter().find(|(s, _)| *s == page.as_bytes());
        let Some((_, dir)) = mount else {
            return Err(unsupported(
                format!("{path}/source/pagesize"),
                format!("huge pages of {} KiB: this host has no hugetlbfs mounted for them", page.as_bytes() / 1024),
            ));
        };
        o.insert("qom-type".into(), json!("memory-backend-file"));
        o.insert("id".into(), json!(id));
        o.insert("mem-path".into(), json!(dir.display().to_string()));
        o.insert("prealloc".into(), json!(true));
    } else {
        o.insert("qom-type".into(), json!("memory-backend-ram"));
        o.insert("id".into(), json!(id));
        if let Some(a) = m.access {
            o.insert("share".into(), json!(a == MemAccess::Shared));
        }
    }
    if m.discard == Some(true) {
        if o.get("qom-type") != Some(&json!("memory-backend-file")) {
            return Err(unsupported(format!("{path}/@discard"), "discarding is for memory backed by a file"));
        }
        o.insert("discard-data".into(), json!(true));
    }
    if m.model == MemoryModel::VirtioMem {
        // virtio-mem hands memory back: the backend must allow it.
        o.insert("reserve".into(), json!(false));
    }
    o.insert("size".into(), json!(m.target.size.as_bytes()));
    if m.source.as_ref().is_some_and(|s| s.pmem) {
        o.insert("pmem".into(), json!(true));
    }
    if let Some(nodes) = src.and_then(|s| s.nodemask.as_ref()) {
        let list: Vec<u32> = nodes.ranges().iter().flat_map(|(a, z)| *a..=*z).collect();
        let host = &b.ctx.host.numa_nodes;
        if let Some(n) = list.iter().find(|n| !host.is_empty() && !host.contains(n)) {
            return Err(unsupported(format!("{path}/source/nodemask"), format!("host NUMA node {n} does not exist")));
        }
        o.insert("host-nodes".into(), json!(list));
        o.insert("policy".into(), json!("bind"));
    }
    Ok(Value::Object(o))
}

/// The IOMMU: QEMU wants it before the PCI devices it translates for.
pub(super) fn iommu_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let d = &b.def.devices;
    if let Some(m) = &d.iommu {
        let p = "/domain/devices/iommu";
        let mut props = Map::new();
        match m.model {
            IommuModel::Intel => {
                if !b.q35 {
                    return Err(unsupported(format!("{p}/@model"), "the intel IOMMU is a q35 machine's"));
                }
                props.insert("driver".into(), json!("intel-iommu"));
                props.insert("id".into(), json!("iommu0"));
                if let Some(dr) = &m.driver {
                    let split = b.def.features.as_ref().and_then(|f| f.ioapic) == Some(IoapicDriver::Qemu);
                    if dr.intremap == Some(true) && !split {
                        return Err(unsupported(
                            format!("{p}/driver/@intremap"),
                            "interrupt remapping needs the split I/O APIC (<ioapic driver='qemu'/>)",
                        ));
                    }
                    let on_off = |v: bool| if v { "on" } else { "off" };
                    if let Some(v) = dr.intremap {
                        props.insert("intremap".into(), json!(on_off(v)));
                    }
                    if let Some(v) = dr.caching_mode {
                        props.insert("caching-mode".into(), json!(v));
                    }
                    if dr.eim == Some(true) && b.ctx.accel != super::Accel::Kvm {
                        return Err(unsupported(
                            format!("{p}/driver/@eim"),
                            "extended interrupt mode (x2APIC through the IOMMU) needs KVM; this guest runs on TCG",
                        ));
                    }
                    if let Some(v) = dr.eim {
                        props.insert("eim".into(), json!(on_off(v)));
                    }
                    if let Some(v) = dr.iotlb {
                        props.insert("device-iotlb".into(), json!(v));
                    }
                    if let Some(v) = dr.aw_bits {
                        props.insert("aw-bits".into(), json!(v));
                    }
                }
            }
            IommuModel::Virtio => {
                props.insert("driver".into(), json!("virtio-iommu"));
                props.insert("id".into(), json!("iommu0"));
                b.pci_addr(&mut props, m.address.as_ref(), p)?;
            }
            _ => return Err(unsupported(format!("{p}/@model"), "the smmuv3 IOMMU is an ARM machine's")),
        }
        let driver = props["driver"].as_str().unwrap_or_default().to_owned();
        if !b.ctx.has(&driver) {
            return Err(unsupported(p, format!("this QEMU has no {driver} device")));
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

/// Leases (refused), vsock and shared memory devices.
pub(super) fn platform_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let d = &b.def.devices;
    if let Some(l) = d.leases.first() {
        let _ = l;
        return Err(unsupported(
            super::idx_path("lease", 0, d.leases.len()),
            "leases are held by a lock manager (sanlock), which virtkit does not run",
        ));
    }
    if let Some(v) = &d.vsock {
        let p = "/domain/devices/vsock";
        let Some(cid) = v.cid.filter(|_| v.cid_auto != Some(true)) else {
            return Err(unsupported(
                format!("{p}/cid"),
                "choosing a free context id (auto='yes') takes the vhost-vsock ioctl, which virtkit does not do yet: give <cid auto='no' address='N'/>",
            ));
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(format!("vhost-vsock-pci{}", virtio_suffix(v.model))));
        props.insert("id".into(), json!("vsock0"));
        props.insert("guest-cid".into(), json!(cid));
        if let Some(o) = &v.driver {
            b.virtio_options(&mut props, o, p)?;
        }
        b.pci_addr(&mut props, v.address.as_ref(), p)?;
        b.device(Value::Object(props));
    }
    shmem_args(b)
}

fn shmem_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let shmems = &b.def.devices.shmems;
    for (i, s) in shmems.iter().enumerate() {
        let path = super::idx_path("shmem", i, shmems.len());
        if s.role.is_some() {
            return Err(unsupported(
                format!("{path}/@role"),
                "a shared memory role matters for migration, which virtkit does not do",
            ));
        }
        let size = s.size.map_or(4 << 20, |z| z.as_bytes());
        let mut props = Map::new();
        match s.model.unwrap_or(ShmemModel::Ivshmem) {
            ShmemModel::IvshmemPlain => {
                if s.server.is_some() || s.msi.is_some() {
                    return Err(unsupported(
                        &path,
                        "an ivshmem-plain device has no server or interrupts (that is ivshmem-doorbell)",
                    ));
                }
                let memdev = format!("shmmem-shmem{i}");
                b.opt(
                    "-object",
                    json_arg(json!({"qom-type": "memory-backend-file", "id": memdev, "mem-path": format!("/dev/shm/{}", s.name), "size": size, "share": true})),
                );
                props.insert("driver".into(), json!("ivshmem-plain"));
                props.insert("id".into(), json!(format!("shmem{i}")));
                props.insert("memdev".into(), json!(memdev));
            }
            ShmemModel::IvshmemDoorbell => {
                let sock = s
                    .server
                    .as_ref()
                    .and_then(|v| v.path.clone())
                    .unwrap_or_else(|| format!("/var/lib/libvirt/shmem-{}-sock", s.name));
                let chardev = format!("charshmem{i}");
                b.opt("-chardev", format!("socket,id={chardev},path={}", esc(&sock)));
                props.insert("driver".into(), json!("ivshmem-doorbell"));
                props.insert("id".into(), json!(format!("shmem{i}")));
                props.insert("chardev".into(), json!(chardev));
                if let Some(m) = &s.msi {
                    if let Some(v) = m.vectors {
                        props.insert("vectors".into(), json!(v));
                    }
                    if let Some(e) = m.ioeventfd {
                        props.insert("ioeventfd".into(), json!(e));
                    }
                }
            }
            _ => {
                return Err(unsupported(
                    format!("{path}/model/@type"),
                    "the legacy 'ivshmem' device is gone from QEMU (since 4.0): use ivshmem-plain or ivshmem-doorbell",
                ));
            }
        }
        b.pci_addr(&mut props, s.address.as_ref(), &path)?;
        b.device(Value::Object(props));
    }
    Ok(())
}
