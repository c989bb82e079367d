//! The QEMU command line: a pure function from a domain definition (and
//! the few facts decided at start) to arguments. Golden tests hold one
//! document and its expected arguments each (tests/argv/).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Address, BalloonModel, CharSource, ControllerType, DiskBus, DiskCache, DiskDevice, DiskFormat, DiskIo, DiskType,
    Graphics, GraphicsListen, InputBus, InputType, InterfaceSource, NicModel, PanicModel, RngBackend, SourceMode,
    TcpProtocol, VideoType, WatchdogAction, WatchdogModel,
};
use virtkit_model::domain::{
    BootDevice, ClockOffset, CpuFeaturePolicy, CpuMode, Domain, LifecycleAction, LoaderType, TickPolicy, TimerName,
};

/// Why a definition cannot become a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    /// Something the QEMU driver does not (yet) do, at an XML path.
    #[error("{path}: {message}")]
    Unsupported { path: String, message: String },
}

fn unsupported(path: impl Into<String>, message: impl Into<String>) -> ArgvError {
    ArgvError::Unsupported { path: path.into(), message: message.into() }
}

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

/// What the argv needs beyond the definition: decided at start.
#[derive(Debug, Clone)]
pub struct Context {
    pub accel: Accel,
    /// Descriptor number of the (already listening) monitor socket.
    pub monitor_fd: i32,
    /// The domain's runtime directory (sockets virtkit places).
    pub run_dir: PathBuf,
    /// QEMU device types available (empty: assume all).
    pub devices: BTreeSet<String>,
}

impl Context {
    fn has(&self, device: &str) -> bool {
        self.devices.is_empty() || self.devices.contains(device)
    }
}

/// The unix socket a channel without a path gets.
pub fn channel_socket(run_dir: &Path, index: usize, name: Option<&str>) -> PathBuf {
    if name == Some(virtkit_model::domain::devices::GUEST_AGENT_CHANNEL) {
        run_dir.join("agent.sock")
    } else {
        run_dir.join(format!("channel{index}.sock"))
    }
}

/// The unix socket a serial port or console without a path gets.
pub fn serial_socket(run_dir: &Path, kind: &str, index: usize) -> PathBuf {
    run_dir.join(format!("{kind}{index}.sock"))
}

/// QEMU's option syntax doubles commas inside values.
fn esc(s: &str) -> String {
    s.replace(',', ",,")
}

fn json_arg(v: Value) -> String {
    v.to_string()
}

/// Whether the machine is a q35 (PCIe) machine.
fn is_q35(machine: &str) -> bool {
    machine == "q35" || machine.contains("q35")
}

struct Builder<'a> {
    def: &'a Domain,
    ctx: &'a Context,
    args: Vec<String>,
    q35: bool,
}

impl Builder<'_> {
    fn push(&mut self, a: impl Into<String>) {
        self.args.push(a.into());
    }

    fn opt(&mut self, flag: &str, value: impl Into<String>) {
        self.args.push(flag.to_owned());
        self.args.push(value.into());
    }

    fn device(&mut self, v: Value) {
        self.opt("-device", json_arg(v));
    }

    /// `bus`/`addr` for a PCI address given in the definition.
    fn pci_addr(&self, props: &mut Map<String, Value>, address: Option<&Address>, path: &str) -> Result<(), ArgvError> {
        match address {
            None => Ok(()),
            Some(Address::Pci(a)) => {
                if a.domain.unwrap_or(0) != 0 {
                    return Err(unsupported(format!("{path}/address"), "PCI domains other than 0 are not supported"));
                }
                let bus = a.bus.unwrap_or(0);
                let root = if self.q35 { "pcie.0" } else { "pci.0" };
                props.insert("bus".into(), json!(if bus == 0 { root.to_owned() } else { format!("pci.{bus}") }));
                let mut addr = format!("0x{:x}", a.slot.unwrap_or(0));
                if let Some(f) = a.function.filter(|f| *f != 0) {
                    addr.push_str(&format!(".0x{f:x}"));
                }
                props.insert("addr".into(), json!(addr));
                if a.multifunction == Some(true) {
                    props.insert("multifunction".into(), json!(true));
                }
                Ok(())
            }
            Some(_) => {
                Err(unsupported(format!("{path}/address"), "this device sits on PCI: give a PCI address or none"))
            }
        }
    }
}

