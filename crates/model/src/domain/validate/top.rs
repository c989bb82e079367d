//! Checks of the domain's top-level parts beyond the basics: NUMA cells and
//! tuning, memory backing, CPU and I/O tuning, I/O threads, firmware,
//! system information, features, security labels and the QEMU namespace.

use std::collections::HashSet;

use super::{V, idx, is_word};
use crate::domain::{
    Domain, FirmwareFeature, GenId, HypervMode, NumaPlacement, Scheduler, SecLabelType, SmbiosMode, Sysinfo,
    SystemEntry,
};
use crate::xml::truncate;

/// libvirt's cpuperiod range (microseconds).
const PERIOD: std::ops::RangeInclusive<u64> = 1000..=1_000_000;
/// libvirt's cpuquota range.
const QUOTA: std::ops::RangeInclusive<i64> = -1..=17_592_186_044_415;

impl Domain {
    pub(super) fn check_top(&self, v: &mut V) {
        self.check_numa(v);
        self.check_memory_backing(v);
        self.check_tuning(v);
        self.check_iothreads(v);
        self.check_firmware(v);
        self.check_sysinfo(v);
        self.check_features(v);
        self.check_security(v);
        if let Some(GenId::Id(g)) = self.genid
            && g.is_nil()
        {
            v.value("/domain/genid", "a generation id must not be all zeros");
        }
        if let Some(p) = &self.perf {
            if p.is_empty() {
                v.invalid("/domain/perf", "<perf> needs at least one <event>");
            }
            let mut seen = HashSet::new();
            for (i, e) in p.iter().enumerate() {
                if !seen.insert(e.name) {
                    v.invalid(
                        format!("/domain/perf/{}/@name", idx("event", i, p.len())),
                        format!("event {} is given twice", e.name),
                    );
                }
            }
        }
        let env = self.qemu.commandline.as_ref().map_or(&[][..], |c| &c.env[..]);
        for (i, e) in env.iter().enumerate() {
            if !is_word(&e.name, "_") {
                v.value(
                    format!("/domain/qemu:commandline/{}/@name", idx("qemu:env", i, env.len())),
                    format!("'{}' is not an environment variable name", truncate(&e.name)),
                );
            }
        }
    }

    /// The number of vCPUs.
    fn vcpu_count(&self) -> u32 {
        u32::from(self.vcpu.as_ref().map_or(1, |c| c.count))
    }

