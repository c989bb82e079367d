//! What a network gives each port (guest connection), and port groups:
//! `<bandwidth>`, `<vlan>`, `<virtualport>`, `<portgroup>`. libvirt shares
//! these with a domain's `<interface>` (networkcommon.rng).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ErrorKind;
use crate::values::{parse_auto_u32, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

// ---------------------------------------------------------------------------

/// Quality of service (`<bandwidth>`): rates in KiB/s, bursts in KiB.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Bandwidth {
    /// Traffic towards the guests.
    pub inbound: Option<BandwidthRate>,
    /// Traffic from the guests.
    pub outbound: Option<BandwidthRate>,
}

/// One direction's limits.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BandwidthRate {
    /// The long-term rate, KiB/s.
    pub average: Option<u32>,
    /// The most for short stretches, KiB/s.
    pub peak: Option<u32>,
    /// How much may go at peak rate, KiB.
    pub burst: Option<u32>,
    /// A guaranteed rate (a domain's inbound only), KiB/s.
    pub floor: Option<u32>,
}

impl BandwidthRate {
    /// Limited to `average` KiB/s.
    pub fn average(average: u32) -> Self {
        BandwidthRate { average: Some(average), ..Default::default() }
    }
}

impl Bandwidth {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Bandwidth> {
        fn rate(el: &El<'_, '_>) -> Result<BandwidthRate> {
            Ok(BandwidthRate {
                average: el.attr("average")?,
                peak: el.attr("peak")?,
                burst: el.attr("burst")?,
                floor: el.attr("floor")?,
            })
        }
        Ok(Bandwidth { inbound: el.child("inbound", rate)?, outbound: el.child("outbound", rate)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("bandwidth");
        for (name, rate) in [("inbound", &self.inbound), ("outbound", &self.outbound)] {
            if let Some(r) = rate {
                w.start(name);
                w.attr_opt("average", r.average.as_ref());
                w.attr_opt("peak", r.peak.as_ref());
                w.attr_opt("floor", r.floor.as_ref());
                w.attr_opt("burst", r.burst.as_ref());
                w.end();
            }
        }
        w.end();
    }
}

// ---------------------------------------------------------------------------

xml_enum! {
    /// How a trunk treats its native VLAN.
    pub enum NativeMode {
        Tagged = "tagged",
        Untagged = "untagged",
    }
}

/// 802.1Q VLAN tags (`<vlan>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vlan {
    /// `trunk='yes'`: a trunk port. Several tags make one anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trunk: bool,
    pub tags: Vec<VlanTag>,
}

/// One VLAN id, 0 to 4095.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VlanTag {
    pub id: u16,
    /// Marks the trunk's native VLAN.
    pub native_mode: Option<NativeMode>,
}

impl Vlan {
    /// An access port on VLAN `id`.
    pub fn tag(id: u16) -> Self {
        Vlan { trunk: false, tags: vec![VlanTag { id, native_mode: None }] }
    }

    /// A trunk carrying `ids`.
    pub fn trunk(ids: impl IntoIterator<Item = u16>) -> Self {
        Vlan { trunk: true, tags: ids.into_iter().map(|id| VlanTag { id, native_mode: None }).collect() }
    }

    /// Whether the port is a trunk (`trunk='yes'`, or several tags).
    pub fn is_trunk(&self) -> bool {
        self.trunk || self.tags.len() > 1
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Vlan> {
        let trunk = match el.raw_attr("trunk") {
            None => false,
            Some("yes") => true,
            Some(other) => {
                let msg = if other == "no" {
                    "trunk='no' is the default: leave the attribute out".to_owned()
                } else {
                    format!("'{}' is not one of yes", crate::xml::truncate(other))
                };
                return Err(el.attr_error("trunk", ErrorKind::InvalidValue(msg)));
            }
        };
        let tags = el.children("tag", |t| Ok(VlanTag { id: t.req_attr("id")?, native_mode: t.attr("nativeMode")? }))?;
        if tags.is_empty() {
            // Absent: reported as missing, or as the typo it most likely is.
            el.req_child("tag", |_| Ok(()))?;
        }
        Ok(Vlan { trunk, tags })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("vlan");
        if self.trunk {
            w.attr("trunk", "yes");
        }
        for t in &self.tags {
            w.start("tag");
            w.attr_val("id", &t.id);
            w.attr_opt("nativeMode", t.native_mode.as_ref());
            w.end();
        }
        w.end();
    }
}

// ---------------------------------------------------------------------------

xml_enum! {
    /// The kind of switch port a `<virtualport>` describes.
    pub enum VirtualPortType {
        /// VEPA with VSI discovery (802.1Qbg).
        Qbg = "802.1Qbg",
        /// Port extenders (802.1Qbh).
        Qbh = "802.1Qbh",
        Openvswitch = "openvswitch",
        Midonet = "midonet",
    }
}

/// A switch port profile (`<virtualport>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VirtualPort {
    /// Required on a network; a port group may leave it to the network's.
    #[serde(rename = "type")]
    pub port_type: Option<VirtualPortType>,
    pub parameters: Option<VirtualPortParameters>,
}

