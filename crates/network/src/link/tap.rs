//! Taps for guest NICs: made with TUNSETIFF on /dev/net/tun, then given a
//! MAC, an MTU and a bridge over netlink.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};

use rtnetlink::{LinkBridgePort, LinkUnspec};

use super::{LinkError, Netlink, check_name, errno, libc_errno, nl};

/// `struct ifreq` as TUNSETIFF reads and writes it: a name, then flags in
/// the 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    pad: [u8; 22],
}

const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
/// Refuse to attach to a tap that already exists.
const IFF_TUN_EXCL: i16 = i16::MIN; // 0x8000 in the kernel's signed short

nix::ioctl_write_ptr_bad!(
    tun_set_iff,
    nix::request_code_write!(b'T', 202, std::mem::size_of::<std::ffi::c_int>()),
    IfReq
);

/// What a guest NIC's tap looks like.
#[derive(Debug, Clone)]
pub(crate) struct TapRequest {
    /// An exact name, or a template such as `vnet%d` (the kernel picks N).
    pub name: String,
    /// The guest's MAC; the tap gets it with the first byte set to 0xFE.
    pub guest_mac: [u8; 6],
    /// The bridge to plug the tap into.
    pub bridge: String,
    /// MTU; the bridge's when `None`.
    pub mtu: Option<u32>,
    /// Whether the port is isolated (IFLA_BRPORT_ISOLATED).
    pub isolated: bool,
}

/// The tap's MAC for a guest MAC: libvirt's rule, first byte 0xFE, so the
/// bridge (which takes its lowest port MAC) never takes the guest's.
pub(crate) fn tap_mac(guest: [u8; 6]) -> [u8; 6] {
    let mut mac = guest;
    mac[0] = 0xFE;
    mac
}

/// Whether /dev/vhost-net can be opened (vhost=on is possible).
#[cfg(test)]
pub(crate) fn vhost_net_available() -> bool {
    OpenOptions::new().read(true).write(true).open("/dev/vhost-net").is_ok()
}

/// Opens /dev/net/tun (close-on-exec) and makes a tap named after `name`;
/// returns the name the kernel gave and the fd that keeps the tap alive.
fn open_tap(name: &str) -> Result<(String, OwnedFd), LinkError> {
    check_name(name)?;
    let tun_err = |op, source| LinkError::Tun { device: name.to_string(), op, source };
    let file =
        OpenOptions::new().read(true).write(true).open("/dev/net/tun").map_err(|e| tun_err("open /dev/net/tun", e))?;
    let mut req = IfReq { name: [0; 16], flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL, pad: [0; 22] };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    let fd = OwnedFd::from(file);
    #[allow(unsafe_code)]
    // SAFETY: `fd` is an open /dev/net/tun descriptor and `req` is a live,
    // properly sized `struct ifreq` that TUNSETIFF reads and writes back.
    let res = unsafe { tun_set_iff(fd.as_raw_fd(), &req) };
    match res {
        Ok(_) => {}
        Err(nix::errno::Errno::EBUSY) | Err(nix::errno::Errno::EEXIST) => {
            return Err(LinkError::Exists { device: name.to_string() });
        }
        Err(e) => return Err(tun_err("create the tap", e.into())),
    }
    let len = req.name.iter().position(|&b| b == 0).unwrap_or(req.name.len());
    let real = String::from_utf8_lossy(&req.name[..len]).into_owned();
    Ok((real, fd))
}

impl Netlink {
    /// Creates a tap for a guest NIC, plugged into its bridge and up; returns
    /// its real name and its fd (close-on-exec; the tap goes with the last
    /// close). On failure nothing is left.
    pub(crate) async fn create_tap(&self, req: &TapRequest) -> Result<(String, OwnedFd), LinkError> {
        let bridge = self.get_some(&req.bridge).await?;
        let mtu = match req.mtu {
            Some(m) => Some(m),
            None => self.mtu_of(&req.bridge).await?,
        };
        let (name, fd) = open_tap(&req.name)?;
        // On an error `fd` drops here and the kernel removes the tap.
        self.setup_tap(&name, bridge.header.index, mtu, req).await?;
        Ok((name, fd))
    }

    /// MAC, MTU, master, isolation and up for a tap just made.
    async fn setup_tap(&self, name: &str, bridge: u32, mtu: Option<u32>, req: &TapRequest) -> Result<(), LinkError> {
        let index = self.get_some(name).await?.header.index;
        let mut msg = LinkUnspec::new_with_index(index).address(tap_mac(req.guest_mac).to_vec());
        if let Some(mtu) = mtu {
            msg = msg.mtu(mtu);
        }
        let link = self.handle.link();
        link.set(msg.build()).execute().await.map_err(nl(name, "set the tap's mac and mtu"))?;
        let master = LinkUnspec::new_with_index(index).controller(bridge).build();
        link.set(master).execute().await.map_err(nl(name, "attach the tap to its bridge"))?;
        if req.isolated {
            let port = LinkBridgePort::new(index).isolated(true).build();
            link.set_port(port).execute().await.map_err(nl(name, "isolate the bridge port"))?;
        }
        let up = LinkUnspec::new_with_index(index).up().build();
        match link.set(up).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc_errno::ENODEV) => Err(LinkError::NotFound { device: name.to_string() }),
            Err(e) => Err(nl(name, "bring the tap up")(e)),
        }
    }
}
