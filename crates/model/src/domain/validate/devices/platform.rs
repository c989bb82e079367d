//! Checks of memory devices (against `<maxMemory>` and the guest's NUMA
//! cells), the IOMMU, vsock, shared memory and leases.

use std::collections::{HashMap, HashSet};

use super::super::{idx, is_word};
use super::Checks;
use crate::domain::Domain;
use crate::domain::devices::{Address, IommuModel, MemoryModel};
use crate::domain::features::IoapicDriver;
use crate::xml::truncate;

pub(super) fn platform(k: &mut Checks<'_>, def: &Domain) {
    memories(k, def);
    let d = &def.devices;
    if let Some(m) = &d.iommu {
        iommu(k, def, m);
    }
    if let Some(s) = &d.vsock {
        let p = "/domain/devices/vsock";
        match (s.cid_auto, s.cid) {
            (Some(false) | None, None) if s.cid_auto == Some(false) => {
                k.invalid(format!("{p}/cid"), "with auto='no' the guest's context id is given (address=)");
            }
            (_, Some(c)) if c < 3 => k.value(
                format!("{p}/cid/@address"),
                format!("{c} is reserved (0 to 2 are the hypervisor's and the host's): 3 and up"),
            ),
            _ => {}
        }
        k.alias(p, s.alias.as_ref());
        k.address(p, s.address.as_ref());
    }
    let n = d.shmems.len();
    let mut names = HashSet::new();
    for (i, s) in d.shmems.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("shmem", i, n));
        if !is_word(&s.name, "_-.:+@") {
            k.value(format!("{p}/@name"), format!("'{}' is not a shared memory name", truncate(&s.name)));
        } else if !names.insert(s.name.as_str()) {
            k.invalid(format!("{p}/@name"), format!("shared memory '{}' is given twice", s.name));
        }
        if let Some(size) = s.size {
            let mib = size.0 >> 20;
            if size.0 & ((1 << 20) - 1) != 0 || !mib.is_power_of_two() {
                k.value(format!("{p}/size"), format!("{size} is not a power of two MiB"));
            }
        }
        if let Some(sv) = &s.server {
            k.opt_abs(format!("{p}/server/@path"), sv.path.as_deref());
        }
        if s.msi.is_some() && s.server.is_none() {
            k.invalid(format!("{p}/msi"), "interrupts (msi) come from an ivshmem server: give <server>");
        }
        k.alias(&p, s.alias.as_ref());
        k.address(&p, s.address.as_ref());
    }
    let n = d.leases.len();
    for (i, l) in d.leases.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("lease", i, n));
        k.one_line(format!("{p}/lockspace"), &l.lockspace);
        k.one_line(format!("{p}/key"), &l.key);
        k.abs(format!("{p}/target/@path"), &l.path);
    }
}

fn iommu(k: &mut Checks<'_>, def: &Domain, m: &crate::domain::devices::Iommu) {
    let p = "/domain/devices/iommu";
    if let Some(dr) = &m.driver {
        if m.model != IommuModel::Intel {
            k.invalid(format!("{p}/driver"), format!("the {} IOMMU has no driver options (they are intel's)", m.model));
        }
        if dr.eim == Some(true) && dr.intremap != Some(true) {
            k.invalid(format!("{p}/driver/@eim"), "extended interrupt mode needs intremap='on'");
        }
        if let Some(b) = dr.aw_bits
            && b != 39
            && b != 48
        {
            k.value(format!("{p}/driver/@aw_bits"), format!("{b} is not an address width an IOMMU has (39 or 48)"));
        }
        let split = def.features.as_ref().and_then(|f| f.ioapic) == Some(IoapicDriver::Qemu);
        if dr.intremap == Some(true) && !split {
            k.invalid(
                format!("{p}/driver/@intremap"),
                "interrupt remapping needs the split I/O APIC (<features><ioapic driver='qemu'/>)",
            );
        }
    }
    k.alias(p, m.alias.as_ref());
    k.address(p, m.address.as_ref());
}

