//! Networks on the simulated host: their lifecycle through the engine, the
//! checks across networks, ports and leases for domains, one event stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_engine::options::WatchOptions;
use virtkit_engine::types::{DomainState, EventDetail, EventKind, ObjectKind, ResourceState};
use virtkit_engine::{Def, Engine, ErrorKind, Info};
use virtkit_model::network::Network;

fn net(xml: &str) -> Def {
    Def::Network(Box::new(Network::from_xml(xml).unwrap()))
}

fn network_info(i: Info) -> virtkit_engine::types::NetworkInfo {
    match i {
        Info::Network(n) => n,
        other => panic!("not a network: {other:?}"),
    }
}

async fn host() -> Engine {
    virtkit_driver_test::default_engine().await.unwrap()
}

const ISOLATED: &str = "<network><name>iso</name><ip address='10.9.0.1' prefix='24'>\
    <dhcp><range start='10.9.0.10' end='10.9.0.20'/><host mac='52:54:00:00:00:99' ip='10.9.0.99'/></dhcp></ip></network>";

#[tokio::test]
async fn the_default_host_runs_the_default_network_with_the_test_domain_on_it() {
    let e = host().await;
    let n = network_info(e.lookup_object(ObjectKind::Network, "default").unwrap());
    assert_eq!((n.state, n.bridge.as_deref(), n.ports, n.persistent), (ResourceState::Active, Some("virbr0"), 1, true));
    let leases = e.network_leases(n.uuid, Default::default()).await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!((leases[0].ip.to_string(), leases[0].hostname.as_deref()), ("192.168.122.2".into(), Some("test")));
    assert_eq!(leases[0].mac.to_string(), "aa:bb:cc:dd:ee:ff");
    // The running domain's interface names its port.
    let test = e.lookup("test").unwrap();
    let live = e.definition(test.uuid, Default::default()).unwrap();
    assert!(live.devices.interfaces[0].target.as_ref().is_some_and(|t| t.dev.starts_with("vnet")));
}

