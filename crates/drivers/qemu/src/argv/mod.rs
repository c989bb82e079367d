//! The QEMU command line: a pure function from a domain definition (and
//! the few facts decided at start) to arguments. Golden tests hold one
//! document and its expected arguments each (tests/argv/).

mod blockdev;
mod chardev;
mod controller;
mod disk;
mod filesystem;
mod graphics;
mod hostdev;
mod machine;
mod memory;
mod misc;
mod net;
mod platform;
mod sound;
mod top;
mod tpm;
mod usb;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Address, InterfaceSource, VirtioOptions};
use virtkit_model::storage::SecretRef;

pub use hostdev::pci_name;

/// Why a definition cannot become a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    /// Something the QEMU driver does not (yet) do, at an XML path.
    #[error("{path}: {message}")]
    Unsupported { path: String, message: String },
}

pub(super) fn unsupported(path: impl Into<String>, message: impl Into<String>) -> ArgvError {
    ArgvError::Unsupported { path: path.into(), message: message.into() }
}

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    Kvm,
    #[default]
    Tcg,
}

/// What the host has that a command line depends on, probed at start.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// hugetlbfs mounts: their page size in bytes, and where.
    pub hugepages: Vec<(u64, PathBuf)>,
    /// The host's default huge page size, in bytes.
    pub default_hugepage: Option<u64>,
    /// The host's NUMA nodes (empty: not known, every node taken as there).
    pub numa_nodes: Vec<u32>,
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
    /// QEMU's network cards (`-device help`'s network devices; empty: assume all).
    pub nics: BTreeSet<String>,
    /// QEMU's network backends (`-netdev help`; empty: assume all).
    pub netdevs: BTreeSet<String>,
    /// QEMU audio drivers available (empty: assume all).
    pub audio_drivers: BTreeSet<String>,
    /// QEMU display types available (empty: assume all).
    pub displays: BTreeSet<String>,
    /// The free TCP port chosen at start for a SPICE display on an
    /// automatic port.
    pub spice_port: Option<u16>,
    /// The block drivers QEMU has as modules (`block-curl`, `block-iscsi`
    /// …, named without `block-`), or `None` when its drivers are built in.
    pub block_modules: Option<BTreeSet<String>>,
    pub host: HostFacts,
    /// The descriptor number QEMU gets the open tap of each interface on a
    /// network or bridge under, by the interface's index.
    pub taps: BTreeMap<usize, i32>,
    /// Whether /dev/vhost-net opens here: KVM guests' virtio cards on
    /// ports then move their packets in the kernel, as libvirt does.
    pub vhost_net: bool,
    /// The secrets whose values virtkit writes into the runtime
    /// directory, each at [`secret_file`] of its index: what disks log in
    /// with (QEMU reads each as a `-object secret`).
    pub secrets: Vec<SecretRef>,
}

/// Where the value of secret `index` of [`Context::secrets`] is, for QEMU.
pub fn secret_file(run_dir: &Path, index: usize) -> PathBuf {
    run_dir.join(format!("secret{index}"))
}

/// Descriptor numbers from `first` on for each interface that takes a port
/// from the host's network driver (`type='network'` and `'bridge'`), in
/// order: what the taps are passed to QEMU as.
pub fn tap_fds(def: &Domain, first: i32) -> BTreeMap<usize, i32> {
    let on_bridge = |n: &&virtkit_model::domain::devices::Interface| {
        matches!(n.source, InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. })
    };
    let wanted = def.devices.interfaces.iter().enumerate().filter(|(_, n)| on_bridge(n)).map(|(i, _)| i);
    wanted.zip(first..).collect()
}

impl Context {
    pub(super) fn has(&self, device: &str) -> bool {
        self.devices.is_empty() || self.devices.contains(device)
    }

