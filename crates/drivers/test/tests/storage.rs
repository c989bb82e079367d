//! Storage pools and volumes on the simulated host: their lifecycle through
//! the engine, space accounting, real bytes moved by upload, download,
//! clone and wipe, jobs and cancel, objects in use, persistence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tokio::sync::mpsc;
use virtkit_engine::options::{
    ListOptions, ResizeOptions, TransferOptions, VolumeCreateOptions, WatchOptions, WipeAlgorithm, WipeOptions,
};
use virtkit_engine::types::{EventDetail, EventKind, ObjectKind, PoolInfo, ResourceState, VolumeInfo};
use virtkit_engine::{Def, Drivers, Engine, EngineConfig, ErrorKind, Info, Sink, Source};
use virtkit_model::storage::{Pool, PoolType, Volume};

fn pool(xml: &str) -> Def {
    Def::Pool(Box::new(Pool::from_xml(xml).unwrap()))
}

fn vol(xml: &str) -> Volume {
    Volume::from_xml(xml).unwrap()
}

fn pool_info(i: Info) -> PoolInfo {
    match i {
        Info::Pool(p) => p,
        other => panic!("not a pool: {other:?}"),
    }
}

async fn host() -> Engine {
    virtkit_driver_test::default_engine().await.unwrap()
}

fn default_pool(e: &Engine) -> PoolInfo {
    pool_info(e.lookup_object(ObjectKind::Pool, "default-pool").unwrap())
}

const GIB: u64 = 1 << 30;
const DIR: &str = "<pool type='dir'><name>images</name><target><path>/images</path></target></pool>";

async fn upload(e: &Engine, v: &VolumeInfo, offset: u64, bytes: &[u8]) -> virtkit_engine::Result<VolumeInfo> {
    let (tx, rx) = mpsc::channel(4);
    let data = bytes.to_vec();
    let feed = tokio::spawn(async move {
        for c in data.chunks(100_000) {
            if tx.send(Ok(c.to_vec())).await.is_err() {
                break;
            }
        }
    });
    let r = e.upload_volume(v.uuid, TransferOptions::default().offset(offset), Source::Pieces(rx)).await;
    feed.await.unwrap();
    r
}

async fn download(e: &Engine, v: &VolumeInfo, offset: u64, length: u64) -> Vec<u8> {
    let (tx, mut rx) = mpsc::channel(4);
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(c) = rx.recv().await {
            all.extend(c);
        }
        all
    });
    let n = e
        .download_volume(v.uuid, TransferOptions::default().offset(offset).length(length), Sink::Pieces(tx))
        .await
        .unwrap();
    let all = reader.await.unwrap();
    assert_eq!(n, all.len() as u64);
    all
}

#[tokio::test]
async fn the_default_host_runs_the_default_pool() {
    let e = host().await;
    let p = default_pool(&e);
    assert_eq!(
        (p.pool_type.as_str(), p.state, p.persistent, p.capacity, p.allocation, p.available, p.volumes),
        ("dir", ResourceState::Active, true, 100 * GIB, 0, 100 * GIB, 0)
    );
    let xml = e.object_xml(ObjectKind::Pool, p.uuid, Default::default()).unwrap();
    assert!(xml.contains("<path>/default-pool</path>"), "{xml}");
    assert!(e.pool_types().contains(&PoolType::IscsiDirect));
}

