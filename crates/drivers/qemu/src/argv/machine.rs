//! The machine, its CPUs, memory, clock, lifecycle, power management and
//! boot: the options that come from the definition's top level.

use virtkit_model::domain::devices::WatchdogAction;
use virtkit_model::domain::{
    BootDevice, ClockOffset, CpuFeaturePolicy, CpuMode, LifecycleAction, LoaderType, TickPolicy, TimerMode, TimerName,
    TimerTrack,
};

use super::{Accel, ArgvError, Builder, esc, unsupported};

pub(super) fn machine_args(b: &mut Builder<'_>, machine: &str) -> Result<(), ArgvError> {
    let mut m = vec![esc(machine), "usb=off".to_owned(), "dump-guest-core=off".to_owned()];
    let f = b.def.features.as_ref();
    m.push(format!("acpi={}", if f.is_some_and(|f| f.acpi) { "on" } else { "off" }));
    if let Some(v) = f.and_then(|f| f.vmport) {
        m.push(format!("vmport={}", if v { "on" } else { "off" }));
    }
    if let Some(s) = f.and_then(|f| f.smm.as_ref()) {
        m.push(format!("smm={}", if s.state { "on" } else { "off" }));
    }
    let hpet_off = b
        .def
        .clock
        .as_ref()
        .is_some_and(|c| c.timers.iter().any(|t| t.name == TimerName::Hpet && t.present == Some(false)));
    if hpet_off {
        m.push("hpet=off".into());
    }
    m.extend(super::sound::machine_props(b.def)?);
    m.extend(super::memory::machine_props(b));
    m.extend(super::platform::machine_props(b));
    m.extend(super::top::machine_props(b)?);
    b.opt("-machine", m.join(","));
    b.opt("-accel", super::top::accel_arg(b)?);
    if let Some(tseg) = f.and_then(|f| f.smm.as_ref()).and_then(|s| s.tseg) {
        b.opt("-global", format!("mch.extended-tseg-mbytes={}", tseg.as_bytes() >> 20));
    }
    Ok(())
}

pub(super) fn cpu_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let mut extra = Vec::new();
    if let Some(eoi) = b.def.features.as_ref().and_then(|f| f.apic.as_ref()).and_then(|a| a.eoi) {
        extra.push(format!("kvm-pv-eoi={}", if eoi { "on" } else { "off" }));
    }
    extra.extend(super::top::cpu_props(b)?);
    let kvm = b.ctx.accel == Accel::Kvm;
    let none = Default::default();
    let cpu = b.def.cpu.as_ref().unwrap_or(&none);
    let base = match cpu.mode {
        Some(CpuMode::HostPassthrough) if kvm => "host".to_owned(),
        Some(CpuMode::HostPassthrough) => {
            return Err(unsupported(
                "/domain/cpu/@mode",
                "host-passthrough needs KVM; with emulation use mode='maximum'",
            ));
        }
        Some(CpuMode::HostModel) => if kvm { "host" } else { "max" }.to_owned(),
        Some(CpuMode::Maximum) => "max".to_owned(),
        Some(CpuMode::Custom) | None => match cpu.model.as_ref().and_then(|m| m.name.as_ref()) {
            Some(n) => esc(n),
            None if cpu.features.is_empty() && extra.is_empty() => return Ok(()),
            None => "qemu64".to_owned(),
        },
        Some(_) => return Err(unsupported("/domain/cpu/@mode", "this CPU mode is not supported")),
    };
    let mut parts = vec![base];
    for f in &cpu.features {
        match f.policy {
            CpuFeaturePolicy::Force | CpuFeaturePolicy::Require => parts.push(format!("{}=on", esc(&f.name))),
            CpuFeaturePolicy::Disable | CpuFeaturePolicy::Forbid => parts.push(format!("{}=off", esc(&f.name))),
            CpuFeaturePolicy::Optional | _ => {}
        }
    }
    parts.extend(extra);
    b.opt("-cpu", parts.join(","));
    Ok(())
}

