//! Bad `<interface>` elements: each problem refused with the place (line,
//! column, path) and why, every one of a document in one run; and what
//! libvirt accepts (any NIC model name, every interface type)
//! read and written back whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_model::TextPos;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{InterfaceSource, Teaming};

fn doc(interfaces: &str) -> String {
    format!(
        "<domain type='kvm'>
  <name>nic</name>
  <memory unit='MiB'>512</memory>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
{interfaces}
  </devices>
</domain>
"
    )
}

/// Every problem: (line, path, message).
fn problems(interfaces: &str) -> Vec<(u32, String, String)> {
    let errs = Domain::from_xml(&doc(interfaces)).expect_err("document must be refused");
    errs.iter()
        .map(|e| {
            let TextPos { line, .. } = e.pos.expect("error has a position");
            (line, e.path.clone(), e.kind.to_string())
        })
        .collect()
}

fn one(line: u32, path: &str, msg: &str) -> Vec<(u32, String, String)> {
    vec![(line, path.to_owned(), msg.to_owned())]
}

fn round_trips(interfaces: &str) -> Domain {
    let d = Domain::from_xml(&doc(interfaces)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Domain::from_xml(&d.to_xml()).unwrap(), d, "XML");
    assert_eq!(Domain::from_json(&d.to_json()).unwrap(), d, "JSON");
    d
}

#[test]
fn queues_on_a_non_virtio_model_are_refused() {
    let got = problems(
        "    <interface type='user'>
      <model type='e1000'/>
      <driver queues='4' txmode='timer'>
        <host csum='off'/>
      </driver>
    </interface>",
    );
    let msg = |o: &str| format!("{o} is an option of virtio network cards, and this one has model 'e1000'");
    assert_eq!(
        got,
        vec![
            (10, "/domain/devices/interface/driver/@queues".into(), msg("queues")),
            (10, "/domain/devices/interface/driver/@txmode".into(), msg("txmode")),
            (11, "/domain/devices/interface/driver/host".into(), msg("host")),
        ]
    );
}

#[test]
fn vlan_tags_out_of_range_are_refused() {
    let got = problems(
        "    <interface type='ethernet'>
      <vlan trunk='yes'>
        <tag id='42'/>
        <tag id='4096'/>
      </vlan>
    </interface>",
    );
    assert_eq!(got, one(11, "/domain/devices/interface/vlan/tag[2]/@id", "4096 is out of range (at most 4095)"));
}

#[test]
fn nic_models_are_the_hypervisors_words() {
    for model in ["virtio", "e1000e", "igb", "ne2k_isa", "virtio-net-pci", "my-own_nic2"] {
        let d = round_trips(&format!("    <interface type='user'><model type='{model}'/></interface>"));
        assert_eq!(d.devices.interfaces[0].model.as_ref().unwrap().as_str(), model);
    }
    assert_eq!(
        problems("    <interface type='user'>\n      <model type='e1000 e'/>\n    </interface>"),
        one(
            9,
            "/domain/devices/interface/model/@type",
            "'e1000 e' is not a NIC model name (letters, digits, '-' and '_')"
        )
    );
}

#[test]
fn ring_sizes_are_powers_of_two_and_hash_reports_need_rss() {
    let got = problems(
        "    <interface type='user'>
      <model type='virtio'/>
      <driver rx_queue_size='500' queues='0' rss_hash_report='on'/>
    </interface>",
    );
    assert_eq!(
        got,
        vec![
            (10, "/domain/devices/interface/driver/@rx_queue_size".into(), "500 is not a power of two".into()),
            (10, "/domain/devices/interface/driver/@queues".into(), "must be at least 1".into()),
            (
                10,
                "/domain/devices/interface/driver/@rss_hash_report".into(),
                "reporting the hash needs rss='on'".into()
            ),
        ]
    );
}

