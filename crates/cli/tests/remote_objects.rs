//! Networks, storage pools and volumes through virtkitd: the same calls
//! answer the same in process and over the daemon's unix socket (the
//! generic object calls, typed handles, upload and download streams,
//! events of every kind), and the read-only socket refuses every change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::fd::{AsRawFd, OwnedFd};

use common::Daemon;
use tokio::sync::mpsc;
use virtkit::{
    BuildOptions, Connection, ErrorKind, ListOptions, NetworkUpdate, NetworkUpdateCommand, NetworkUpdateOptions,
    NetworkUpdateSection, ObjectKind, OpenOptions, StartOptions, TransferOptions, WatchOptions, XmlOptions,
};

const NET: &str = "<network><name>iso</name><uuid>0b7e1a52-3c3e-4b0b-9d0c-4c1b7f3f0a01</uuid><mac address='52:54:00:0a:0b:0c'/>\
    <ip address='10.9.0.1' prefix='24'><dhcp><range start='10.9.0.10' end='10.9.0.20'/></dhcp></ip></network>";
const POOL: &str = "<pool type='dir'><name>images</name><uuid>0b7e1a52-3c3e-4b0b-9d0c-4c1b7f3f0a02</uuid>\
    <target><path>/images</path></target></pool>";

async fn upload(v: &virtkit::StorageVolume, offset: u64, bytes: Vec<u8>) -> virtkit::Result<virtkit::VolumeInfo> {
    let (tx, rx) = mpsc::channel(4);
    let feed = tokio::spawn(async move {
        for c in bytes.chunks(70_000) {
            if tx.send(Ok(c.to_vec())).await.is_err() {
                break;
            }
        }
    });
    let r = v.upload(TransferOptions::default().offset(offset), rx).await;
    feed.await.unwrap();
    r
}

async fn download(v: &virtkit::StorageVolume, offset: u64, length: u64) -> Vec<u8> {
    let (tx, mut rx) = mpsc::channel(4);
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(c) = rx.recv().await {
            all.extend(c);
        }
        all
    });
    let n = v.download(TransferOptions::default().offset(offset).length(length), tx).await.unwrap();
    let all = reader.await.unwrap();
    assert_eq!(n, all.len() as u64);
    all
}