pub(super) fn smp_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let vcpus = b.def.vcpu.as_ref().map_or(1, |v| v.count);
    let current = super::top::online_vcpus(b.def)?;
    let (sockets, dies, cores, threads) = match b.def.cpu.as_ref().and_then(|c| c.topology.as_ref()) {
        Some(t) => {
            if t.total() != u64::from(vcpus) {
                return Err(unsupported(
                    "/domain/cpu/topology",
                    format!(
                        "the topology gives {} vCPUs but the domain has {vcpus}; QEMU needs them to match",
                        t.total()
                    ),
                ));
            }
            (t.sockets, t.dies, t.cores, t.threads)
        }
        None => (u32::from(vcpus), None, 1, 1),
    };
    let mut smp = format!("{current},sockets={sockets}");
    if let Some(d) = dies {
        smp.push_str(&format!(",dies={d}"));
    }
    smp.push_str(&format!(",cores={cores},threads={threads}"));
    if current != vcpus {
        smp.push_str(&format!(",maxcpus={vcpus}"));
    }
    b.opt("-smp", smp);
    Ok(())
}

pub(super) fn clock_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let Some(clock) = &b.def.clock else {
        b.opt("-rtc", "base=utc");
        return Ok(());
    };
    let mut rtc = match clock.offset {
        ClockOffset::Utc => "base=utc".to_owned(),
        ClockOffset::Localtime => "base=localtime".to_owned(),
        ClockOffset::Timezone => {
            // QEMU takes the zone from the environment: the guest starts in it.
            "base=localtime".to_owned()
        }
        ClockOffset::Variable | ClockOffset::Absolute => {
            return Err(unsupported(
                "/domain/clock/@offset",
                "offsets 'variable' and 'absolute' are not supported yet",
            ));
        }
        _ => return Err(unsupported("/domain/clock/@offset", "this clock offset is not supported")),
    };
    if clock.adjustment.is_some() {
        return Err(unsupported("/domain/clock/@adjustment", "clock adjustments are not supported yet"));
    }
    let mut globals = Vec::new();
    let n = clock.timers.len();
    for (i, t) in clock.timers.iter().enumerate() {
        let p = if n > 1 { format!("/domain/clock/timer[{}]", i + 1) } else { "/domain/clock/timer".to_owned() };
        let refuse = |what: &str| Err(unsupported(p.clone(), what.to_owned()));
        if t.catchup.is_some() {
            return refuse("catchup thresholds are not QEMU's to set");
        }
        match t.name {
            TimerName::Rtc => {
                if t.present == Some(false) {
                    return refuse("an x86 machine always has its RTC");
                }
                match t.tickpolicy {
                    Some(TickPolicy::Catchup) => rtc.push_str(",driftfix=slew"),
                    None | Some(TickPolicy::Delay) => {}
                    Some(_) => return refuse("QEMU's RTC catches up or delays; it cannot merge or discard ticks"),
                }
                match t.track {
                    Some(TimerTrack::Guest) => rtc.push_str(",clock=vm"),
                    Some(TimerTrack::Wall) => rtc.push_str(",clock=host"),
                    Some(TimerTrack::Realtime) => rtc.push_str(",clock=rt"),
                    None => {}
                    Some(_) => return refuse("this RTC track is not QEMU's"),
                }
            }
            TimerName::Pit => match t.tickpolicy {
                Some(TickPolicy::Delay) if b.ctx.accel == Accel::Kvm => {
                    globals.push("kvm-pit.lost_tick_policy=delay".to_owned());
                }
                // Delaying lost ticks is what TCG's PIT does.
                None | Some(TickPolicy::Delay) => {}
                Some(TickPolicy::Discard) if b.ctx.accel == Accel::Kvm => {
                    globals.push("kvm-pit.lost_tick_policy=discard".to_owned());
                }
                Some(_) => return refuse("this PIT tick policy needs KVM's in-kernel PIT"),
            },
            TimerName::Hpet if t.tickpolicy.is_some() => return refuse("the HPET has no tick policy in QEMU"),
            // hpet present is a machine property; kvmclock and hypervclock
            // are CPU properties (cpu_props).
            TimerName::Hpet | TimerName::Kvmclock | TimerName::Hypervclock => {}
            TimerName::Tsc if t.mode.is_some_and(|m| m != TimerMode::Auto) => {
                return refuse("QEMU chooses how the TSC is emulated");
            }
            TimerName::Tsc => {}
            _ => return refuse("this timer is not an x86 QEMU's"),
        }
    }
    b.opt("-rtc", rtc);
    for g in globals {
        b.opt("-global", g);
    }
    Ok(())
}