/// The arguments for `def` (the emulator binary is not included).
pub fn build(def: &Domain, ctx: &Context) -> Result<Vec<String>, ArgvError> {
    let machine = def.os.machine.clone().unwrap_or_else(|| "pc".into());
    let mut b = Builder { def, ctx, args: Vec::new(), q35: is_q35(&machine) };
    b.opt("-name", format!("guest={},debug-threads=on", esc(&def.name)));
    b.push("-S");
    machine_args(&mut b, &machine)?;
    cpu_args(&mut b)?;
    memory_args(&mut b);
    b.opt("-uuid", def.uuid.hyphenated().to_string());
    b.push("-no-user-config");
    b.push("-nodefaults");
    b.opt("-chardev", format!("socket,id=charmonitor,fd={},server=on,wait=off", ctx.monitor_fd));
    b.opt("-mon", "chardev=charmonitor,id=monitor,mode=control");
    clock_args(&mut b)?;
    lifecycle_args(&mut b);
    pm_args(&mut b);
    boot_args(&mut b)?;
    controller_args(&mut b)?;
    disk_args(&mut b)?;
    if let Some(f) = def.devices.filesystems.first() {
        let _ = f;
        return Err(unsupported(
            "/domain/devices/filesystem",
            "filesystems are for containers; sharing a host directory with a VM is not supported yet",
        ));
    }
    net_args(&mut b)?;
    chardev_args(&mut b)?;
    input_args(&mut b)?;
    graphics_args(&mut b)?;
    video_args(&mut b)?;
    misc_device_args(&mut b)?;
    b.opt("-msg", "timestamp=on");
    Ok(b.args)
}

fn machine_args(b: &mut Builder<'_>, machine: &str) -> Result<(), ArgvError> {
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
    b.opt("-machine", m.join(","));
    b.opt("-accel", if b.ctx.accel == Accel::Kvm { "kvm" } else { "tcg" });
    if let Some(tseg) = f.and_then(|f| f.smm.as_ref()).and_then(|s| s.tseg) {
        b.opt("-global", format!("mch.extended-tseg-mbytes={}", tseg.as_bytes() >> 20));
    }
    Ok(())
}

fn cpu_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let Some(cpu) = &b.def.cpu else { return Ok(()) };
    let kvm = b.ctx.accel == Accel::Kvm;
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
            None if cpu.features.is_empty() => return Ok(()),
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
    if let Some(eoi) = b.def.features.as_ref().and_then(|f| f.apic.as_ref()).and_then(|a| a.eoi) {
        parts.push(format!("kvm-pv-eoi={}", if eoi { "on" } else { "off" }));
    }
    b.opt("-cpu", parts.join(","));
    Ok(())
}

fn memory_args(b: &mut Builder<'_>) {
    // Whole MiB, rounded up, as libvirt does for x86.
    let mib = |kib: u64| kib.div_ceil(1024) * 1024;
    let kib = mib(b.def.memory.as_kib_ceil());
    match &b.def.max_memory {
        Some(max) => b.opt("-m", format!("size={kib}k,slots={},maxmem={}k", max.slots, mib(max.size.as_kib_ceil()))),
        None => b.opt("-m", format!("size={kib}k")),
    }
    let vcpus = b.def.vcpu.as_ref().map_or(1, |v| v.count);
    let current = b.def.vcpu.as_ref().and_then(|v| v.current).unwrap_or(vcpus);
    let (sockets, dies, cores, threads) = match b.def.cpu.as_ref().and_then(|c| c.topology.as_ref()) {
        Some(t) => (t.sockets, t.dies, t.cores, t.threads),
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
}

fn clock_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
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
    for t in &clock.timers {
        match (t.name, t.tickpolicy) {
            (TimerName::Rtc, Some(TickPolicy::Catchup)) => rtc.push_str(",driftfix=slew"),
            (TimerName::Pit, Some(TickPolicy::Delay)) if b.ctx.accel == Accel::Kvm => {
                globals.push("kvm-pit.lost_tick_policy=delay".to_owned());
            }
            _ => {}
        }
    }
    b.opt("-rtc", rtc);
    for g in globals {
        b.opt("-global", g);
    }
    Ok(())
}

fn lifecycle_args(b: &mut Builder<'_>) {
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

fn pm_args(b: &mut Builder<'_>) {
    let Some(pm) = &b.def.pm else { return };
    let dev = if b.q35 { "ICH9-LPC" } else { "PIIX4_PM" };
    if let Some(v) = pm.suspend_to_mem {
        b.opt("-global", format!("{dev}.disable_s3={}", u8::from(!v)));
    }
    if let Some(v) = pm.suspend_to_disk {
        b.opt("-global", format!("{dev}.disable_s4={}", u8::from(!v)));
    }
}

fn boot_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let os = &b.def.os;
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
    boot.push("strict=on".into());
    b.opt("-boot", boot.join(","));
    Ok(())
}

/// The id QEMU knows a controller by.
fn controller_id(kind: ControllerType, index: u32) -> String {
    match kind {
        ControllerType::Usb if index == 0 => "usb".into(),
        ControllerType::Usb => format!("usb{index}"),
        ControllerType::Scsi => format!("scsi{index}"),
        ControllerType::Sata => format!("sata{index}"),
        ControllerType::VirtioSerial => format!("virtio-serial{index}"),
        ControllerType::Pci => format!("pci.{index}"),
        ControllerType::Ide => "ide".into(),
        _ => format!("ctrl{index}"),
    }
}

fn needs_usb(def: &Domain) -> bool {
    def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Usb))
        || def.devices.inputs.iter().any(|i| i.bus == Some(InputBus::Usb))
}