#[tokio::test]
async fn a_pool_lives_defined_built_started_refreshed_stopped_deleted_undefined_and_each_step_is_an_event() {
    let e = host().await;
    let mut events = e.watch(WatchOptions::default().kinds(vec![ObjectKind::Pool])).unwrap();
    let d = pool_info(e.define_object(pool(DIR), Default::default()).await.unwrap());
    assert_eq!((d.state, d.generation, d.capacity), (ResourceState::Inactive, 1, 0));
    e.build_pool(d.uuid, Default::default()).await.unwrap();
    let s = pool_info(e.start_object(ObjectKind::Pool, d.uuid, Default::default()).await.unwrap());
    assert_eq!((s.state, s.available), (ResourceState::Active, 100 * GIB));
    // Build and delete need it inactive.
    let err = e.build_pool(d.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    e.refresh_pool(d.uuid, Default::default()).await.unwrap();
    e.stop_object(ObjectKind::Pool, d.uuid, Default::default()).await.unwrap();
    let err = e.refresh_pool(d.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    e.delete_pool(d.uuid, Default::default()).await.unwrap();
    e.undefine_object(ObjectKind::Pool, d.uuid, Default::default()).await.unwrap();
    assert_eq!(e.lookup_object(ObjectKind::Pool, "images").unwrap_err().kind(), ErrorKind::NotFound);
    let mut seen = Vec::new();
    while let Some(ev) = events.try_next().unwrap() {
        assert_eq!(ev.name, "images");
        seen.push((ev.kind, ev.detail));
    }
    assert_eq!(
        seen,
        [
            (EventKind::Defined, EventDetail::Added),
            (EventKind::Created, EventDetail::Built),
            (EventKind::Started, EventDetail::Booted),
            (EventKind::Changed, EventDetail::Refreshed),
            (EventKind::Stopped, EventDetail::Destroyed),
            (EventKind::Deleted, EventDetail::Removed),
            (EventKind::Undefined, EventDetail::Removed),
        ]
    );
}

#[tokio::test]
async fn a_pool_type_without_a_backend_is_defined_but_does_not_start() {
    let drivers = Drivers::new(Arc::new(virtkit_driver_test::TestDriver::new(Default::default())))
        .with_storage_driver(Arc::new(virtkit_driver_test::TestStorageDriver::with_types(&[PoolType::Dir])));
    let e = Engine::with_drivers(drivers, EngineConfig::default());
    let rbd = "<pool type='rbd'><name>ceph</name><source><name>rbd</name><host name='mon1'/></source></pool>";
    let d = pool_info(e.define_object(pool(rbd), Default::default()).await.unwrap());
    let err = e.start_object(ObjectKind::Pool, d.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.to_string(), "the test storage driver has no backend for rbd pools");
    assert_eq!(pool_info(e.lookup_object(ObjectKind::Pool, "ceph").unwrap()).state, ResourceState::Inactive);
}

#[tokio::test]
async fn two_pools_cannot_share_a_target_and_a_bad_pool_changes_nothing() {
    let e = host().await;
    let clash = "<pool type='dir'><name>again</name><target><path>/default-pool</path></target></pool>";
    let err = e.define_object(pool(clash), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.to_string(), "target '/default-pool' is already used by storage pool 'default-pool'");
    let l = e.list_objects(ObjectKind::Pool, ListOptions::default()).await.unwrap();
    assert_eq!(l.items.len(), 1);
    let err = e.list_objects(ObjectKind::Pool, ListOptions::default().stats(true)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn volumes_take_space_from_their_pool_and_give_it_back() {
    let e = host().await;
    let p = default_pool(&e).uuid;
    let v = e
        .create_volume(
            p,
            vol("<volume><name>a.img</name><capacity unit='GiB'>10</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (v.path.as_deref(), v.key.as_str(), v.format.as_deref(), v.capacity, v.allocation, v.pool.as_str()),
        (Some("/default-pool/a.img"), "/default-pool/a.img", Some("raw"), 10 * GIB, 10 * GIB, "default-pool")
    );
    let pi = default_pool(&e);
    assert_eq!((pi.allocation, pi.available, pi.volumes), (10 * GIB, 90 * GIB, 1));
    // A sparse one takes only its allocation.
    let s = e
        .create_volume(
            p,
            vol("<volume><name>b.qcow2</name><capacity unit='GiB'>50</capacity><allocation>0</allocation>\
                 <target><format type='qcow2'/></target></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!((s.format.as_deref(), s.allocation), (Some("qcow2"), 0));
    // Too big: refused with the reason, nothing made.
    let err = e
        .create_volume(p, vol("<volume><name>c</name><capacity unit='GiB'>91</capacity></volume>"), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    let err = e
        .create_volume(p, vol("<volume><name>a.img</name><capacity>1</capacity></volume>"), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    let l = e.list_objects(ObjectKind::Volume, ListOptions::default().pool(p)).await.unwrap();
    let names: Vec<&str> = l.items.iter().map(Info::name).collect();
    assert_eq!(names, ["a.img", "b.qcow2"]);
    // Found by name in its pool, by path or key anywhere, by UUID.
    assert_eq!(e.lookup_volume(p, "a.img").unwrap().uuid, v.uuid);
    assert_eq!(e.lookup_object(ObjectKind::Volume, "/default-pool/a.img").unwrap().uuid(), v.uuid);
    assert_eq!(e.lookup_object(ObjectKind::Volume, &v.uuid.to_string()).unwrap().uuid(), v.uuid);
    e.delete_volume(v.uuid, Default::default()).await.unwrap();
    let pi = default_pool(&e);
    assert_eq!((pi.allocation, pi.available, pi.volumes), (0, 100 * GIB, 1));
    assert_eq!(e.lookup_volume(p, "a.img").unwrap_err().kind(), ErrorKind::NotFound);
    // Volumes have no definition of their own to undefine.
    let err = e.undefine_object(ObjectKind::Volume, s.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn upload_download_clone_wipe_and_resize_move_real_bytes() {
    let e = host().await;
    let p = default_pool(&e).uuid;
    let v = e
        .create_volume(p, vol("<volume><name>d.img</name><capacity>1048576</capacity></volume>"), Default::default())
        .await
        .unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let after = upload(&e, &v, 4096, &data).await.unwrap();
    assert_eq!(after.generation, v.generation + 1);
    assert_eq!(download(&e, &v, 4096, data.len() as u64).await, data);
    let whole = download(&e, &v, 0, 0).await;
    assert_eq!(whole.len(), 1_048_576);
    assert!(whole[..4096].iter().all(|b| *b == 0));
    // Past the end: refused, nothing written.
    let err = upload(&e, &v, 1_048_000, &[1; 1000]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(download(&e, &v, 1_048_000, 576).await.iter().all(|b| *b == 0));
    // A clone has the same bytes.
    let c = e.clone_volume(v.uuid, "d-copy.img", VolumeCreateOptions::default()).await.unwrap();
    assert_eq!((c.path.as_deref(), c.capacity), (Some("/default-pool/d-copy.img"), 1_048_576));
    assert_eq!(download(&e, &c, 4096, data.len() as u64).await, data);
    // Wiping the original leaves the clone.
    let random = WipeOptions::default().algorithm(WipeAlgorithm::Random);
    e.wipe_volume(v.uuid, random).await.unwrap();
    let noise = download(&e, &v, 0, 0).await;
    assert_eq!(noise.len(), 1_048_576);
    assert!(noise.iter().filter(|b| **b == 0).count() < 1_048_576 / 64, "random bytes are mostly not zero");
    e.wipe_volume(v.uuid, Default::default()).await.unwrap();
    assert!(download(&e, &v, 0, 0).await.iter().all(|b| *b == 0));
    assert_eq!(download(&e, &c, 4096, data.len() as u64).await, data);
    // Shrinking must be asked for; growing is not.
    let err = e.resize_volume(c.uuid, 8192, ResizeOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let small = e.resize_volume(c.uuid, 8192, ResizeOptions::default().shrink(true)).await.unwrap();
    assert_eq!(small.capacity, 8192);
    assert_eq!(download(&e, &c, 4096, 4096).await, data[..4096]);
    let big = e.resize_volume(c.uuid, 4096, ResizeOptions::default().delta(true)).await.unwrap();
    assert_eq!(big.capacity, 12288);
    assert!(download(&e, &c, 8192, 4096).await.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn a_cancelled_upload_changes_nothing() {
    let e = host().await;
    let p = default_pool(&e).uuid;
    let v = e
        .create_volume(p, vol("<volume><name>u.img</name><capacity>65536</capacity></volume>"), Default::default())
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(4);
    let e2 = e.clone();
    let job =
        tokio::spawn(async move { e2.upload_volume(v.uuid, TransferOptions::default(), Source::Pieces(rx)).await });
    tx.send(Ok(vec![7; 1000])).await.unwrap();
    // Wait until the job shows its progress, then cancel it.
    let mut tries = 0;
    loop {
        let i = e.lookup_volume(p, "u.img").unwrap();
        if i.job.as_ref().is_some_and(|j| j.done == 1000) {
            assert_eq!(i.job.as_ref().unwrap().total, 65536);
            break;
        }
        tries += 1;
        assert!(tries < 1000, "the upload's progress never showed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(e.cancel_job(ObjectKind::Volume, v.uuid).unwrap());
    let err = job.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(download(&e, &v, 0, 0).await.iter().all(|b| *b == 0));
    assert_eq!(e.lookup_volume(p, "u.img").unwrap().generation, v.generation);
}

#[tokio::test]
async fn a_volume_a_running_domain_uses_keeps_its_pool_up_and_itself_alive() {
    let e = host().await;
    let p = default_pool(&e).uuid;
    let v = e
        .create_volume(p, vol("<volume><name>root.img</name><capacity>1048576</capacity></volume>"), Default::default())
        .await
        .unwrap();
    let dom = virtkit_model::domain::Domain::from_xml(
        "<domain type='test'><name>user</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>\
         <disk type='file'><source file='/default-pool/root.img'/><target dev='vda' bus='virtio'/></disk>\
         </devices></domain>",
    )
    .unwrap();
    let d = e.define(dom, Default::default()).await.unwrap();
    e.start(d.uuid, Default::default()).await.unwrap();
    let err = e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(err.to_string(), "storage pool 'default-pool' cannot stop: its volumes are in use by domain 'user'");
    let in_use = |doing: &str| format!("storage volume 'root.img' cannot {doing}: it is in use by domain 'user'");
    let err = e.delete_volume(v.uuid, Default::default()).await.unwrap_err();
    assert_eq!((err.kind(), err.to_string()), (ErrorKind::InvalidState, in_use("be deleted")));
    let err = e.wipe_volume(v.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.to_string(), in_use("be wiped"));
    let err = e.resize_volume(v.uuid, 65536, ResizeOptions::default().shrink(true)).await.unwrap_err();
    assert_eq!(err.to_string(), in_use("shrink"));
    let err = upload(&e, &v, 0, &[1; 512]).await.unwrap_err();
    assert_eq!(err.to_string(), in_use("be written"));
    // Growing a volume in use is what a guest's disk resize is: allowed.
    let grown = e.resize_volume(v.uuid, 2 * 1048576, ResizeOptions::default()).await.unwrap();
    assert_eq!(grown.capacity, 2 * 1048576);
    assert!(download(&e, &v, 0, 0).await.iter().all(|b| *b == 0), "nothing was written");
    e.power_off(d.uuid, Default::default()).await.unwrap();
    e.delete_volume(v.uuid, Default::default()).await.unwrap();
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
}

#[tokio::test]
async fn volume_events_name_their_pool_in_one_stream_with_every_kind() {
    let e = host().await;
    let from = e.list_objects(ObjectKind::Pool, ListOptions::default()).await.unwrap().revision;
    let mut events = e.watch(WatchOptions::default().from_revision(from)).unwrap();
    let p = default_pool(&e).uuid;
    let v = e
        .create_volume(p, vol("<volume><name>e.img</name><capacity>4096</capacity></volume>"), Default::default())
        .await
        .unwrap();
    upload(&e, &v, 0, &[1; 10]).await.unwrap();
    e.delete_volume(v.uuid, Default::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut last = from;
    while let Some(ev) = events.try_next().unwrap() {
        assert_eq!(ev.revision, last + 1, "no gap");
        last = ev.revision;
        seen.push((ev.object, ev.name.clone(), ev.pool.clone(), ev.kind, ev.detail));
    }
    let pool = Some("default-pool".to_owned());
    assert_eq!(
        seen,
        [
            (ObjectKind::Volume, "e.img".into(), pool.clone(), EventKind::Created, EventDetail::Added),
            (ObjectKind::Volume, "e.img".into(), pool.clone(), EventKind::Changed, EventDetail::Uploaded),
            (ObjectKind::Volume, "e.img".into(), pool, EventKind::Deleted, EventDetail::Removed),
        ]
    );
}

#[tokio::test]
async fn pools_and_their_volumes_outlive_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(virtkit_driver_test::TestStorageDriver::default());
    let domains = Arc::new(virtkit_driver_test::TestDriver::new(Default::default()));
    let mut config = EngineConfig::default();
    config.state_dir = Some(dir.path().to_owned());
    let open = || Engine::open_host(Drivers::new(domains.clone()).with_storage_driver(storage.clone()), config.clone());
    let (uuid, vol_uuid) = {
        let e = open().await.unwrap();
        let d = pool_info(e.define_object(pool(DIR), Default::default()).await.unwrap());
        e.start_object(ObjectKind::Pool, d.uuid, Default::default()).await.unwrap();
        e.set_object_autostart(ObjectKind::Pool, d.uuid, true, Default::default()).await.unwrap();
        let v = e
            .create_volume(
                d.uuid,
                vol("<volume><name>keep</name><capacity>4096</capacity></volume>"),
                Default::default(),
            )
            .await
            .unwrap();
        (d.uuid, v.uuid)
    };
    assert!(dir.path().join(format!("pool/{uuid}.xml")).exists());
    let e = open().await.unwrap();
    assert!(e.load_problems().is_empty(), "{:?}", e.load_problems());
    let p = pool_info(e.lookup_object(ObjectKind::Pool, "images").unwrap());
    assert_eq!((p.uuid, p.state, p.autostart, p.volumes), (uuid, ResourceState::Active, true, 1));
    // The volume is found again with the same UUID.
    assert_eq!(e.lookup_volume(uuid, "keep").unwrap().uuid, vol_uuid);
}
