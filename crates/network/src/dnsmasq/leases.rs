//! dnsmasq's lease file (`--dhcp-leasefile`): one lease a line,
//! `EXPIRY MAC IP HOSTNAME CLIENTID` for IPv4; after a `duid SERVER-DUID`
//! line, `EXPIRY IAID IP HOSTNAME CLIENT-DUID` for IPv6. `*` is "none",
//! expiry 0 is "never".

use std::net::IpAddr;
use std::path::Path;

use virtkit_engine::types::Lease;
use virtkit_model::MacAddress;
use virtkit_model::network::Network;

/// The leases in the file at `path` that lie in one of `net`'s subnets;
/// none when there is no file yet.
pub(crate) fn leases(path: &Path, net: &Network) -> Vec<Lease> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&String::from_utf8_lossy(&bytes), net),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the dnsmasq lease file");
            Vec::new()
        }
    }
}

/// The leases in a lease file's text; bad lines are skipped with a warning.
pub(crate) fn parse(text: &str, net: &Network) -> Vec<Lease> {
    let iface = net.bridge.as_ref().and_then(|b| b.name.clone()).unwrap_or_default();
    let mut out = Vec::new();
    let mut ipv6 = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("duid ") {
            ipv6 = true;
            continue;
        }
        match parse_line(line, ipv6, net, &iface) {
            Ok(Some(l)) => out.push(l),
            Ok(None) => {}
            Err(why) => tracing::warn!(network = %net.name, line = n + 1, "skipping lease: {why}"),
        }
    }
    out
}

/// One lease; `None` for an IPv6 lease whose client id holds no MAC.
fn parse_line(line: &str, ipv6: bool, net: &Network, iface: &str) -> Result<Option<Lease>, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [expiry, hw, ip, hostname, client_id] = fields[..] else {
        return Err(format!("{} fields, not 5", fields.len()));
    };
    let expiry: u64 = expiry.parse().map_err(|_| format!("'{expiry}' is not an expiry time"))?;
    let ip: IpAddr = ip.parse().map_err(|_| format!("'{ip}' is not an address"))?;
    let client_id = (client_id != "*").then(|| client_id.to_owned());
    let mac = if ipv6 || ip.is_ipv6() {
        if !ip.is_ipv6() {
            return Err(format!("{ip} is not an IPv6 address"));
        }
        // The second field is the IAID; the MAC, if any, is in the DUID.
        match client_id.as_deref().and_then(duid_mac) {
            Some(m) => m,
            None => {
                tracing::debug!(network = %net.name, %ip, "IPv6 lease without a MAC in its DUID");
                return Ok(None);
            }
        }
    } else {
        hw.parse::<MacAddress>()?
    };
    let prefix = net
        .ip_for(ip)
        .and_then(|i| i.prefix_len())
        .ok_or_else(|| format!("{ip} is in none of the network's subnets"))?;
    let mut lease = Lease::new(iface, mac, ip, prefix);
    lease.hostname = (hostname != "*").then(|| hostname.to_owned());
    lease.client_id = client_id;
    lease.expiry = (expiry != 0).then_some(expiry);
    Ok(Some(lease))
}

/// The Ethernet address in a DUID-LLT (type 1) or DUID-LL (type 3).
fn duid_mac(duid: &str) -> Option<MacAddress> {
    let bytes: Vec<u8> = duid.split(':').map(|b| u8::from_str_radix(b, 16)).collect::<Result<_, _>>().ok()?;
    let mac = match bytes.as_slice() {
        [0, 1, 0, 1, _, _, _, _, mac @ ..] | [0, 3, 0, 1, mac @ ..] => mac,
        _ => return None,
    };
    Some(MacAddress(<[u8; 6]>::try_from(mac).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn net() -> Network {
        Network::from_xml(
            "<network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>\
             <ip address='192.168.122.1' netmask='255.255.255.0'>\
             <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip>\
             <ip family='ipv6' address='2001:db8:ac10:fd01::1' prefix='64'>\
             <dhcp><range start='2001:db8:ac10:fd01::1:10' end='2001:db8:ac10:fd01::1:ff'/></dhcp></ip></network>",
        )
        .unwrap()
    }

    #[test]
    fn ipv4_and_ipv6_leases() {
        let text = "\
1764709872 52:54:00:3a:5b:01 192.168.122.45 guest1 01:52:54:00:3a:5b:01
0 52:54:00:3a:5b:02 192.168.122.46 * *
duid 00:01:00:01:2e:c4:5a:10:52:54:00:aa:bb:cc
1764709900 1027345 2001:db8:ac10:fd01::1:20 guest1 00:01:00:01:2e:c4:5b:00:52:54:00:3a:5b:01
1764709900 22 2001:db8:ac10:fd01::1:21 * 00:04:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63
";
        let l = parse(text, &net());
        assert_eq!(l.len(), 3, "{l:?}");
        assert_eq!(l[0].iface, "virbr0");
        assert_eq!(l[0].mac, MacAddress([0x52, 0x54, 0, 0x3a, 0x5b, 1]));
        assert_eq!(l[0].ip, "192.168.122.45".parse::<IpAddr>().unwrap());
        assert_eq!(l[0].prefix, 24);
        assert_eq!(l[0].hostname.as_deref(), Some("guest1"));
        assert_eq!(l[0].client_id.as_deref(), Some("01:52:54:00:3a:5b:01"));
        assert_eq!(l[0].expiry, Some(1764709872));
        assert_eq!((l[1].hostname.as_deref(), l[1].client_id.as_deref(), l[1].expiry), (None, None, None));
        assert_eq!(l[2].mac, MacAddress([0x52, 0x54, 0, 0x3a, 0x5b, 1]), "from the DUID-LLT");
        assert_eq!(l[2].prefix, 64);
        assert_eq!(l[2].client_id.as_deref(), Some("00:01:00:01:2e:c4:5b:00:52:54:00:3a:5b:01"));
        assert_eq!(duid_mac("00:03:00:01:52:54:00:00:00:07"), Some(MacAddress([0x52, 0x54, 0, 0, 0, 7])));
        assert_eq!(duid_mac("00:03:00:06:52:54:00:00:00:07"), None, "not Ethernet");
    }

    #[test]
    fn bad_lines_are_skipped() {
        let text = "\
garbage
1764709872 52:54:00:3a:5b:01 192.168.122.45 guest1
soon 52:54:00:3a:5b:01 192.168.122.45 guest1 *
1764709872 52:54:00:3a:5b 192.168.122.45 guest1 *
1764709872 52:54:00:3a:5b:01 192.168.122.999 guest1 *
1764709872 52:54:00:3a:5b:01 10.9.9.9 elsewhere *
1764709872 52:54:00:3a:5b:01 192.168.122.45 ok *

\u{0}\u{ff}
";
        let l = parse(text, &net());
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].hostname.as_deref(), Some("ok"));
    }

    #[test]
    fn missing_file_has_no_leases() {
        let d = tempfile::tempdir().unwrap();
        assert!(leases(&d.path().join("none.leases"), &net()).is_empty());
        let p = d.path().join("n.leases");
        std::fs::write(&p, b"0 52:54:00:3a:5b:02 192.168.122.46 * *\n1 52:54:00:3a:5b:03 192.168.122.47 \xff *\n")
            .unwrap();
        assert_eq!(leases(&p, &net()).len(), 2, "a line that is not UTF-8 spoils no other");
    }
}
