//! `net-update` through the engine on the simulated host: live and stored
//! changes as libvirt's flags choose them, one revision and one event each,
//! a new static DHCP host taking effect on the running network, refusals
//! that change nothing, and failures undone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;
use virtkit_engine::network_driver::{ActiveNet, NetworkActive, NetworkDriver, PortRef, PortRequest};
use virtkit_engine::options::{NetworkUpdateOptions, WatchOptions, XmlOptions};
use virtkit_engine::seams::Port;
use virtkit_engine::types::{EventDetail, EventKind, Lease, ObjectKind};
use virtkit_engine::{Def, Drivers, Engine, EngineConfig, Error, ErrorKind, Info, ObjRef, Result};
use virtkit_model::network::{
    Network, NetworkUpdate, NetworkUpdateCommand as C, NetworkUpdateSection as S, NetworkUpdated,
};

/// The `default` network's UUID on the simulated host.
fn default_uuid(e: &Engine) -> Uuid {
    e.lookup_object(ObjectKind::Network, "default").unwrap().uuid()
}

fn xml(e: &Engine, uuid: Uuid, inactive: bool) -> String {
    e.object_xml(ObjectKind::Network, uuid, XmlOptions::default().inactive(inactive)).unwrap()
}

async fn generation(e: &Engine, uuid: Uuid) -> u64 {
    match e.object_info(ObjectKind::Network, uuid, Default::default()).await.unwrap() {
        Info::Network(n) => n.generation,
        other => panic!("not a network: {other:?}"),
    }
}

const TEST_HOST: &str = "<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>";

fn add_host(xml: &str) -> NetworkUpdate {
    NetworkUpdate::new(C::AddLast, S::IpDhcpHost, xml)
}