/// Every call once; what each answered, one line each (revisions aside).
async fn transcript(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    let from = conn.list_pools(ListOptions::default()).await.unwrap().revision;
    let mut events = conn.watch(WatchOptions::default().from_revision(from)).await.unwrap();
    let nets = conn.list_networks(ListOptions::default()).await.unwrap();
    out.push(format!("{:?}", nets.items));
    let net = conn.define_network_xml(NET, Default::default()).await.unwrap();
    out.push(format!("{:?}", net.start(Default::default()).await.unwrap()));
    out.push(format!("{:?}", net.set_autostart(true, Default::default()).await.unwrap()));
    out.push(net.xml(Default::default()).await.unwrap());
    let host = "<host mac='52:54:00:0a:0b:01' name='web' ip='10.9.0.5'/>";
    let up = NetworkUpdate::new(NetworkUpdateCommand::AddLast, NetworkUpdateSection::IpDhcpHost, host);
    let both = NetworkUpdateOptions::default().live(true).config(true).expected_generation(1);
    out.push(format!("{:?}", net.update(up.clone(), both.clone()).await.unwrap()));
    let err = net.update(up, both).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    let typo = "<host mac='52:54:00:0a:0b:02' nmae='x' ip='10.9.0.6'/>";
    let err = net
        .update(
            NetworkUpdate::new(NetworkUpdateCommand::AddLast, NetworkUpdateSection::IpDhcpHost, typo),
            Default::default(),
        )
        .await
        .unwrap_err();
    out.push(format!("{:?} {} {:?}", err.kind(), err, err.document_errors().map(|d| d.to_string())));
    out.push(net.xml(XmlOptions::default().inactive(true)).await.unwrap());
    let default = conn.lookup_network("default").await.unwrap();
    // A lease's expiry is the host's start plus an hour: not compared.
    let leases: Vec<_> =
        default.leases(Default::default()).await.unwrap().into_iter().map(|l| (l.ip, l.mac, l.hostname)).collect();
    out.push(format!("{leases:?}"));
    // The running domain's addresses, from those leases.
    let dom = conn.lookup_domain("test").await.unwrap();
    let addrs: Vec<_> = dom
        .interface_addresses(Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.iface, l.ip, l.prefix, l.mac))
        .collect();
    assert!(!addrs.is_empty(), "the test domain has no address");
    out.push(format!("{addrs:?}"));
    let err = dom
        .interface_addresses(virtkit::InterfaceAddressOptions::default().source(virtkit::AddressSource::Arp))
        .await
        .unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    let pool = conn.define_pool_xml(POOL, Default::default()).await.unwrap();
    out.push(format!("{:?}", pool.build(Default::default()).await.unwrap()));
    out.push(format!("{:?}", pool.start(Default::default()).await.unwrap()));
    let vol = pool
        .create_volume_xml("<volume><name>a.img</name><capacity>1048576</capacity></volume>", Default::default())
        .await
        .unwrap();
    out.push(format!("{:?}", vol.info().await.unwrap()));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    out.push(format!("{:?}", upload(&vol, 512, data.clone()).await.unwrap()));
    assert_eq!(download(&vol, 512, data.len() as u64).await, data);
    out.push(format!("{}", download(&vol, 0, 0).await.len()));
    let err = upload(&vol, 1_048_000, vec![1; 1000]).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    // A source that fails midway ends the upload with its error, and the
    // volume keeps none of what came before.
    let (tx, rx) = mpsc::channel(4);
    tx.send(Ok(vec![5; 4096])).await.unwrap();
    tx.send(Err(virtkit::Error::new(virtkit::ErrorKind::Io, "the source broke"))).await.unwrap();
    drop(tx);
    let err = vol.upload(TransferOptions::default(), rx).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    assert_eq!(download(&vol, 512, data.len() as u64).await, data, "a broken upload changed nothing");
    // A pipe is streamed both ways; a regular file is handed over (to a
    // daemon on this host) or read in place.
    let other: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
    let (r, mut w) = std::io::pipe().unwrap();
    let bytes = other.clone();
    let feed = std::thread::spawn(move || std::io::Write::write_all(&mut w, &bytes));
    let at = TransferOptions::default().offset(512);
    out.push(format!("{:?}", vol.upload_from(at.clone(), std::fs::File::from(OwnedFd::from(r))).await.unwrap()));
    feed.join().unwrap().unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut &r, &mut all).map(|_| all)
    });
    let range = at.clone().length(other.len() as u64);
    assert_eq!(vol.download_to(range, std::fs::File::from(OwnedFd::from(w))).await.unwrap(), other.len() as u64);
    assert!(drain.join().unwrap().unwrap() == other, "a pipe downloaded into holds the volume's bytes");
    let file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut &file, &data).unwrap();
    out.push(format!("{:?}", vol.upload_from(at, file).await.unwrap()));
    let file = tempfile::tempfile().unwrap();
    let range = TransferOptions::default().offset(512).length(data.len() as u64);
    assert_eq!(vol.download_to(range, file.try_clone().unwrap()).await.unwrap(), data.len() as u64);
    assert_eq!(std::fs::read(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap(), data);
    let copy = vol.clone_as("b.img", Default::default()).await.unwrap();
    assert_eq!(download(&copy, 512, data.len() as u64).await, data);
    out.push(format!("{:?}", copy.resize(4096, virtkit::ResizeOptions::default().delta(true)).await.unwrap()));
    out.push(format!("{:?}", copy.wipe(Default::default()).await.unwrap()));
    out.push(format!("{:?}", pool.list_volumes(ListOptions::default()).await.unwrap().items));
    out.push(format!("{:?}", conn.find_volume("/images/b.img").await.unwrap().name()));
    out.push(format!("{:?}", pool.lookup_volume("a.img").await.unwrap().uuid()));
    out.push(format!("{:?}", pool.refresh(Default::default()).await.unwrap()));
    let err = conn.undefine_object(ObjectKind::Volume, vol.uuid(), Default::default()).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    out.push(format!("{:?}", vol.delete(Default::default()).await.unwrap()));
    out.push(format!("{:?}", copy.delete(Default::default()).await.unwrap()));
    out.push(format!("{:?}", pool.stop(Default::default()).await.unwrap()));
    out.push(format!("{:?}", pool.delete(Default::default()).await.unwrap()));
    out.push(format!("{:?}", pool.undefine(Default::default()).await.unwrap()));
    out.push(format!("{:?}", net.stop(Default::default()).await.unwrap()));
    out.push(format!("{:?}", net.undefine(Default::default()).await.unwrap()));
    let err = conn.lookup_pool("images").await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    let bad = conn.define_pool_xml("<pool type='dir'><name>x</name><bogus/></pool>", Default::default()).await;
    out.push(format!("{:?}", bad.unwrap_err().kind()));
    // Every change above is one event, in order, with no gap.
    let mut last = events.revision();
    for _ in 0..20 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), events.next()).await.unwrap().unwrap();
        assert_eq!(e.revision, last + 1, "a gap before {e:?}");
        last = e.revision;
        out.push(format!("{} {} {:?} {} {}", e.object, e.name, e.pool, e.kind, e.detail));
    }
    // A document's secret values only when asked for (secure), by the call
    // every kind shares.
    let vnc = conn
        .define_xml(
            "<domain type='test'><name>shown</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>\
             <devices><graphics type='vnc' passwd='sekrit'/></devices></domain>",
            Default::default(),
        )
        .await
        .unwrap();
    let plain = conn.object_xml(ObjectKind::Domain, vnc.uuid(), Default::default()).await.unwrap();
    let secure = conn.object_xml(ObjectKind::Domain, vnc.uuid(), XmlOptions::default().secure(true)).await.unwrap();
    out.push(format!("secret values: {} without secure, {} with", plain.contains("sekrit"), secure.contains("sekrit")));
    vnc.undefine(Default::default()).await.unwrap();
    // Every start option crosses the wire: a domain started paused by the
    // call every kind shares, a pool built at its start, a build refused
    // for a network.
    let dom = conn
        .define_xml(
            "<domain type='test'><name>later</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>",
            Default::default(),
        )
        .await
        .unwrap();
    let paused = StartOptions::default().paused(true);
    conn.start_object(ObjectKind::Domain, dom.uuid(), paused).await.unwrap();
    out.push(format!("{:?}", dom.info(Default::default()).await.unwrap().state));
    let err = dom.start(StartOptions::default().build(BuildOptions::default())).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    dom.power_off(Default::default()).await.unwrap();
    dom.undefine(Default::default()).await.unwrap();
    let pool = conn.define_pool_xml(POOL, Default::default()).await.unwrap();
    out.push(format!("{:?}", pool.start(StartOptions::default().build(BuildOptions::default())).await.unwrap()));
    pool.stop(Default::default()).await.unwrap();
    pool.undefine(Default::default()).await.unwrap();
    let built = StartOptions::default().build(BuildOptions::default());
    let err = conn.start_object(ObjectKind::Network, default.uuid(), built).await.unwrap_err();
    out.push(format!("{:?} {}", err.kind(), err));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_over_the_daemon_answer_as_in_process() {
    let d = Daemon::start(&[]);
    // A private in-process host (test:///default is shared within a process).
    let local = Connection::open("test:///default").await.unwrap();
    let remote = Connection::open(&d.uri("test")).await.unwrap();
    let (l, r) = (transcript(&local).await, transcript(&remote).await);
    for (a, b) in l.iter().zip(&r) {
        assert_eq!(a, b, "\n{}", d.log());
    }
    assert_eq!(l.len(), r.len());
    assert!(l.iter().any(|x| x.contains("volume a.img Some(\"images\") changed uploaded")), "{l:#?}");
    assert!(l.iter().any(|x| x == "network iso None defined updated"), "{l:#?}");
    assert!(l.iter().any(|x| x.starts_with("Conflict network 'iso' is at generation 2, not 1")), "{l:#?}");
    assert!(l.iter().any(|x| x == "Paused"), "{l:#?}");
    assert!(l.iter().any(|x| x == "InvalidArgument only storage pools are built, not domains"), "{l:#?}");
    assert!(l.iter().any(|x| x == "secret values: false without secure, true with"), "{l:#?}");
    assert_eq!(l.last().unwrap(), "InvalidArgument only storage pools are built, not networks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_socket_shows_objects_and_refuses_every_change() {
    let d = Daemon::start(&[]);
    let uri = format!("test+unix:///default?socket={}", d.sock_ro().display());
    let ro = Connection::open_with(&uri, OpenOptions::default().read_only(true)).await.unwrap();
    let rw = Connection::open(&d.uri("test")).await.unwrap();
    let pool = ro.lookup_pool("default-pool").await.unwrap();
    assert_eq!(pool.info().await.unwrap().pool_type, "dir");
    let denied = |r: virtkit::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::PermissionDenied);
    denied(ro.define_pool_xml(POOL, Default::default()).await.map(drop));
    denied(pool.refresh(Default::default()).await.map(drop));
    denied(
        pool.create_volume_xml("<volume><name>x</name><capacity>1</capacity></volume>", Default::default())
            .await
            .map(drop),
    );
    let net = ro.lookup_network("default").await.unwrap();
    denied(net.stop(Default::default()).await.map(drop));
    // The daemon refuses them too, not only the client library.
    let mut raw = common::grpc::client(&d.sock_ro()).await;
    let msg = virtkit_proto::v1::ObjectRequest {
        kind: virtkit_proto::objects::kind_to(ObjectKind::Network),
        uuid: net.uuid().to_string(),
    };
    let s = raw.stop_object(common::grpc::req(msg, "test:///default")).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied);
    // Secret values are refused too, by the library and by the daemon.
    let dom = ro.lookup_domain("test").await.unwrap();
    let secure = XmlOptions::default().secure(true);
    denied(ro.object_xml(ObjectKind::Domain, dom.uuid(), secure).await.map(drop));
    assert!(ro.object_xml(ObjectKind::Domain, dom.uuid(), Default::default()).await.is_ok());
    let msg = virtkit_proto::v1::GetObjectXmlRequest {
        kind: virtkit_proto::objects::kind_to(ObjectKind::Domain),
        uuid: dom.uuid().to_string(),
        inactive: false,
        secure: true,
    };
    let s = raw.get_object_xml(common::grpc::req(msg, "test:///default")).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied);
    let host = "<host mac='52:54:00:0a:0b:01' ip='192.168.122.5'/>";
    let up = NetworkUpdate::new(NetworkUpdateCommand::AddLast, NetworkUpdateSection::IpDhcpHost, host);
    denied(net.update(up.clone(), Default::default()).await.map(drop));
    let msg = virtkit_proto::v1::UpdateNetworkRequest {
        uuid: net.uuid().to_string(),
        update: Some(virtkit_proto::objects::network_update_to(&up)),
        options: None,
    };
    let s = raw.update_network(common::grpc::req(msg, "test:///default")).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied);
    let bad = virtkit_proto::v1::ObjectRequest { kind: 0, uuid: net.uuid().to_string() };
    let s = raw.get_object_info(common::grpc::req(bad, "test:///default")).await.unwrap_err();
    assert_eq!((s.code(), s.message()), (tonic::Code::InvalidArgument, "kind: 0 is not a kind of object"));
    // Nothing changed.
    assert_eq!(rw.lookup_network("default").await.unwrap().info().await.unwrap().state, virtkit::ResourceState::Active);
    assert!(!rw.lookup_network("default").await.unwrap().xml(Default::default()).await.unwrap().contains("<host"));
    assert_eq!(rw.list_pools(ListOptions::default()).await.unwrap().items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_update_a_client_garbled_is_refused_naming_the_field() {
    let d = Daemon::start(&[]);
    let net = Connection::open(&d.uri("test")).await.unwrap().lookup_network("default").await.unwrap();
    let mut raw = common::grpc::client(&d.sock()).await;
    let msg = |update: Option<virtkit_proto::v1::NetworkUpdate>| virtkit_proto::v1::UpdateNetworkRequest {
        uuid: net.uuid().to_string(),
        update,
        options: None,
    };
    let s = raw.update_network(common::grpc::req(msg(None), "test:///default")).await.unwrap_err();
    assert_eq!((s.code(), s.message()), (tonic::Code::InvalidArgument, "update: missing"));
    let up = NetworkUpdate::new(NetworkUpdateCommand::AddLast, NetworkUpdateSection::DnsHost, "<host/>");
    let mut wire = virtkit_proto::objects::network_update_to(&up);
    wire.section = "dns-hots".into();
    let s = raw.update_network(common::grpc::req(msg(Some(wire)), "test:///default")).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::InvalidArgument);
    assert!(s.message().starts_with("section: 'dns-hots' is not one of"), "{}", s.message());
    assert!(!net.xml(Default::default()).await.unwrap().contains("<dns"));
}

