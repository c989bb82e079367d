//! `virsh net-update`: one change to one part of a network definition,
//! given as the XML of the one element it adds, replaces or removes
//! (libvirt's `virNetworkDefUpdateSection`).
//!
//! The element is read as strictly as a whole document (libvirt's
//! vocabulary of the place it goes, typo hints, every problem with its
//! line and column in the element's own text, the document size limits),
//! the change is made to a copy, and the copy must pass
//! [`Network::validate`] before it replaces the network: on any error the
//! network is left as it was.

use roxmltree::{Document, Node};

use super::dns::{DnsHostPattern, DnsSrvPattern, DnsTxtPattern};
use super::{Dhcp, Dns, DnsHost, DnsSrv, DnsTxt, ForwardInterface, ForwardMode, Network, PortGroup};
use crate::domain::sorted;
use crate::domain::validate::idx;
use crate::error::{Error, ErrorKind, Errors};
use crate::values::xml_enum;
use crate::xml::reader::{self, El};
use crate::xml::truncate;

mod dhcp;

xml_enum! {
    /// What an update does (libvirt's `virNetworkUpdateCommand`, spelt as
    /// virsh spells it; `add` is read as `add-last`).
    pub enum NetworkUpdateCommand {
        /// Adds the element before the others of its kind.
        AddFirst = "add-first",
        /// Adds the element after the others of its kind.
        AddLast = "add-last",
        /// Removes the one entry the element matches.
        Delete = "delete",
        /// Replaces the one entry the element matches.
        Modify = "modify",
    }
    aliases = ["add" => AddLast];
}

xml_enum! {
    /// The part of a network an update changes (libvirt's
    /// `virNetworkUpdateSection`, in libvirt's order).
    pub enum NetworkUpdateSection {
        /// `<bridge>`: not updatable.
        Bridge = "bridge",
        /// `<domain>`: not updatable.
        Domain = "domain",
        /// `<ip>` itself: not updatable.
        Ip = "ip",
        /// A `<host>` of an `<ip>`'s `<dhcp>`.
        IpDhcpHost = "ip-dhcp-host",
        /// A `<range>` of an `<ip>`'s `<dhcp>`.
        IpDhcpRange = "ip-dhcp-range",
        /// `<forward>` itself: not updatable.
        Forward = "forward",
        /// An `<interface>` of `<forward>`.
        ForwardInterface = "forward-interface",
        /// The `<pf>` of `<forward>`: not updatable.
        ForwardPf = "forward-pf",
        /// A `<portgroup>`.
        Portgroup = "portgroup",
        /// A `<host>` of `<dns>`.
        DnsHost = "dns-host",
        /// A `<txt>` of `<dns>`.
        DnsTxt = "dns-txt",
        /// An `<srv>` of `<dns>`.
        DnsSrv = "dns-srv",
    }
}

impl NetworkUpdateSection {
    /// The element an update of this section gives (`host`, `range`,
    /// `interface`, `portgroup`, `txt`, `srv`); `None` for the sections
    /// that cannot be updated, as in libvirt.
    pub fn element(self) -> Option<&'static str> {
        self.place().map(|(element, _)| element)
    }

    /// The element and the element it sits in (for libvirt's vocabulary).
    fn place(self) -> Option<(&'static str, &'static str)> {
        use NetworkUpdateSection as S;
        match self {
            S::IpDhcpHost => Some(("host", "dhcp")),
            S::IpDhcpRange => Some(("range", "dhcp")),
            S::ForwardInterface => Some(("interface", "forward")),
            S::Portgroup => Some(("portgroup", "network")),
            S::DnsHost => Some(("host", "dns")),
            S::DnsTxt => Some(("txt", "dns")),
            S::DnsSrv => Some(("srv", "dns")),
            S::Bridge | S::Domain | S::Ip | S::Forward | S::ForwardPf => None,
        }
    }

    /// The name libvirt's messages give the section.
    fn libvirt_name(self) -> &'static str {
        match self {
            NetworkUpdateSection::ForwardPf => "forward pf",
            s => s.as_str(),
        }
    }
}