/// The events since `from`: (kind, detail, revision).
fn events_since(e: &Engine, from: u64) -> Vec<(EventKind, EventDetail, u64)> {
    let mut w = e.watch(WatchOptions::default().from_revision(from)).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = w.try_next().unwrap() {
        assert_eq!((ev.object, ev.name.as_str()), (ObjectKind::Network, "default"));
        out.push((ev.kind, ev.detail, ev.revision));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_dhcp_host_gives_the_running_guest_its_static_address_and_is_one_event() {
    let e = virtkit_driver_test::default_engine().await.unwrap();
    let uuid = default_uuid(&e);
    let (rev, stored, gen0) = (e.revision(), xml(&e, uuid, true), generation(&e, uuid).await);
    let leases = e.network_leases(uuid, Default::default()).await.unwrap();
    assert_eq!(leases[0].ip.to_string(), "192.168.122.2");
    // Active: "current" is the running network.
    let i = e.update_network(uuid, add_host(TEST_HOST), Default::default()).await.unwrap();
    assert_eq!(i.generation, gen0, "the stored definition did not change");
    assert!(xml(&e, uuid, false).contains(TEST_HOST), "{}", xml(&e, uuid, false));
    assert_eq!(xml(&e, uuid, true), stored);
    let leases = e.network_leases(uuid, Default::default()).await.unwrap();
    let got: Vec<(String, String)> = leases.iter().map(|l| (l.mac.to_string(), l.ip.to_string())).collect();
    assert_eq!(got, [("aa:bb:cc:dd:ee:ff".to_owned(), "192.168.122.50".to_owned())]);
    assert_eq!(events_since(&e, rev), [(EventKind::Changed, EventDetail::Updated, rev + 1)]);
    // A domain started from now on with a listed MAC gets its host's address too.
    let other = "<host mac='52:54:00:00:00:07' ip='192.168.122.77'/>";
    e.update_network(uuid, add_host(other), NetworkUpdateOptions::default().live(true)).await.unwrap();
    let dom = virtkit_model::domain::Domain::from_xml(
        "<domain type='test'><name>b</name><memory>65536</memory><os><type>hvm</type></os><devices>\
         <interface type='network'><mac address='52:54:00:00:00:07'/><source network='default'/></interface>\
         </devices></domain>",
    )
    .unwrap();
    let b = e.create(dom, Default::default()).await.unwrap();
    let l = e.network_leases(uuid, Default::default()).await.unwrap();
    assert!(l.iter().any(|l| l.ip.to_string() == "192.168.122.77" && l.hostname.as_deref() == Some("b")), "{l:?}");
    e.power_off(b.uuid, Default::default()).await.unwrap();
    // Deleting it again: the running definition is as it was.
    e.update_network(uuid, NetworkUpdate::new(C::Delete, S::IpDhcpHost, other), Default::default()).await.unwrap();
    e.update_network(uuid, NetworkUpdate::new(C::Delete, S::IpDhcpHost, TEST_HOST), Default::default()).await.unwrap();
    assert!(!xml(&e, uuid, false).contains("<host "), "{}", xml(&e, uuid, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_the_stored_definition_and_both_change_both_in_one_event() {
    let e = virtkit_driver_test::default_engine().await.unwrap();
    let uuid = default_uuid(&e);
    let (rev, live, gen0) = (e.revision(), xml(&e, uuid, false), generation(&e, uuid).await);
    let dns = "<host ip='192.168.122.9'><hostname>db</hostname></host>";
    let up = NetworkUpdate::new(C::AddFirst, S::DnsHost, dns);
    let i = e.update_network(uuid, up, NetworkUpdateOptions::default().config(true)).await.unwrap();
    assert_eq!(i.generation, gen0 + 1);
    assert!(xml(&e, uuid, true).contains("<hostname>db</hostname>"));
    assert_eq!(xml(&e, uuid, false), live, "the running network did not change");
    let opts = NetworkUpdateOptions::default().live(true).config(true).expected_generation(gen0 + 1);
    let txt = NetworkUpdate::new(C::AddLast, S::DnsTxt, "<txt name='example' value='v=1'/>");
    let i = e.update_network(uuid, txt, opts).await.unwrap();
    assert_eq!(i.generation, gen0 + 2);
    assert!(xml(&e, uuid, true).contains("<txt name='example' value='v=1'/>"));
    assert!(xml(&e, uuid, false).contains("<txt name='example' value='v=1'/>"));
    assert_eq!(
        events_since(&e, rev),
        [(EventKind::Defined, EventDetail::Updated, rev + 1), (EventKind::Defined, EventDetail::Updated, rev + 2)]
    );
}

/// What must not change when an update is refused.
async fn snapshot(e: &Engine, uuid: Uuid) -> (u64, String, String, u64) {
    (e.revision(), xml(e, uuid, false), xml(e, uuid, true), generation(e, uuid).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_problem_and_change_nothing() {
    let e = virtkit_driver_test::default_engine().await.unwrap();
    let uuid = default_uuid(&e);
    let inactive = e
        .define_object(
            Def::Network(Box::new(
                Network::from_xml("<network><name>off</name><ip address='10.8.0.1' prefix='24'/></network>").unwrap(),
            )),
            Default::default(),
        )
        .await
        .unwrap()
        .uuid();
    let host = "<host mac='52:54:00:00:00:01' ip='10.8.0.5'/>";
    let before = snapshot(&e, inactive).await;
    let err = e.update_network(inactive, add_host(host), NetworkUpdateOptions::default().live(true)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(err.to_string(), "network 'off' is not active: it has no live definition to update");
    assert_eq!(snapshot(&e, inactive).await, before);
    // Inactive: "current" is the stored definition.
    e.update_network(inactive, add_host(host), Default::default()).await.unwrap();
    assert!(xml(&e, inactive, true).contains(host));

    let before = snapshot(&e, uuid).await;
    e.update_network(uuid, add_host(TEST_HOST), Default::default()).await.unwrap();
    let before_dup = snapshot(&e, uuid).await;
    assert_ne!(before_dup, before);
    let cases: Vec<(NetworkUpdate, NetworkUpdateOptions, ErrorKind, &str)> = vec![
        (
            add_host(TEST_HOST),
            Default::default(),
            ErrorKind::AlreadyExists,
            "network 'default' already has a dhcp host with this mac: \
             <host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>",
        ),
        (
            add_host("<host mac='52:54:00:00:00:02' nmae='x' ip='192.168.122.60'/>"),
            Default::default(),
            ErrorKind::InvalidDocument,
            "invalid <host> for network 'default': 1:31: /host/@nmae: unknown attribute 'nmae' on <host> (did you mean 'name'?)",
        ),
        (
            add_host("<range start='192.168.122.2' end='192.168.122.9'/>"),
            Default::default(),
            ErrorKind::InvalidArgument,
            "unexpected element <range>, expecting <host>, while updating network 'default'",
        ),
        (
            NetworkUpdate::new(C::AddLast, S::Bridge, "<bridge name='x'/>"),
            Default::default(),
            ErrorKind::Unsupported,
            "can't update 'bridge' section of network 'default'",
        ),
        (
            NetworkUpdate::new(C::Delete, S::IpDhcpHost, "<host mac='52:54:00:00:00:03' ip='192.168.122.61'/>"),
            Default::default(),
            ErrorKind::NotFound,
            "",
        ),
        (
            add_host("<host mac='52:54:00:00:00:04' ip='192.168.122.62'/>"),
            NetworkUpdateOptions::default().expected_generation(99),
            ErrorKind::Conflict,
            "network 'default' is at generation 1, not 99",
        ),
    ];
    for (up, opts, kind, msg) in cases {
        let what = format!("{up:?}");
        let err = e.update_network(uuid, up, opts).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{what}: {err}");
        if !msg.is_empty() {
            assert_eq!(err.to_string(), msg, "{what}");
        }
        assert_eq!(snapshot(&e, uuid).await, before_dup, "{what} changed something");
    }
    let err = e
        .update_network(
            uuid,
            add_host("<host mac='52:54:00:00:00:02' nmae='x' ip='192.168.122.60'/>"),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.document_errors().map(|d| d.len()), Some(1));
    // A transient network has no stored definition to change.
    let t = e
        .create_object(
            Def::Network(Box::new(
                Network::from_xml("<network><name>t</name><ip address='10.7.0.1' prefix='24'/></network>").unwrap(),
            )),
            Default::default(),
        )
        .await
        .unwrap()
        .uuid();
    let before = snapshot(&e, t).await;
    let err = e
        .update_network(
            t,
            add_host("<host mac='52:54:00:00:00:01' ip='10.7.0.5'/>"),
            NetworkUpdateOptions::default().config(true),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        (ErrorKind::InvalidState, "network 't' is transient: it has no stored definition to update")
    );
    assert_eq!(snapshot(&e, t).await, before);
}

/// The simulated network driver, whose live updates fail on demand.
#[derive(Default)]
struct Flaky {
    inner: virtkit_driver_test::TestNetworkDriver,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl NetworkDriver for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn prepare(&self, def: &mut Network, others: &[Arc<Network>]) -> Result<()> {
        self.inner.prepare(def, others)
    }
    async fn start(&self, net: &ObjRef, def: Arc<Network>) -> Result<NetworkActive> {
        self.inner.start(net, def).await
    }
    async fn stop(&self, active: ActiveNet<'_>) -> Result<()> {
        self.inner.stop(active).await
    }
    async fn reconnect(&self, net: &ObjRef, live: Arc<Network>, data: serde_json::Value) -> Result<NetworkActive> {
        self.inner.reconnect(net, live, data).await
    }
    async fn update(&self, active: ActiveNet<'_>, change: &NetworkUpdated) -> Result<serde_json::Value> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Driver, "dnsmasq did not restart"));
        }
        self.inner.update(active, change).await
    }
    async fn leases(&self, active: ActiveNet<'_>) -> Result<Vec<Lease>> {
        self.inner.leases(active).await
    }
    async fn open_port(&self, active: Option<ActiveNet<'_>>, bridge: &str, req: &PortRequest) -> Result<Port> {
        self.inner.open_port(active, bridge, req).await
    }
    async fn close_port(&self, port: &PortRef) -> Result<()> {
        self.inner.close_port(port).await
    }
}

async fn stored_host(dir: &std::path::Path, driver: Arc<Flaky>) -> Engine {
    let drivers = Drivers::new(Arc::new(virtkit_driver_test::TestDriver::default())).with_network_driver(driver);
    let mut config = EngineConfig::default();
    config.state_dir = Some(dir.to_owned());
    Engine::open_host(drivers, config).await.unwrap()
}

const LAN: &str = "<network><name>lan</name><uuid>5d2c1ab3-0b4e-4a51-9d0f-1f6e7a8b9c0d</uuid>\
    <ip address='10.6.0.1' prefix='24'><dhcp><range start='10.6.0.10' end='10.6.0.20'/></dhcp></ip></network>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_live_change_undoes_the_stored_one_and_changes_survive_a_new_engine() {
    let dir = tempfile::tempdir().unwrap();
    let driver = Arc::new(Flaky::default());
    let e = stored_host(dir.path(), driver.clone()).await;
    let uuid = e
        .define_object(Def::Network(Box::new(Network::from_xml(LAN).unwrap())), Default::default())
        .await
        .unwrap()
        .uuid();
    e.start_object(ObjectKind::Network, uuid, Default::default()).await.unwrap();
    let file = dir.path().join(format!("network/{uuid}.xml"));
    let run = dir.path().join(format!("run/network/{uuid}.json"));
    let (on_disk, run_before, before) =
        (std::fs::read_to_string(&file).unwrap(), std::fs::read_to_string(&run).unwrap(), snapshot(&e, uuid).await);
    driver.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let both = NetworkUpdateOptions::default().live(true).config(true);
    let host = "<host mac='52:54:00:00:00:01' ip='10.6.0.5'/>";
    let err = e.update_network(uuid, add_host(host), both.clone()).await.unwrap_err();
    assert_eq!((err.kind(), err.to_string().as_str()), (ErrorKind::Driver, "dnsmasq did not restart"));
    assert_eq!(snapshot(&e, uuid).await, before);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), on_disk, "the stored definition was put back");
    assert_eq!(std::fs::read_to_string(&run).unwrap(), run_before);
    driver.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    e.update_network(uuid, add_host(host), both).await.unwrap();
    drop(e);
    // A new engine finds both changes: the stored one, and the running network's.
    let e = stored_host(dir.path(), Arc::new(Flaky::default())).await;
    assert!(e.load_problems().is_empty(), "{:?}", e.load_problems());
    assert!(xml(&e, uuid, true).contains(host), "{}", xml(&e, uuid, true));
    assert!(xml(&e, uuid, false).contains(host), "{}", xml(&e, uuid, false));
    assert_eq!(generation(&e, uuid).await, 2);
}