/// Every net-, pool- and vol- command once, in one invocation.
const SCRIPT: &str = "net-define {NET}; net-start iso; net-autostart iso; \
    net-update iso add ip-dhcp-host \"<host mac='52:54:00:0a:0b:01' name='web' ip='10.9.0.5'/>\" --live --config; \
    net-update iso add-first dns-host {DNS}; net-update iso add dns-host {DNS} --config; \
    net-update iso delete ip-dhcp-host \"<host mac='52:54:00:0a:0b:01'/>\" --config; net-dumpxml iso --inactive; \
    net-update default add ip-dhcp-host \"<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'><lease expiry='0'/></host>\"; \
    net-dhcp-leases default; \
    net-update default modify ip-dhcp-host \"<host mac='aa:bb:cc:dd:ee:ff' ip='192.168.122.2'><lease expiry='0'/></host>\"; \
    net-dhcp-leases default --json; \
    net-update default delete ip-dhcp-host \"<host mac='aa:bb:cc:dd:ee:ff' ip='192.168.122.2'/>\"; net-dumpxml default; \
    net-list --all; net-list --all --json; \
    net-info iso; net-info iso --json; net-dumpxml iso; net-uuid iso; net-name 0b7e1a52-3c3e-4b0b-9d0c-4c1b7f3f0a01; \
    net-autostart iso --disable; net-destroy iso; \
    net-undefine iso; net-create {NET}; net-stop iso; net-list --inactive; \
    pool-define-as images dir --target /images; pool-build images; pool-start images; pool-autostart images; \
    pool-list --all; pool-list --all --json; pool-info images; pool-info images --json; pool-dumpxml images; \
    pool-uuid images; pool-capabilities; pool-capabilities --json; \
    vol-create-as images a.img 1M --format raw; vol-create images {VOL}; vol-upload a.img {IN} --pool images; \
    vol-download a.img {OUT} --pool images --length 300000; vol-clone a.img b.img --pool images; \
    vol-create-from images {VOL2} a.img --inputpool images; vol-create-as images c.qcow2 10G --allocation 0 \
    --format qcow2 --backing-vol a.img --backing-vol-format raw; vol-list images; vol-list images --json; \
    vol-info a.img --pool images; vol-info a.img --pool images --json; vol-dumpxml c.qcow2 --pool images; \
    vol-key a.img --pool images; vol-path a.img --pool images; vol-pool /images/a.img; \
    vol-resize a.img 2M --pool images; vol-resize a.img 1M --pool images --delta; vol-wipe b.img --pool images; \
    vol-delete b.img --pool images; vol-delete /images/a.img; vol-delete c.qcow2 --pool images; \
    vol-delete d.img --pool images; vol-delete e.img --pool images; pool-refresh images; pool-info images; \
    pool-destroy images; pool-delete images; pool-undefine images; pool-list --all";

