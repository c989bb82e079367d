//! The definition's top-level parts beyond the machine and memory: CPU
//! features (Hyper-V, KVM, PMU, caches, address width), the accelerator's
//! options, I/O threads, firmware tables (SMBIOS, fw_cfg, ACPI), the
//! generation id, and the QEMU namespace. What QEMU cannot do from its
//! command line is refused here, naming why: nothing the model accepted is
//! left out silently.

use serde_json::{Map, Value, json};
use virtkit_model::domain::{
    CpuCacheMode, DeprecationBehavior, Domain, GenId, HypervMode, IoapicDriver, MaxPhysAddrMode, SecLabelType,
    SmbiosMode, Sysinfo, TimerName,
};

use super::{Accel, ArgvError, Builder, Context, esc, json_arg, unsupported};

/// What virtkit's QEMU driver does not do, refused before anything runs.
pub(super) fn refusals(def: &Domain, ctx: &Context) -> Result<(), ArgvError> {
    let cgroups = "which virtkit's QEMU driver does not manage (it runs no cgroups of its own yet)";
    if def.cputune.is_some() {
        return Err(unsupported(
            "/domain/cputune",
            format!("CPU tuning (shares, quotas, pinning, schedulers) needs cgroups and thread placement, {cgroups}"),
        ));
    }
    if def.blkiotune.is_some() {
        return Err(unsupported("/domain/blkiotune", format!("block I/O tuning needs the blkio cgroup, {cgroups}")));
    }
    if def.memtune.is_some() {
        return Err(unsupported("/domain/memtune", format!("memory limits need the memory cgroup, {cgroups}")));
    }
    if def.resource.is_some() {
        return Err(unsupported("/domain/resource", format!("a resource partition is a cgroup, {cgroups}")));
    }
    if def.perf.is_some() {
        return Err(unsupported("/domain/perf", "counting host perf events for a guest is not supported"));
    }
    if def.idmap.is_some() {
        return Err(unsupported("/domain/idmap", "id maps are for containers' user namespaces; a QEMU guest has none"));
    }
    if def.keywrap.is_some() {
        return Err(unsupported("/domain/keywrap", "key wrapping is for s390 guests; this is an x86 QEMU"));
    }
    match &def.launch_security {
        Some(virtkit_model::domain::LaunchSecurity::Sev(_)) => {
            return Err(unsupported(
                "/domain/launchSecurity",
                "AMD SEV needs KVM on an AMD host with SEV enabled (/dev/sev), which virtkit does not set up",
            ));
        }
        Some(_) => {
            return Err(unsupported("/domain/launchSecurity", "s390 protected virtualisation is for s390 hosts"));
        }
        None => {}
    }
    if def.on_lockfailure.is_some() {
        return Err(unsupported(
            "/domain/on_lockfailure",
            "virtkit has no disk lock manager whose failures this would handle",
        ));
    }
    for (i, s) in def.seclabels.iter().enumerate() {
        let p =
            if def.seclabels.len() > 1 { format!("/domain/seclabel[{}]", i + 1) } else { "/domain/seclabel".into() };
        let model = s.model.as_deref().unwrap_or("");
        let unconfined = s.label_type == Some(SecLabelType::None);
        let dac_as_is = model == "dac" && s.relabel == Some(false) && s.label.is_none();
        if !(unconfined || dac_as_is) {
            return Err(unsupported(
                p,
                format!(
                    "security labels ({}) are not applied by virtkit's QEMU driver: QEMU runs unconfined, as virtkit's own user",
                    if model.is_empty() { "the default model" } else { model }
                ),
            ));
        }
    }
    if def.qemu.capabilities.is_some() {
        return Err(unsupported(
            "/domain/qemu:capabilities",
            "these override libvirt's own QEMU capability flags, which virtkit does not have",
        ));
    }
    if def.qemu.overrides.is_some() {
        return Err(unsupported("/domain/qemu:override", "device property overrides are not supported yet"));
    }
    features_refused(def, ctx)?;
    os_refused(def)
}