fn memories(k: &mut Checks<'_>, def: &Domain) {
    let d = &def.devices;
    let n = d.memories.len();
    let cells = def.cpu.as_ref().and_then(|c| c.numa.as_ref()).map(|n| n.cells.len());
    let mut slots: HashMap<u32, String> = HashMap::new();
    let mut in_slots = 0u32;
    for (i, m) in d.memories.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("memory", i, n));
        let t = &m.target;
        if t.size.0 == 0 {
            k.value(format!("{p}/target/size"), "a memory device has a size");
        }
        if m.model != MemoryModel::SgxEpc && def.max_memory.is_none() {
            k.invalid(
                &p,
                format!("a {} memory device needs <maxMemory> (the guest's room for memory devices)", m.model),
            );
        }
        if let (Some(node), Some(cells)) = (t.node, cells)
            && node as usize >= cells
        {
            k.value(format!("{p}/target/node"), format!("guest NUMA node {node} does not exist ({cells} cells)"));
        }
        if t.node.is_none()
            && cells.is_some()
            && matches!(m.model, MemoryModel::Dimm | MemoryModel::Nvdimm | MemoryModel::VirtioMem)
        {
            k.invalid(format!("{p}/target"), "the guest has NUMA cells: give the device's <node>");
        }
        if t.node.is_some() && cells.is_none() {
            k.invalid(format!("{p}/target/node"), "the guest has no NUMA cells (<cpu><numa>) to put it in");
        }
        let file = m.model.is_file_backed();
        let src = m.source.as_ref();
        if file && src.and_then(|s| s.path.as_ref()).is_none() {
            k.invalid(&p, format!("a {} device is backed by a host file: give <source><path>", m.model));
        }
        if let Some(s) = src {
            k.opt_abs(format!("{p}/source/path"), s.path.as_deref());
            if !file && (s.path.is_some() || s.alignsize.is_some() || s.pmem) {
                k.invalid(
                    format!("{p}/source"),
                    format!("a {} device is RAM: path, alignsize and pmem are for files", m.model),
                );
            }
            if file && (s.pagesize.is_some() || s.nodemask.is_some()) {
                k.invalid(
                    format!("{p}/source"),
                    format!("a {} device is a file: pagesize and nodemask are for RAM", m.model),
                );
            }
            if (s.alignsize.is_some() || s.pmem) && m.model != MemoryModel::Nvdimm {
                k.invalid(format!("{p}/source"), "alignsize and pmem are an nvdimm's");
            }
        }
        if (t.label_size.is_some() || t.readonly || m.uuid.is_some()) && m.model != MemoryModel::Nvdimm {
            k.invalid(format!("{p}/target"), "label, readonly and uuid are an nvdimm's");
        }
        virtio_mem(k, &p, m);
        if matches!(m.model, MemoryModel::Dimm | MemoryModel::Nvdimm) {
            in_slots += 1;
            if let Some(Address::Dimm(a)) = &m.address
                && let Some(s) = a.slot
            {
                if let Some(max) = &def.max_memory
                    && s >= max.slots
                {
                    k.value(
                        format!("{p}/address/@slot"),
                        format!("slot {s} is beyond <maxMemory slots='{}'>", max.slots),
                    );
                }
                if let Some(first) = slots.get(&s) {
                    k.invalid(format!("{p}/address/@slot"), format!("slot {s} is already taken by {first}"));
                } else {
                    slots.insert(s, p.clone());
                }
            }
        }
        if matches!(m.address, Some(Address::Dimm(_))) && !matches!(m.model, MemoryModel::Dimm | MemoryModel::Nvdimm) {
            k.invalid(format!("{p}/address"), format!("a {} device is not in a DIMM slot", m.model));
        }
        k.alias(&p, m.alias.as_ref());
        if !matches!(m.address, Some(Address::Dimm(_))) {
            k.address(&p, m.address.as_ref());
        }
    }
    if let Some(max) = &def.max_memory
        && in_slots > max.slots
    {
        k.invalid(
            "/domain/maxMemory/@slots",
            format!("{in_slots} DIMM and NVDIMM devices need more than the {} slots given", max.slots),
        );
    }
    // <memory> counts the devices in DIMM slots and virtio-mem (libvirt's
    // total); without NUMA cells, what is left is the base memory.
    let devices: u64 = d.memories.iter().filter(|m| m.model.counts_in_memory()).map(|m| m.target.size.0).sum();
    if cells.is_none() && devices > 0 && devices >= def.memory.0 {
        k.invalid(
            "/domain/memory",
            format!(
                "memory devices ({}) leave nothing of <memory> ({}), which counts them, for the base memory",
                crate::ByteSize(devices),
                def.memory
            ),
        );
    }
}

fn virtio_mem(k: &mut Checks<'_>, p: &str, m: &crate::domain::devices::MemoryDevice) {
    let t = &m.target;
    if m.model != MemoryModel::VirtioMem {
        if t.block.is_some() || t.requested.is_some() || t.current.is_some() {
            k.invalid(format!("{p}/target"), "block, requested and current are a virtio-mem device's");
        }
        return;
    }
    match t.block {
        None => k.invalid(format!("{p}/target"), "a virtio-mem device grows by blocks: give <block>"),
        Some(b) if b.0 == 0 || !b.0.is_power_of_two() => {
            k.value(format!("{p}/target/block"), format!("{b} is not a power of two"));
        }
        Some(b) => {
            for (what, v) in [("size", Some(t.size)), ("requested", t.requested)] {
                if let Some(v) = v
                    && v.0 % b.0 != 0
                {
                    k.value(format!("{p}/target/{what}"), format!("{v} is not a multiple of the block size {b}"));
                }
            }
        }
    }
    if t.requested.is_some_and(|r| r > t.size) {
        k.value(format!("{p}/target/requested"), "more is requested than the device's size");
    }
}
