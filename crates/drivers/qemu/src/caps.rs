//! What a QEMU binary can do, probed once over QMP and cached by the
//! binary's path, size and modification time: its version, machine types,
//! device types, and whether KVM can really run guests here.
//!
//! KVM is checked by running a tiny guest (a 166-byte multiboot image that
//! switches to 64-bit mode and writes to QEMU's isa-debug-exit port). On a
//! host where /dev/kvm opens but cannot run guests (some nested or
//! sandboxed hosts), that guest does not finish in time, and `type='kvm'`
//! domains are refused at once instead of hanging.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::UnixStream;

use crate::qmp::{Qmp, QmpError};

/// How long the KVM probe guest may take on a host where KVM works.
pub const KVM_PROBE_LIMIT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub name: String,
    pub alias: Option<String>,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kvm {
    pub usable: bool,
    /// Why not, when not usable.
    pub why: String,
}

/// The probed facts about one QEMU binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuCaps {
    pub binary: PathBuf,
    pub version: (u32, u32, u32),
    pub machines: Vec<Machine>,
    pub devices: BTreeSet<String>,
    /// Network cards (`-device help`'s "Network devices").
    pub nics: BTreeSet<String>,
    /// Network backends (`-netdev help`).
    pub netdevs: BTreeSet<String>,
    /// Audio drivers (`-audiodev help`: the ones whose modules are installed).
    pub audio_drivers: BTreeSet<String>,
    /// Display types (`-display help`, likewise).
    pub displays: BTreeSet<String>,
    pub kvm: Kvm,
    /// What the cache entry is valid for.
    key: String,
}

impl QemuCaps {
    /// The machine type `name` resolves to (`pc` → `pc-i440fx-7.2`), if known.
    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.name == name || m.alias.as_deref() == Some(name))
    }

    pub fn default_machine(&self) -> Option<&Machine> {
        self.machines.iter().find(|m| m.is_default)
    }

    /// Machine type names and aliases, for error messages.
    pub fn machine_names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.machines.iter().flat_map(|m| m.alias.iter().chain(Some(&m.name)).cloned()).collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CapsError {
    #[error("cannot run {0}: {1}")]
    Spawn(String, String),
    #[error("probing {0} failed: {1}")]
    Probe(String, String),
}

/// Bumped when the probe learns something new, so older cache entries are
/// probed again.
const PROBE_VERSION: u32 = 4;

/// The cache key: binary identity, /dev/kvm presence and the kernel.
fn cache_key(binary: &Path) -> Option<String> {
    let m = std::fs::metadata(binary).ok()?;
    let mtime = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kvm = Path::new("/dev/kvm").exists();
    Some(format!("v{PROBE_VERSION}|{}|{}|{mtime}|kvm={kvm}|{}", binary.display(), m.len(), kernel.trim()))
}

fn cache_file(cache_dir: &Path, binary: &Path) -> PathBuf {
    // FNV-1a of the path: a short, stable file name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in binary.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    cache_dir.join(format!("qemu-caps-{h:016x}.json"))
}

/// The capabilities of `binary`, from the cache when it is still valid.
pub async fn get(binary: &Path, cache_dir: &Path, scratch: &Path) -> Result<QemuCaps, CapsError> {
    let key = cache_key(binary).ok_or_else(|| CapsError::Spawn(binary.display().to_string(), "no such file".into()))?;
    let file = cache_file(cache_dir, binary);
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(c) = serde_json::from_str::<QemuCaps>(&text)
        && c.key == key
    {
        return Ok(c);
    }
    let caps = probe(binary, key, scratch).await?;
    if virtkit_host::fs::create_dir(cache_dir, 0o755).is_ok()
        && let Ok(data) = serde_json::to_vec_pretty(&caps)
        && let Err(e) = virtkit_host::fs::write_atomic(&file, &data, 0o644)
    {
        tracing::warn!("cannot cache QEMU capabilities: {e}");
    }
    Ok(caps)
}

/// How long a probe's QEMU may take to greet on its monitor.
const GREETING: Duration = Duration::from_secs(30);