    /// Whether the block driver module `name` (`curl`, `rbd`) is there.
    pub(super) fn has_block_module(&self, name: &str) -> bool {
        self.block_modules.as_ref().is_none_or(|m| m.contains(name))
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

/// The control socket of emulated TPM `index` (its swtpm listens there).
pub fn tpm_socket(run_dir: &Path, index: usize) -> PathBuf {
    run_dir.join(format!("tpm{index}.sock"))
}

/// The unix socket a serial port or console without a path gets.
pub fn serial_socket(run_dir: &Path, kind: &str, index: usize) -> PathBuf {
    run_dir.join(format!("{kind}{index}.sock"))
}

/// The path of the `i`th of `n` devices of `kind`: `/domain/devices/disk[2]`
/// (no index when there is one).
pub(super) fn idx_path(kind: &str, i: usize, n: usize) -> String {
    if n > 1 { format!("/domain/devices/{kind}[{}]", i + 1) } else { format!("/domain/devices/{kind}") }
}

/// The environment QEMU needs for `def`, beside the arguments.
pub fn environment(def: &Domain) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(tz) = def.clock.as_ref().and_then(|c| c.timezone.as_ref()) {
        env.push(("TZ".to_owned(), tz.clone()));
    }
    env.extend(sound::audio_env(def));
    for g in &def.devices.graphics {
        if let virtkit_model::domain::devices::Graphics::Sdl(s) = g {
            env.extend(s.display.iter().map(|d| ("DISPLAY".to_owned(), d.clone())));
            env.extend(s.xauth.iter().map(|x| ("XAUTHORITY".to_owned(), x.clone())));
        }
    }
    env.extend(top::qemu_env(def));
    env
}

/// QEMU's option syntax doubles commas inside values.
pub(super) fn esc(s: &str) -> String {
    s.replace(',', ",,")
}

pub(super) fn json_arg(v: Value) -> String {
    v.to_string()
}

/// Whether the machine is a q35 (PCIe) machine.
fn is_q35(machine: &str) -> bool {
    machine == "q35" || machine.contains("q35")
}

pub(super) struct Builder<'a> {
    pub(super) def: &'a Domain,
    pub(super) ctx: &'a Context,
    pub(super) args: Vec<String>,
    pub(super) q35: bool,
    /// USB ports taken: the ones addresses name, and the ones given out.
    usb_ports: HashSet<(u32, String)>,
    /// The definition has a PCI expander bus.
    expander: bool,
    /// The `-object secret`s given already, by their index in the context.
    secrets: HashSet<usize>,
}

/// Every `(bus, port)` a USB address in the definition names.
fn named_usb_ports(def: &Domain) -> HashSet<(u32, String)> {
    let mut out = HashSet::new();
    each_device_object(def, |m| {
        if let Some(a) = m.get("address")
            && a["type"] == "usb"
            && let (Some(bus), Some(port)) = (a["bus"].as_u64(), a["port"].as_str())
        {
            out.insert((u32::try_from(bus).unwrap_or(u32::MAX), port.to_owned()));
        }
    });
    out
}