fn controller_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let ctrls = &b.def.devices.controllers;
    let n = ctrls.len();
    for (i, c) in ctrls.iter().enumerate() {
        let path =
            if n > 1 { format!("/domain/devices/controller[{}]", i + 1) } else { "/domain/devices/controller".into() };
        let index = c.index.unwrap_or(0);
        let id = controller_id(c.controller_type, index);
        let model = c.model.as_deref();
        let driver = match (c.controller_type, model) {
            (ControllerType::Usb, Some("none")) => continue,
            (ControllerType::Usb, Some("piix3-uhci")) => "piix3-usb-uhci",
            (ControllerType::Usb, Some("piix4-uhci")) => "piix4-usb-uhci",
            (ControllerType::Usb, Some("ehci")) => "usb-ehci",
            (ControllerType::Usb, Some("ich9-ehci1")) => "ich9-usb-ehci1",
            (ControllerType::Usb, Some("nec-xhci")) => "nec-usb-xhci",
            (ControllerType::Usb, Some("qemu-xhci")) => "qemu-xhci",
            (ControllerType::Usb, Some("pci-ohci")) => "pci-ohci",
            (ControllerType::Usb, None) => {
                if b.q35 {
                    "qemu-xhci"
                } else {
                    "piix3-usb-uhci"
                }
            }
            (ControllerType::Usb, Some(m)) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("usb controller model '{m}' is not supported"),
                ));
            }
            (ControllerType::Scsi, None | Some("virtio-scsi" | "auto")) => "virtio-scsi-pci",
            (ControllerType::Scsi, Some("lsilogic")) => "lsi",
            (ControllerType::Scsi, Some("lsisas1068")) => "mptsas1068",
            (ControllerType::Scsi, Some("lsisas1078")) => "megasas",
            (ControllerType::Scsi, Some("vmpvscsi")) => "pvscsi",
            (ControllerType::Scsi, Some(m)) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("scsi controller model '{m}' is not supported"),
                ));
            }
            (ControllerType::VirtioSerial, _) => "virtio-serial-pci",
            (ControllerType::Sata, _) => {
                if b.q35 && index == 0 {
                    continue; // built into q35 as "ide"
                }
                "ich9-ahci"
            }
            (ControllerType::Ide, _) => {
                if index == 0 {
                    continue; // built into the pc and q35 machines
                }
                return Err(unsupported(&path, "only the machine's own IDE controller is supported"));
            }
            (ControllerType::Pci, Some("pci-root" | "pcie-root")) => continue,
            (ControllerType::Pci, Some("pcie-root-port")) => "pcie-root-port",
            (ControllerType::Pci, Some("pci-bridge")) => "pci-bridge",
            (ControllerType::Pci, m) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("pci controller model '{}' is not supported", m.unwrap_or("")),
                ));
            }
            (ControllerType::Isa, _) => continue,
            (t, _) => return Err(unsupported(&path, format!("{t} controllers are not supported"))),
        };
        if !b.ctx.has(driver) {
            return Err(unsupported(&path, format!("this QEMU has no {driver} device")));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(id));
        if let Some(p) = c.ports.filter(|_| c.controller_type == ControllerType::Usb && driver.contains("xhci")) {
            props.insert("p2".into(), json!(p));
            props.insert("p3".into(), json!(p));
        }
        if let Some(p) = c.ports.filter(|_| c.controller_type == ControllerType::VirtioSerial) {
            props.insert("max_ports".into(), json!(p));
        }
        if let Some(v) = c.vectors {
            props.insert("vectors".into(), json!(v));
        }
        if let Some(t) = &c.target {
            if let Some(ch) = t.chassis {
                props.insert("chassis".into(), json!(ch));
            }
            if let Some(p) = t.port {
                props.insert("port".into(), json!(p));
            }
            if let Some(nr) = t.chassis_nr {
                props.insert("chassis_nr".into(), json!(nr));
            }
        }
        if driver == "pcie-root-port" || driver == "pci-bridge" {
            props.entry("bus").or_insert(json!(if b.q35 { "pcie.0" } else { "pci.0" }));
            if driver == "pcie-root-port" && !props.contains_key("chassis") {
                props.insert("chassis".into(), json!(index));
            }
            if driver == "pci-bridge" && !props.contains_key("chassis_nr") {
                props.insert("chassis_nr".into(), json!(index));
            }
        }
        if let Some(d) = &c.driver {
            if let Some(q) = d.queues {
                props.insert("num_queues".into(), json!(q));
            }
            if let Some(x) = d.cmd_per_lun {
                props.insert("cmd_per_lun".into(), json!(x));
            }
            if let Some(x) = d.max_sectors {
                props.insert("max_sectors".into(), json!(x));
            }
            if let Some(x) = d.ioeventfd {
                props.insert("ioeventfd".into(), json!(x));
            }
        }
        b.pci_addr(&mut props, c.address.as_ref(), &path)?;
        b.device(Value::Object(props));
    }
    let has = |t: ControllerType| ctrls.iter().any(|c| c.controller_type == t);
    if needs_usb(b.def) && !has(ControllerType::Usb) {
        let driver = if b.q35 { "qemu-xhci" } else { "piix3-usb-uhci" };
        b.device(json!({ "driver": driver, "id": "usb" }));
    }
    if !b.def.devices.channels.is_empty() && !has(ControllerType::VirtioSerial) {
        b.device(json!({ "driver": "virtio-serial-pci", "id": "virtio-serial0" }));
    }
    if !b.q35 && !has(ControllerType::Sata) && b.def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Sata)) {
        b.device(json!({ "driver": "ich9-ahci", "id": "sata0" }));
    }
    let scsi_disks = b.def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Scsi));
    if scsi_disks && !has(ControllerType::Scsi) {
        b.device(json!({ "driver": "virtio-scsi-pci", "id": "scsi0" }));
    }
    Ok(())
}

