//! `<os>`: what the domain boots (firmware, kernel, boot order) or, for a
//! container, which program it runs.

use serde::{Deserialize, Serialize};

use super::devices::{DiskSource, DiskType};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// `<os><type>`: a full virtual machine, a Xen-style paravirtual Linux
    /// guest, or a container running one program.
    pub enum OsType {
        Hvm = "hvm",
        Linux = "linux",
        Exe = "exe",
    }
    unsupported = ["xen", "xenpvh", "uml"];
}

xml_enum! {
    /// Guest CPU architectures libvirt names.
    pub enum Arch {
        Aarch64 = "aarch64",
        Alpha = "alpha",
        Armv6l = "armv6l",
        Armv7l = "armv7l",
        Cris = "cris",
        I686 = "i686",
        Ia64 = "ia64",
        Lm32 = "lm32",
        M68k = "m68k",
        Microblaze = "microblaze",
        Microblazeel = "microblazeel",
        Mips = "mips",
        Mipsel = "mipsel",
        Mips64 = "mips64",
        Mips64el = "mips64el",
        Openrisc = "openrisc",
        Parisc = "parisc",
        Parisc64 = "parisc64",
        Ppc = "ppc",
        Ppc64 = "ppc64",
        Ppc64le = "ppc64le",
        Ppcemb = "ppcemb",
        Riscv32 = "riscv32",
        Riscv64 = "riscv64",
        S390 = "s390",
        S390x = "s390x",
        Sh4 = "sh4",
        Sh4eb = "sh4eb",
        Sparc = "sparc",
        Sparc64 = "sparc64",
        Unicore32 = "unicore32",
        X86_64 = "x86_64",
        Xtensa = "xtensa",
        Xtensaeb = "xtensaeb",
    }
}

xml_enum! {
    /// `<boot dev=…>`.
    pub enum BootDevice {
        Hd = "hd",
        Fd = "fd",
        Cdrom = "cdrom",
        Network = "network",
    }
}

xml_enum! {
    /// `<os firmware=…>`: firmware chosen automatically from the host's
    /// firmware descriptions.
    pub enum Firmware {
        Bios = "bios",
        Efi = "efi",
    }
}

xml_enum! {
    /// Firmware features asked for with `firmware=` (`<firmware><feature>`).
    pub enum FirmwareFeatureName {
        EnrolledKeys = "enrolled-keys",
        SecureBoot = "secure-boot",
    }
}

xml_enum! {
    /// `<smbios mode=…>`: where the SMBIOS tables come from.
    pub enum SmbiosMode {
        Emulate = "emulate",
        Host = "host",
        Sysinfo = "sysinfo",
    }
}

/// `<feature enabled name>` in `<os><firmware>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FirmwareFeature {
    pub name: FirmwareFeatureName,
    pub enabled: bool,
}

impl FirmwareFeature {
    pub fn new(name: FirmwareFeatureName, enabled: bool) -> Self {
        FirmwareFeature { name, enabled }
    }
}

/// `<bios useserial rebootTimeout>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Bios {
    /// The BIOS prints to the serial port.
    pub useserial: Option<bool>,
    /// Milliseconds before a failed boot is retried; -1 never.
    pub reboot_timeout: Option<i16>,
}

xml_enum! {
    /// The kind of an added ACPI table (only SLIC in libvirt 9.0).
    pub enum AcpiTableType {
        Slic = "slic",
    }
}

xml_enum! {
    pub enum LoaderType {
        Rom = "rom",
        Pflash = "pflash",
    }
}

/// The `<os>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Os {
    #[serde(rename = "type")]
    pub os_type: OsType,
    /// Firmware picked automatically.
    pub firmware: Option<Firmware>,
    /// What the automatically picked firmware must (not) have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firmware_features: Vec<FirmwareFeature>,
    pub arch: Option<Arch>,
    /// QEMU machine type (`pc`, `q35`, `pc-i440fx-8.2`, …).
    pub machine: Option<String>,
    pub loader: Option<Loader>,
    pub nvram: Option<Nvram>,
    /// Direct kernel boot: the kernel image on the host.
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    /// The root device for a paravirtual kernel.
    pub root: Option<String>,
    pub cmdline: Option<String>,
    /// A device tree blob (ARM and other non-x86 guests).
    pub dtb: Option<String>,
    /// Boot devices, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boot: Vec<BootDevice>,
    pub bootmenu: Option<BootMenu>,
    pub smbios: Option<SmbiosMode>,
    pub bios: Option<Bios>,
    /// ACPI tables added (`<acpi><table type='slic'>`): their files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acpi_tables: Vec<String>,
    /// Containers: the program to run as the container's init.
    pub init: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initargs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initenv: Vec<InitEnv>,
    /// Containers: the working directory of init.
    pub initdir: Option<String>,
}