#[tokio::test]
async fn a_network_lives_defined_started_stopped_undefined_and_every_step_is_an_event() {
    let e = host().await;
    let mut events = e.watch(WatchOptions::default()).unwrap();
    let d = network_info(e.define_object(net(ISOLATED), Default::default()).await.unwrap());
    assert_eq!((d.state, d.generation, d.bridge.as_deref()), (ResourceState::Inactive, 1, Some("virbr1")));
    let s = network_info(e.start_object(ObjectKind::Network, d.uuid, Default::default()).await.unwrap());
    assert_eq!(s.state, ResourceState::Active);
    let err = e.start_object(ObjectKind::Network, d.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    let a = network_info(e.set_object_autostart(ObjectKind::Network, d.uuid, true, Default::default()).await.unwrap());
    assert!(a.autostart);
    let t = network_info(e.stop_object(ObjectKind::Network, d.uuid, Default::default()).await.unwrap());
    assert_eq!(t.state, ResourceState::Inactive);
    let u = network_info(e.undefine_object(ObjectKind::Network, d.uuid, Default::default()).await.unwrap());
    assert!(!u.persistent);
    assert_eq!(e.lookup_object(ObjectKind::Network, "iso").unwrap_err().kind(), ErrorKind::NotFound);
    let mut seen = Vec::new();
    while let Some(ev) = events.try_next().unwrap() {
        assert_eq!((ev.object, ev.name.as_str()), (ObjectKind::Network, "iso"));
        seen.push((ev.kind, ev.detail, ev.state.word()));
    }
    assert_eq!(
        seen,
        [
            (EventKind::Defined, EventDetail::Added, "inactive"),
            (EventKind::Started, EventDetail::Booted, "active"),
            (EventKind::Changed, EventDetail::Autostart, "active"),
            (EventKind::Stopped, EventDetail::Destroyed, "inactive"),
            (EventKind::Undefined, EventDetail::Removed, "inactive"),
        ]
    );
}

#[tokio::test]
async fn clashing_networks_are_refused_naming_the_clash_and_nothing_changes() {
    let e = host().await;
    let rev = e.revision();
    let overlap = "<network><name>o</name><ip address='192.168.122.129' netmask='255.255.255.128'/></network>";
    let err = e.define_object(net(overlap), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.to_string(), "subnet 192.168.122.128/25 overlaps 192.168.122.0/24 of network 'default'");
    let bridge = "<network><name>b</name><bridge name='virbr0'/></network>";
    let err = e.define_object(net(bridge), Default::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "bridge 'virbr0' is already used by network 'default'");
    assert_eq!(e.revision(), rev);
    assert_eq!(e.list_objects(ObjectKind::Network, Default::default()).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn domains_get_leases_and_a_stopped_network_leaves_their_ports_detached() {
    let e = host().await;
    let n = network_info(e.define_object(net(ISOLATED), Default::default()).await.unwrap());
    let xml = |name: &str, mac: &str| {
        format!(
            "<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os>\
             <devices><interface type='network'><mac address='{mac}'/><source network='iso'/></interface></devices></domain>"
        )
    };
    let a = e
        .define(virtkit_model::domain::Domain::from_xml(&xml("a", "52:54:00:00:00:01")).unwrap(), Default::default())
        .await
        .unwrap();
    // The network is not active: the domain does not start, and nothing changed.
    let err = e.start(a.uuid, Default::default()).await.unwrap_err();
    assert_eq!((err.kind(), err.to_string().as_str()), (ErrorKind::InvalidState, "network 'iso' is not active"));
    assert_eq!(e.lookup("a").unwrap().state, DomainState::Shutoff);
    e.start_object(ObjectKind::Network, n.uuid, Default::default()).await.unwrap();
    e.start(a.uuid, Default::default()).await.unwrap();
    let b = e
        .define(virtkit_model::domain::Domain::from_xml(&xml("b", "52:54:00:00:00:99")).unwrap(), Default::default())
        .await
        .unwrap();
    e.start(b.uuid, Default::default()).await.unwrap();
    let leases = e.network_leases(n.uuid, Default::default()).await.unwrap();
    let got: Vec<(String, Option<&str>)> = leases.iter().map(|l| (l.ip.to_string(), l.hostname.as_deref())).collect();
    assert_eq!(got, [("10.9.0.10".to_owned(), Some("a")), ("10.9.0.99".to_owned(), Some("b"))]);
    assert_eq!(network_info(e.lookup_object(ObjectKind::Network, "iso").unwrap()).ports, 2);
    // A stopped domain gives its port and lease back.
    e.power_off(b.uuid, Default::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(e.network_leases(n.uuid, Default::default()).await.unwrap().len(), 1);
    assert_eq!(network_info(e.lookup_object(ObjectKind::Network, "iso").unwrap()).ports, 1);
    // Stopping the network with a guest on it: allowed, and the event says so.
    let mut events = e.watch(WatchOptions::default()).unwrap();
    e.stop_object(ObjectKind::Network, n.uuid, Default::default()).await.unwrap();
    let ev = events.next().await.unwrap();
    assert_eq!((ev.kind, ev.detail), (EventKind::Stopped, EventDetail::PortsDetached));
    assert_eq!(e.lookup("a").unwrap().state, DomainState::Running);
}

#[tokio::test]
async fn a_transient_network_is_gone_once_stopped() {
    let e = host().await;
    let c = network_info(e.create_object(net(ISOLATED), Default::default()).await.unwrap());
    assert_eq!((c.state, c.persistent), (ResourceState::Active, false));
    let err = e.set_object_autostart(ObjectKind::Network, c.uuid, true, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    e.stop_object(ObjectKind::Network, c.uuid, Default::default()).await.unwrap();
    assert_eq!(e.lookup_object(ObjectKind::Network, "iso").unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn lists_filter_and_show_the_revision() {
    let e = host().await;
    e.define_object(net(ISOLATED), Default::default()).await.unwrap();
    let all = e.list_objects(ObjectKind::Network, Default::default()).await.unwrap();
    assert_eq!(all.items.iter().map(Info::name).collect::<Vec<_>>(), ["default", "iso"]);
    assert_eq!(all.revision, e.revision());
    let active = e
        .list_objects(ObjectKind::Network, virtkit_engine::options::ListOptions::default().active(true))
        .await
        .unwrap();
    assert_eq!(active.items.iter().map(Info::name).collect::<Vec<_>>(), ["default"]);
    let err = e
        .list_objects(ObjectKind::Network, virtkit_engine::options::ListOptions::default().stats(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn networks_are_stored_and_an_active_one_is_taken_over_by_the_next_engine() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let open = || async {
        let drivers = virtkit_engine::Drivers::new(Arc::new(virtkit_driver_test::TestDriver::default()))
            .with_network_driver(Arc::new(virtkit_driver_test::TestNetworkDriver::default()));
        let mut config = virtkit_engine::EngineConfig::default();
        config.state_dir = Some(dir.path().to_owned());
        Engine::open_host(drivers, config).await.unwrap()
    };
    let uuid = {
        let e = open().await;
        let n = e.define_object(net(ISOLATED), Default::default()).await.unwrap().uuid();
        e.start_object(ObjectKind::Network, n, Default::default()).await.unwrap();
        e.set_object_autostart(ObjectKind::Network, n, true, Default::default()).await.unwrap();
        n
    };
    assert!(dir.path().join(format!("network/{uuid}.xml")).is_file());
    assert!(dir.path().join(format!("run/network/{uuid}.json")).is_file());
    let e = open().await;
    assert!(e.load_problems().is_empty(), "{:?}", e.load_problems());
    let n = network_info(e.lookup_object(ObjectKind::Network, "iso").unwrap());
    assert_eq!((n.state, n.autostart, n.generation), (ResourceState::Active, true, 1));
    e.stop_object(ObjectKind::Network, uuid, Default::default()).await.unwrap();
    assert!(!dir.path().join(format!("run/network/{uuid}.json")).exists());
}