fn features_refused(def: &Domain, ctx: &Context) -> Result<(), ArgvError> {
    let Some(f) = &def.features else { return Ok(()) };
    let not_here = |name: &str, what: &str| {
        unsupported(format!("/domain/features/{name}"), format!("{what}; this is an x86 QEMU"))
    };
    for (name, set) in [
        ("gic", f.gic.is_some()),
        ("hpt", f.hpt.is_some()),
        ("htm", f.htm.is_some()),
        ("nested-hv", f.nested_hv.is_some()),
        ("ccf-assist", f.ccf_assist.is_some()),
        ("cfpc", f.cfpc.is_some()),
        ("sbbc", f.sbbc.is_some()),
        ("ibs", f.ibs.is_some()),
    ] {
        if set {
            return Err(not_here(name, "an ARM or PowerPC feature"));
        }
    }
    for (name, set) in [("hap", f.hap.is_some()), ("viridian", f.viridian)] {
        if set {
            return Err(not_here(name, "a Xen feature"));
        }
    }
    if f.privnet {
        return Err(unsupported("/domain/features/privnet", "a private network namespace is for containers"));
    }
    if f.msrs.is_some() {
        return Err(unsupported(
            "/domain/features/msrs",
            "unknown MSRs are a setting of the host's KVM module (ignore_msrs), not of one guest",
        ));
    }
    let kvm = ctx.accel == Accel::Kvm;
    if f.ioapic == Some(IoapicDriver::Kvm) && !kvm {
        return Err(unsupported("/domain/features/ioapic/@driver", "an in-kernel I/O APIC needs KVM"));
    }
    if f.kvm.as_ref().and_then(|k| k.dirty_ring.as_ref()).is_some_and(|d| d.state) && !kvm {
        return Err(unsupported(
            "/domain/features/kvm/dirty-ring",
            "the dirty ring is KVM's; this guest runs under TCG",
        ));
    }
    if f.tcg.as_ref().and_then(|t| t.tb_cache).is_some() && kvm {
        return Err(unsupported(
            "/domain/features/tcg",
            "the translation block cache is TCG's; this guest runs under KVM",
        ));
    }
    Ok(())
}

fn os_refused(def: &Domain) -> Result<(), ArgvError> {
    let os = &def.os;
    if os.firmware.is_some_and(|f| f == virtkit_model::domain::Firmware::Efi) && os.loader.is_none() {
        return Err(unsupported(
            "/domain/os/@firmware",
            "no UEFI firmware was found for this guest (install Debian's ovmf)",
        ));
    }
    if !os.firmware_features.is_empty() && os.firmware.is_none() {
        return Err(unsupported(
            "/domain/os/firmware",
            "firmware features choose among firmware: they need firmware='efi'",
        ));
    }
    if os.root.is_some() {
        return Err(unsupported("/domain/os/root", "a root device is for Xen paravirtual kernels; use the cmdline"));
    }
    if os.bios.as_ref().and_then(|b| b.useserial) == Some(true) {
        return Err(unsupported(
            "/domain/os/bios/@useserial",
            "the serial graphics adapter (sgabios) is not in this host's QEMU",
        ));
    }
    match os.smbios {
        Some(SmbiosMode::Host) => {
            return Err(unsupported("/domain/os/smbios", "copying the host's SMBIOS tables is not supported"));
        }
        Some(SmbiosMode::Sysinfo) | Some(SmbiosMode::Emulate) | None => {}
        Some(_) => return Err(unsupported("/domain/os/smbios", "this SMBIOS mode is not supported")),
    }
    let smbios = def.sysinfo.iter().any(|s| matches!(s, Sysinfo::Smbios(_)));
    if smbios && os.smbios != Some(SmbiosMode::Sysinfo) {
        return Err(unsupported(
            "/domain/sysinfo",
            "SMBIOS system information is given to the guest only with <os><smbios mode='sysinfo'/>",
        ));
    }
    Ok(())
}

