//! The top-level parts on a real QEMU: `domxml-to-native qemu-argv` prints
//! the command line a definition would start with (in process and through
//! virtkitd alike) and changes nothing; what the driver cannot do is
//! refused at start, naming why, with nothing left running; and a UEFI
//! guest (`firmware='efi'`, Debian's OVMF) boots under TCG with its own
//! variable store, copied from the template once and kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Daemon, Reaper, guest_dir, qemu_of, run, wait_ready};

/// The test guest, booted by `firmware` (`efi`, or none for SeaBIOS), with
/// `extra` inside `<domain>`.
fn guest(name: &str, uuid: &str, console: &Path, firmware: &str, extra: &str) -> String {
    let g = guest_dir();
    let fw = if firmware.is_empty() { String::new() } else { format!(" firmware='{firmware}'") };
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  {extra}
  <os{fw}><type arch='x86_64' machine='q35'>hvm</type><kernel>{g}/vmlinuz</kernel><initrd>{g}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='{}'/></serial><memballoon model='none'/></devices>
</domain>",
        console.display(),
        g = g.display()
    )
}

fn ok(uri: &str, script: &str) -> String {
    let (code, out, err) = run(uri, script);
    assert_eq!(code, 0, "{script}: {err}");
    out
}

#[test]
fn domxml_to_native_prints_the_command_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = "6c1a3a2e-9d53-4b39-8f0c-0e0c7d1d8a11";
    let xml = dir.path().join("n.xml");
    let extra = "<iothreads>1</iothreads><cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/></numa></cpu>";
    std::fs::write(&xml, guest("native", uuid, &dir.path().join("c"), "efi", extra)).unwrap();
    let embed = dir.path().join("embed");
    let local = format!("qemu:///embed?root={}", embed.display());
    let out = ok(&local, &format!("domxml-to-native qemu-argv {}", xml.display()));
    for want in [
        "/usr/bin/qemu-system-x86_64 \\\n",
        "-name guest=native,debug-threads=on \\\n",
        "-numa node,nodeid=0,cpus=0,memdev=ram-node0 \\\n",
        "-object '{\"id\":\"iothread1\",\"qom-type\":\"iothread\"}' \\\n",
        "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \\\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // Nothing was stored, started or made: no domain, no variable store.
    assert_eq!(ok(&local, "list --all --json"), ok(&local, "list --all --json"));
    assert!(!ok(&local, "list --all").contains("native"));
    assert!(!embed.join("nvram").exists(), "domxml-to-native made the variable store");
    // Through the daemon: the same command line (but for the root it runs in).
    let d = Daemon::start(&[]);
    let remote = ok(&d.uri("qemu"), &format!("domxml-to-native qemu-argv {}", xml.display()));
    let norm = |s: &str, root: &Path| s.replace(&root.display().to_string(), "ROOT");
    let strip = |s: String| {
        s.lines().filter(|l| !l.starts_with("HOME=") && !l.contains("nvram")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(strip(norm(&remote, d.root())), strip(norm(&out, &embed)));
    // A driver without a native form says so.
    let (code, _, err) = run("test:///default", &format!("domxml-to-native qemu-argv {}", xml.display()));
    assert_eq!(code, 1);
    assert!(err.contains("has no native configuration format 'qemu-argv'"), "{err}");
    let (code, _, err) = run(&local, &format!("domxml-to-native vmware-vmx {}", xml.display()));
    assert_eq!(code, 1);
    assert!(err.contains("native form is qemu-argv, not 'vmware-vmx'"), "{err}");
}

#[test]
fn what_the_driver_cannot_do_is_refused_at_start_with_nothing_left() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
    let cases = [
        ("cputune", "<cputune><shares>2048</shares></cputune>", "/domain/cputune: CPU tuning"),
        (
            "hugepages",
            "<memoryBacking><hugepages><page size='16384' unit='KiB'/></hugepages></memoryBacking>",
            "huge pages of 16384 KiB: this host has none of that size",
        ),
        ("sev", "<launchSecurity type='sev'><policy>0x0003</policy></launchSecurity>", "AMD SEV needs KVM"),
        ("numad", "<numatune><memory mode='strict' placement='auto'/></numatune>", "placement 'auto' asks numad"),
    ];
    for (name, extra, why) in cases {
        let uuid = uuid::Uuid::new_v4().to_string();
        let _reaper = Reaper(vec![uuid.clone()]);
        let xml = dir.path().join(format!("{name}.xml"));
        std::fs::write(&xml, guest(name, &uuid, &dir.path().join("c"), "", extra)).unwrap();
        ok(&uri, &format!("define {}", xml.display()));
        let (code, _, err) = run(&uri, &format!("start {name}"));
        assert_eq!(code, 1, "{name} started");
        assert!(err.contains(why), "{name}: {err}");
        assert_eq!(ok(&uri, &format!("domstate {name}")).trim(), "shut off", "{name}");
        assert!(qemu_of(&uuid).is_none(), "{name}: a QEMU was left running");
        ok(&uri, &format!("undefine {name}"));
    }
}

#[test]
fn a_uefi_guest_boots_under_tcg_with_its_own_variable_store() {
    assert!(
        Path::new("/usr/share/qemu/firmware/60-edk2-x86_64.json").exists(),
        "Debian's ovmf is not installed (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let console = dir.path().join("console");
    let xml = dir.path().join("efi.xml");
    std::fs::write(&xml, guest("efi", &uuid, &console, "efi", "")).unwrap();
    ok(&uri, &format!("define {}; start efi", xml.display()));
    wait_ready(&console);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", qemu_of(&uuid).unwrap())).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains("if=pflash"), "not booted by UEFI firmware");
    let nvram = root.join("nvram").join(format!("{uuid}_VARS.fd"));
    let meta = std::fs::metadata(&nvram).expect("the variable store was not made");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.len(), std::fs::metadata("/usr/share/OVMF/OVMF_VARS_4M.fd").unwrap().len());
    // The live definition names the firmware and the store; the stored one
    // still says firmware='efi'.
    let live = ok(&uri, "dumpxml efi");
    assert!(live.contains("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"), "{live}");
    assert!(live.contains(&nvram.display().to_string()), "{live}");
    assert!(!ok(&uri, "dumpxml efi --inactive").contains("<loader"));
    ok(&uri, "power-off efi");
    // The second start keeps the guest's store: the same file, not a new copy.
    std::fs::remove_file(&console).unwrap();
    ok(&uri, "start efi");
    wait_ready(&console);
    assert_eq!(std::fs::metadata(&nvram).unwrap().ino(), meta.ino(), "the variable store was copied again");
    ok(&uri, "power-off efi; undefine efi");
    assert!(qemu_of(&uuid).is_none());
}
