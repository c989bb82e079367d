//! The Linux network driver: makes a host's virtual networks real (a
//! bridge over netlink, a table of nftables rules of virtkit's own, a
//! dnsmasq per network for DHCP and DNS) and gives domains taps on them.

mod dnsmasq;
mod driver;
mod firewall;
mod link;

pub use driver::LinuxNetworkDriver;