/// The vCPUs online at boot: the first `current` (with `<vcpus>`, those
/// enabled, which must be the first ones, in order).
pub(super) fn online_vcpus(def: &Domain) -> Result<u16, ArgvError> {
    let count = def.vcpu.as_ref().map_or(1, |v| v.count);
    let Some(list) = &def.vcpus else { return Ok(def.vcpu.as_ref().and_then(|v| v.current).unwrap_or(count)) };
    let enabled: Vec<u32> = list.iter().filter(|v| v.enabled).map(|v| v.id).collect();
    let first = (0..u32::try_from(enabled.len()).unwrap_or(u32::MAX)).all(|i| enabled.contains(&i));
    let ordered = list.iter().filter(|v| v.enabled).all(|v| v.order.is_none_or(|o| o == v.id + 1));
    if !first || !ordered || list.iter().any(|v| !v.enabled && v.hotpluggable == Some(false)) {
        return Err(unsupported(
            "/domain/vcpus",
            "only the first vCPUs, in order, can be online at boot (others are hotplugged later)",
        ));
    }
    let n = u16::try_from(enabled.len()).unwrap_or(u16::MAX);
    Ok(if list.len() < usize::from(count) { def.vcpu.as_ref().and_then(|v| v.current).unwrap_or(n.max(1)) } else { n })
}

/// `-machine` properties of the features.
pub(super) fn machine_props(b: &Builder<'_>) -> Result<Vec<String>, ArgvError> {
    let mut m = Vec::new();
    if b.ctx.accel == Accel::Kvm
        && let Some(d) = b.def.features.as_ref().and_then(|f| f.ioapic)
    {
        m.push(format!("kernel_irqchip={}", if d == IoapicDriver::Qemu { "split" } else { "on" }));
    }
    Ok(m)
}

/// `-accel` with its options.
pub(super) fn accel_arg(b: &Builder<'_>) -> Result<String, ArgvError> {
    let f = b.def.features.as_ref();
    Ok(match b.ctx.accel {
        Accel::Kvm => match f.and_then(|f| f.kvm.as_ref()).and_then(|k| k.dirty_ring.as_ref()) {
            Some(d) if d.state => format!("kvm,dirty-ring-size={}", d.size.unwrap_or(4096)),
            _ => "kvm".to_owned(),
        },
        Accel::Tcg => match f.and_then(|f| f.tcg.as_ref()).and_then(|t| t.tb_cache) {
            Some(size) => {
                if !size.as_bytes().is_multiple_of(1 << 20) || size.as_bytes() == 0 {
                    return Err(unsupported("/domain/features/tcg/tb-cache", "QEMU takes the cache size in whole MiB"));
                }
                format!("tcg,tb-size={}", size.as_bytes() >> 20)
            }
            None => "tcg".to_owned(),
        },
    })
}