/// Firmware (`<loader>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Loader {
    pub path: Option<String>,
    pub readonly: Option<bool>,
    pub secure: Option<bool>,
    #[serde(rename = "type")]
    pub loader_type: Option<LoaderType>,
    pub stateless: Option<bool>,
}

impl Loader {
    pub fn new(path: impl Into<String>) -> Self {
        Loader { path: Some(path.into()), ..Default::default() }
    }
}

/// The firmware's variable store (`<nvram>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Nvram {
    pub path: Option<String>,
    /// The file a fresh store is copied from.
    pub template: Option<String>,
    /// The store as a storage source of any type (`<nvram type=…>` with
    /// `<source>`), instead of a path.
    pub source: Option<DiskSource>,
}

impl Nvram {
    pub fn new(path: impl Into<String>) -> Self {
        Nvram { path: Some(path.into()), template: None, source: None }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BootMenu {
    pub enable: bool,
    /// Milliseconds the menu waits.
    pub timeout: Option<u16>,
}

impl BootMenu {
    pub fn new(enable: bool) -> Self {
        BootMenu { enable, timeout: None }
    }
}

/// An environment variable for a container's init (`<initenv name=…>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InitEnv {
    pub name: String,
    pub value: String,
}

impl InitEnv {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        InitEnv { name: name.into(), value: value.into() }
    }
}

impl Os {
    pub fn new(os_type: OsType) -> Self {
        Os {
            os_type,
            firmware: None,
            firmware_features: Vec::new(),
            arch: None,
            machine: None,
            loader: None,
            nvram: None,
            kernel: None,
            initrd: None,
            root: None,
            cmdline: None,
            dtb: None,
            boot: Vec::new(),
            bootmenu: None,
            smbios: None,
            bios: None,
            acpi_tables: Vec::new(),
            init: None,
            initargs: Vec::new(),
            initenv: Vec::new(),
            initdir: None,
        }
    }

    /// An `hvm` guest of `arch` on `machine`.
    pub fn hvm(arch: Arch, machine: impl Into<String>) -> Self {
        let mut os = Os::new(OsType::Hvm);
        os.arch = Some(arch);
        os.machine = Some(machine.into());
        os
    }

    /// Direct kernel boot.
    pub fn with_kernel(mut self, kernel: impl Into<String>, initrd: Option<String>, cmdline: Option<String>) -> Self {
        self.kernel = Some(kernel.into());
        self.initrd = initrd;
        self.cmdline = cmdline;
        self
    }

    pub fn with_boot(mut self, dev: BootDevice) -> Self {
        self.boot.push(dev);
        self
    }