    fn check_numa(&self, v: &mut V) {
        let numa = self.cpu.as_ref().and_then(|c| c.numa.as_ref());
        let ids: Vec<u32> = numa.map(|n| n.cell_ids().collect()).unwrap_or_default();
        if let Some(numa) = numa {
            let n = numa.cells.len();
            if n == 0 {
                v.invalid("/domain/cpu/numa", "<numa> needs at least one <cell>");
            }
            let vcpus = self.vcpu_count();
            let mut seen = HashSet::new();
            let mut owner: Vec<Option<usize>> = vec![None; usize::try_from(vcpus).unwrap_or(0)];
            for (i, c) in numa.cells.iter().enumerate() {
                let p = format!("/domain/cpu/numa/{}", idx("cell", i, n));
                let id = ids[i];
                if usize::try_from(id).map_or(true, |id| id >= n) {
                    v.value(
                        format!("{p}/@id"),
                        format!("cell ids go from 0 to {} (one per cell)", n.saturating_sub(1)),
                    );
                } else if !seen.insert(id) {
                    v.invalid(format!("{p}/@id"), format!("cell {id} is given twice"));
                }
                if c.memory.0 == 0 {
                    v.value(format!("{p}/@memory"), "a cell needs memory");
                }
                for (a, b) in c.cpus.iter().flat_map(|s| s.ranges().iter().copied()) {
                    for cpu in a..=b {
                        match owner.get_mut(usize::try_from(cpu).unwrap_or(usize::MAX)) {
                            None => {
                                v.invalid(
                                    format!("{p}/@cpus"),
                                    format!("vCPU {cpu} is beyond the domain's {vcpus} vCPUs"),
                                );
                                break;
                            }
                            Some(Some(first)) => {
                                let first = *first;
                                v.invalid(
                                    format!("{p}/@cpus"),
                                    format!("vCPU {cpu} is in cell {} already", ids[first]),
                                );
                                break;
                            }
                            Some(slot) => *slot = Some(i),
                        }
                    }
                }
                let nd = c.distances.len();
                for (j, d) in c.distances.iter().enumerate() {
                    let dp = format!("{p}/distances/{}", idx("sibling", j, nd));
                    if !ids.contains(&d.id) {
                        v.invalid(format!("{dp}/@id"), format!("there is no cell {}", d.id));
                    }
                    if !(10..=255).contains(&d.value) {
                        v.value(format!("{dp}/@value"), format!("{} is out of range (10 to 255)", d.value));
                    } else if (d.id == id) != (d.value == 10) {
                        v.value(format!("{dp}/@value"), "the distance is 10 to the cell itself and more to others");
                    }
                }
            }
            let ic = &numa.interconnects;
            let nl = ic.latencies.len();
            let nb = ic.bandwidths.len();
            let ends = ic
                .latencies
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("latency[{}]", i + 1), nl, l.initiator, l.target))
                .chain(
                    ic.bandwidths
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (format!("bandwidth[{}]", i + 1), nb, b.initiator, b.target)),
                );
            for (name, count, initiator, target) in ends {
                let name = if count == 1 { name.split('[').next().unwrap_or_default().to_owned() } else { name };
                for (attr, cell) in [("initiator", initiator), ("target", target)] {
                    if !ids.contains(&cell) {
                        v.invalid(
                            format!("/domain/cpu/numa/interconnects/{name}/@{attr}"),
                            format!("there is no cell {cell}"),
                        );
                    }
                }
            }
        }
        let Some(t) = &self.numatune else { return };
        if let Some(m) = &t.memory
            && m.placement == Some(NumaPlacement::Auto)
            && m.nodeset.is_some()
        {
            v.invalid("/domain/numatune/memory/@nodeset", "not allowed with placement 'auto'");
        }
        let n = t.memnodes.len();
        let mut seen = HashSet::new();
        for (i, m) in t.memnodes.iter().enumerate() {
            let p = format!("/domain/numatune/{}/@cellid", idx("memnode", i, n));
            if numa.is_none() {
                v.invalid(&p, "<memnode> needs guest NUMA cells (<cpu><numa>)");
            } else if !ids.contains(&m.cellid) {
                v.invalid(&p, format!("there is no cell {}", m.cellid));
            } else if !seen.insert(m.cellid) {
                v.invalid(&p, format!("cell {} is given twice", m.cellid));
            }
        }
    }

    fn check_memory_backing(&self, v: &mut V) {
        if let Some(mt) = &self.memtune
            && let (Some(hard), Some(swap)) = (mt.hard_limit, mt.swap_hard_limit)
            && hard > swap
        {
            v.invalid("/domain/memtune/swap_hard_limit", "the swap hard limit is less than the hard limit");
        }
        let Some(mb) = &self.memory_backing else { return };
        let cells: Vec<u32> = match self.cpu.as_ref().and_then(|c| c.numa.as_ref()) {
            Some(n) => n.cell_ids().collect(),
            None => vec![0],
        };
        let pages = mb.hugepages.as_deref().unwrap_or_default();
        let n = pages.len();
        let mut default_seen = false;
        let mut covered = HashSet::new();
        for (i, p) in pages.iter().enumerate() {
            let path = format!("/domain/memoryBacking/hugepages/{}", idx("page", i, n));
            if p.size.0 == 0 || !p.size.0.is_multiple_of(1024) {
                v.value(format!("{path}/@size"), "a page size is a whole number of KiB, at least 1");
            }
            match &p.nodeset {
                None if default_seen => v.invalid(&path, "only one page size may be for all cells"),
                None => default_seen = true,
                Some(set) => {
                    for (a, b) in set.ranges() {
                        for c in *a..=*b {
                            if !cells.contains(&c) {
                                v.invalid(format!("{path}/@nodeset"), format!("there is no guest cell {c}"));
                            } else if !covered.insert(c) {
                                v.invalid(format!("{path}/@nodeset"), format!("cell {c} has a page size already"));
                            }
                        }
                    }
                }
            }
        }
        if mb.allocation.as_ref().and_then(|a| a.threads) == Some(0) {
            v.value("/domain/memoryBacking/allocation/@threads", "must be at least 1");
        }
    }

    fn check_tuning(&self, v: &mut V) {
        if let Some(b) = &self.blkiotune {
            let weight = |v: &mut V, p: &str, w: Option<u32>| {
                if let Some(w) = w.filter(|w| !(100..=1000).contains(w)) {
                    v.value(p, format!("{w} is out of range (100 to 1000)"));
                }
            };
            weight(v, "/domain/blkiotune/weight", b.weight);
            let n = b.devices.len();
            for (i, d) in b.devices.iter().enumerate() {
                let p = format!("/domain/blkiotune/{}", idx("device", i, n));
                v.abs(format!("{p}/path"), &d.path);
                weight(v, &format!("{p}/weight"), d.weight);
            }
        }
        if let Some(vs) = &self.vcpus {
            let count = self.vcpu_count();
            let mut seen = HashSet::new();
            for (i, s) in vs.iter().enumerate() {
                let p = format!("/domain/vcpus/{}/@id", idx("vcpu", i, vs.len()));
                if s.id >= count {
                    v.invalid(&p, format!("vCPU {} is beyond the domain's {count} vCPUs", s.id));
                } else if !seen.insert(s.id) {
                    v.invalid(&p, format!("vCPU {} is given twice", s.id));
                }
            }
        }
        let Some(t) = &self.cputune else { return };
        if t.shares.is_some_and(|s| s > u64::from(u32::MAX)) {
            v.value("/domain/cputune/shares", format!("out of range (at most {})", u32::MAX));
        }
        for (name, p) in [
            ("period", t.period),
            ("global_period", t.global_period),
            ("emulator_period", t.emulator_period),
            ("iothread_period", t.iothread_period),
        ] {
            if let Some(p) = p.filter(|p| !PERIOD.contains(p)) {
                v.value(format!("/domain/cputune/{name}"), format!("{p} is out of range (1000 to 1000000 µs)"));
            }
        }
        for (name, q) in [
            ("quota", t.quota),
            ("global_quota", t.global_quota),
            ("emulator_quota", t.emulator_quota),
            ("iothread_quota", t.iothread_quota),
        ] {
            if let Some(q) = q.filter(|q| !QUOTA.contains(q)) {
                v.value(format!("/domain/cputune/{name}"), format!("{q} is out of range (-1 to {})", QUOTA.end()));
            }
        }
        let count = self.vcpu_count();
        let mut seen = HashSet::new();
        for (i, p) in t.vcpupin.iter().enumerate() {
            let path = format!("/domain/cputune/{}/@vcpu", idx("vcpupin", i, t.vcpupin.len()));
            if u32::from(p.vcpu) >= count {
                v.invalid(&path, format!("vCPU {} is beyond the domain's {count} vCPUs", p.vcpu));
            } else if !seen.insert(p.vcpu) {
                v.invalid(&path, format!("vCPU {} is pinned twice", p.vcpu));
            }
        }
        let threads = self.iothreads.all_ids();
        for (i, p) in t.iothreadpin.iter().enumerate() {
            if !threads.contains(&p.iothread) {
                v.invalid(
                    format!("/domain/cputune/{}/@iothread", idx("iothreadpin", i, t.iothreadpin.len())),
                    format!("there is no I/O thread {}", p.iothread),
                );
            }
        }
        for (i, c) in t.cachetune.iter().enumerate() {
            let p = format!("/domain/cputune/{}", idx("cachetune", i, t.cachetune.len()));
            if c.caches.is_empty() && c.monitors.is_empty() {
                v.invalid(&p, "<cachetune> needs a <cache> or a <monitor>");
            }
            if c.monitors.iter().any(|m| m.level.is_none()) {
                v.invalid(format!("{p}/monitor"), "a cache monitor needs its level");
            }
        }
        for (i, m) in t.memorytune.iter().enumerate() {
            let p = format!("/domain/cputune/{}", idx("memorytune", i, t.memorytune.len()));
            if m.nodes.is_empty() && m.monitors.is_empty() {
                v.invalid(&p, "<memorytune> needs a <node> or a <monitor>");
            }
            if m.monitors.iter().any(|m| m.level.is_some()) {
                v.invalid(format!("{p}/monitor/@level"), "a memory bandwidth monitor has no level");
            }
        }
        let scheds = t
            .vcpusched
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("/domain/cputune/{}", idx("vcpusched", i, t.vcpusched.len())), &s.sched))
            .chain(t.iothreadsched.iter().enumerate().map(|(i, s)| {
                (format!("/domain/cputune/{}", idx("iothreadsched", i, t.iothreadsched.len())), &s.sched)
            }))
            .chain(t.emulatorsched.iter().map(|s| ("/domain/cputune/emulatorsched".to_owned(), s)));
        for (p, s) in scheds {
            let realtime = matches!(s.scheduler, Scheduler::Fifo | Scheduler::Rr);
            if realtime && s.priority.is_none() {
                v.invalid(&p, format!("scheduler '{}' needs a priority", s.scheduler));
            } else if !realtime && s.priority.is_some() {
                v.invalid(format!("{p}/@priority"), format!("scheduler '{}' has no priority", s.scheduler));
            }
        }
    }

    fn check_iothreads(&self, v: &mut V) {
        let t = &self.iothreads;
        let n = t.ids.len();
        let mut seen = HashSet::new();
        let pools = t
            .ids
            .iter()
            .enumerate()
            .map(|(i, x)| {
                (format!("/domain/iothreadids/{}", idx("iothread", i, n)), x.thread_pool_min, x.thread_pool_max)
            })
            .chain(
                t.default.iter().map(|d| ("/domain/defaultiothread".to_owned(), d.thread_pool_min, d.thread_pool_max)),
            );
        for (p, min, max) in pools {
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                v.invalid(format!("{p}/@thread_pool_min"), "the pool's minimum is above its maximum");
            }
        }
        for (i, x) in t.ids.iter().enumerate() {
            let p = format!("/domain/iothreadids/{}/@id", idx("iothread", i, n));
            if x.id == 0 {
                v.value(&p, "I/O thread ids start at 1");
            } else if !seen.insert(x.id) {
                v.invalid(&p, format!("I/O thread {} is given twice", x.id));
            }
        }
    }

    fn check_firmware(&self, v: &mut V) {
        let os = &self.os;
        let mut seen = HashSet::new();
        let n = os.firmware_features.len();
        for (i, FirmwareFeature { name, .. }) in os.firmware_features.iter().enumerate() {
            if !seen.insert(*name) {
                v.invalid(
                    format!("/domain/os/firmware/{}/@name", idx("feature", i, n)),
                    format!("feature {name} is given twice"),
                );
            }
        }
        let n = os.acpi_tables.len();
        for (i, t) in os.acpi_tables.iter().enumerate() {
            v.abs(format!("/domain/os/acpi/{}", idx("table", i, n)), t);
        }
        v.opt_abs("/domain/os/root", os.root.as_deref());
        if let Some(t) = os.bios.as_ref().and_then(|b| b.reboot_timeout).filter(|t| *t < -1) {
            v.value("/domain/os/bios/@rebootTimeout", format!("{t} is out of range (-1 to 32767)"));
        }
        if os.smbios == Some(SmbiosMode::Sysinfo) && !self.sysinfo.iter().any(|s| matches!(s, Sysinfo::Smbios(_))) {
            v.invalid("/domain/os/smbios/@mode", "mode 'sysinfo' needs a <sysinfo type='smbios'>");
        }
    }

    fn check_sysinfo(&self, v: &mut V) {
        let n = self.sysinfo.len();
        let (mut smbios, mut fwcfg) = (0, 0);
        for (i, s) in self.sysinfo.iter().enumerate() {
            let p = format!("/domain/{}", idx("sysinfo", i, n));
            match s {
                Sysinfo::Smbios(s) => {
                    smbios += 1;
                    if smbios == 2 {
                        v.invalid(&p, "there is one <sysinfo type='smbios'> at most");
                    }
                    for e in s.system.iter().filter(|e| e.name == SystemEntry::Uuid) {
                        match uuid::Uuid::try_parse(e.value.trim()) {
                            Ok(u) if u == self.uuid => {}
                            Ok(_) => {
                                v.invalid(format!("{p}/system/entry"), "the system uuid differs from the domain's")
                            }
                            Err(_) => {
                                v.value(format!("{p}/system/entry"), format!("'{}' is not a UUID", truncate(&e.value)))
                            }
                        }
                    }
                    if s.base_boards.iter().any(Vec::is_empty) {
                        v.invalid(format!("{p}/baseBoard"), "a <baseBoard> needs at least one <entry>");
                    }
                }
                Sysinfo::Fwcfg(entries) => {
                    fwcfg += 1;
                    if fwcfg == 2 {
                        v.invalid(&p, "there is one <sysinfo type='fwcfg'> at most");
                    }
                    let ne = entries.len();
                    for (j, e) in entries.iter().enumerate() {
                        let ep = format!("{p}/{}", idx("entry", j, ne));
                        if !e.name.starts_with("opt/") || e.name.len() > 55 {
                            v.value(format!("{ep}/@name"), "a fw_cfg name starts with 'opt/' and is at most 55 bytes");
                        }
                        match (&e.file, &e.value) {
                            (Some(f), None) => v.abs(format!("{ep}/@file"), f),
                            (None, Some(_)) => {}
                            _ => v.invalid(&ep, "an entry has a file or a value, not both"),
                        }
                    }
                }
            }
        }
    }

    fn check_features(&self, v: &mut V) {
        let Some(f) = &self.features else { return };
        if let Some(h) = &f.hyperv {
            if h.mode == Some(HypervMode::Passthrough) && !h.enlightenments().is_empty() {
                v.invalid("/domain/features/hyperv/@mode", "mode 'passthrough' takes no enlightenments");
            }
            if let Some(r) = h.spinlocks.as_ref().and_then(|s| s.retries).filter(|r| *r < 4095) {
                v.value("/domain/features/hyperv/spinlocks/@retries", format!("{r} is less than 4095"));
            }
            if let Some(id) = h.vendor_id.as_ref().and_then(|x| x.value.as_ref())
                && (id.chars().count() > 12 || id.contains(','))
            {
                v.value("/domain/features/hyperv/vendor_id/@value", "a vendor id is at most 12 characters, no commas");
            }
        }
        if let Some(size) = f.kvm.as_ref().and_then(|k| k.dirty_ring.as_ref()).and_then(|d| d.size)
            && !(size.is_power_of_two() && (1024..=65536).contains(&size))
        {
            v.value("/domain/features/kvm/dirty-ring/@size", "a power of two from 1024 to 65536");
        }
    }

    fn check_security(&self, v: &mut V) {
        let n = self.seclabels.len();
        let mut models = HashSet::new();
        for (i, s) in self.seclabels.iter().enumerate() {
            let p = format!("/domain/{}", idx("seclabel", i, n));
            let kind = s.label_type.unwrap_or(SecLabelType::Dynamic);
            match kind {
                SecLabelType::Dynamic if s.relabel == Some(false) => {
                    v.invalid(format!("{p}/@relabel"), "a dynamic label is always relabelled")
                }
                SecLabelType::Static if s.label.is_none() => v.invalid(&p, "a static label needs a <label>"),
                SecLabelType::Static if s.baselabel.is_some() => {
                    v.invalid(format!("{p}/baselabel"), "only a dynamic label has a base label")
                }
                SecLabelType::None if s.relabel == Some(true) => {
                    v.invalid(format!("{p}/@relabel"), "type 'none' does not relabel")
                }
                SecLabelType::None if s.label.is_some() || s.imagelabel.is_some() || s.baselabel.is_some() => {
                    v.invalid(&p, "type 'none' has no labels")
                }
                _ => {}
            }
            match &s.model {
                None if n > 1 => v.invalid(&p, "with several labels each names its model"),
                Some(m) if !models.insert(m.as_str()) => {
                    v.invalid(format!("{p}/@model"), format!("model '{}' has a label already", truncate(m)))
                }
                _ => {}
            }
        }
        if let Some(k) = &self.keywrap {
            if k.is_empty() {
                v.invalid("/domain/keywrap", "<keywrap> needs at least one <cipher>");
            }
            let mut seen = HashSet::new();
            for (i, c) in k.iter().enumerate() {
                if !seen.insert(c.name) {
                    v.invalid(
                        format!("/domain/keywrap/{}/@name", idx("cipher", i, k.len())),
                        format!("cipher {} is given twice", c.name),
                    );
                }
            }
        }
    }
}