fn on_off(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

/// `-cpu` properties of the features and the CPU's cache and address width.
pub(super) fn cpu_props(b: &Builder<'_>) -> Result<Vec<String>, ArgvError> {
    let mut p = Vec::new();
    let f = b.def.features.as_ref();
    if let Some(h) = f.and_then(|f| f.hyperv.as_ref()) {
        if h.mode == Some(HypervMode::Passthrough) {
            p.push("hv-passthrough=on".to_owned());
        }
        // libvirt's order, each only when on.
        for (name, on) in h.enlightenments() {
            if on && name == "vpindex" && b.ctx.accel != Accel::Kvm {
                return Err(unsupported(
                    "/domain/features/hyperv/vpindex",
                    "QEMU sets the Hyper-V VP index through KVM only; this guest runs under TCG",
                ));
            }
            if on {
                p.push(match name {
                    "spinlocks" => {
                        format!("hv-spinlocks=0x{:x}", h.spinlocks.as_ref().and_then(|s| s.retries).unwrap_or(0x1fff))
                    }
                    "vendor_id" => match h.vendor_id.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(v) => format!("hv-vendor-id={}", esc(v)),
                        None => {
                            return Err(unsupported(
                                "/domain/features/hyperv/vendor_id",
                                "a vendor id needs its value",
                            ));
                        }
                    },
                    other => format!("hv-{other}=on"),
                });
                if name == "stimer" && h.stimer.as_ref().and_then(|s| s.direct) == Some(true) {
                    p.push("hv-stimer-direct=on".to_owned());
                }
            }
        }
    }
    if let Some(k) = f.and_then(|f| f.kvm.as_ref()) {
        if let Some(h) = k.hidden {
            p.push(format!("kvm={}", on_off(!h)));
        }
        for (name, v) in
            [("kvm-hint-dedicated", k.hint_dedicated), ("kvm-poll-control", k.poll_control), ("kvm-pv-ipi", k.pv_ipi)]
        {
            if let Some(v) = v {
                p.push(format!("{name}={}", on_off(v)));
            }
        }
    }
    if let Some(s) = f.and_then(|f| f.pvspinlock) {
        p.push(format!("kvm-pv-unhalt={}", on_off(s.state.unwrap_or(true))));
    }
    if let Some(s) = f.and_then(|f| f.pmu) {
        p.push(format!("pmu={}", on_off(s.state.unwrap_or(true))));
    }
    for t in b.def.clock.iter().flat_map(|c| &c.timers) {
        match (t.name, t.present) {
            (TimerName::Hypervclock, Some(on)) => p.push(format!("hv-time={}", on_off(on))),
            (TimerName::Kvmclock, Some(on)) => p.push(format!("kvmclock={}", on_off(on))),
            (TimerName::Tsc, _) => {
                if let Some(hz) = t.frequency {
                    p.push(format!("tsc-frequency={hz}"));
                }
            }
            _ => {}
        }
    }
    let cpu = b.def.cpu.as_ref();
    if let Some(c) = cpu.and_then(|c| c.cache.as_ref()) {
        match (c.mode, c.level) {
            (CpuCacheMode::Passthrough, None) => {
                let host = cpu.is_some_and(|c| c.mode == Some(virtkit_model::domain::CpuMode::HostPassthrough));
                if !host || b.ctx.accel != Accel::Kvm {
                    return Err(unsupported(
                        "/domain/cpu/cache",
                        "the host's caches pass through to a host-passthrough CPU under KVM only",
                    ));
                }
                p.push("host-cache-info=on,l3-cache=off".to_owned());
            }
            (CpuCacheMode::Emulate, Some(3)) => p.push("l3-cache=on".to_owned()),
            (CpuCacheMode::Disable, None) => p.push("l3-cache=off".to_owned()),
            _ => {
                return Err(unsupported(
                    "/domain/cpu/cache",
                    "QEMU has cache passthrough, disable, and emulation of level 3 only",
                ));
            }
        }
    }
    if let Some(m) = cpu.and_then(|c| c.maxphysaddr.as_ref()) {
        match (m.mode, m.bits) {
            (MaxPhysAddrMode::Passthrough, bits) => {
                if b.ctx.accel != Accel::Kvm {
                    return Err(unsupported(
                        "/domain/cpu/maxphysaddr/@mode",
                        "the host's address width is KVM's to pass on",
                    ));
                }
                p.push("host-phys-bits=on".to_owned());
                if let Some(bits) = bits {
                    p.push(format!("host-phys-bits-limit={bits}"));
                }
            }
            (MaxPhysAddrMode::Emulate, Some(bits)) => p.push(format!("phys-bits={bits}")),
            (MaxPhysAddrMode::Emulate, None) => {
                return Err(unsupported("/domain/cpu/maxphysaddr", "mode 'emulate' needs the bits"));
            }
            _ => return Err(unsupported("/domain/cpu/maxphysaddr/@mode", "this mode is not supported")),
        }
    }
    Ok(p)
}

/// I/O threads, the generation id, firmware tables and the like, after
/// the memory.
pub(super) fn numa_independent_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    for id in b.def.iothreads.all_ids() {
        let mut o = Map::new();
        o.insert("qom-type".into(), json!("iothread"));
        o.insert("id".into(), json!(format!("iothread{id}")));
        if let Some(t) = b.def.iothreads.ids.iter().find(|t| t.id == id) {
            if let Some(v) = t.thread_pool_min {
                o.insert("thread-pool-min".into(), json!(v));
            }
            if let Some(v) = t.thread_pool_max {
                o.insert("thread-pool-max".into(), json!(v));
            }
        }
        b.opt("-object", json_arg(Value::Object(o)));
    }
    if let Some(d) = &b.def.iothreads.default {
        let mut o = Map::new();
        o.insert("qom-type".into(), json!("main-loop"));
        o.insert("id".into(), json!("main-loop"));
        if let Some(v) = d.thread_pool_min {
            o.insert("thread-pool-min".into(), json!(v));
        }
        if let Some(v) = d.thread_pool_max {
            o.insert("thread-pool-max".into(), json!(v));
        }
        b.opt("-object", json_arg(Value::Object(o)));
    }
    if b.def.os.loader.as_ref().and_then(|l| l.secure) == Some(true) {
        if !b.q35 || !b.def.features.as_ref().and_then(|f| f.smm.as_ref()).is_some_and(|s| s.state) {
            return Err(unsupported(
                "/domain/os/loader/@secure",
                "secure boot firmware needs a q35 machine with <smm state='on'/>",
            ));
        }
        b.opt("-global", "driver=cfi.pflash01,property=secure,value=on");
    }
    sysinfo_args(b);
    for t in &b.def.os.acpi_tables {
        b.opt("-acpitable", format!("sig=SLIC,file={}", esc(t)));
    }
    Ok(())
}

