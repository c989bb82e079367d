//! `<disk type='volume'>` on the simulated host: the engine resolves the
//! volume through the storage driver at start, and the pool cannot stop
//! while a running domain uses it (the error names the domain).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit::{Connection, ObjectKind};

const VOLUME: &str = "<volume><name>web.img</name><capacity unit='MiB'>1</capacity></volume>";

fn domain(pool: &str) -> String {
    format!(
        "<domain type='test'><name>uses-{pool}</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><disk type='volume' device='disk'><source pool='{pool}' volume='web.img'/>
  <target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
}

#[tokio::test]
async fn a_running_domain_holds_the_pool_of_its_volume_disk() {
    let c = Connection::open("test:///default").await.unwrap();
    let pool = c.lookup_pool("default-pool").await.unwrap();
    pool.create_volume_xml(VOLUME, Default::default()).await.unwrap();

    let missing = c.define_xml(&domain("no-such-pool"), Default::default()).await.unwrap();
    let err = missing.start(Default::default()).await.unwrap_err();
    assert!(err.to_string().contains("disk vda: storage pool 'no-such-pool' does not exist"), "{err}");

    let d = c.define_xml(&domain("default-pool"), Default::default()).await.unwrap();
    d.start(Default::default()).await.unwrap();
    let err = c.stop_object(ObjectKind::Pool, pool.uuid(), Default::default()).await.unwrap_err();
    assert!(err.to_string().contains("in use by domain 'uses-default-pool'"), "{err}");
}