/// Calls `f` with every object of the definition's devices in their JSON
/// form, nested ones included: what the document gives explicitly (an
/// address, wherever a device keeps it) found without a walk per device kind.
fn each_device_object(def: &Domain, mut f: impl FnMut(&Map<String, Value>)) {
    fn walk(v: &Value, f: &mut dyn FnMut(&Map<String, Value>)) {
        match v {
            Value::Object(m) => {
                f(m);
                m.values().for_each(|x| walk(x, f));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    if let Ok(v) = serde_json::to_value(&def.devices) {
        walk(&v, &mut f);
    }
}

impl Builder<'_> {
    pub(super) fn push(&mut self, a: impl Into<String>) {
        self.args.push(a.into());
    }

    pub(super) fn opt(&mut self, flag: &str, value: impl Into<String>) {
        self.args.push(flag.to_owned());
        self.args.push(value.into());
    }

    pub(super) fn device(&mut self, v: Value) {
        self.opt("-device", json_arg(v));
    }

    /// `bus` (and `port`) for a device on USB: controller `bus` of the
    /// address, the first one when there is none.
    pub(super) fn usb_addr(
        &mut self,
        props: &mut Map<String, Value>,
        address: Option<&Address>,
        path: &str,
    ) -> Result<(), ArgvError> {
        match address {
            None => {
                // The first port of the first controller that nothing names
                // or has taken (as libvirt assigns one).
                let port = (1u32..).map(|n| n.to_string()).find(|p| !self.usb_ports.contains(&(0, p.clone())));
                let port = port.unwrap_or_default();
                self.usb_ports.insert((0, port.clone()));
                props.insert("bus".into(), json!("usb.0"));
                props.insert("port".into(), json!(port));
                Ok(())
            }
            Some(Address::Usb(a)) => {
                props.insert("bus".into(), json!(format!("{}.0", controller::usb_id(a.bus))));
                if let Some(p) = &a.port {
                    props.insert("port".into(), json!(p));
                }
                Ok(())
            }
            Some(_) => {
                Err(unsupported(format!("{path}/address"), "this device sits on USB: give a USB address or none"))
            }
        }
    }

    /// The virtio options of a device's `<driver>`.
    pub(super) fn virtio_options(
        &self,
        props: &mut Map<String, Value>,
        o: &VirtioOptions,
        path: &str,
    ) -> Result<(), ArgvError> {
        for (k, v) in
            [("iommu_platform", o.iommu), ("ats", o.ats), ("packed", o.packed), ("page-per-vq", o.page_per_vq)]
        {
            if let Some(v) = v {
                props.insert(k.into(), json!(v));
            }
        }
        // DMA through an IOMMU is a virtio 1.0 feature: the device drops
        // its legacy interface (a transitional device cannot have it).
        if o.iommu == Some(true) {
            let driver = props.get("driver").and_then(Value::as_str).unwrap_or("");
            if driver.ends_with("-transitional") && !driver.ends_with("-non-transitional") {
                return Err(unsupported(
                    format!("{path}/@iommu"),
                    "a transitional virtio device has its legacy interface, which knows no IOMMU",
                ));
            }
            props.insert("disable-legacy".into(), json!("on"));
        }
        Ok(())
    }

    /// `bus`/`addr` for a PCI address given in the definition.
    pub(super) fn pci_addr(
        &self,
        props: &mut Map<String, Value>,
        address: Option<&Address>,
        path: &str,
    ) -> Result<(), ArgvError> {
        match address {
            // QEMU would put a device on the newest bus, which behind an
            // expander bus takes only bridges: the root bus, then.
            None if self.expander => {
                props.insert("bus".into(), json!(if self.q35 { "pcie.0" } else { "pci.0" }));
                Ok(())
            }
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
    let usb_ports = named_usb_ports(def);
    let expander = def
        .devices
        .controllers
        .iter()
        .any(|c| matches!(c.model.as_deref(), Some("pci-expander-bus" | "pcie-expander-bus")));
    let mut b =
        Builder { def, ctx, args: Vec::new(), q35: is_q35(&machine), usb_ports, expander, secrets: HashSet::new() };
    b.opt("-name", format!("guest={},debug-threads=on", esc(&def.name)));
    b.push("-S");
    machine::machine_args(&mut b, &machine)?;
    top::refusals(def, ctx)?;
    machine::cpu_args(&mut b)?;
    memory::size_args(&mut b)?;
    machine::smp_args(&mut b)?;
    memory::backend_args(&mut b)?;
    platform::memory_device_args(&mut b)?;
    top::numa_independent_args(&mut b)?;
    b.opt("-uuid", def.uuid.hyphenated().to_string());
    b.push("-no-user-config");
    b.push("-nodefaults");
    b.opt("-chardev", format!("socket,id=charmonitor,fd={},server=on,wait=off", ctx.monitor_fd));
    b.opt("-mon", "chardev=charmonitor,id=monitor,mode=control");
    machine::clock_args(&mut b)?;
    machine::lifecycle_args(&mut b);
    machine::pm_args(&mut b);
    machine::boot_args(&mut b)?;
    platform::iommu_args(&mut b)?;
    controller::controller_args(&mut b)?;
    disk::disk_args(&mut b)?;
    filesystem::filesystem_args(&mut b)?;
    net::net_args(&mut b)?;
    chardev::chardev_args(&mut b)?;
    misc::input_args(&mut b)?;
    tpm::tpm_args(&mut b)?;
    sound::audio_args(&mut b)?;
    graphics::graphics_args(&mut b)?;
    sound::sound_args(&mut b)?;
    graphics::video_args(&mut b)?;
    hostdev::hostdev_args(&mut b)?;
    usb::usb_args(&mut b)?;
    misc::misc_device_args(&mut b)?;
    platform::platform_args(&mut b)?;
    top::late_args(&mut b)?;
    b.opt("-msg", "timestamp=on");
    Ok(b.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_doubled() {
        assert_eq!(esc("a,b"), "a,,b");
    }
}