#[test]
fn ports_teams_and_floors_are_checked_against_the_type() {
    let got = problems(
        "    <interface type='direct'>
      <source dev='eth0' mode='bridge'/>
      <virtualport type='openvswitch'/>
      <bandwidth>
        <inbound average='100' floor='50'/>
      </bandwidth>
      <model type='virtio'/>
      <teaming type='transient' persistent='ua-none'/>
    </interface>",
    );
    let p = "/domain/devices/interface";
    assert_eq!(
        got,
        vec![
            (
                10,
                format!("{p}/virtualport/@type"),
                "a direct interface's port is 802.1Qbg or 802.1Qbh, not 'openvswitch'".into()
            ),
            (
                12,
                format!("{p}/bandwidth/inbound/@floor"),
                "a floor is guaranteed by a virtual network: type='network' only".into()
            ),
            (
                15,
                format!("{p}/teaming"),
                "the transient device of a team is a host device (type 'hostdev', or a network of them)".into()
            ),
            (
                15,
                format!("{p}/teaming/@persistent"),
                "no interface with alias 'ua-none' is a team's persistent device".into()
            ),
        ]
    );
}

#[test]
fn a_server_socket_does_not_reconnect() {
    let got = problems(
        "    <interface type='vhostuser'>
      <source type='unix' path='/run/vhost.sock' mode='server'>
        <reconnect enabled='yes' timeout='5'/>
      </source>
      <model type='e1000'/>
    </interface>",
    );
    assert_eq!(
        got,
        vec![
            (
                10,
                "/domain/devices/interface/source/reconnect".into(),
                "only a vhost-user socket in mode 'client' reconnects".into()
            ),
            (
                12,
                "/domain/devices/interface/model/@type".into(),
                "a vhostuser interface is a virtio network card, not model 'e1000'".into()
            ),
        ]
    );
}

#[test]
fn hostdev_interfaces_are_host_pci_devices() {
    let d = round_trips(
        "    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>
      </source>
      <vlan>
        <tag id='42'/>
      </vlan>
      <virtualport type='802.1Qbg'>
        <parameters managerid='11' typeid='1193047' typeidversion='2'/>
      </virtualport>
      <boot order='1'/>
      <rom bar='off'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </interface>",
    );
    let InterfaceSource::Hostdev { address, managed } = &d.devices.interfaces[0].source else {
        panic!("{:?}", d.devices.interfaces[0].source)
    };
    assert_eq!((address.bus, address.slot, address.function, *managed), (Some(6), Some(0x12), Some(5), Some(true)));
    assert!(
        d.to_xml().contains("<interface type=\"hostdev\" managed=\"yes\">")
            || d.to_xml().contains("<interface type='hostdev' managed='yes'>")
    );

    let nic = |inner: &str| format!("    <interface type='hostdev'>\n{inner}\n    </interface>");
    let src = "      <source>\n        <address type='pci' domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>\n      </source>";
    let p = "/domain/devices/interface";
    assert_eq!(
        problems(&nic("      <source>\n        <address type='usb' bus='1' device='2'/>\n      </source>")),
        one(10, &format!("{p}/source/address/@type"), "'usb' is not one of pci")
    );
    assert_eq!(
        problems(&nic("      <source>\n        <address type='pci' bus='0x06' function='0x5'/>\n      </source>")),
        one(10, &format!("{p}/source/address"), "a host PCI device needs its slot")
    );
    assert_eq!(
        problems(&nic(&format!("      <driver name='vhost'/>\n{src}"))),
        one(9, &format!("{p}/driver/@name"), "a hostdev interface has no 'vhost' backend")
    );
    assert_eq!(
        problems(&nic(&format!("{src}\n      <virtualport type='openvswitch'/>"))),
        one(
            12,
            &format!("{p}/virtualport/@type"),
            "a hostdev interface's port is 802.1Qbg or 802.1Qbh, not 'openvswitch'"
        )
    );
    let twice = format!(
        "{}\n    <hostdev mode='subsystem' type='pci'>\n      <source>\n        <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>\n      </source>\n    </hostdev>",
        nic(src)
    );
    assert_eq!(
        problems(&twice),
        one(
            13,
            "/domain/devices/hostdev",
            "host PCI device 0000:06:12.5 is already given to the guest by /domain/devices/interface"
        )
    );
    let got = problems("    <interface type='hostdevv'/>");
    assert!(got[0].2.contains("'hostdevv' is not one of network, bridge, user"), "{}", got[0].2);
}