#[test]
fn every_object_command_prints_the_same_in_process_and_over_the_daemon() {
    let d = Daemon::start(&[]);
    let dir = d.root();
    let net = dir.join("net.xml");
    std::fs::write(&net, NET).unwrap();
    let vol = dir.join("vol.xml");
    std::fs::write(&vol, "<volume><name>d.img</name><capacity unit='KiB'>64</capacity></volume>").unwrap();
    let vol2 = dir.join("vol2.xml");
    std::fs::write(&vol2, "<volume><name>e.img</name><capacity unit='MiB'>1</capacity></volume>").unwrap();
    let input = dir.join("in.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let out = dir.join("out.bin");
    let dns = dir.join("dns.xml");
    std::fs::write(&dns, "<host ip='10.9.0.7'>\n  <hostname>db</hostname>\n</host>\n").unwrap();
    let script = SCRIPT
        .replace("{DNS}", &dns.display().to_string())
        .replace("{NET}", &net.display().to_string())
        .replace("{VOL2}", &vol2.display().to_string())
        .replace("{VOL}", &vol.display().to_string())
        .replace("{IN}", &input.display().to_string())
        .replace("{OUT}", &out.display().to_string());
    let (code, local, err) = common::run("test:///default", &script);
    assert_eq!(code, 0, "{err}\n{local}");
    assert_eq!(std::fs::read(&out).unwrap(), data, "downloaded in process");
    std::fs::remove_file(&out).unwrap();
    let (code, remote, err) = common::run(&d.uri("test"), &script);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert_eq!(std::fs::read(&out).unwrap(), data, "downloaded through the daemon");
    // pool-define-as makes a new UUID each time (as virsh does); volumes' follow from it.
    let (l, r) =
        (without_uuids(&common::without_revisions(&local)), without_uuids(&common::without_revisions(&remote)));
    for (a, b) in l.lines().zip(r.lines()) {
        assert_eq!(a, b);
    }
    assert_eq!(l, r);
    for expect in [
        "Network iso started",
        "Updated network iso persistent config and live state",
        "Updated network default live state",
        " never         aa:bb:cc:dd:ee:ff   ipv4       192.168.122.50/24   test ",
        "Pool images built",
        "Vol a.img created",
        "Vol b.img cloned from a.img",
    ] {
        assert!(l.contains(expect), "{expect}:\n{l}");
    }
    // Leases (their expiry is each host's start plus an hour).
    for uri in ["test:///default".to_owned(), d.uri("test")] {
        let (code, out, err) = common::run(&uri, "net-dhcp-leases default; net-dhcp-leases default --json");
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("aa:bb:cc:dd:ee:ff   ipv4       192.168.122.2/24   test"), "{out}");
        assert!(out.contains("\"ip\": \"192.168.122.2\""), "{out}");
    }
    // Errors: the same line and exit code both ways.
    for bad in [
        "net-start nosuch",
        "pool-start default-pool",
        "vol-delete /nowhere",
        "vol-create-as default-pool x 1Q",
        "net-update default add ip-dhcp-host \"<host mac='52:54:00:00:00:02' nmae='x' ip='192.168.122.60'/>\"",
        "net-update default add dns-txt \"<txt name='a' value='b'/>\"; net-update default add dns-txt \"<txt name='a' value='c'/>\"",
        "net-update default delete ip-dhcp-host \"<host mac='52:54:00:00:00:03' ip='192.168.122.61'/>\"",
        "net-update default add bridge \"<bridge name='x'/>\" --config",
    ] {
        let (lc, _, le) = common::run("test:///default", bad);
        let (rc, _, re) = common::run(&d.uri("test"), bad);
        assert_ne!(lc, 0, "{bad}");
        assert_eq!((rc, re), (lc, le), "{bad}");
    }
}