pub(super) fn lifecycle_args(b: &mut Builder<'_>) {
    // QEMU stays alive (stopped) when the guest powers off, so the driver
    // sees it and applies on_poweroff itself.
    b.push("-no-shutdown");
    if b.def.on_reboot == Some(LifecycleAction::Destroy) {
        b.push("-no-reboot");
    }
    // A panic pauses the guest; the driver applies on_crash.
    let watchdog = b.def.devices.watchdog.as_ref().and_then(|w| w.action).map(|a| match a {
        WatchdogAction::Reset => "reset",
        WatchdogAction::Shutdown => "shutdown",
        WatchdogAction::Poweroff => "poweroff",
        WatchdogAction::Pause | WatchdogAction::Dump => "pause",
        WatchdogAction::None => "none",
        WatchdogAction::InjectNmi => "inject-nmi",
        _ => "reset",
    });
    let mut action = "panic=pause".to_owned();
    if let Some(w) = watchdog {
        action.push_str(&format!(",watchdog={w}"));
    }
    b.opt("-action", action);
}

pub(super) fn pm_args(b: &mut Builder<'_>) {
    let Some(pm) = &b.def.pm else { return };
    let dev = if b.q35 { "ICH9-LPC" } else { "PIIX4_PM" };
    if let Some(v) = pm.suspend_to_mem {
        b.opt("-global", format!("{dev}.disable_s3={}", u8::from(!v)));
    }
    if let Some(v) = pm.suspend_to_disk {
        b.opt("-global", format!("{dev}.disable_s4={}", u8::from(!v)));
    }
}

pub(super) fn boot_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let os = &b.def.os;
    if os.nvram.as_ref().is_some_and(|n| n.source.is_some()) {
        return Err(unsupported(
            "/domain/os/nvram/source",
            "an NVRAM on a storage source (<nvram type=...>) is not supported yet; give it a path",
        ));
    }
    if let Some(l) = &os.loader {
        let path = l.path.as_deref().ok_or_else(|| unsupported("/domain/os/loader", "a loader needs a path"))?;
        match l.loader_type {
            Some(LoaderType::Pflash) => {
                let ro = if l.readonly == Some(false) { "off" } else { "on" };
                b.opt("-drive", format!("if=pflash,format=raw,unit=0,readonly={ro},file={}", esc(path)));
                if let Some(nv) = os.nvram.as_ref().and_then(|n| n.path.as_deref()) {
                    b.opt("-drive", format!("if=pflash,format=raw,unit=1,file={}", esc(nv)));
                }
            }
            _ => b.opt("-bios", path),
        }
    } else if os.nvram.is_some() {
        return Err(unsupported("/domain/os/nvram", "an nvram needs a pflash loader"));
    }
    if let Some(k) = &os.kernel {
        b.opt("-kernel", k.clone());
    }
    if let Some(i) = &os.initrd {
        b.opt("-initrd", i.clone());
    }
    if let Some(c) = &os.cmdline {
        b.opt("-append", c.clone());
    }
    if let Some(d) = &os.dtb {
        b.opt("-dtb", d.clone());
    }
    let mut boot = Vec::new();
    if !os.boot.is_empty() {
        let order: String = os
            .boot
            .iter()
            .map(|d| match d {
                BootDevice::Hd => 'c',
                BootDevice::Cdrom => 'd',
                BootDevice::Network => 'n',
                BootDevice::Fd => 'a',
                _ => 'c',
            })
            .collect();
        boot.push(format!("order={order}"));
    }
    if let Some(m) = &os.bootmenu {
        boot.push(format!("menu={}", if m.enable { "on" } else { "off" }));
        if let Some(t) = m.timeout {
            boot.push(format!("splash-time={t}"));
        }
    }
    if let Some(t) = os.bios.as_ref().and_then(|b| b.reboot_timeout) {
        boot.push(format!("reboot-timeout={t}"));
    }
    boot.push("strict=on".into());
    b.opt("-boot", boot.join(","));
    Ok(())
}