#[test]
fn every_type_and_part_round_trips() {
    let d = round_trips(
        "    <interface type='network' trustGuestRxFilters='yes'>
      <mac address='52:54:00:01:02:03' type='static' check='no'/>
      <source network='default' portgroup='eng' portid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      <vlan><tag id='7'/></vlan>
      <virtualport type='802.1Qbg'><parameters managerid='11' typeid='1193047' typeidversion='2' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport>
      <bandwidth><inbound average='1000' peak='5000' floor='200' burst='1024'/><outbound average='128'/></bandwidth>
      <port isolated='yes'/>
      <model type='virtio'/>
      <driver name='vhost' txmode='iothread' ioeventfd='on' event_idx='off' queues='4' rx_queue_size='512' tx_queue_size='256' rss='on' rss_hash_report='on' iommu='on' ats='on' packed='on' page_per_vq='on'>
        <host csum='off' gso='off' tso4='off' tso6='off' ecn='off' ufo='off' mrg_rxbuf='off'/>
        <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
      </driver>
      <filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref>
      <tune><sndbuf>1600</sndbuf></tune>
      <teaming type='persistent'/>
      <link state='down'/>
      <mtu size='9000'/>
      <coalesce><rx><frames max='7'/></rx></coalesce>
      <alias name='ua-team0'/>
      <acpi index='4'/>
      <rom bar='off' file='/usr/share/ipxe/virtio.rom'/>
    </interface>
    <interface type='network'>
      <source network='hostdevs'/>
      <teaming type='transient' persistent='ua-team0'/>
    </interface>
    <interface type='direct'><source dev='eth0' mode='passthrough'/><virtualport type='802.1Qbh'><parameters profileid='finance'/></virtualport></interface>
    <interface type='bridge'><source bridge='br0'/><virtualport type='midonet'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport></interface>
    <interface type='ethernet'>
      <source><ip address='192.168.125.1' family='ipv4' prefix='24' peer='192.168.125.2'/><route family='ipv4' address='10.20.0.0' prefix='16' gateway='192.168.125.2'/></source>
      <script path='/etc/qemu-ifup'/><downscript path='/etc/qemu-ifdown'/>
      <target dev='tap7' managed='no'/>
      <backend tap='/dev/net/tun' vhost='/dev/vhost-net'/>
    </interface>
    <interface type='user'><ip address='172.17.2.0' family='ipv4' prefix='24'/><backend type='passt' logFile='/var/log/passt.log'/><portForward proto='tcp' address='127.0.0.1'><range start='2022' to='22'/><range start='8000' end='8080'/></portForward></interface>
    <interface type='vhostuser'><source type='unix' path='/run/vhost.sock' mode='client'><reconnect enabled='yes' timeout='10'/></source><model type='virtio'/></interface>
    <interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/><model type='virtio'/><driver queues='2'/></interface>
    <interface type='server'><source port='5558'/></interface>
    <interface type='client'><source address='192.168.0.1' port='5558'/></interface>
    <interface type='mcast'><source address='230.0.0.1' port='5558'/></interface>
    <interface type='udp'><source address='192.168.10.1' port='5555'><local address='192.168.10.1' port='5556'/></source></interface>
    <interface type='internal'><source name='intnet'/></interface>
    <interface type='null'/>
    <interface type='vds'><source switchid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' portid='6' portgroupid='dvportgroup-8' connectionid='1034'/></interface>",
    );
    let nics = &d.devices.interfaces;
    assert_eq!(nics.len(), 15);
    assert_eq!(nics[0].teaming, Some(Teaming::Persistent));
    assert_eq!(nics[0].driver.as_ref().unwrap().queues, Some(4));
    assert!(
        matches!(&nics[4].source, InterfaceSource::Ethernet { ips, routes } if ips.len() == 1 && routes.len() == 1)
    );
    let kinds: Vec<&str> = nics.iter().map(|n| n.source.kind()).collect();
    assert_eq!(
        kinds,
        [
            "network",
            "network",
            "direct",
            "bridge",
            "ethernet",
            "user",
            "vhostuser",
            "vdpa",
            "server",
            "client",
            "mcast",
            "udp",
            "internal",
            "null",
            "vds"
        ]
    );
}

#[test]
fn a_port_group_without_its_network_is_refused() {
    let got = problems("    <interface type='bridge'>\n      <source bridge='br0' portgroup='eng'/>\n    </interface>");
    assert_eq!(
        got,
        one(9, "/domain/devices/interface/source/@portgroup", "portgroup is a network's: it needs network=")
    );
}
