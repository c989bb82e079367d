//! An interface's `<driver>`: the host backend, virtio queues and
//! offloads, and the virtio options.

use serde::{Deserialize, Serialize};

use crate::domain::devices::VirtioOptions;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Who moves the packets on the host.
    pub enum InterfaceDriverName {
        /// QEMU itself (in user space).
        Qemu = "qemu",
        /// The kernel's vhost-net.
        Vhost = "vhost",
        /// Legacy KVM device assignment (hostdev interfaces).
        Kvm = "kvm",
        /// VFIO device assignment (hostdev interfaces).
        Vfio = "vfio",
        /// Xen's backend.
        Xen = "xen",
    }
}

xml_enum! {
    /// When a virtio NIC sends: from a bottom half or on a timer.
    pub enum TxMode {
        Iothread = "iothread",
        Timer = "timer",
    }
}

/// Offloads of the host side (`<host>`): `None` leaves QEMU's default.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HostOffloads {
    pub csum: Option<bool>,
    pub gso: Option<bool>,
    pub tso4: Option<bool>,
    pub tso6: Option<bool>,
    pub ecn: Option<bool>,
    pub ufo: Option<bool>,
    /// Mergeable receive buffers.
    pub mrg_rxbuf: Option<bool>,
}

/// Offloads the guest may use (`<guest>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GuestOffloads {
    pub csum: Option<bool>,
    pub tso4: Option<bool>,
    pub tso6: Option<bool>,
    pub ecn: Option<bool>,
    pub ufo: Option<bool>,
}

/// `<driver>` of an `<interface>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceDriver {
    pub name: Option<InterfaceDriverName>,
    pub txmode: Option<TxMode>,
    pub ioeventfd: Option<bool>,
    pub event_idx: Option<bool>,
    /// Queue pairs (multiqueue when more than one).
    pub queues: Option<u32>,
    pub rx_queue_size: Option<u32>,
    pub tx_queue_size: Option<u32>,
    /// Receive-side scaling in the device.
    pub rss: Option<bool>,
    /// The device reports the hash it computed.
    pub rss_hash_report: Option<bool>,
    #[serde(default, skip_serializing_if = "VirtioOptions::is_empty")]
    pub virtio: VirtioOptions,
    pub host: Option<HostOffloads>,
    pub guest: Option<GuestOffloads>,
}

impl InterfaceDriver {
    /// `queues` queue pairs.
    pub fn queues(queues: u32) -> Self {
        InterfaceDriver { queues: Some(queues), ..Default::default() }
    }

    /// The options only a virtio NIC has that are set, by attribute name
    /// (the virtio options aside: every virtio device has those).
    pub fn virtio_net_options(&self) -> Vec<&'static str> {
        let set = [
            ("txmode", self.txmode.is_some()),
            ("ioeventfd", self.ioeventfd.is_some()),
            ("event_idx", self.event_idx.is_some()),
            ("queues", self.queues.is_some()),
            ("rx_queue_size", self.rx_queue_size.is_some()),
            ("tx_queue_size", self.tx_queue_size.is_some()),
            ("rss", self.rss.is_some()),
            ("rss_hash_report", self.rss_hash_report.is_some()),
            ("host", self.host.is_some()),
            ("guest", self.guest.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect()
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<InterfaceDriver> {
        Ok(InterfaceDriver {
            name: el.attr("name")?,
            txmode: el.attr("txmode")?,
            ioeventfd: el.on_off("ioeventfd")?,
            event_idx: el.on_off("event_idx")?,
            queues: el.attr("queues")?,
            rx_queue_size: el.attr("rx_queue_size")?,
            tx_queue_size: el.attr("tx_queue_size")?,
            rss: el.on_off("rss")?,
            rss_hash_report: el.on_off("rss_hash_report")?,
            virtio: VirtioOptions::read(el)?,
            host: el.child("host", |h| {
                Ok(HostOffloads {
                    csum: h.on_off("csum")?,
                    gso: h.on_off("gso")?,
                    tso4: h.on_off("tso4")?,
                    tso6: h.on_off("tso6")?,
                    ecn: h.on_off("ecn")?,
                    ufo: h.on_off("ufo")?,
                    mrg_rxbuf: h.on_off("mrg_rxbuf")?,
                })
            })?,
            guest: el.child("guest", |g| {
                Ok(GuestOffloads {
                    csum: g.on_off("csum")?,
                    tso4: g.on_off("tso4")?,
                    tso6: g.on_off("tso6")?,
                    ecn: g.on_off("ecn")?,
                    ufo: g.on_off("ufo")?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("driver");
        w.attr_opt("name", self.name.as_ref());
        w.attr_opt("txmode", self.txmode.as_ref());
        w.on_off("ioeventfd", self.ioeventfd);
        w.on_off("event_idx", self.event_idx);
        w.attr_opt("queues", self.queues.as_ref());
        w.attr_opt("rx_queue_size", self.rx_queue_size.as_ref());
        w.attr_opt("tx_queue_size", self.tx_queue_size.as_ref());
        w.on_off("rss", self.rss);
        w.on_off("rss_hash_report", self.rss_hash_report);
        self.virtio.write(w);
        if let Some(h) = &self.host {
            w.start("host");
            w.on_off("csum", h.csum);
            w.on_off("gso", h.gso);
            w.on_off("tso4", h.tso4);
            w.on_off("tso6", h.tso6);
            w.on_off("ecn", h.ecn);
            w.on_off("ufo", h.ufo);
            w.on_off("mrg_rxbuf", h.mrg_rxbuf);
            w.end();
        }
        if let Some(g) = &self.guest {
            w.start("guest");
            w.on_off("csum", g.csum);
            w.on_off("tso4", g.tso4);
            w.on_off("tso6", g.tso6);
            w.on_off("ecn", g.ecn);
            w.on_off("ufo", g.ufo);
            w.end();
        }
        w.end();
    }
}