/// The position a disk name implies on its bus: `hdc` is the third.
fn dev_index(dev: &str) -> u32 {
    let name = dev.trim_start_matches("ioemu:");
    let suffix = ["xvd", "ubd", "hd", "sd", "vd", "fd"].iter().find_map(|p| name.strip_prefix(p)).unwrap_or("");
    suffix
        .bytes()
        .take_while(u8::is_ascii_lowercase)
        .fold(0u32, |acc, c| acc.saturating_mul(26).saturating_add(u32::from(c - b'a') + 1))
        .saturating_sub(1)
}

fn disk_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let disks = &b.def.devices.disks;
    let n = disks.len();
    let sata_bus = if b.q35 { "ide" } else { "sata0" };
    for (i, d) in disks.iter().enumerate() {
        let path = if n > 1 { format!("/domain/devices/disk[{}]", i + 1) } else { "/domain/devices/disk".into() };
        let dev = d.target.dev.trim_start_matches("ioemu:").to_owned();
        let bus = d.target.bus.unwrap_or(match dev.get(..2) {
            Some("hd") => DiskBus::Ide,
            Some("sd") => DiskBus::Scsi,
            _ => DiskBus::Virtio,
        });
        let cdrom = d.device == DiskDevice::Cdrom;
        let readonly = d.readonly || cdrom;
        let node = format!("drive-{dev}");
        let mut drive_node = None;
        if let Some(src) = &d.source {
            let format = d.driver.as_ref().and_then(|x| x.format).unwrap_or(DiskFormat::Raw);
            let fmt = match format {
                DiskFormat::Raw | DiskFormat::Iso => "raw",
                DiskFormat::Qcow2 => "qcow2",
                DiskFormat::Qcow => "qcow",
                DiskFormat::Qed => "qed",
                DiskFormat::Vmdk => "vmdk",
                DiskFormat::Vdi => "vdi",
                DiskFormat::Vpc | DiskFormat::Vhd => "vpc",
                DiskFormat::Cloop => "cloop",
                DiskFormat::Dmg => "dmg",
                DiskFormat::Bochs => "bochs",
                f => {
                    return Err(unsupported(
                        format!("{path}/driver/@type"),
                        format!("disk format '{f}' is not supported"),
                    ));
                }
            };
            let proto = match (d.disk_type, cdrom) {
                (DiskType::File, _) => "file",
                (DiskType::Block, true) => "host_cdrom",
                (DiskType::Block, false) => "host_device",
                _ => "file",
            };
            let mut storage = Map::new();
            storage.insert("driver".into(), json!(proto));
            storage.insert("filename".into(), json!(src));
            storage.insert("node-name".into(), json!(format!("{node}-storage")));
            storage.insert("read-only".into(), json!(readonly));
            let cache = d.driver.as_ref().and_then(|x| x.cache);
            let (direct, no_flush) = match cache {
                Some(DiskCache::None | DiskCache::Directsync) => (Some(true), Some(false)),
                Some(DiskCache::Writeback | DiskCache::Writethrough) => (Some(false), Some(false)),
                Some(DiskCache::Unsafe) => (Some(false), Some(true)),
                _ => (None, None),
            };
            if let Some(direct) = direct {
                storage.insert("cache".into(), json!({ "direct": direct, "no-flush": no_flush.unwrap_or(false) }));
            }
            match d.driver.as_ref().and_then(|x| x.io) {
                Some(DiskIo::Native) => {
                    storage.insert("aio".into(), json!("native"));
                }
                Some(DiskIo::IoUring) => {
                    storage.insert("aio".into(), json!("io_uring"));
                }
                Some(DiskIo::Threads) => {
                    storage.insert("aio".into(), json!("threads"));
                }
                _ => {}
            }
            if d.driver.as_ref().and_then(|x| x.discard) == Some(virtkit_model::domain::devices::DiskDiscard::Unmap) {
                storage.insert("discard".into(), json!("unmap"));
            }
            b.opt("-blockdev", json_arg(Value::Object(storage)));
            b.opt(
                "-blockdev",
                json_arg(json!({
                    "node-name": format!("{node}-format"),
                    "read-only": readonly,
                    "driver": fmt,
                    "file": format!("{node}-storage"),
                })),
            );
            drive_node = Some(format!("{node}-format"));
        } else if !cdrom {
            return Err(unsupported(&path, "a disk needs a source"));
        }
        let mut props = Map::new();
        let driver = match (bus, cdrom) {
            (DiskBus::Virtio, false) => "virtio-blk-pci",
            (DiskBus::Virtio, true) => {
                return Err(unsupported(format!("{path}/target/@bus"), "a CD-ROM cannot be on virtio"));
            }
            (DiskBus::Ide | DiskBus::Sata, false) => "ide-hd",
            (DiskBus::Ide | DiskBus::Sata, true) => "ide-cd",
            (DiskBus::Scsi, false) => "scsi-hd",
            (DiskBus::Scsi, true) => "scsi-cd",
            (DiskBus::Usb, _) => "usb-storage",
            (bus, _) => {
                return Err(unsupported(format!("{path}/target/@bus"), format!("disk bus '{bus}' is not supported")));
            }
        };
        props.insert("driver".into(), json!(driver));
        let drive_addr = match &d.address {
            Some(Address::Drive(a)) => Some(*a),
            _ => None,
        };
        match bus {
            DiskBus::Ide => {
                let (bus_n, unit) = match drive_addr {
                    Some(a) => (a.bus.unwrap_or(0), a.unit.unwrap_or(0)),
                    None => {
                        let idx = dev_index(&dev);
                        (idx / 2, idx % 2)
                    }
                };
                if b.q35 {
                    props.insert("bus".into(), json!(format!("ide.{}", bus_n * 2 + unit)));
                } else {
                    props.insert("bus".into(), json!(format!("ide.{bus_n}")));
                    props.insert("unit".into(), json!(unit));
                }
            }
            DiskBus::Sata => {
                let port = match drive_addr {
                    Some(a) => a.unit.unwrap_or(0),
                    None => dev_index(&dev),
                };
                props.insert("bus".into(), json!(format!("{sata_bus}.{port}")));
            }
            DiskBus::Scsi => {
                let (ctrl, target, unit) = match drive_addr {
                    Some(a) => (a.controller.unwrap_or(0), a.target.unwrap_or(0), a.unit.unwrap_or(0)),
                    None => (0, 0, dev_index(&dev)),
                };
                props.insert("bus".into(), json!(format!("scsi{ctrl}.0")));
                props.insert("channel".into(), json!(0));
                props.insert("scsi-id".into(), json!(target));
                props.insert("lun".into(), json!(unit));
            }
            DiskBus::Usb => {
                props.insert("bus".into(), json!("usb.0"));
            }
            _ => b.pci_addr(&mut props, d.address.as_ref(), &path)?,
        }
        if let Some(node) = &drive_node {
            props.insert("drive".into(), json!(node));
        }
        props.insert("id".into(), json!(format!("disk-{dev}")));
        if let Some(boot) = &d.boot {
            props.insert("bootindex".into(), json!(boot.order));
        }
        if let Some(s) = &d.serial {
            props.insert("serial".into(), json!(s));
        }
        if let Some(w) = &d.wwn {
            let hex = w.trim_start_matches("0x");
            props.insert("wwn".into(), json!(format!("0x{hex}")));
        }
        if let Some(r) = d.target.removable.filter(|_| matches!(bus, DiskBus::Usb | DiskBus::Scsi)) {
            props.insert("removable".into(), json!(r));
        }
        if matches!(d.driver.as_ref().and_then(|x| x.cache), Some(DiskCache::Writethrough | DiskCache::Directsync)) {
            props.insert("write-cache".into(), json!("off"));
        }
        if d.shareable && !readonly {
            // Shared disks are opened without a lock QEMU would take.
            props.insert("share-rw".into(), json!(true));
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

fn nic_driver(model: Option<NicModel>) -> &'static str {
    match model {
        Some(NicModel::Virtio | NicModel::VirtioNonTransitional) => "virtio-net-pci",
        Some(NicModel::VirtioTransitional) => "virtio-net-pci-transitional",
        Some(NicModel::E1000) => "e1000",
        Some(NicModel::E1000e) => "e1000e",
        Some(NicModel::Igb) => "igb",
        Some(NicModel::Ne2kPci) => "ne2k_pci",
        Some(NicModel::Ne2kIsa) => "ne2k_isa",
        Some(NicModel::Pcnet) => "pcnet",
        Some(NicModel::I82551) => "i82551",
        Some(NicModel::I82557b) => "i82557b",
        Some(NicModel::I82559er) => "i82559er",
        Some(NicModel::Vmxnet3) => "vmxnet3",
        Some(NicModel::UsbNet) => "usb-net",
        Some(NicModel::SpaprVlan) => "spapr-vlan",
        Some(NicModel::Lan9118) => "lan9118",
        Some(NicModel::Smc91c111) => "smc91c111",
        // libvirt's default model for x86 guests.
        Some(NicModel::Rtl8139) | None | Some(_) => "rtl8139",
    }
}

fn net_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let nics = &b.def.devices.interfaces;
    let n = nics.len();
    for (i, nic) in nics.iter().enumerate() {
        let path =
            if n > 1 { format!("/domain/devices/interface[{}]", i + 1) } else { "/domain/devices/interface".into() };
        let id = format!("hostnet{i}");
        let netdev = match &nic.source {
            InterfaceSource::User => json!({ "type": "user", "id": id }),
            InterfaceSource::Ethernet => {
                let tap = nic.target.as_ref().map(|t| t.dev.clone()).ok_or_else(|| {
                    unsupported(&path, "an ethernet interface needs <target dev='TAP'/> naming an existing tap")
                })?;
                match &nic.script {
                    Some(s) => json!({ "type": "tap", "id": id, "ifname": tap, "script": s, "downscript": "no" }),
                    None => json!({ "type": "tap", "id": id, "ifname": tap, "script": "no", "downscript": "no" }),
                }
            }
            InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. } => {
                return Err(unsupported(
                    format!("{path}/@type"),
                    "interfaces on virtual networks and bridges come with host networking; use type 'user' or 'ethernet'",
                ));
            }
            _ => return Err(unsupported(format!("{path}/@type"), "this interface type is not supported")),
        };
        b.opt("-netdev", json_arg(netdev));
        let driver = nic_driver(nic.model);
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("netdev".into(), json!(id));
        props.insert("id".into(), json!(format!("net{i}")));
        if let Some(m) = &nic.mac {
            props.insert("mac".into(), json!(m.to_string()));
        }
        if let Some(mtu) = nic.mtu.filter(|_| driver.starts_with("virtio")) {
            props.insert("host_mtu".into(), json!(mtu));
        }
        if let Some(boot) = &nic.boot {
            props.insert("bootindex".into(), json!(boot.order));
        }
        if driver == "usb-net" {
            props.insert("bus".into(), json!("usb.0"));
        } else {
            b.pci_addr(&mut props, nic.address.as_ref(), &path)?;
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

/// `-chardev` for a character device's host side.
fn chardev(
    id: &str,
    src: &CharSource,
    log: Option<&virtkit_model::domain::devices::CharLog>,
    default_socket: &Path,
) -> String {
    let mut s = match src {
        CharSource::Pty { .. } => format!("pty,id={id}"),
        CharSource::File { path, append } => {
            let mut s = format!("file,id={id},path={}", esc(path));
            if *append == Some(true) {
                s.push_str(",append=on");
            }
            s
        }
        CharSource::Unix { path, mode } => {
            let p = path.clone().unwrap_or_else(|| default_socket.display().to_string());
            let server = if *mode == Some(SourceMode::Connect) { "server=off" } else { "server=on,wait=off" };
            format!("socket,id={id},path={},{server}", esc(&p))
        }
        CharSource::Tcp { host, service, mode, protocol } => {
            let server = if *mode == Some(SourceMode::Connect) { "server=off" } else { "server=on,wait=off" };
            let mut s = format!(
                "socket,id={id},host={},port={},{server}",
                esc(host.as_deref().unwrap_or("127.0.0.1")),
                esc(service)
            );
            if *protocol == Some(TcpProtocol::Telnet) {
                s.push_str(",telnet=on");
            }
            s
        }
        CharSource::Null => format!("null,id={id}"),
        _ => format!("null,id={id}"),
    };
    if let Some(l) = log {
        s.push_str(&format!(",logfile={}", esc(&l.file)));
        if l.append == Some(true) {
            s.push_str(",logappend=on");
        }
    }
    s
}

fn chardev_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    use virtkit_model::domain::devices::{ConsoleTargetType, SerialTargetType};
    let run = b.ctx.run_dir.clone();
    let serials = &b.def.devices.serials;
    for (i, s) in serials.iter().enumerate() {
        let path = if serials.len() > 1 {
            format!("/domain/devices/serial[{}]", i + 1)
        } else {
            "/domain/devices/serial".into()
        };
        let id = format!("charserial{i}");
        b.opt("-chardev", chardev(&id, &s.source, s.log.as_ref(), &serial_socket(&run, "serial", i)));
        let port = s.target_port.unwrap_or(u32::try_from(i).unwrap_or(0));
        let dev = match s.target_type {
            None | Some(SerialTargetType::IsaSerial) => {
                json!({ "driver": "isa-serial", "chardev": id, "id": format!("serial{i}"), "index": port })
            }
            Some(SerialTargetType::UsbSerial) => {
                json!({ "driver": "usb-serial", "chardev": id, "id": format!("serial{i}"), "bus": "usb.0" })
            }
            Some(SerialTargetType::PciSerial) => {
                json!({ "driver": "pci-serial", "chardev": id, "id": format!("serial{i}") })
            }
            Some(t) => {
                return Err(unsupported(
                    format!("{path}/target/@type"),
                    format!("serial target '{t}' is not supported"),
                ));
            }
        };
        b.device(dev);
    }
    let consoles = &b.def.devices.consoles;
    for (i, c) in consoles.iter().enumerate() {
        let path = if consoles.len() > 1 {
            format!("/domain/devices/console[{}]", i + 1)
        } else {
            "/domain/devices/console".into()
        };
        match c.target_type {
            // The console on serial port N is that serial port, as in libvirt;
            // with no serial ports defined, the first console becomes serial0.
            None | Some(ConsoleTargetType::Serial) => {
                let port = c.target_port.unwrap_or(0);
                if serials.is_empty() && i == 0 {
                    let id = "charserial0".to_owned();
                    b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &serial_socket(&run, "console", i)));
                    b.device(json!({ "driver": "isa-serial", "chardev": id, "id": "serial0", "index": port }));
                } else if !serials
                    .iter()
                    .enumerate()
                    .any(|(j, s)| s.target_port.unwrap_or(u32::try_from(j).unwrap_or(0)) == port)
                {
                    return Err(unsupported(&path, format!("no serial port {port} for this console")));
                }
            }
            Some(ConsoleTargetType::Virtio) => {
                let id = format!("charconsole{i}");
                b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &serial_socket(&run, "console", i)));
                b.device(json!({ "driver": "virtconsole", "chardev": id, "id": format!("console{i}") }));
            }
            Some(t) => {
                return Err(unsupported(
                    format!("{path}/target/@type"),
                    format!("console target '{t}' is not supported by QEMU"),
                ));
            }
        }
    }
    let channels = &b.def.devices.channels;
    for (i, c) in channels.iter().enumerate() {
        let id = format!("charchannel{i}");
        let sock = channel_socket(&run, i, c.target.name.as_deref());
        b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &sock));
        let mut props = Map::new();
        props.insert("driver".into(), json!("virtserialport"));
        let (bus, port) = match &c.address {
            Some(Address::VirtioSerial(a)) => (format!("virtio-serial{}.{}", a.controller, a.bus.unwrap_or(0)), a.port),
            _ => ("virtio-serial0.0".to_owned(), None),
        };
        props.insert("bus".into(), json!(bus));
        if let Some(p) = port {
            props.insert("nr".into(), json!(p));
        }
        props.insert("chardev".into(), json!(id));
        props.insert("id".into(), json!(format!("channel{i}")));
        if let Some(n) = &c.target.name {
            props.insert("name".into(), json!(n));
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

fn input_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    for (i, input) in b.def.devices.inputs.iter().enumerate() {
        let driver = match (input.bus.unwrap_or(InputBus::Ps2), input.input_type) {
            (InputBus::Ps2, _) => continue, // built into the machine
            (InputBus::Usb, InputType::Tablet) => "usb-tablet",
            (InputBus::Usb, InputType::Mouse) => "usb-mouse",
            (InputBus::Usb, InputType::Keyboard) => "usb-kbd",
            (InputBus::Virtio, InputType::Tablet) => "virtio-tablet-pci",
            (InputBus::Virtio, InputType::Mouse) => "virtio-mouse-pci",
            (InputBus::Virtio, InputType::Keyboard) => "virtio-keyboard-pci",
            (bus, t) => {
                return Err(unsupported("/domain/devices/input", format!("{t} input on bus '{bus}' is not supported")));
            }
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("input{i}")));
        if driver.starts_with("usb") {
            props.insert("bus".into(), json!("usb.0"));
        } else {
            b.pci_addr(&mut props, input.address.as_ref(), "/domain/devices/input")?;
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

fn graphics_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let Some(g) = b.def.devices.graphics.first() else {
        b.opt("-display", "none");
        return Ok(());
    };
    if b.def.devices.graphics.len() > 1 {
        return Err(unsupported("/domain/devices/graphics[2]", "one graphics device at most"));
    }
    let Graphics::Vnc(vnc) = g else {
        return Err(unsupported("/domain/devices/graphics", "only VNC is supported"));
    };
    let socket = vnc.socket.clone().or_else(|| {
        vnc.listens.iter().find_map(|l| match l {
            GraphicsListen::Socket { socket } => {
                Some(socket.clone().unwrap_or_else(|| b.ctx.run_dir.join("vnc.sock").display().to_string()))
            }
            _ => None,
        })
    });
    let mut spec = if let Some(s) = socket {
        format!("unix:{}", esc(&s))
    } else {
        let addr = vnc
            .listens
            .iter()
            .find_map(|l| match l {
                GraphicsListen::Address { address } => address.clone(),
                _ => None,
            })
            .or_else(|| vnc.listen.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        let host = if addr.contains(':') { format!("[{addr}]") } else { addr };
        match vnc.port {
            Some(p) if p >= 5900 && vnc.autoport != Some(true) => format!("{host}:{}", p - 5900),
            // Let QEMU find a free display among 100.
            _ => format!("{host}:0,to=99"),
        }
    };
    if let Some(ws) = vnc.websocket {
        spec.push_str(&format!(",websocket={ws}"));
    }
    if vnc.passwd.is_some() {
        spec.push_str(",password=on");
    }
    b.opt("-vnc", spec);
    Ok(())
}

fn video_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    for (i, v) in b.def.devices.videos.iter().enumerate() {
        let Some(m) = &v.model else { continue };
        let primary = i == 0;
        let driver = match (m.model_type, primary) {
            (VideoType::None, _) => continue,
            (VideoType::Vga, _) => "VGA",
            (VideoType::Cirrus, _) => "cirrus-vga",
            (VideoType::Qxl, true) => "qxl-vga",
            (VideoType::Qxl, false) => "qxl",
            (VideoType::Virtio, true) => "virtio-vga",
            (VideoType::Virtio, false) => "virtio-gpu-pci",
            (VideoType::Bochs, _) => "bochs-display",
            (VideoType::Ramfb, _) => "ramfb",
            (VideoType::Vmvga, _) => "vmware-svga",
            (t, _) => {
                return Err(unsupported(
                    "/domain/devices/video/model/@type",
                    format!("video model '{t}' is not supported"),
                ));
            }
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("video{i}")));
        if m.model_type == VideoType::Qxl {
            if let Some(r) = m.ram {
                props.insert("ram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vram {
                props.insert("vram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vgamem {
                props.insert("vgamem_mb".into(), json!(r / 1024));
            }
        }
        if let Some(h) = m.heads.filter(|_| matches!(m.model_type, VideoType::Qxl | VideoType::Virtio)) {
            props.insert("max_outputs".into(), json!(h));
        }
        if matches!(m.model_type, VideoType::Vga | VideoType::Cirrus)
            && let Some(r) = m.vram
        {
            props.insert("vgamem_mb".into(), json!(r / 1024));
        }
        b.pci_addr(&mut props, v.address.as_ref(), "/domain/devices/video")?;
        b.device(Value::Object(props));
    }
    Ok(())
}

fn misc_device_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    if let Some(w) = &b.def.devices.watchdog {
        let driver = match w.model {
            WatchdogModel::I6300esb => "i6300esb",
            WatchdogModel::Ib700 => "ib700",
            m => return Err(unsupported("/domain/devices/watchdog/@model", format!("watchdog '{m}' is not for x86"))),
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!("watchdog0"));
        if driver == "i6300esb" {
            b.pci_addr(&mut props, w.address.as_ref(), "/domain/devices/watchdog")?;
        }
        b.device(Value::Object(props));
    }
    if let Some(m) = &b.def.devices.memballoon {
        match m.model {
            BalloonModel::None => {}
            BalloonModel::Virtio | BalloonModel::VirtioNonTransitional | BalloonModel::VirtioTransitional => {
                let mut props = Map::new();
                props.insert("driver".into(), json!("virtio-balloon-pci"));
                props.insert("id".into(), json!("balloon0"));
                if let Some(a) = m.autodeflate {
                    props.insert("deflate-on-oom".into(), json!(a));
                }
                if let Some(f) = m.free_page_reporting {
                    props.insert("free-page-reporting".into(), json!(f));
                }
                b.pci_addr(&mut props, m.address.as_ref(), "/domain/devices/memballoon")?;
                b.device(Value::Object(props));
            }
            other => {
                return Err(unsupported(
                    "/domain/devices/memballoon/@model",
                    format!("balloon '{other}' is not for QEMU"),
                ));
            }
        }
    }
    for (i, r) in b.def.devices.rngs.iter().enumerate() {
        let obj = format!("objrng{i}");
        match &r.backend {
            RngBackend::Random { path } => b.opt(
                "-object",
                json_arg(json!({ "qom-type": "rng-random", "id": obj, "filename": path.clone().unwrap_or_else(|| "/dev/urandom".into()) })),
            ),
            RngBackend::Builtin => b.opt("-object", json_arg(json!({ "qom-type": "rng-builtin", "id": obj }))),
            _ => return Err(unsupported("/domain/devices/rng/backend", "this rng backend is not supported")),
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!("virtio-rng-pci"));
        props.insert("rng".into(), json!(obj));
        props.insert("id".into(), json!(format!("rng{i}")));
        if let Some(rate) = &r.rate {
            props.insert("max-bytes".into(), json!(rate.bytes));
            props.insert("period".into(), json!(rate.period.unwrap_or(1000)));
        }
        b.pci_addr(&mut props, r.address.as_ref(), "/domain/devices/rng")?;
        b.device(Value::Object(props));
    }
    for p in &b.def.devices.panics {
        match p.model {
            None | Some(PanicModel::Isa) => {
                let mut props = Map::new();
                props.insert("driver".into(), json!("pvpanic"));
                if let Some(Address::Isa(a)) = &p.address
                    && let Some(io) = a.iobase
                {
                    props.insert("ioport".into(), json!(io));
                }
                b.device(Value::Object(props));
            }
            Some(m) => {
                return Err(unsupported("/domain/devices/panic/@model", format!("panic model '{m}' is not for x86")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_names_give_positions() {
        assert_eq!(dev_index("hda"), 0);
        assert_eq!(dev_index("hdc"), 2);
        assert_eq!(dev_index("sdb"), 1);
        assert_eq!(dev_index("vdaa"), 26);
        assert_eq!(dev_index("ioemu:hdd"), 3);
    }

    #[test]
    fn commas_are_doubled() {
        assert_eq!(esc("a,b"), "a,,b");
    }
}