fn sysinfo_args(b: &mut Builder<'_>) {
    let mut args = Vec::new();
    for s in &b.def.sysinfo {
        match s {
            Sysinfo::Smbios(s) => {
                let line = |kind: u8, fields: Vec<(String, &str)>| {
                    let mut l = format!("type={kind}");
                    for (k, v) in fields {
                        l.push_str(&format!(",{k}={}", esc(v)));
                    }
                    l
                };
                if !s.bios.is_empty() {
                    args.push(("-smbios", line(0, entries(&s.bios))));
                }
                if !s.system.is_empty() {
                    args.push(("-smbios", line(1, entries(&s.system))));
                }
                for board in &s.base_boards {
                    args.push(("-smbios", line(2, entries(board))));
                }
                if !s.chassis.is_empty() {
                    args.push(("-smbios", line(3, entries(&s.chassis))));
                }
                for o in &s.oem_strings {
                    args.push(("-smbios", format!("type=11,value={}", esc(o))));
                }
            }
            Sysinfo::Fwcfg(entries) => {
                for e in entries {
                    let what = match (&e.file, &e.value) {
                        (Some(f), _) => format!("file={}", esc(f)),
                        (None, v) => format!("string={}", esc(v.as_deref().unwrap_or(""))),
                    };
                    args.push(("-fw_cfg", format!("name={},{what}", esc(&e.name))));
                }
            }
            _ => {}
        }
    }
    for (flag, v) in args {
        b.opt(flag, v);
    }
}

fn entries<N: std::fmt::Display>(e: &[virtkit_model::domain::Entry<N>]) -> Vec<(String, &str)> {
    e.iter().map(|e| (e.name.to_string(), e.value.as_str())).collect()
}

/// The last devices and the namespace's arguments.
pub(super) fn late_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    match b.def.genid {
        Some(GenId::Id(g)) => {
            b.device(json!({"driver": "vmgenid", "guid": g.hyphenated().to_string(), "id": "vmgenid0"}))
        }
        Some(_) => b.device(json!({"driver": "vmgenid", "guid": "auto", "id": "vmgenid0"})),
        None => {}
    }
    if b.def.features.as_ref().and_then(|f| f.vmcoreinfo).is_some_and(|s| s.state != Some(false)) {
        b.device(json!({"driver": "vmcoreinfo"}));
    }
    if let Some(d) = b.def.qemu.deprecation {
        let input = match d {
            DeprecationBehavior::Reject => Some("reject"),
            DeprecationBehavior::Crash => Some("crash"),
            _ => None,
        };
        if d != DeprecationBehavior::None {
            let mut o = Map::new();
            o.insert("deprecated-output".into(), json!("hide"));
            if let Some(i) = input {
                o.insert("deprecated-input".into(), json!(i));
            }
            b.opt("-compat", json_arg(Value::Object(o)));
        }
    }
    if let Some(c) = &b.def.qemu.commandline {
        for a in &c.args {
            b.push(a.clone());
        }
    }
    Ok(())
}

/// `qemu:env` variables for QEMU's environment.
pub(super) fn qemu_env(def: &Domain) -> Vec<(String, String)> {
    def.qemu
        .commandline
        .iter()
        .flat_map(|c| c.env.iter().map(|e| (e.name.clone(), e.value.clone().unwrap_or_default())))
        .collect()
}
