//! Directory pools on the real host, in temporary directories: built,
//! started, refreshed; volumes made by qemu-img and seen by it, copied,
//! uploaded and downloaded, resized; jobs that are cancelled or fail leave
//! nothing behind; bad input changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;
use virtkit_engine::Info;
use virtkit_engine::options::{BuildOptions, ResizeOptions, VolumeCreateOptions, WipeAlgorithm, WipeOptions};
use virtkit_engine::types::ObjectKind;
use virtkit_engine::{Def, ErrorKind};

#[tokio::test]
async fn a_dir_pool_is_built_started_and_refreshed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("images");
    let e = engine();
    let xml = format!(
        "<pool type='dir'><name>images</name><target><path>{}</path>\
         <permissions><mode>0750</mode><owner>0</owner><group>0</group></permissions></target></pool>",
        dir.display()
    );
    let p = define(&e, &xml).await.unwrap();
    let err = e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("build the pool first"), "{err}");
    e.build_pool(p, BuildOptions::default()).await.unwrap();
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!((meta.permissions().mode() & 0o7777, meta.uid(), meta.gid()), (0o750, 0, 0));
    let err = e.build_pool(p, BuildOptions::default().no_overwrite(true)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    let info = pool_info(&e, p).await;
    let st = nix::sys::statvfs::statvfs(&dir).unwrap();
    assert_eq!(info.capacity, st.blocks() as u64 * st.fragment_size() as u64);
    assert!(info.available > 0 && info.available <= info.capacity, "{info:?}");
    assert_eq!(info.volumes, 0);

    // Files put there from outside are found with their real format and sizes.
    let q = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.join("disk.qcow2"))
        .arg("5M")
        .status()
        .unwrap();
    assert!(q.success());
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.join(".virtkit-part.0123.half.img"), b"half").unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    e.refresh_pool(p, Default::default()).await.unwrap();
    assert_eq!(pool_info(&e, p).await.volumes, 2);
    let disk = e.lookup_volume(p, "disk.qcow2").unwrap();
    assert_eq!((disk.format.as_deref(), disk.capacity), (Some("qcow2"), 5 * MIB));
    assert_eq!(disk.allocation, qemu_info(&dir.join("disk.qcow2"))["actual-size"].as_u64().unwrap());
    let notes = e.lookup_volume(p, "notes.txt").unwrap();
    assert_eq!((notes.format.as_deref(), notes.capacity), (Some("raw"), 5));
    assert_eq!(notes.path.as_deref(), Some(dir.join("notes.txt").to_str().unwrap()));
    assert!(e.lookup_volume(p, ".virtkit-part.0123.half.img").is_err());

    // What a killed engine left half made is removed at the next start.
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    assert_eq!(listing(&dir), ["disk.qcow2", "notes.txt", "subdir"]);
}