/// A QEMU started with `args` and a monitor on descriptor 3, connected.
async fn spawn_with_monitor(
    binary: &Path,
    args: &[&str],
    scratch: &Path,
    greeting: Duration,
) -> Result<(tokio::process::Child, Qmp), CapsError> {
    let name = binary.display().to_string();
    std::fs::create_dir_all(scratch).map_err(|e| CapsError::Spawn(name.clone(), e.to_string()))?;
    let sock = scratch.join(scratch_name(MONITOR_PREFIX, "sock"));
    let _ = std::fs::remove_file(&sock);
    let listener =
        std::os::unix::net::UnixListener::bind(&sock).map_err(|e| CapsError::Spawn(name.clone(), e.to_string()))?;
    let fd: OwnedFd = listener.into();
    let mut all: Vec<&str> =
        vec!["-chardev", "socket,id=mon,fd=3,server=on,wait=off", "-mon", "chardev=mon,mode=control"];
    all.extend_from_slice(args);
    let mut child = virtkit_host::Spawn::new(binary)
        .args(all)
        .env("LC_ALL", "C")
        .env("PATH", "/usr/bin:/bin")
        .fd(fd, 3)
        .spawn()
        .map_err(|e| CapsError::Spawn(name.clone(), e.to_string()))?;
    let connected = async {
        let stream = UnixStream::connect(&sock).await.map_err(|e| CapsError::Spawn(name.clone(), e.to_string()));
        let _ = std::fs::remove_file(&sock);
        Qmp::connect(stream?, greeting).await.map_err(|e| CapsError::Probe(name.clone(), e.to_string()))
    };
    match connected.await {
        Ok((qmp, _, _)) => Ok((child, qmp)),
        Err(e) => {
            reap(&mut child, Duration::ZERO).await;
            Err(e)
        }
    }
}

/// Waits up to `grace` for a probe's QEMU to exit, then kills it; reaps it.
async fn reap(child: &mut tokio::process::Child, grace: Duration) {
    if !matches!(tokio::time::timeout(grace, child.wait()).await, Ok(Ok(_))) {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

async fn probe(binary: &Path, key: String, scratch: &Path) -> Result<QemuCaps, CapsError> {
    let (mut child, qmp) = spawn_with_monitor(
        binary,
        &["-machine", "none", "-nodefaults", "-no-user-config", "-display", "none", "-S"],
        scratch,
        GREETING,
    )
    .await?;
    let asked = ask(binary, &qmp).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), qmp.execute_closing("quit")).await;
    reap(&mut child, Duration::from_secs(5)).await;
    probe_rest(binary, key, scratch, asked?).await
}

/// What the probe asks a QEMU's monitor: its version, machines, devices.
type Asked = ((u32, u32, u32), Vec<Machine>, BTreeSet<String>);

async fn ask(binary: &Path, qmp: &Qmp) -> Result<Asked, CapsError> {
    let err = |e: QmpError| CapsError::Probe(binary.display().to_string(), e.to_string());
    let v = qmp.execute("query-version", None).await.map_err(err)?;
    let n = |k: &str| u32::try_from(v["qemu"][k].as_u64().unwrap_or(0)).unwrap_or(0);
    let version = (n("major"), n("minor"), n("micro"));
    let machines = qmp.execute("query-machines", None).await.map_err(err)?;
    let machines = machines
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    Some(Machine {
                        name: m["name"].as_str()?.to_owned(),
                        alias: m["alias"].as_str().map(str::to_owned),
                        is_default: m["is-default"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let types =
        qmp.execute("qom-list-types", Some(json!({ "implements": "device", "abstract": false }))).await.map_err(err)?;
    let devices = types
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    Ok((version, machines, devices))
}

/// The rest of the probe, from QEMU's help output and a KVM guest.
async fn probe_rest(
    binary: &Path,
    key: String,
    scratch: &Path,
    (version, machines, devices): Asked,
) -> Result<QemuCaps, CapsError> {
    let kvm = probe_kvm(binary, scratch).await;
    let audio_drivers = probe_help(binary, "-audiodev", "Available audio drivers").await?;
    let displays = probe_help(binary, "-display", "Available display backend types").await?;
    let netdevs = probe_help(binary, "-netdev", "Available netdev backend types").await?;
    let nics = device_names(&help_text(binary, "-device").await?, "Network devices:");
    Ok(QemuCaps {
        binary: binary.to_owned(),
        version,
        machines,
        devices,
        nics,
        netdevs,
        audio_drivers,
        displays,
        kvm,
        key,
    })
}

/// The block drivers `binary` has as installed modules (`block-curl.so` is
/// `curl`), or `None` when it has no module directory (all built in).
/// Looked at each start: installing Debian's qemu-block-extra does not
/// change the binary.
pub fn block_modules(binary: &Path) -> Option<BTreeSet<String>> {
    let beside = binary.parent().and_then(Path::parent).map(|p| p.join("lib/qemu"));
    let dirs = ["/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"].map(PathBuf::from);
    let dir = beside.into_iter().chain(dirs).find(|d| {
        std::fs::read_dir(d)
            .map(|r| r.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".so")))
            .unwrap_or(false)
    })?;
    let names = std::fs::read_dir(dir).ok()?;
    Some(
        names
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("block-").and_then(|m| m.strip_suffix(".so")).map(str::to_owned)
            })
            .collect(),
    )
}