/// `<parameters>`: which ones a port type takes is checked by validation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VirtualPortParameters {
    /// 802.1Qbg: the VSI manager id.
    pub managerid: Option<u8>,
    /// 802.1Qbg: the VSI type id (24 bits).
    pub typeid: Option<u32>,
    /// 802.1Qbg: the VSI type version.
    pub typeidversion: Option<u8>,
    /// 802.1Qbg: the VSI instance.
    pub instanceid: Option<Uuid>,
    /// 802.1Qbh and Open vSwitch: the port profile's name.
    pub profileid: Option<String>,
    /// Open vSwitch and MidoNet: the port's id.
    pub interfaceid: Option<Uuid>,
}

impl VirtualPort {
    pub fn new(port_type: VirtualPortType) -> Self {
        VirtualPort { port_type: Some(port_type), parameters: None }
    }

    pub fn with_parameters(mut self, parameters: VirtualPortParameters) -> Self {
        self.parameters = Some(parameters);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<VirtualPort> {
        Ok(VirtualPort {
            port_type: el.attr("type")?,
            parameters: el.child("parameters", |p| {
                let small = |name: &'static str, max: u32| {
                    p.attr_with(name, |s| {
                        let n = parse_auto_u32(s)?;
                        if n > max {
                            return Err(format!("'{}' is out of range (at most {max})", crate::xml::truncate(s)));
                        }
                        Ok(n)
                    })
                };
                let byte = |name| small(name, 255).map(|n| n.and_then(|n| u8::try_from(n).ok()));
                Ok(VirtualPortParameters {
                    managerid: byte("managerid")?,
                    typeid: small("typeid", 0xff_ffff)?,
                    typeidversion: byte("typeidversion")?,
                    instanceid: p.attr("instanceid")?,
                    profileid: p.attr("profileid")?,
                    interfaceid: p.attr("interfaceid")?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("virtualport");
        w.attr_opt("type", self.port_type.as_ref());
        if let Some(p) = &self.parameters {
            w.start("parameters");
            w.attr_opt("managerid", p.managerid.as_ref());
            w.attr_opt("typeid", p.typeid.as_ref());
            w.attr_opt("typeidversion", p.typeidversion.as_ref());
            w.attr_opt("instanceid", p.instanceid.as_ref());
            w.attr_opt("profileid", p.profileid.as_ref());
            w.attr_opt("interfaceid", p.interfaceid.as_ref());
            w.end();
        }
        w.end();
    }
}

// ---------------------------------------------------------------------------

/// A named set of port settings a guest's interface can ask for
/// (`<source portgroup=…>`), or gets when it is the default.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PortGroup {
    pub name: String,
    /// The group for interfaces that name none.
    pub default: Option<bool>,
    pub trust_guest_rx_filters: Option<bool>,
    pub vlan: Option<Vlan>,
    pub virtualport: Option<VirtualPort>,
    pub bandwidth: Option<Bandwidth>,
}

impl PortGroup {
    pub fn new(name: impl Into<String>) -> Self {
        PortGroup {
            name: name.into(),
            default: None,
            trust_guest_rx_filters: None,
            vlan: None,
            virtualport: None,
            bandwidth: None,
        }
    }

    pub fn with_default(mut self, default: bool) -> Self {
        self.default = Some(default);
        self
    }

    pub fn with_vlan(mut self, vlan: Vlan) -> Self {
        self.vlan = Some(vlan);
        self
    }

    pub fn with_virtualport(mut self, virtualport: VirtualPort) -> Self {
        self.virtualport = Some(virtualport);
        self
    }

    pub fn with_bandwidth(mut self, bandwidth: Bandwidth) -> Self {
        self.bandwidth = Some(bandwidth);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<PortGroup> {
        Ok(PortGroup {
            name: el.req_attr("name")?,
            default: el.yes_no("default")?,
            trust_guest_rx_filters: el.yes_no("trustGuestRxFilters")?,
            vlan: el.child("vlan", Vlan::read)?,
            virtualport: el.child("virtualport", VirtualPort::read)?,
            bandwidth: el.child("bandwidth", Bandwidth::read)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("portgroup");
        w.attr("name", &self.name);
        w.yes_no("default", self.default);
        w.yes_no("trustGuestRxFilters", self.trust_guest_rx_filters);
        if let Some(v) = &self.vlan {
            v.write(w);
        }
        if let Some(v) = &self.virtualport {
            v.write(w);
        }
        if let Some(b) = &self.bandwidth {
            b.write(w);
        }
        w.end();
    }
}