#[tokio::test]
async fn raw_and_qcow2_volumes_are_what_qemu_img_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let opts = VolumeCreateOptions::default;

    let sparse = e
        .create_volume(
            p,
            vol("<volume><name>sparse.img</name><capacity unit='MiB'>64</capacity><allocation>0</allocation></volume>"),
            opts(),
        )
        .await
        .unwrap();
    let i = qemu_info(&dir.join("sparse.img"));
    assert_eq!((i["format"].as_str(), i["virtual-size"].as_u64()), (Some("raw"), Some(64 * MIB)));
    assert!(sparse.allocation < MIB, "{sparse:?}");
    let meta = std::fs::metadata(dir.join("sparse.img")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let full = e
        .create_volume(p, vol("<volume><name>full.img</name><capacity unit='MiB'>8</capacity><allocation unit='MiB'>8</allocation></volume>"), opts())
        .await
        .unwrap();
    assert!(std::fs::metadata(dir.join("full.img")).unwrap().blocks() * 512 >= 8 * MIB);
    assert_eq!(full.allocation, 8 * MIB);

    let q = e
        .create_volume(
            p,
            vol("<volume><name>base.qcow2</name><capacity unit='GiB'>2</capacity>\
                 <target><format type='qcow2'/><compat>1.1</compat><clusterSize unit='KiB'>128</clusterSize>\
                 <features><lazy_refcounts/></features></target></volume>"),
            opts(),
        )
        .await
        .unwrap();
    assert_eq!((q.format.as_deref(), q.capacity), (Some("qcow2"), 2 << 30));
    let i = qemu_info(&dir.join("base.qcow2"));
    assert_eq!(i["format"], "qcow2");
    assert_eq!(i["cluster-size"], 128 * 1024);
    assert_eq!(i["format-specific"]["data"]["compat"], "1.1");
    assert_eq!(i["format-specific"]["data"]["lazy-refcounts"], true);

    // Allocated now when the allocation is the capacity; metadata only when less.
    for (name, alloc, want) in [("full.qcow2", 8, "falloc"), ("meta.qcow2", 1, "metadata")] {
        let xml = format!(
            "<volume><name>{name}</name><capacity unit='MiB'>8</capacity><allocation unit='MiB'>{alloc}</allocation>\
             <target><format type='qcow2'/></target></volume>"
        );
        e.create_volume(p, vol(&xml), opts()).await.unwrap();
        let blocks = std::fs::metadata(dir.join(name)).unwrap().blocks() * 512;
        assert_eq!(blocks >= 8 * MIB, want == "falloc", "{name}: {blocks} bytes allocated");
        assert!(blocks >= 128 << 10, "{name}: {blocks} bytes allocated");
    }

    // On a backing store: its format is always given to qemu-img.
    let base = dir.join("base.qcow2");
    for (name, fmt) in [("top.qcow2", "<format type='qcow2'/>"), ("probed.qcow2", "")] {
        let xml = format!(
            "<volume><name>{name}</name><target><format type='qcow2'/></target>\
             <backingStore><path>{}</path>{fmt}</backingStore></volume>",
            base.display()
        );
        let top = e.create_volume(p, vol(&xml), opts()).await.unwrap();
        assert_eq!(top.capacity, 2 << 30, "the backing store's capacity");
        let i = qemu_info(&dir.join(name));
        assert_eq!(i["backing-filename"], base.to_str().unwrap());
        assert_eq!(i["backing-filename-format"], "qcow2");
    }
    let xml = e.object_xml(ObjectKind::Volume, e.lookup_volume(p, "top.qcow2").unwrap().uuid, Default::default());
    let xml = xml.unwrap();
    assert!(xml.contains("<backingStore>") && xml.contains(base.to_str().unwrap()), "{xml}");
    assert_eq!(pool_info(&e, p).await.volumes, 7);
}

