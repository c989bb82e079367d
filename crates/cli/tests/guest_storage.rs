//! Guests on pool volumes, under TCG: a `<disk type='volume'>` opened with
//! its whole backing chain, every layer's format explicit; what the guest
//! writes lands in the top layer; layers in use cannot be removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Reaper, guest_xml, run};

fn wait_for(console: &Path, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(console).unwrap_or_default();
        if text.contains(marker) {
            return;
        }
        assert!(Instant::now() < deadline, "{marker} not seen on the console:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ok(uri: &str, script: &str) -> String {
    let (code, out, err) = run(uri, script);
    assert_eq!(code, 0, "{script}:\n{out}\n{err}");
    out
}

fn refused(uri: &str, script: &str) -> String {
    let (code, out, err) = run(uri, script);
    assert_ne!(code, 0, "{script} was not refused:\n{out}");
    err
}

#[test]
fn a_guest_boots_on_a_qcow2_overlay_and_its_writes_stay_in_the_overlay() {
    let root = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let images = root.path().join("images");
    let pattern: Vec<u8> = (0..4u32 << 20).map(|i| (i * 13 % 251) as u8).collect();
    let input = root.path().join("base.bin");
    std::fs::write(&input, &pattern).unwrap();
    ok(
        &uri,
        &format!(
            "pool-define-as images dir --target {dir}; pool-build images; pool-start images; \
             vol-create-as images base.img 4M --format raw; vol-upload base.img {input} --pool images; \
             vol-create-as images top.qcow2 4M --format qcow2 --backing-vol {dir}/base.img --backing-vol-format raw",
            dir = images.display(),
            input = input.display()
        ),
    );

    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let console = root.path().join("g.console");
    let disk = "<disk type='volume' device='disk'><source pool='images' volume='top.qcow2'/>\
                <target dev='vda' bus='virtio'/></disk><memballoon model='none'/>";
    let xml = guest_xml("g", &uuid, &console).replace("<memballoon model='none'/>", disk);
    let xml_path = root.path().join("g.xml");
    std::fs::write(&xml_path, xml).unwrap();
    ok(&uri, &format!("define {}; start g", xml_path.display()));
    wait_for(&console, "VIRTKIT-GUEST-DISK-WRITTEN");

    // QEMU was told each layer and its format, and where the chain ends.
    let pid = common::qemu_of(&uuid).expect("QEMU runs");
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
    let base = images.join("base.img");
    assert!(argv.contains(&format!("\"filename\":\"{}\"", base.display())), "{argv}");
    assert!(argv.contains("\"driver\":\"raw\""), "{argv}");
    assert!(argv.contains("\"backing\":\"drive-vda-b1-format\""), "{argv}");
    let live = ok(&uri, "dumpxml g");
    assert!(live.contains(&base.display().to_string()) && live.contains("<backingStore/>"), "{live}");

    // Neither layer can be taken from under the guest; the error names it.
    for script in [
        "vol-delete base.img --pool images",
        "vol-wipe base.img --pool images",
        "vol-delete top.qcow2 --pool images",
        "vol-resize top.qcow2 1M --pool images --shrink",
    ] {
        let err = refused(&uri, script);
        assert!(err.contains("in use by domain 'g'"), "{script}: {err}");
    }
    ok(&uri, "destroy g");

    // The base is as uploaded; the guest's line is in the overlay.
    assert!(std::fs::read(&base).unwrap() == pattern, "the base volume changed");
    let flat = root.path().join("flat.raw");
    let out = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(images.join("top.qcow2"))
        .arg(&flat)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let flat = std::fs::read(&flat).unwrap();
    assert!(flat.starts_with(b"VIRTKIT-DISK-WRITE "), "the guest's write is not in the overlay");
    assert!(flat[4096..] == pattern[4096..], "the overlay does not read through to the base");
    ok(&uri, "undefine g; vol-delete top.qcow2 --pool images; vol-delete base.img --pool images");
}

fn qemu_img(args: &[&str]) {
    let out = std::process::Command::new("qemu-img").args(args).output().unwrap();
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_chain_that_loops_or_leaves_the_pools_is_refused_at_start_naming_the_layer() {
    let root = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let images = root.path().join("images");
    let outside = root.path().join("outside.qcow2");
    std::fs::create_dir(&images).unwrap();
    let at = |name: &str| images.join(name).to_string_lossy().into_owned();
    // Made behind virtkit's back, as a user with qemu-img would.
    qemu_img(&["create", "-q", "-f", "qcow2", &at("a.qcow2"), "1M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", &at("a.qcow2"), &at("b.qcow2")]);
    qemu_img(&["rebase", "-u", "-F", "qcow2", "-b", &at("b.qcow2"), &at("a.qcow2")]);
    qemu_img(&["create", "-q", "-f", "qcow2", outside.to_str().unwrap(), "1M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", outside.to_str().unwrap(), &at("c.qcow2")]);
    ok(&uri, &format!("pool-define-as images dir --target {}; pool-start images", images.display()));

    let console = root.path().join("g.console");
    for (vol, says) in [
        ("a.qcow2", format!("disk vda: the backing chain of volume 'a.qcow2' loops at {}", at("a.qcow2"))),
        (
            "c.qcow2",
            format!(
                "disk vda: the backing file {} of 'c.qcow2' is in no active pool, so what lies below it is not known",
                outside.display()
            ),
        ),
    ] {
        let uuid = uuid::Uuid::new_v4().to_string();
        let _reaper = Reaper(vec![uuid.clone()]);
        let disk = format!(
            "<disk type='volume' device='disk'><source pool='images' volume='{vol}'/>\
             <target dev='vda' bus='virtio'/></disk><memballoon model='none'/>"
        );
        let xml = guest_xml("g", &uuid, &console).replace("<memballoon model='none'/>", &disk);
        let xml_path = root.path().join("g.xml");
        std::fs::write(&xml_path, xml).unwrap();
        let err = refused(&uri, &format!("define {}; start g", xml_path.display()));
        assert!(err.contains(&says), "{vol}: {err}");
        assert!(common::qemu_of(&uuid).is_none(), "QEMU ran for {vol}");
        ok(&uri, "domstate g; undefine g");
    }
}