/// One update: what to do, to which part, with which element.
///
/// ```
/// use virtkit_model::network::{DnsmasqAction, Network, NetworkUpdate, NetworkUpdateSection};
///
/// let mut net = Network::from_xml("<network><name>lan</name>
///   <ip address='192.168.5.1' prefix='24'>
///     <dhcp><range start='192.168.5.2' end='192.168.5.254'/></dhcp>
///   </ip></network>").unwrap();
/// let update = NetworkUpdate::new(
///     "add".parse().unwrap(),
///     NetworkUpdateSection::IpDhcpHost,
///     "<host mac='52:54:00:00:00:01' name='db' ip='192.168.5.10'/>",
/// );
/// let done = net.apply_update(&update).unwrap();
/// assert_eq!(net.ips[0].dhcp.as_ref().unwrap().hosts[0].name.as_deref(), Some("db"));
/// assert_eq!(done.dnsmasq, DnsmasqAction::Reload); // a running dnsmasq rereads its hosts file
///
/// // The same host again is refused, naming the one there, and nothing changes.
/// let before = net.clone();
/// let err = net.apply_update(&update).unwrap_err();
/// assert!(err.to_string().contains("<host mac='52:54:00:00:00:01' name='db' ip='192.168.5.10'/>"), "{err}");
/// assert_eq!(net, before);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkUpdate {
    pub command: NetworkUpdateCommand,
    pub section: NetworkUpdateSection,
    /// The XML text of the one element (`<host …/>`).
    pub xml: String,
    /// For `ip-dhcp-host` and `ip-dhcp-range`: which `<ip>` (counted from
    /// 0 over every family) the element is for. When `None`, the first
    /// `<ip>` of the element's address family that has DHCP, else the first
    /// of that family (see [`Network::apply_update`]). Other sections
    /// ignore it, as libvirt does.
    pub parent_index: Option<usize>,
}

impl NetworkUpdate {
    pub fn new(command: NetworkUpdateCommand, section: NetworkUpdateSection, xml: impl Into<String>) -> Self {
        NetworkUpdate { command, section, xml: xml.into(), parent_index: None }
    }

    pub fn with_parent_index(mut self, index: usize) -> Self {
        self.parent_index = Some(index);
        self
    }
}

/// What an applied update changed, and what a running network must do to
/// take the change, as libvirt's network driver does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkUpdated {
    pub command: NetworkUpdateCommand,
    pub section: NetworkUpdateSection,
    /// What the network's dnsmasq must do.
    pub dnsmasq: DnsmasqAction,
    /// Whether the network's firewall rules must be built again: a change
    /// to DHCP ranges, DHCP hosts or forward interfaces of a network the
    /// host routes for (modes nat, route, open, and isolated networks).
    pub firewall: bool,
}

impl NetworkUpdated {
    /// Whether a running network takes the change without restarting
    /// anything (dnsmasq reloads at most).
    pub fn is_reload_only(&self) -> bool {
        self.dnsmasq != DnsmasqAction::Restart
    }
}

/// What a running dnsmasq must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsmasqAction {
    /// Nothing dnsmasq reads changed (port groups, forward interfaces):
    /// guests connecting from now on get the change.
    Nothing,
    /// Only files dnsmasq rereads on SIGHUP changed (its DHCP hosts file,
    /// its hosts file): rewrite them and signal it.
    Reload,
    /// Its configuration changed (DHCP ranges, TXT and SRV records, or DHCP
    /// hosts turning IPv4 DHCP on or off): restart it.
    Restart,
}