#[tokio::test]
async fn clones_upload_and_download_move_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let v = e
        .create_volume(
            p,
            vol("<volume><name>a.img</name><capacity unit='MiB'>64</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    let bytes = pattern(64 << 20, 7);
    std::os::unix::fs::chown(dir.join("a.img"), Some(107), Some(108)).unwrap();
    std::fs::set_permissions(dir.join("a.img"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let after = upload(&e, &v, &bytes).await.unwrap();
    let meta = std::fs::metadata(dir.join("a.img")).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.permissions().mode() & 0o777), (107, 108, 0o640), "kept by the upload");
    assert_eq!(after.capacity, 64 * MIB);
    assert!(std::fs::read(dir.join("a.img")).unwrap() == bytes);
    assert!(download(&e, &v).await == bytes);

    let c = e.clone_volume(v.uuid, "b.img", Default::default()).await.unwrap();
    assert_eq!((c.format.as_deref(), c.capacity), (Some("raw"), 64 * MIB));
    assert!(std::fs::read(dir.join("b.img")).unwrap() == bytes);

    // Into another format, then back: the guest sees the same disk.
    let q = e
        .create_volume(
            p,
            vol("<volume><name>c.qcow2</name><target><format type='qcow2'/></target></volume>"),
            VolumeCreateOptions::default().from(v.uuid),
        )
        .await
        .unwrap();
    assert_eq!(qemu_info(&dir.join("c.qcow2"))["format"], "qcow2");
    let back = e
        .create_volume(
            p,
            vol("<volume><name>d.img</name><target><format type='raw'/></target></volume>"),
            VolumeCreateOptions::default().from(q.uuid),
        )
        .await
        .unwrap();
    assert_eq!(back.capacity, 64 * MIB);
    assert!(std::fs::read(dir.join("d.img")).unwrap() == bytes);
    assert_eq!(listing(&dir), ["a.img", "b.img", "c.qcow2", "d.img"]);
}

/// Capacity and allocation as `qemu-img info` reads them (a raw image is
/// as long as its file).
fn qemu_sizes(path: &std::path::Path) -> (u64, u64) {
    let i = qemu_info(path);
    assert_eq!(i["format"], "raw", "{i}");
    (std::fs::metadata(path).unwrap().len(), i["actual-size"].as_u64().unwrap())
}

/// Format, capacity, allocation and backing file as `qemu-img info` reads
/// them.
fn qemu_facts(path: &std::path::Path) -> (String, u64, u64, Option<String>) {
    let i = qemu_info(path);
    let s = |k: &str| i[k].as_str().map(str::to_owned);
    (
        s("format").unwrap(),
        i["virtual-size"].as_u64().unwrap(),
        i["actual-size"].as_u64().unwrap(),
        s("backing-filename"),
    )
}

#[tokio::test]
async fn copies_report_the_sizes_qemu_img_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let src = e
        .create_volume(
            p,
            vol("<volume><name>s.img</name><capacity unit='MiB'>32</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    // Data in two places, holes between: the copy is sparse too.
    let f = std::fs::OpenOptions::new().write(true).open(dir.join("s.img")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &pattern(MIB as usize, 3), 4 * MIB).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &pattern(MIB as usize, 5), 20 * MIB).unwrap();
    drop(f);

    let c = e.clone_volume(src.uuid, "c.img", Default::default()).await.unwrap();
    let (cap, alloc) = qemu_sizes(&dir.join("c.img"));
    assert_eq!((c.format.as_deref(), c.capacity, c.allocation), (Some("raw"), cap, alloc));
    assert_eq!(cap, 32 * MIB);
    assert!((2 * MIB..32 * MIB).contains(&alloc), "a sparse copy: {alloc} bytes allocated");
    assert!(std::fs::read(dir.join("c.img")).unwrap() == std::fs::read(dir.join("s.img")).unwrap());

    // Copied into a larger volume: the rest reads as zeros.
    let big = e
        .create_volume(
            p,
            vol("<volume><name>big.img</name><capacity unit='MiB'>48</capacity></volume>"),
            VolumeCreateOptions::default().from(src.uuid),
        )
        .await
        .unwrap();
    let (cap, alloc) = qemu_sizes(&dir.join("big.img"));
    assert_eq!((big.capacity, big.allocation), (cap, alloc));
    assert_eq!(cap, 48 * MIB);
    let bytes = std::fs::read(dir.join("big.img")).unwrap();
    assert!(bytes[..32 << 20] == std::fs::read(dir.join("s.img")).unwrap()[..]);
    assert!(bytes[32 << 20..].iter().all(|&b| b == 0));

    // From a qcow2 image into raw.
    let q = e
        .create_volume(
            p,
            vol("<volume><name>q.qcow2</name><target><format type='qcow2'/></target></volume>"),
            VolumeCreateOptions::default().from(src.uuid),
        )
        .await
        .unwrap();
    let r = e
        .create_volume(
            p,
            vol("<volume><name>r.img</name><target><format type='raw'/></target></volume>"),
            VolumeCreateOptions::default().from(q.uuid),
        )
        .await
        .unwrap();
    let (cap, alloc) = qemu_sizes(&dir.join("r.img"));
    assert_eq!((r.format.as_deref(), r.capacity, r.allocation), (Some("raw"), cap, alloc));
    assert_eq!(cap, 32 * MIB);

    // qcow2 copies: of a qcow2 image (the same size, larger), and of an
    // overlay (flattened: no backing file).
    let q2 = e.clone_volume(q.uuid, "q2.qcow2", Default::default()).await.unwrap();
    let q3 = e
        .create_volume(
            p,
            vol("<volume><name>q3.qcow2</name><capacity unit='MiB'>40</capacity>\
                 <target><format type='qcow2'/></target></volume>"),
            VolumeCreateOptions::default().from(q.uuid),
        )
        .await
        .unwrap();
    let over = e
        .create_volume(
            p,
            vol(&format!(
                "<volume><name>over.qcow2</name><target><format type='qcow2'/></target>\
                 <backingStore><path>{}</path><format type='qcow2'/></backingStore></volume>",
                dir.join("q.qcow2").display()
            )),
            Default::default(),
        )
        .await
        .unwrap();
    let flat = e.clone_volume(over.uuid, "flat.qcow2", Default::default()).await.unwrap();
    for (v, cap) in [(&q2, 32 * MIB), (&q3, 40 * MIB), (&flat, 32 * MIB)] {
        let (format, size, alloc, backing) = qemu_facts(&dir.join(&v.name));
        assert_eq!((v.format.as_deref(), v.capacity, v.allocation), (Some(&*format), size, alloc), "{}", v.name);
        assert_eq!((format.as_str(), size, backing), ("qcow2", cap, None), "{}", v.name);
        match e.object_definition(ObjectKind::Volume, v.uuid, Default::default()).unwrap() {
            Def::Volume(d) => assert!(d.backing_store.is_none(), "{}: {d:?}", v.name),
            d => panic!("not a volume: {d:?}"),
        }
    }
    let bytes = |name: &str| {
        let raw = tmp.path().join(format!("{name}.raw"));
        let out = std::process::Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .args([dir.join(name), raw.clone()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(raw).unwrap()
    };
    let want = std::fs::read(dir.join("s.img")).unwrap();
    for name in ["q2.qcow2", "q3.qcow2", "flat.qcow2"] {
        assert!(bytes(name)[..32 << 20] == want[..], "{name} holds the source's bytes");
    }

    // What a refresh finds (by qemu-img) is what the copies said.
    e.refresh_pool(p, Default::default()).await.unwrap();
    for v in [&c, &big, &r, &q2, &q3, &flat] {
        let found = e.lookup_volume(p, &v.name).unwrap();
        assert_eq!((found.capacity, found.allocation), (v.capacity, v.allocation), "{}", v.name);
    }
}

#[tokio::test]
async fn volumes_grow_and_shrink_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let raw = e
        .create_volume(
            p,
            vol("<volume><name>r.img</name><capacity unit='MiB'>1</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    let r = e.resize_volume(raw.uuid, 4 * MIB, ResizeOptions::default()).await.unwrap();
    assert_eq!(r.capacity, 4 * MIB);
    assert_eq!(qemu_info(&dir.join("r.img"))["virtual-size"], 4 * MIB);
    let r = e.resize_volume(raw.uuid, 8 * MIB, ResizeOptions::default().allocate(true)).await.unwrap();
    assert_eq!(r.allocation, 8 * MIB);

    let q = e
        .create_volume(
            p,
            vol("<volume><name>q.qcow2</name><capacity unit='MiB'>10</capacity><target><format type='qcow2'/></target></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    let r = e.resize_volume(q.uuid, 20 * MIB, ResizeOptions::default()).await.unwrap();
    assert_eq!(r.capacity, 20 * MIB);
    let err = e.resize_volume(q.uuid, 5 * MIB, ResizeOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(qemu_info(&dir.join("q.qcow2"))["virtual-size"], 20 * MIB);
    let r = e.resize_volume(q.uuid, 5 * MIB, ResizeOptions::default().shrink(true)).await.unwrap();
    assert_eq!(r.capacity, 5 * MIB);
    assert_eq!(qemu_info(&dir.join("q.qcow2"))["virtual-size"], 5 * MIB);
}

#[tokio::test]
async fn wipe_zeros_or_randomizes_and_delete_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let v = e
        .create_volume(
            p,
            vol("<volume><name>w.img</name><capacity unit='MiB'>3</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    upload(&e, &v, &pattern(3 << 20, 3)).await.unwrap();
    e.wipe_volume(v.uuid, Default::default()).await.unwrap();
    let data = std::fs::read(dir.join("w.img")).unwrap();
    assert!(data.len() == 3 << 20 && data.iter().all(|b| *b == 0));
    let random = WipeOptions::default().algorithm(WipeAlgorithm::Random);
    e.wipe_volume(v.uuid, random.clone()).await.unwrap();
    let noise = std::fs::read(dir.join("w.img")).unwrap();
    assert_eq!(noise.len(), 3 << 20);
    // Random bytes: every byte value shows, none far more than its share.
    let mut counts = [0u32; 256];
    noise.iter().for_each(|b| counts[usize::from(*b)] += 1);
    let share = (3 << 20) / 256;
    assert!(counts.iter().all(|c| (share / 2..share * 2).contains(c)), "not random: {counts:?}");
    e.wipe_volume(v.uuid, random.clone()).await.unwrap();
    assert!(std::fs::read(dir.join("w.img")).unwrap() != noise, "two random wipes wrote the same bytes");

    let q = e
        .create_volume(
            p,
            vol("<volume><name>w.qcow2</name><capacity unit='MiB'>3</capacity><target><format type='qcow2'/></target></volume>"),
            VolumeCreateOptions::default().from(v.uuid),
        )
        .await
        .unwrap();
    e.wipe_volume(q.uuid, Default::default()).await.unwrap();
    let i = qemu_info(&dir.join("w.qcow2"));
    assert_eq!((i["format"].as_str(), i["virtual-size"].as_u64()), (Some("qcow2"), Some(3 * MIB)));
    // An image wiped with random bytes is made again, empty.
    e.wipe_volume(q.uuid, random).await.unwrap();
    let i = qemu_info(&dir.join("w.qcow2"));
    assert_eq!((i["format"].as_str(), i["virtual-size"].as_u64()), (Some("qcow2"), Some(3 * MIB)));

    e.delete_volume(v.uuid, Default::default()).await.unwrap();
    e.delete_volume(q.uuid, Default::default()).await.unwrap();
    assert!(listing(&dir).is_empty());
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    e.delete_pool(p, Default::default()).await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let bad = [
        (
            "<volume><name>a.iso</name><capacity>1024</capacity><target><format type='iso'/></target></volume>"
                .to_owned(),
            ErrorKind::InvalidArgument,
            "qemu-img cannot create volumes of format iso",
        ),
        (
            "<volume><name>huge</name><capacity>18446744073709551615</capacity></volume>".to_owned(),
            ErrorKind::InvalidArgument,
            "more than a file can hold",
        ),
        (
            format!(
                "<volume><name>t.qcow2</name><capacity>1024</capacity><target><format type='qcow2'/></target>\
                  <backingStore><path>{}/missing.qcow2</path></backingStore></volume>",
                dir.display()
            ),
            ErrorKind::NotFound,
            "does not exist",
        ),
        (
            "<volume><name>r.img</name><capacity>1024</capacity>\
          <backingStore><path>/etc/hostname</path></backingStore></volume>"
                .to_owned(),
            ErrorKind::InvalidArgument,
            "cannot have a backing store",
        ),
    ];
    for (xml, kind, why) in bad {
        let err = e.create_volume(p, vol(&xml), Default::default()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{xml}: {err}");
        assert!(err.message().contains(why), "{err}");
    }
    // A name that is a path is refused by the document.
    assert!(
        virtkit_model::storage::Volume::from_xml("<volume><name>a/b</name><capacity>1</capacity></volume>")
            .and_then(|v| v.validate().map(|()| v))
            .is_err()
    );
    assert!(listing(&dir).is_empty());
    assert_eq!(pool_info(&e, p).await.volumes, 0);

    // Pools do not nest.
    for target in [dir.join("inner"), tmp.path().to_path_buf()] {
        let xml = format!("<pool type='dir'><name>n</name><target><path>{}</path></target></pool>", target.display());
        let err = define(&e, &xml).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains("one inside the other"), "{err}");
    }
}

#[tokio::test]
async fn pool_types_without_a_backend_say_why_at_start() {
    let e = engine();
    use virtkit_model::storage::PoolType;
    assert_eq!(e.pool_types(), [PoolType::Dir, PoolType::Fs, PoolType::IscsiDirect]);
    let lv = define(&e, "<pool type='logical'><name>vg</name><source><name>vg</name></source><target><path>/dev/vg</path></target></pool>")
        .await
        .unwrap();
    let err = e.start_object(ObjectKind::Pool, lv, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let dm = std::path::Path::new("/dev/mapper/control").exists();
    let want = if dm { "no backend for logical yet" } else { "logical: device-mapper is not available on this host" };
    assert_eq!(err.message(), want);
    let rbd =
        define(&e, "<pool type='rbd'><name>ceph</name><source><host name='mon'/><name>rbd</name></source></pool>")
            .await
            .unwrap();
    let err = e.start_object(ObjectKind::Pool, rbd, Default::default()).await.unwrap_err();
    assert_eq!(err.message(), "no backend for rbd yet");
    // No NFS client here either.
    let nfs = define(
        &e,
        "<pool type='netfs'><name>nfs</name><source><host name='nas'/><dir path='/export'/></source>\
         <target><path>/mnt/nfs</path></target></pool>",
    )
    .await
    .unwrap();
    let err = e.start_object(ObjectKind::Pool, nfs, Default::default()).await.unwrap_err();
    assert_eq!(err.message(), "no backend for netfs yet");
}

#[tokio::test]
async fn metadata_is_preallocated_when_asked_and_only_in_qcow2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let qcow2 = |name: &str| {
        vol(&format!(
            "<volume><name>{name}</name><capacity unit='MiB'>64</capacity><target><format type='qcow2'/></target></volume>"
        ))
    };
    let meta = VolumeCreateOptions::default().prealloc_metadata(true);
    e.create_volume(p, qcow2("plain.qcow2"), Default::default()).await.unwrap();
    e.create_volume(p, qcow2("meta.qcow2"), meta.clone()).await.unwrap();
    let plain = layout(&dir.join("plain.qcow2"));
    let made = layout(&dir.join("meta.qcow2"));
    // Every cluster has its place in the file (its length covers them),
    // none of them written: the data reads as zeros.
    assert!(plain.0 < MIB && made.0 >= 64 * MIB, "plain {plain:?}, meta {made:?}");
    assert!(!plain.1 && made.1, "plain {plain:?}, meta {made:?}");
    // A copy made so is preallocated too.
    e.clone_volume(e.lookup_volume(p, "plain.qcow2").unwrap().uuid, "copy.qcow2", meta.clone()).await.unwrap();
    assert!(layout(&dir.join("copy.qcow2")).1);

    // Other formats are refused, nothing made.
    for (xml, want) in [
        (
            "<volume><name>r.img</name><capacity>1048576</capacity></volume>",
            "metadata preallocation is not supported for raw volumes",
        ),
        (
            "<volume><name>v.vdi</name><capacity>1048576</capacity><target><format type='vdi'/></target></volume>",
            "metadata preallocation only available with qcow2",
        ),
    ] {
        let err = e.create_volume(p, vol(xml), meta.clone()).await.unwrap_err();
        assert_eq!((err.kind(), err.message()), (ErrorKind::InvalidArgument, want));
    }
    assert_eq!(listing(&dir), ["copy.qcow2", "meta.qcow2", "plain.qcow2"]);
    assert_eq!(pool_info(&e, p).await.volumes, 3);
}

/// A qcow2 image's file length, and whether `qemu-img map` places any
/// cluster in it (metadata preallocated).
fn layout(path: &std::path::Path) -> (u64, bool) {
    let out = std::process::Command::new("qemu-img").args(["map", "--output=json"]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    (std::fs::metadata(path).unwrap().len(), map.iter().any(|m| m.get("offset").is_some()))
}

#[tokio::test]
async fn a_transient_pool_is_built_then_started_or_left_out() {
    use virtkit_engine::options::CreateOptions;
    use virtkit_model::storage::Pool;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let e = engine();
    let def = || {
        let xml = format!("<pool type='dir'><name>t</name><target><path>{}</path></target></pool>", dir.display());
        Def::Pool(Box::new(Pool::from_xml(&xml).unwrap()))
    };
    let build = |b: BuildOptions| CreateOptions::default().build(b);
    let gone = |e: &virtkit_engine::Engine| e.lookup_object(ObjectKind::Pool, "t").is_err();

    // Not built: the start fails and leaves no pool.
    let err = e.create_object(def(), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(gone(&e));
    // Refused flags change nothing.
    let err = e.create_object(def(), build(BuildOptions::default().overwrite(true).no_overwrite(true))).await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(gone(&e) && !dir.exists());

    let i = e.create_object(def(), build(BuildOptions::default())).await.unwrap();
    let Info::Pool(i) = i else { panic!("not a pool: {i:?}") };
    assert!(i.state.is_active() && !i.persistent, "{i:?}");
    assert!(dir.is_dir());
    e.stop_object(ObjectKind::Pool, i.uuid, Default::default()).await.unwrap();
    assert!(gone(&e));

    // A failed build (the directory is there) leaves no pool either.
    let err = e.create_object(def(), build(BuildOptions::default().no_overwrite(true))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert!(gone(&e));

    // Only pools are built.
    let net = virtkit_model::network::Network::from_xml("<network><name>n</name></network>").unwrap();
    let err = e.create_object(Def::Network(Box::new(net)), build(BuildOptions::default())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.message(), "only storage pools are built, not networks");
}

#[tokio::test]
async fn a_defined_pool_is_built_at_its_start_when_asked() {
    use virtkit_engine::options::StartOptions;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let e = engine();
    let xml = format!("<pool type='dir'><name>s</name><target><path>{}</path></target></pool>", dir.display());
    let p = define(&e, &xml).await.unwrap();
    let build = |b: BuildOptions| StartOptions::default().build(b);
    let state = |e: &virtkit_engine::Engine| match e.lookup_object(ObjectKind::Pool, "s").unwrap() {
        Info::Pool(i) => (i.state.is_active(), i.persistent),
        i => panic!("not a pool: {i:?}"),
    };

    // Not built: the start fails, the pool stays defined and inactive.
    let err = e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Flags that exclude each other are refused before anything is made.
    let err = e.start_object(ObjectKind::Pool, p, build(BuildOptions::default().overwrite(true).no_overwrite(true)));
    assert_eq!(err.await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(state(&e), (false, true));
    assert!(!dir.exists());

    // Built, then started, in one call.
    let i = e.start_object(ObjectKind::Pool, p, build(BuildOptions::default().no_overwrite(true))).await.unwrap();
    let Info::Pool(i) = i else { panic!("not a pool: {i:?}") };
    assert!(i.state.is_active() && i.persistent, "{i:?}");
    assert!(dir.is_dir());
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();

    // A failed build (the directory is there) leaves it inactive, its
    // directory as it was.
    std::fs::write(dir.join("kept.img"), b"kept").unwrap();
    let err = e.start_object(ObjectKind::Pool, p, build(BuildOptions::default().no_overwrite(true))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(state(&e), (false, true));
    assert_eq!(std::fs::read(dir.join("kept.img")).unwrap(), b"kept");
    // A plain build over it starts it.
    e.start_object(ObjectKind::Pool, p, build(BuildOptions::default())).await.unwrap();
    assert_eq!(state(&e), (true, true));
    assert!(e.lookup_volume(p, "kept.img").is_ok());

    // Only pools are built.
    let err = e.start_object(ObjectKind::Network, uuid::Uuid::new_v4(), build(BuildOptions::default())).await;
    assert_eq!(err.unwrap_err().message(), "only storage pools are built, not networks");
}