/// Every UUID-shaped word as `UUID`.
fn without_uuids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        if i + 36 <= b.len() && s.is_char_boundary(i + 36) && uuid::Uuid::try_parse(&s[i..i + 36]).is_ok() {
            out.push_str("UUID");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// One client's work: a network, a pool with a volume and a domain, each
/// through its whole life. 15 events.
async fn client_work(uri: String, i: usize) {
    let conn = Connection::open(&uri).await.unwrap();
    let net = conn
        .define_network_xml(
            &format!(
                "<network><name>n{i}</name><bridge name='vbr{i}'/><ip address='10.{i}.0.1' prefix='24'/></network>"
            ),
            Default::default(),
        )
        .await
        .unwrap();
    net.start(Default::default()).await.unwrap();
    let pool = conn
        .define_pool_xml(
            &format!("<pool type='dir'><name>p{i}</name><target><path>/p{i}</path></target></pool>"),
            Default::default(),
        )
        .await
        .unwrap();
    pool.start(Default::default()).await.unwrap();
    let v = pool
        .create_volume_xml("<volume><name>v</name><capacity>65536</capacity></volume>", Default::default())
        .await
        .unwrap();
    upload(&v, 0, vec![i as u8; 1000]).await.unwrap();
    v.delete(Default::default()).await.unwrap();
    pool.stop(Default::default()).await.unwrap();
    pool.undefine(Default::default()).await.unwrap();
    net.stop(Default::default()).await.unwrap();
    net.undefine(Default::default()).await.unwrap();
    let d = conn
        .define_xml(
            &format!(
                "<domain type='test'><name>d{i}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
            ),
            Default::default(),
        )
        .await
        .unwrap();
    d.start(Default::default()).await.unwrap();
    d.power_off(Default::default()).await.unwrap();
    d.undefine(Default::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_changing_every_kind_leave_one_stream_without_a_gap() {
    let d = Daemon::start(&[]);
    let watcher = Connection::open(&d.uri("test")).await.unwrap();
    let from = watcher.list_pools(ListOptions::default()).await.unwrap().revision;
    let mut events = watcher.watch(WatchOptions::default().from_revision(from)).await.unwrap();
    let clients: Vec<_> = (0..20).map(|i| tokio::spawn(client_work(d.uri("test"), i))).collect();
    for c in clients {
        c.await.unwrap();
    }
    let mut last = from;
    let mut per_object: std::collections::HashMap<(ObjectKind, String), Vec<String>> = Default::default();
    for _ in 0..300 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await.unwrap().unwrap();
        assert_eq!(e.revision, last + 1, "a gap before {e:?}");
        last = e.revision;
        let name = format!("{}{}", e.pool.clone().map(|p| format!("{p}/")).unwrap_or_default(), e.name);
        per_object.entry((e.object, name)).or_default().push(format!("{} {}", e.kind, e.detail));
    }
    // Nothing more, and each object's events in the order its client made them.
    let more = tokio::time::timeout(std::time::Duration::from_millis(300), events.next()).await;
    assert!(more.is_err(), "an extra event: {more:?}");
    for i in 0..20 {
        let life = |k: ObjectKind, n: String| per_object.get(&(k, n)).cloned().unwrap_or_default();
        assert_eq!(
            life(ObjectKind::Network, format!("n{i}")),
            ["defined added", "started booted", "stopped destroyed", "undefined removed"]
        );
        assert_eq!(
            life(ObjectKind::Pool, format!("p{i}")),
            ["defined added", "started booted", "stopped destroyed", "undefined removed"]
        );
        assert_eq!(
            life(ObjectKind::Volume, format!("p{i}/v")),
            ["created added", "changed uploaded", "deleted removed"]
        );
        assert_eq!(
            life(ObjectKind::Domain, format!("d{i}")),
            ["defined added", "started booted", "stopped destroyed", "undefined removed"]
        );
    }
}

#[test]
fn kill_9_of_the_daemon_loses_no_pool_definition() {
    // qemu:///system keeps its definitions on disk; a pool is defined there
    // even though its directory is not made (start says so).
    let mut d = Daemon::start(&[]);
    let uri = d.uri("qemu");
    let defs: String = (0..10)
        .map(|i| {
            let f = d.root().join(format!("p{i}.xml"));
            std::fs::write(&f, format!("<pool type='dir'><name>p{i}</name><target><path>/p{i}</path></target></pool>"))
                .unwrap();
            format!("pool-define {}; ", f.display())
        })
        .collect();
    let (code, _, err) = common::run(&uri, &format!("{defs}pool-autostart p3; pool-list --all --json"));
    assert_eq!(code, 0, "{err}");
    let (_, before, _) = common::run(&uri, "pool-list --all --json");
    let (code, _, err) = common::run(&uri, "pool-start p1");
    assert_ne!(code, 0);
    assert!(err.contains("/p1 does not exist: build the pool first"), "{err}");
    d.kill9();
    d.spawn();
    let (code, after, err) = common::run(&uri, "pool-list --all --json");
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert_eq!(common::without_revisions(&after), common::without_revisions(&before));
    assert!(after.contains("\"name\": \"p9\""), "{after}");
    let (_, xml, _) = common::run(&uri, "pool-dumpxml p3");
    assert!(xml.contains("<path>/p3</path>"), "{xml}");
}