/// Why an update was refused; the network is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkUpdateError {
    /// libvirt cannot update this section either (bridge, domain, ip,
    /// forward, forward-pf).
    #[error("can't update '{section}' section of network '{network}'")]
    SectionUnsupported { section: &'static str, network: String },
    /// The command does not apply to the section (DHCP ranges and forward
    /// interfaces are added or deleted, never modified).
    #[error("{0}")]
    CommandUnsupported(String),
    /// The XML is some other element than the section's.
    #[error("unexpected element <{found}>, expecting <{expected}>, while updating network '{network}'")]
    WrongElement { found: String, expected: &'static str, network: String },
    /// The element's text was refused: every problem, with its line,
    /// column and path in that text (`/host/@mac`).
    #[error("invalid <{element}> for network '{network}'")]
    Element {
        element: &'static str,
        network: String,
        #[source]
        errors: Errors,
    },
    /// The network has no place for the element: no `<ip>` at that index
    /// or of that family, one of another family, no `<forward>`, DHCP on
    /// another address of the family.
    #[error("{0}")]
    NoPlace(String),
    /// Nothing in the network matches the element (delete, modify).
    #[error("{0}")]
    NotFound(String),
    /// More than one entry matches the element (delete, modify).
    #[error("{0}")]
    Ambiguous(String),
    /// An entry the element clashes with is there already (add, and
    /// modify against the other entries; a second default port group).
    #[error("{0}")]
    Exists(String),
    /// The entry is in use (a forward interface guests are connected by).
    #[error("{0}")]
    InUse(String),
    /// The updated network would not be valid: every problem, those in the
    /// element with their line, column and path in its text (`/range`),
    /// the others by their path in the network.
    #[error("network '{network}' would not be valid")]
    Invalid {
        network: String,
        #[source]
        errors: Errors,
    },
}

impl NetworkUpdateError {
    /// The located problems, for the errors about a document's content
    /// ([`Element`](Self::Element), [`Invalid`](Self::Invalid)).
    pub fn errors(&self) -> Option<&Errors> {
        match self {
            NetworkUpdateError::Element { errors, .. } | NetworkUpdateError::Invalid { errors, .. } => Some(errors),
            _ => None,
        }
    }
}

type UpdateResult<T> = std::result::Result<T, NetworkUpdateError>;

/// Where the element went: (its path in the updated network, its path in
/// its own text), so that what validation finds there is placed in the text.
type Placed = Vec<(String, String)>;

impl Network {
    /// Applies one update, as `virsh net-update` does (libvirt's
    /// `virNetworkDefUpdateSection`), and says what a running network must
    /// do to take it. On any error the network is unchanged.
    ///
    /// Entries are matched as libvirt matches them: a DHCP host by its MAC
    /// (by its id, else its name, when it has none) to modify it, by every
    /// attribute given to delete it, and an added one may share no MAC, id,
    /// name or address with another; a DHCP range by start and end; a DNS
    /// host by address (to delete: by the address and names given); a TXT
    /// record by name (and the value, when given, to delete it); an SRV
    /// record by service, protocol, domain and target (to delete: by those
    /// given and the port); a port group by name, with one default at most;
    /// a forward interface by `dev`. Deleting or modifying what is not
    /// there, or adding what is, is an error naming it.
    ///
    /// Without a [`parent_index`](NetworkUpdate::parent_index), a DHCP
    /// host or range goes to the first `<ip>` of its address's family that
    /// has DHCP, else to the first of that family (a host to delete given
    /// without an address: IPv4 for a MAC, IPv6 for an id, else the first
    /// `<ip>` with DHCP, else the first IPv4 one, as libvirt picks).
    pub fn apply_update(&mut self, update: &NetworkUpdate) -> UpdateResult<NetworkUpdated> {
        let section = update.section;
        let Some((element, parent)) = section.place() else {
            return Err(NetworkUpdateError::SectionUnsupported {
                section: section.libvirt_name(),
                network: self.name.clone(),
            });
        };
        let doc = reader::parse_text(&update.xml).map_err(|e| NetworkUpdateError::Element {
            element,
            network: self.name.clone(),
            errors: e.into(),
        })?;
        let root = doc.root_element();
        if root.tag_name().namespace().is_some() || root.tag_name().name() != element {
            let found = match root.tag_name().namespace().and_then(|ns| root.lookup_prefix(ns)) {
                Some(p) if !p.is_empty() => format!("{p}:{}", root.tag_name().name()),
                _ => root.tag_name().name().to_owned(),
            };
            return Err(NetworkUpdateError::WrongElement {
                found: truncate(&found).into_owned(),
                expected: element,
                network: self.name.clone(),
            });
        }
        let mut up = Updater {
            net: self.clone(),
            command: update.command,
            parent_index: update.parent_index,
            root,
            element,
            parent,
        };
        let dhcp_before = ipv4_dhcp(&up.net);
        let placed = match section {
            NetworkUpdateSection::IpDhcpHost => up.dhcp_host()?,
            NetworkUpdateSection::IpDhcpRange => up.dhcp_range()?,
            NetworkUpdateSection::ForwardInterface => up.forward_interface()?,
            NetworkUpdateSection::Portgroup => up.portgroup()?,
            NetworkUpdateSection::DnsHost => up.dns_host()?,
            NetworkUpdateSection::DnsTxt => up.dns_txt()?,
            NetworkUpdateSection::DnsSrv => up.dns_srv()?,
            NetworkUpdateSection::Bridge
            | NetworkUpdateSection::Domain
            | NetworkUpdateSection::Ip
            | NetworkUpdateSection::Forward
            | NetworkUpdateSection::ForwardPf => Vec::new(),
        };
        let mut net = up.net;
        tidy(&mut net, self);
        if let Err(errors) = net.validate() {
            return Err(NetworkUpdateError::Invalid { network: net.name, errors: relocate(errors, &placed, &doc) });
        }
        let dnsmasq = match section {
            NetworkUpdateSection::IpDhcpHost if ipv4_dhcp(&net) != dhcp_before => DnsmasqAction::Restart,
            NetworkUpdateSection::IpDhcpHost | NetworkUpdateSection::DnsHost => DnsmasqAction::Reload,
            NetworkUpdateSection::IpDhcpRange | NetworkUpdateSection::DnsTxt | NetworkUpdateSection::DnsSrv => {
                DnsmasqAction::Restart
            }
            _ => DnsmasqAction::Nothing,
        };
        let firewall = matches!(
            section,
            NetworkUpdateSection::IpDhcpHost
                | NetworkUpdateSection::IpDhcpRange
                | NetworkUpdateSection::ForwardInterface
        ) && net.mode().is_none_or(ForwardMode::host_bridge);
        *self = net;
        Ok(NetworkUpdated { command: update.command, section, dnsmasq, firewall })
    }
}

/// Whether the network serves IPv4 DHCP (or TFTP): dnsmasq is started
/// with or without it, so turning it on or off restarts dnsmasq.
fn ipv4_dhcp(net: &Network) -> bool {
    net.ips_of(false).any(|ip| ip.has_dhcp() || ip.tftp_root.is_some())
}

/// Drops what the update left empty (`<dhcp/>`, `<dns/>`), as libvirt
/// writes neither; what was empty before stays as it was.
fn tidy(net: &mut Network, before: &Network) {
    for (ip, old) in net.ips.iter_mut().zip(&before.ips) {
        if ip.dhcp != old.dhcp && ip.dhcp.as_ref().is_some_and(|d| *d == Dhcp::default()) {
            ip.dhcp = None;
        }
    }
    if net.dns != before.dns && net.dns.as_ref().is_some_and(|d| *d == Dns::default()) {
        net.dns = None;
    }
}

/// `errors`, those inside the element placed in its text.
fn relocate(errors: Errors, placed: &Placed, doc: &Document<'_>) -> Errors {
    let located = errors.into_iter().map(|mut e| {
        let inside = placed.iter().find(|(at, _)| {
            e.path.strip_prefix(at.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if let Some((at, to)) = inside {
            e.path = format!("{to}{}", &e.path[at.len()..]);
            e.pos = reader::resolve(doc, &e.path);
        }
        e
    });
    sorted(located.collect())
}

/// The one index of `list` that `matches`: `Err(n)` when `n` ≠ 1 do.
fn only<T>(list: &[T], matches: impl Fn(&T) -> bool) -> std::result::Result<usize, usize> {
    let mut found = list.iter().enumerate().filter(|(_, x)| matches(x)).map(|(i, _)| i);
    match (found.next(), found.count()) {
        (Some(i), 0) => Ok(i),
        (None, _) => Err(0),
        (Some(_), n) => Err(n + 1),
    }
}

/// `<name a='v' …/>` for a message: the attributes given.
fn tag(name: &str, attrs: &[(&str, Option<String>)]) -> String {
    let mut s = format!("<{name}");
    for (a, v) in attrs {
        if let Some(v) = v {
            s.push_str(&format!(" {a}='{}'", truncate(v)));
        }
    }
    s.push_str("/>");
    s
}

/// Adds `item` to `list` where `command` says: its index.
fn insert<T>(command: NetworkUpdateCommand, list: &mut Vec<T>, item: T) -> usize {
    if command == NetworkUpdateCommand::AddFirst {
        list.insert(0, item);
        0
    } else {
        list.push(item);
        list.len() - 1
    }
}

fn not_found(network: &str, what: &str) -> NetworkUpdateError {
    NetworkUpdateError::NotFound(format!("couldn't locate a matching {what} in network '{network}'"))
}

/// The error for `n` ≠ 1 entries matching: none, or several.
fn not_one(network: &str, n: usize, what: &str) -> NetworkUpdateError {
    if n == 0 {
        not_found(network, what)
    } else {
        NetworkUpdateError::Ambiguous(format!(
            "{n} entries in network '{network}' match this {what}: give more of its fields to name one"
        ))
    }
}

/// One update in progress, on a copy of the network.
struct Updater<'a, 'i> {
    net: Network,
    command: NetworkUpdateCommand,
    parent_index: Option<usize>,
    /// The element's node.
    root: Node<'a, 'i>,
    element: &'static str,
    parent: &'static str,
}

impl<'a, 'i> Updater<'a, 'i> {
    /// Reads the element with `f`, as strictly as a document.
    fn read<T>(&self, f: impl FnOnce(&El<'a, 'i>) -> reader::Result<T>) -> UpdateResult<T> {
        reader::read_fragment(self.root, "network", self.parent, f).map_err(|errors| self.element_errors(errors))
    }

    fn element_errors(&self, errors: Vec<Error>) -> NetworkUpdateError {
        NetworkUpdateError::Element { element: self.element, network: self.net.name.clone(), errors: sorted(errors) }
    }

    /// The element itself is refused, for `msg`.
    fn element_error(&self, msg: &str) -> NetworkUpdateError {
        self.element_errors(vec![reader::located(self.root, None, ErrorKind::Invalid(msg.into()))])
    }

    fn is_add(&self) -> bool {
        matches!(self.command, NetworkUpdateCommand::AddFirst | NetworkUpdateCommand::AddLast)
    }

    /// `what` cannot be modified.
    fn no_modify(&self, what: &str) -> UpdateResult<()> {
        if self.command == NetworkUpdateCommand::Modify {
            return Err(NetworkUpdateError::CommandUnsupported(format!(
                "{what} cannot be modified, only added or deleted"
            )));
        }
        Ok(())
    }

    // ---- forward interfaces ----

    fn forward_interface(&mut self) -> UpdateResult<Placed> {
        self.no_modify("forward interface entries")?;
        let iface = self.read(ForwardInterface::read)?;
        let network = &self.net.name;
        let shown = format!("<interface dev='{}'>", truncate(&iface.dev));
        let missing = || {
            NetworkUpdateError::NotFound(format!(
                "couldn't find an interface entry in network '{network}' matching {shown}"
            ))
        };
        let Some(mut forward) = self.net.forward.clone() else {
            return Err(if self.is_add() {
                NetworkUpdateError::NoPlace(format!(
                    "network '{network}' is isolated (it has no <forward>): it has no forward interfaces"
                ))
            } else {
                missing()
            });
        };
        // libvirt's list of devices, which `dev` begins.
        let (had_dev, had_list) = (forward.dev.is_some(), !forward.interfaces.is_empty());
        let mut list = std::mem::take(&mut forward.interfaces);
        if let Some(dev) = &forward.dev
            && list.first().is_none_or(|i| i.dev != *dev)
        {
            list.insert(0, ForwardInterface::new(dev.clone()));
        }
        let dev = iface.dev.clone();
        match (self.command, list.iter().position(|i| i.dev == dev)) {
            (NetworkUpdateCommand::Delete, None) => return Err(missing()),
            (NetworkUpdateCommand::Delete, Some(k)) => {
                if let Some(n) = list[k].connections.filter(|n| *n > 0) {
                    return Err(NetworkUpdateError::InUse(format!(
                        "unable to delete interface '{}' in network '{network}': {n} guests are connected by it",
                        truncate(&dev)
                    )));
                }
                list.remove(k);
            }
            (_, Some(_)) => {
                return Err(NetworkUpdateError::Exists(format!(
                    "there is an existing interface entry in network '{network}' that matches \"{shown}\""
                )));
            }
            (command, None) => {
                insert(command, &mut list, iface);
            }
        }
        // Written back in the form it had: the interfaces alone (always
        // beside a <pf>), or `dev` alone while there is one device, else
        // both (as libvirt writes them).
        if (had_list && !had_dev) || forward.pf.is_some() {
            forward.dev = None;
        } else {
            forward.dev = list.first().map(|i| i.dev.clone());
            if list.len() < 2 && !had_list {
                list.clear();
            }
        }
        forward.interfaces = list;
        let mut placed = Vec::new();
        if self.command != NetworkUpdateCommand::Delete {
            let n = forward.interfaces.len();
            if let Some(k) = forward.interfaces.iter().position(|i| i.dev == dev) {
                placed.push((format!("/network/forward/{}", idx("interface", k, n)), "/interface".to_owned()));
            }
            if forward.dev.as_deref() == Some(dev.as_str()) {
                placed.push(("/network/forward/@dev".to_owned(), "/interface/@dev".to_owned()));
            }
        }
        self.net.forward = Some(forward);
        Ok(placed)
    }

    // ---- port groups ----

    fn portgroup(&mut self) -> UpdateResult<Placed> {
        let group = self.read(PortGroup::read)?;
        let network = &self.net.name;
        let groups = &self.net.portgroups;
        let shown = format!("<portgroup name='{}'>", truncate(&group.name));
        let found = groups.iter().position(|g| g.name == group.name);
        let default = groups.iter().position(|g| g.default == Some(true));
        match (self.is_add(), found) {
            (false, None) => {
                return Err(NetworkUpdateError::NotFound(format!(
                    "couldn't find a portgroup entry in network '{network}' matching {shown}"
                )));
            }
            (true, Some(_)) => {
                return Err(NetworkUpdateError::Exists(format!(
                    "there is an existing portgroup entry in network '{network}' that matches \"{shown}\""
                )));
            }
            _ => {}
        }
        if self.command != NetworkUpdateCommand::Delete
            && group.default == Some(true)
            && default.is_some_and(|d| Some(d) != found)
        {
            return Err(NetworkUpdateError::Exists(format!(
                "a different portgroup entry in network '{network}' is already set as the default: \
                 only one default is allowed"
            )));
        }
        let groups = &mut self.net.portgroups;
        let k = match (self.command, found) {
            (NetworkUpdateCommand::Delete, Some(k)) => {
                groups.remove(k);
                return Ok(Vec::new());
            }
            (NetworkUpdateCommand::Modify, Some(k)) => {
                groups[k] = group;
                k
            }
            (command, _) => insert(command, groups, group),
        };
        Ok(vec![(format!("/network/{}", idx("portgroup", k, groups.len())), "/portgroup".to_owned())])
    }

    // ---- DNS ----

    /// Applies the command to one list of `<dns>` records (`element`s):
    /// `new` is the record to add or modify with, `None` to delete; the
    /// one entry `matches` finds is modified or deleted, and an add is
    /// refused with `clash` when there is any.
    fn dns_records<T>(
        &mut self,
        list: fn(&mut Dns) -> &mut Vec<T>,
        new: Option<T>,
        matches: impl Fn(&T) -> bool,
        clash: String,
        what: &str,
        element: &str,
    ) -> UpdateResult<Placed> {
        let command = self.command;
        let network = self.net.name.clone();
        let entries = list(self.net.dns.get_or_insert_with(Dns::default));
        let found = only(entries, &matches);
        let k = match new {
            None => {
                let k = found.map_err(|n| not_one(&network, n, what))?;
                entries.remove(k);
                return Ok(Vec::new());
            }
            Some(new) if command == NetworkUpdateCommand::Modify => {
                let k = found.map_err(|n| not_one(&network, n, what))?;
                entries[k] = new;
                k
            }
            Some(new) => {
                if found != Err(0) {
                    return Err(NetworkUpdateError::Exists(clash));
                }
                insert(command, entries, new)
            }
        };
        Ok(vec![(format!("/network/dns/{}", idx(element, k, entries.len())), format!("/{element}"))])
    }

    fn dns_host(&mut self) -> UpdateResult<Placed> {
        let what = "DNS HOST record";
        if self.command == NetworkUpdateCommand::Delete {
            let key = self.read(|el| {
                let key = DnsHostPattern::read(el)?;
                if key.hostnames.is_empty() && el.raw_attr("ip").is_none() {
                    return Err(el.error(ErrorKind::Invalid("a DNS host to delete needs an ip or a <hostname>".into())));
                }
                Ok(key)
            })?;
            let matches = |h: &DnsHost| {
                key.ip.is_none_or(|ip| h.ip == ip) && key.hostnames.iter().all(|n| h.hostnames.contains(n))
            };
            return self.dns_records(|d| &mut d.hosts, None, matches, String::new(), what, "host");
        }
        let host = self.read(DnsHost::read)?;
        let ip = host.ip;
        let clash = format!("there is already a {what} for {ip} in network '{}'", self.net.name);
        self.dns_records(|d| &mut d.hosts, Some(host), |h| h.ip == ip, clash, what, "host")
    }

    fn dns_txt(&mut self) -> UpdateResult<Placed> {
        let what = "DNS TXT record";
        if self.command == NetworkUpdateCommand::Delete {
            let key = self.read(DnsTxtPattern::read)?;
            let matches = |t: &DnsTxt| t.name == key.name && key.value.as_ref().is_none_or(|v| t.value == *v);
            return self.dns_records(|d| &mut d.txt_records, None, matches, String::new(), what, "txt");
        }
        let txt = self.read(DnsTxt::read)?;
        let name = txt.name.clone();
        let clash = format!("there is already a {what} with name '{}' in network '{}'", truncate(&name), self.net.name);
        self.dns_records(|d| &mut d.txt_records, Some(txt), |t| t.name == name, clash, what, "txt")
    }

    fn dns_srv(&mut self) -> UpdateResult<Placed> {
        let what = "DNS SRV record";
        if self.command == NetworkUpdateCommand::Delete {
            let key = self.read(|el| {
                let key = DnsSrvPattern::read(el)?;
                if ["service", "protocol", "domain", "target", "port"].iter().all(|a| el.raw_attr(a).is_none()) {
                    return Err(el.error(ErrorKind::Invalid(
                        "an SRV record to delete needs a service, protocol, domain, target or port".into(),
                    )));
                }
                Ok(key)
            })?;
            let matches = |s: &DnsSrv| srv_matches(&key, s);
            return self.dns_records(|d| &mut d.srv_records, None, matches, String::new(), what, "srv");
        }
        let srv = self.read(DnsSrv::read)?;
        let clash = format!(
            "there is already at least one {what} matching all specified fields in network '{}'",
            self.net.name
        );
        if self.command == NetworkUpdateCommand::Modify {
            let key = srv.clone();
            let same = move |s: &DnsSrv| {
                s.service == key.service
                    && s.protocol == key.protocol
                    && s.domain == key.domain
                    && s.target == key.target
            };
            return self.dns_records(|d| &mut d.srv_records, Some(srv), same, clash, what, "srv");
        }
        let key = DnsSrvPattern {
            service: Some(srv.service.clone()),
            protocol: Some(srv.protocol),
            domain: srv.domain.clone(),
            target: srv.target.clone(),
            port: srv.port,
            priority: None,
            weight: None,
        };
        self.dns_records(|d| &mut d.srv_records, Some(srv), |s| srv_matches(&key, s), clash, what, "srv")
    }
}

/// Whether `s` has every field `key` gives of service, protocol, domain,
/// target and port.
fn srv_matches(key: &DnsSrvPattern, s: &DnsSrv) -> bool {
    key.service.as_ref().is_none_or(|v| s.service == *v)
        && key.protocol.is_none_or(|v| s.protocol == v)
        && key.domain.as_ref().is_none_or(|v| s.domain.as_ref() == Some(v))
        && key.target.as_ref().is_none_or(|v| s.target.as_ref() == Some(v))
        && key.port.is_none_or(|v| s.port == Some(v))
}