    /// A container's init program and its arguments.
    pub fn with_init(mut self, init: impl Into<String>, args: impl IntoIterator<Item = String>) -> Self {
        self.init = Some(init.into());
        self.initargs = args.into_iter().collect();
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Os> {
        let (os_type, arch, machine) = el.req_child("type", |t| {
            let arch = t.attr("arch")?;
            let machine = t.attr("machine")?;
            Ok((t.value::<OsType>()?, arch, machine))
        })?;
        Ok(Os {
            os_type,
            firmware: el.attr("firmware")?,
            firmware_features: el
                .child("firmware", |f| {
                    f.one_or_more("feature", |x| {
                        Ok(FirmwareFeature {
                            enabled: x.yes_no("enabled")?.ok_or_else(|| x.missing_attr("enabled"))?,
                            name: x.req_attr("name")?,
                        })
                    })
                })?
                .unwrap_or_default(),
            arch,
            machine,
            loader: el.child("loader", |l| {
                let text = l.text();
                Ok(Loader {
                    path: (!text.is_empty()).then_some(text),
                    readonly: l.yes_no("readonly")?,
                    secure: l.yes_no("secure")?,
                    loader_type: l.attr("type")?,
                    stateless: l.yes_no("stateless")?,
                })
            })?,
            nvram: el.child("nvram", |n| {
                let template = n.attr("template")?;
                if let Some(ty) = n.attr::<DiskType>("type")? {
                    return Ok(Nvram { path: None, template, source: Some(DiskSource::read(n, ty)?) });
                }
                let text = n.text();
                Ok(Nvram { path: (!text.is_empty()).then_some(text), template, source: None })
            })?,
            kernel: el.child_text("kernel")?,
            initrd: el.child_text("initrd")?,
            root: el.child_text("root")?,
            cmdline: el.child_text("cmdline")?,
            dtb: el.child_text("dtb")?,
            boot: el.children("boot", |b| b.req_attr("dev"))?,
            bootmenu: el.child("bootmenu", |b| {
                Ok(BootMenu {
                    enable: b.yes_no("enable")?.ok_or_else(|| b.missing_attr("enable"))?,
                    timeout: b.attr("timeout")?,
                })
            })?,
            smbios: el.child("smbios", |m| m.req_attr("mode"))?,
            bios: el.child("bios", |b| {
                Ok(Bios { useserial: b.yes_no("useserial")?, reboot_timeout: b.attr("rebootTimeout")? })
            })?,
            acpi_tables: el
                .child("acpi", |a| {
                    a.children("table", |t| {
                        t.req_attr::<AcpiTableType>("type")?;
                        Ok(t.text())
                    })
                })?
                .unwrap_or_default(),
            init: el.child_text("init")?,
            initargs: el.children("initarg", |a| Ok(a.text()))?,
            initenv: el.children("initenv", |e| Ok(InitEnv { name: e.req_attr("name")?, value: e.text() }))?,
            initdir: el.child_text("initdir")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("os");
        w.attr_opt("firmware", self.firmware.as_ref());
        w.start("type");
        w.attr_opt("arch", self.arch.as_ref());
        w.attr_opt("machine", self.machine.as_ref());
        w.text(self.os_type.as_str());
        w.end();
        if !self.firmware_features.is_empty() {
            w.start("firmware");
            for f in &self.firmware_features {
                w.start("feature");
                w.yes_no("enabled", Some(f.enabled));
                w.attr("name", f.name.as_str());
                w.end();
            }
            w.end();
        }
        w.opt_text_element("init", self.init.as_ref());
        for a in &self.initargs {
            w.text_element("initarg", a);
        }
        for e in &self.initenv {
            w.start("initenv");
            w.attr("name", &e.name);
            w.text(&e.value);
            w.end();
        }
        w.opt_text_element("initdir", self.initdir.as_ref());
        if let Some(l) = &self.loader {
            w.start("loader");
            w.yes_no("readonly", l.readonly);
            w.yes_no("secure", l.secure);
            w.attr_opt("type", l.loader_type.as_ref());
            w.yes_no("stateless", l.stateless);
            if let Some(p) = &l.path {
                w.text(p);
            }
            w.end();
        }
        if let Some(n) = &self.nvram {
            w.start("nvram");
            if let Some(s) = &n.source {
                w.attr("type", s.disk_type().as_str());
            }
            w.attr_opt("template", n.template.as_ref());
            if let Some(p) = &n.path {
                w.text(p);
            }
            if let Some(s) = &n.source {
                s.write(w);
            }
            w.end();
        }
        w.opt_text_element("kernel", self.kernel.as_ref());
        w.opt_text_element("initrd", self.initrd.as_ref());
        w.opt_text_element("cmdline", self.cmdline.as_ref());
        w.opt_text_element("dtb", self.dtb.as_ref());
        w.opt_text_element("root", self.root.as_ref());
        if !self.acpi_tables.is_empty() {
            w.start("acpi");
            for t in &self.acpi_tables {
                w.start("table");
                w.attr("type", AcpiTableType::Slic.as_str());
                w.text(t);
                w.end();
            }
            w.end();
        }
        for b in &self.boot {
            w.start("boot");
            w.attr("dev", b.as_str());
            w.end();
        }
        if let Some(m) = &self.bootmenu {
            w.start("bootmenu");
            w.yes_no("enable", Some(m.enable));
            w.attr_opt("timeout", m.timeout.as_ref());
            w.end();
        }
        if let Some(b) = &self.bios {
            w.start("bios");
            w.yes_no("useserial", b.useserial);
            w.attr_opt("rebootTimeout", b.reboot_timeout.as_ref());
            w.end();
        }
        if let Some(m) = self.smbios {
            w.start("smbios");
            w.attr("mode", m.as_str());
            w.end();
        }
        w.end();
    }
}