/// The names QEMU lists for `OPTION help` under `heading`: those built in
/// and those whose module is installed (Debian's qemu-system-gui has the pa,
/// sdl and jack audio drivers and the sdl and gtk displays).
async fn probe_help(binary: &Path, option: &str, heading: &str) -> Result<BTreeSet<String>, CapsError> {
    Ok(help_names(&help_text(binary, option).await?, heading))
}

/// What `OPTION help` prints.
async fn help_text(binary: &Path, option: &str) -> Result<String, CapsError> {
    let name = binary.display().to_string();
    let out = tokio::process::Command::new(binary)
        .args([option, "help"])
        .env("LC_ALL", "C")
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .map_err(|_| CapsError::Probe(name.clone(), format!("{option} help did not finish")))?
        .map_err(|e| CapsError::Spawn(name.clone(), e.to_string()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The device names (`name "e1000", bus PCI, …`) of one category of
/// `-device help` (`Network devices:`), up to the blank line after it.
fn device_names(help: &str, heading: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("name \"")?.split('"').next().map(str::to_owned))
        .collect()
}

/// The names listed under `heading` in a `help` output.
fn help_names(help: &str, heading: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_owned)
        .collect()
}

/// Runs the probe guest under KVM and checks it finishes, quickly.
async fn probe_kvm(binary: &Path, scratch: &Path) -> Kvm {
    let no = |why: String| Kvm { usable: false, why };
    if !Path::new("/dev/kvm").exists() {
        return no("/dev/kvm does not exist".into());
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return no(format!("/dev/kvm cannot be opened: {e}"));
    }
    let bin = binary.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    if !(bin.contains("x86_64") || bin.contains("i386")) {
        return Kvm { usable: true, why: String::new() };
    }
    let image = Scratch(scratch.join(scratch_name(KVM_PROBE_PREFIX, "bin")));
    if let Err(e) = std::fs::write(&image.0, probe_image()) {
        return no(format!("cannot write the probe guest: {e}"));
    }
    let image_arg = image.0.display().to_string();
    let started = Instant::now();
    let child = virtkit_host::Spawn::new(binary)
        .args([
            "-machine",
            "pc,accel=kvm",
            "-m",
            "16",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-kernel",
            &image_arg,
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ])
        .env("LC_ALL", "C")
        .spawn();
    // The image goes when `image` does, after the guest has exited.
    match child {
        Err(e) => no(format!("cannot run the probe guest: {e}")),
        Ok(mut child) => match tokio::time::timeout(KVM_PROBE_LIMIT, child.wait()).await {
            // isa-debug-exit turns the byte 0x31 into the exit status (0x31 << 1) | 1.
            Ok(Ok(status)) if status.code() == Some(99) => Kvm { usable: true, why: String::new() },
            Ok(Ok(status)) => no(format!("a probe guest under KVM failed ({status})")),
            Ok(Err(e)) => no(format!("cannot wait for the probe guest: {e}")),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                no(format!(
                    "a 30-instruction probe guest did not finish within {:.1} s under KVM (emulation runs it in \
                     0.2 s): /dev/kvm is present but cannot run guests on this host",
                    started.elapsed().as_secs_f64()
                ))
            }
        },
    }
}

const KVM_PROBE_PREFIX: &str = "kvm-probe-";
const MONITOR_PREFIX: &str = "probe-";

/// A probe's file name, `PREFIXPID-N.EXT`: the process and a count of its
/// own, since two probes of one process may run at once in one directory
/// (a start and `capabilities()`), and one must not take the other's socket.
fn scratch_name(prefix: &str, ext: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}{}-{n}.{ext}", std::process::id())
}

/// A probe's file, removed when it goes out of scope whatever happened
/// (a half-written one too).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes, quietly, the files probes of processes that are gone left in
/// `scratch` (`kvm-probe-PID-N.bin`, `probe-PID-N.sock`: a probe killed half-way).
pub fn clean_stale(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let pid = name
            .strip_prefix(KVM_PROBE_PREFIX)
            .and_then(|n| n.strip_suffix(".bin"))
            .or_else(|| name.strip_prefix(MONITOR_PREFIX).and_then(|n| n.strip_suffix(".sock")));
        let pid = pid.map(|p| p.split_once('-').map_or(p, |(pid, _)| pid));
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The probe guest: a multiboot image (the a.out kludge, so it is a flat
/// binary loaded at 1 MiB) whose 32-bit entry point sets up identity
/// paging, enters long mode, and writes 0x31 to port 0xf4.
pub fn probe_image() -> Vec<u8> {
    const BASE: u32 = 0x10_0000;
    const HEADER: u32 = 32;
    let mut c: Vec<u8> = Vec::new();
    let e = |c: &mut Vec<u8>, b: &[u8]| c.extend_from_slice(b);
    e(&mut c, &[0xBF, 0x00, 0x10, 0x00, 0x00]); // mov edi, 0x1000
    e(&mut c, &[0x31, 0xC0]); // xor eax, eax
    e(&mut c, &[0xB9, 0x00, 0x0C, 0x00, 0x00]); // mov ecx, 0xc00
    e(&mut c, &[0xF3, 0xAB]); // rep stosd: clear 0x1000..0x4000
    e(&mut c, &[0xC7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00]); // PML4[0] = 0x2003
    e(&mut c, &[0xC7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00]); // PDPT[0] = 0x3003
    e(&mut c, &[0xC7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00]); // PD[0] = 2 MiB page at 0
    e(&mut c, &[0x0F, 0x20, 0xE0]); // mov eax, cr4
    e(&mut c, &[0x83, 0xC8, 0x20]); // or eax, PAE
    e(&mut c, &[0x0F, 0x22, 0xE0]); // mov cr4, eax
    e(&mut c, &[0xB8, 0x00, 0x10, 0x00, 0x00]); // mov eax, 0x1000
    e(&mut c, &[0x0F, 0x22, 0xD8]); // mov cr3, eax
    e(&mut c, &[0xB9, 0x80, 0x00, 0x00, 0xC0]); // mov ecx, EFER
    e(&mut c, &[0x0F, 0x32]); // rdmsr
    e(&mut c, &[0x0D, 0x00, 0x01, 0x00, 0x00]); // or eax, LME
    e(&mut c, &[0x0F, 0x30]); // wrmsr
    e(&mut c, &[0x0F, 0x20, 0xC0]); // mov eax, cr0
    e(&mut c, &[0x0D, 0x01, 0x00, 0x00, 0x80]); // or eax, PG | PE
    e(&mut c, &[0x0F, 0x22, 0xC0]); // mov cr0, eax
    let lgdt = c.len();
    e(&mut c, &[0x0F, 0x01, 0x15, 0, 0, 0, 0]); // lgdt [gdt_ptr]
    let jmp = c.len();
    e(&mut c, &[0xEA, 0, 0, 0, 0, 0x08, 0x00]); // jmp 0x08:long_mode
    let long_mode = c.len();
    e(&mut c, &[0xB0, 0x31]); // mov al, 0x31
    e(&mut c, &[0xE6, 0xF4]); // out 0xf4, al
    e(&mut c, &[0xF4, 0xEB, 0xFD]); // hlt; jmp back to hlt
    while !c.len().is_multiple_of(8) {
        c.push(0x90);
    }
    let gdt = c.len();
    e(&mut c, &0u64.to_le_bytes()); // null descriptor
    e(&mut c, &0x00AF_9A00_0000_FFFFu64.to_le_bytes()); // 64-bit code segment
    let gdt_ptr = c.len();
    e(&mut c, &15u16.to_le_bytes());
    e(&mut c, &(BASE + HEADER + gdt as u32).to_le_bytes());
    let at = |off: usize| (BASE + HEADER + off as u32).to_le_bytes();
    c[lgdt + 3..lgdt + 7].copy_from_slice(&at(gdt_ptr));
    c[jmp + 1..jmp + 5].copy_from_slice(&at(long_mode));
    // Multiboot header with load addresses (flag 16): magic, flags, checksum,
    // header_addr, load_addr, load_end_addr (0: whole file), bss_end_addr, entry.
    let magic: u32 = 0x1BAD_B002;
    let flags: u32 = 0x0001_0000;
    let mut out = Vec::with_capacity(HEADER as usize + c.len());
    for w in [magic, flags, 0u32.wrapping_sub(magic.wrapping_add(flags)), BASE, BASE, 0, 0, BASE + HEADER] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&c);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_probes_of_one_process_have_files_of_their_own_and_stale_ones_go() {
        let (a, b) = (scratch_name(MONITOR_PREFIX, "sock"), scratch_name(MONITOR_PREFIX, "sock"));
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let gone = "kvm-probe-2147483640-7.bin";
        let old = "probe-2147483641.sock";
        for f in [gone, old, a.as_str()] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        clean_stale(dir.path());
        assert!(!dir.path().join(gone).exists() && !dir.path().join(old).exists());
        assert!(dir.path().join(&a).exists(), "this process's own file stays");
    }

    #[test]
    fn audio_drivers_are_read_from_the_help() {
        let help = "Available audio drivers:\nnone\nalsa\nspice\nwav\n";
        let got: Vec<String> = help_names(help, "Available audio drivers").into_iter().collect();
        assert_eq!(got, ["alsa", "none", "spice", "wav"]);
        assert!(help_names("qemu: unknown option\n", "Available audio drivers").is_empty());
        let help = "Available display backend types:\nnone\negl-headless\ndbus\n";
        let got: Vec<String> = help_names(help, "Available display backend types").into_iter().collect();
        assert_eq!(got, ["dbus", "egl-headless", "none"]);
    }

    #[test]
    fn network_cards_are_read_from_the_device_help() {
        let help = "Storage devices:\nname \"virtio-blk-pci\", bus PCI\n\nNetwork devices:\n\
            name \"e1000\", bus PCI, alias \"e1000-82540em\", desc \"Intel Gigabit Ethernet\"\n\
            name \"virtio-net-pci\", bus PCI, alias \"virtio-net\"\n\nInput devices:\nname \"usb-kbd\", bus usb-bus\n";
        let got: Vec<String> = device_names(help, "Network devices:").into_iter().collect();
        assert_eq!(got, ["e1000", "virtio-net-pci"]);
        let help = "Available netdev backend types:\nsocket\nuser\nvhost-vdpa\n";
        let got: Vec<String> = help_names(help, "Available netdev backend types").into_iter().collect();
        assert_eq!(got, ["socket", "user", "vhost-vdpa"]);
    }

    #[tokio::test]
    async fn a_qemu_that_never_greets_is_killed_and_reaped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let fake = dir.path().join("fake-qemu");
        std::fs::write(&fake, format!("#!/bin/sh\necho $$ > {}\nexec sleep 60\n", pid_file.display())).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = spawn_with_monitor(&fake, &[], &dir.path().join("run"), Duration::from_secs(1)).await.unwrap_err();
        assert!(e.to_string().contains("no answer from QEMU"), "{e}");
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if alive {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        assert!(!alive, "the probe's QEMU (pid {pid}) was left running or unreaped: {e}");
    }

    #[test]
    fn probe_image_is_a_valid_multiboot_image() {
        let img = probe_image();
        assert_eq!(img.len(), 166);
        let word = |i: usize| u32::from_le_bytes(img[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), 0x1BAD_B002);
        assert_eq!(word(0).wrapping_add(word(1)).wrapping_add(word(2)), 0, "checksum");
        assert_eq!(word(7), 0x10_0020, "entry right after the header");
    }
}
