//! Between the wire's messages and virtkit's types, both ways (the daemon
//! sends what the client library receives).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

use uuid::Uuid;
use virtkit_engine::types::{self as t, DomainState, EventDetail, EventKind, State, StateReason};
use virtkit_engine::{Error, ErrorKind};

use crate::v1;

/// A message that does not hold what it should.
pub(crate) fn bad(what: &str, value: &str) -> Error {
    Error::new(ErrorKind::Internal, format!("bad {what} from the peer: '{value}'"))
}

pub fn uuid(s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("'{}' is not a UUID", cut(s, 64))))
}

/// At most `max` characters of `s` (then an ellipsis): what a message
/// quotes of input that may be any length.
fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
        None => std::borrow::Cow::Borrowed(s),
    }
}

/// An engine enum and its wire enum, matched by name: the word
/// `shutting-down` of `DomainState` is `DOMAIN_STATE_SHUTTING_DOWN`.
pub(crate) struct Names<E: 'static> {
    to: HashMap<E, i32>,
    from: HashMap<i32, E>,
}

impl<E: Copy + Eq + Hash> Names<E> {
    fn build(all: &[E], word: fn(E) -> &'static str, prefix: &str, value: fn(&str) -> Option<i32>) -> Names<E> {
        let mut to = HashMap::new();
        let mut from = HashMap::new();
        for &e in all {
            if let Some(v) = value(&wire_name(prefix, word(e))) {
                to.insert(e, v);
                from.insert(v, e);
            }
        }
        Names { to, from }
    }

    /// Every engine value has a wire value (the tests check it); 0 else.
    pub(crate) fn to(&self, e: E) -> i32 {
        self.to.get(&e).copied().unwrap_or(0)
    }

    pub(crate) fn from(&self, v: i32) -> Option<E> {
        self.from.get(&v).copied()
    }
}

fn wire_name(prefix: &str, word: &str) -> String {
    format!("{prefix}_{}", word.to_ascii_uppercase().replace('-', "_"))
}

fn states() -> &'static Names<DomainState> {
    static N: OnceLock<Names<DomainState>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(DomainState::ALL, DomainState::as_str, "DOMAIN_STATE", |n| {
            v1::DomainState::from_str_name(n).map(|v| v as i32)
        })
    })
}

fn reasons() -> &'static Names<StateReason> {
    static N: OnceLock<Names<StateReason>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(StateReason::ALL, StateReason::as_str, "STATE_REASON", |n| {
            v1::StateReason::from_str_name(n).map(|v| v as i32)
        })
    })
}

fn kinds() -> &'static Names<EventKind> {
    static N: OnceLock<Names<EventKind>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(EventKind::ALL, EventKind::as_str, "EVENT_KIND", |n| {
            v1::EventKind::from_str_name(n).map(|v| v as i32)
        })
    })
}

fn details() -> &'static Names<EventDetail> {
    static N: OnceLock<Names<EventDetail>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(EventDetail::ALL, EventDetail::as_str, "EVENT_DETAIL", |n| {
            v1::EventDetail::from_str_name(n).map(|v| v as i32)
        })
    })
}

pub fn state_to(s: DomainState) -> i32 {
    states().to(s)
}

pub fn state_from(v: i32) -> Result<DomainState, Error> {
    states().from(v).ok_or_else(|| bad("state", &v.to_string()))
}

/// A reason this side does not know (from a newer peer) is `unknown`:
/// reasons are added over time, and a reason never changes what a state means.
pub fn reason_from(v: i32) -> StateReason {
    reasons().from(v).unwrap_or(StateReason::Unknown)
}

pub fn stats_to(s: &t::DomainStats) -> v1::DomainStats {
    v1::DomainStats {
        cpu_time_ns: s.cpu_time_ns,
        vcpus: u32::from(s.vcpus),
        memory_current: s.memory_current,
        memory_max: s.memory_max,
        block: s
            .block
            .iter()
            .map(|b| v1::BlockStats {
                dev: b.dev.clone(),
                rd_bytes: b.rd_bytes,
                wr_bytes: b.wr_bytes,
                rd_reqs: b.rd_reqs,
                wr_reqs: b.wr_reqs,
            })
            .collect(),
        net: s
            .net
            .iter()
            .map(|n| v1::NetStats {
                dev: n.dev.clone(),
                rx_bytes: n.rx_bytes,
                tx_bytes: n.tx_bytes,
                rx_packets: n.rx_packets,
                tx_packets: n.tx_packets,
            })
            .collect(),
    }
}

pub fn stats_from(s: v1::DomainStats) -> t::DomainStats {
    let mut out = t::DomainStats::default();
    out.cpu_time_ns = s.cpu_time_ns;
    out.vcpus = u16::try_from(s.vcpus).unwrap_or(u16::MAX);
    out.memory_current = s.memory_current;
    out.memory_max = s.memory_max;
    out.block = s
        .block
        .into_iter()
        .map(|b| {
            let mut x = t::BlockStats::default();
            x.dev = b.dev;
            x.rd_bytes = b.rd_bytes;
            x.wr_bytes = b.wr_bytes;
            x.rd_reqs = b.rd_reqs;
            x.wr_reqs = b.wr_reqs;
            x
        })
        .collect();
    out.net = s
        .net
        .into_iter()
        .map(|n| {
            let mut x = t::NetStats::default();
            x.dev = n.dev;
            x.rx_bytes = n.rx_bytes;
            x.tx_bytes = n.tx_bytes;
            x.rx_packets = n.rx_packets;
            x.tx_packets = n.tx_packets;
            x
        })
        .collect();
    out
}

/// A UUID as the wire writes it, without the formatting machinery.
pub(crate) fn uuid_text(u: &Uuid) -> String {
    let mut buf = Uuid::encode_buffer();
    u.hyphenated().encode_lower(&mut buf).to_owned()
}

/// Takes the value: its strings move instead of being copied.
pub fn info_to(i: t::DomainInfo) -> v1::DomainInfo {
    v1::DomainInfo {
        uuid: uuid_text(&i.uuid),
        stats: i.stats.as_ref().map(stats_to),
        name: i.name,
        id: i.id,
        state: state_to(i.state),
        reason: reasons().to(i.reason),
        persistent: i.persistent,
        autostart: i.autostart,
        generation: i.generation,
        memory: i.memory,
        vcpus: u32::from(i.vcpus),
    }
}

pub fn info_from(i: v1::DomainInfo) -> Result<t::DomainInfo, Error> {
    let mut out = t::DomainInfo::new(uuid(&i.uuid)?, i.name);
    out.id = i.id;
    out.state = state_from(i.state)?;
    out.reason = reason_from(i.reason);
    out.persistent = i.persistent;
    out.autostart = i.autostart;
    out.generation = i.generation;
    out.memory = i.memory;
    out.vcpus = u16::try_from(i.vcpus).unwrap_or(u16::MAX);
    out.stats = i.stats.map(stats_from);
    Ok(out)
}

pub fn list_to(l: t::DomainList) -> v1::DomainList {
    v1::DomainList { revision: l.revision, domains: l.items.into_iter().map(info_to).collect() }
}

pub fn list_from(l: v1::DomainList) -> Result<t::DomainList, Error> {
    let domains = l.domains.into_iter().map(info_from).collect::<Result<Vec<_>, _>>()?;
    Ok(t::DomainList::new(l.revision, domains))
}

pub fn event_to(e: &t::Event) -> v1::Event {
    let (state, reason, resource_state) = match e.state {
        t::ObjectState::Domain(s) => (state_to(s.state), reasons().to(s.reason), 0),
        t::ObjectState::Resource(r) => (0, 0, resource_states().to(r)),
        _ => (0, 0, 0),
    };
    v1::Event {
        revision: e.revision,
        uuid: uuid_text(&e.uuid),
        name: e.name.clone(),
        kind: kinds().to(e.kind),
        detail: details().to(e.detail),
        state,
        reason,
        object: objects().to(e.object),
        pool: e.pool.clone().unwrap_or_default(),
        resource_state,
    }
}

pub fn event_from(e: v1::Event) -> Result<t::Event, Error> {
    let kind = kinds().from(e.kind).ok_or_else(|| bad("event kind", &e.kind.to_string()))?;
    let detail = details().from(e.detail).ok_or_else(|| bad("event detail", &e.detail.to_string()))?;
    // An older daemon sends no kind of object: its events are a domain's.
    let object = if e.object == 0 {
        t::ObjectKind::Domain
    } else {
        objects().from(e.object).ok_or_else(|| bad("object kind", &e.object.to_string()))?
    };
    let state = if object == t::ObjectKind::Domain {
        t::ObjectState::Domain(State::new(state_from(e.state)?, reason_from(e.reason)))
    } else {
        let r = resource_states()
            .from(e.resource_state)
            .ok_or_else(|| bad("resource state", &e.resource_state.to_string()))?;
        t::ObjectState::Resource(r)
    };
    let mut ev = t::Event::of(object, uuid(&e.uuid)?, e.name, kind, detail).with_revision(e.revision).with_state(state);
    if !e.pool.is_empty() {
        ev = ev.with_pool(e.pool);
    }
    Ok(ev)
}

pub(crate) fn objects() -> &'static Names<t::ObjectKind> {
    static N: OnceLock<Names<t::ObjectKind>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(t::ObjectKind::ALL, t::ObjectKind::as_str, "OBJECT_KIND", |n| {
            v1::ObjectKind::from_str_name(n).map(|v| v as i32)
        })
    })
}

pub(crate) fn resource_states() -> &'static Names<t::ResourceState> {
    static N: OnceLock<Names<t::ResourceState>> = OnceLock::new();
    N.get_or_init(|| {
        Names::build(t::ResourceState::ALL, t::ResourceState::as_str, "RESOURCE_STATE", |n| {
            v1::ResourceState::from_str_name(n).map(|v| v as i32)
        })
    })
}

pub fn caps_to(c: &t::Capabilities) -> v1::Capabilities {
    v1::Capabilities {
        driver: c.driver.clone(),
        domain_types: c.domain_types.clone(),
        shutdown_modes: c.shutdown_modes.clone(),
        suspend: c.suspend,
        reboot: c.reboot,
        reset: c.reset,
        autostart: c.autostart,
        persistent: c.persistent,
        stats: c.stats,
        unavailable: c
            .unavailable
            .iter()
            .map(|(what, why)| v1::Unavailable { what: what.clone(), why: why.clone() })
            .collect(),
        pool_types: c.pool_types.clone(),
    }
}

pub fn caps_from(c: v1::Capabilities) -> t::Capabilities {
    let mut out = t::Capabilities::default();
    out.driver = c.driver;
    out.domain_types = c.domain_types;
    out.shutdown_modes = c.shutdown_modes;
    out.suspend = c.suspend;
    out.reboot = c.reboot;
    out.reset = c.reset;
    out.autostart = c.autostart;
    out.persistent = c.persistent;
    out.stats = c.stats;
    out.unavailable = c.unavailable.into_iter().map(|u| (u.what, u.why)).collect();
    out.pool_types = c.pool_types;
    out
}

pub fn host_to(h: &t::HostInfo) -> v1::HostInfo {
    v1::HostInfo {
        hostname: h.hostname.clone(),
        arch: h.arch.clone(),
        cpus: h.cpus,
        memory: h.memory,
        cpu_mhz: h.cpu_mhz,
        cpu_model: h.cpu_model.clone(),
    }
}

pub fn host_from(h: v1::HostInfo) -> t::HostInfo {
    let mut out = t::HostInfo::new(h.hostname, h.arch, h.cpus, h.memory);
    out.cpu_mhz = h.cpu_mhz;
    out.cpu_model = h.cpu_model;
    out
}

/// The most warnings a hello reply carries.
pub const MAX_WARNINGS: usize = 100;

/// A driver's warnings for the wire: at most [`MAX_WARNINGS`] (the last one
/// says how many more there were), each cut to [`MAX_ERROR_TEXT`] bytes.
pub fn warnings_to(warnings: Vec<String>) -> Vec<String> {
    let total = warnings.len();
    let mut out: Vec<String> = warnings.iter().take(MAX_WARNINGS).map(|w| capped(w).into_owned()).collect();
    if total > MAX_WARNINGS {
        out.truncate(MAX_WARNINGS - 1);
        out.push(format!("and {} more (see the daemon's log)", total - out.len()));
    }
    out
}

/// The gRPC status for an error: a code close to its kind, the kind by
/// name in the metadata, and a refused document's problems in the details.
pub fn status_to(e: &Error) -> tonic::Status {
    use tonic::Code;
    let code = match e.kind() {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::InvalidDocument | ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::InvalidState | ErrorKind::Conflict => Code::FailedPrecondition,
        ErrorKind::RevisionGone => Code::OutOfRange,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Disconnected => Code::Unavailable,
        ErrorKind::Cancelled => Code::Aborted,
        ErrorKind::NoSpace => Code::ResourceExhausted,
        _ => Code::Internal,
    };
    let details = match e.document_errors() {
        Some(errs) => {
            let msg = v1::ErrorDetails {
                document_errors: errs
                    .iter()
                    .map(|d| v1::DocumentError {
                        line: d.pos.map_or(0, |p| p.line),
                        column: d.pos.map_or(0, |p| p.column),
                        path: capped(&d.path).into_owned(),
                        message: capped(&d.kind.to_string()).into_owned(),
                    })
                    .collect(),
            };
            prost::Message::encode_to_vec(&msg).into()
        }
        None => Default::default(),
    };
    let mut status = tonic::Status::with_details(code, capped(e.message()), details);
    if let Ok(v) = e.kind().as_str().parse() {
        status.metadata_mut().insert(crate::ERROR_KIND_METADATA, v);
    }
    status
}

/// The most of an error message (or of a document problem's path or
/// message) a status carries (it travels in an HTTP/2 header, which a peer
/// refuses past its limit): a refused value is quoted, and a client that
/// sent megabytes must not get them back.
pub const MAX_ERROR_TEXT: usize = 512;

/// `text`, cut to [`MAX_ERROR_TEXT`] bytes (on a character boundary) with
/// an ellipsis when longer.
pub fn capped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_ERROR_TEXT {
        return text.into();
    }
    let mut end = MAX_ERROR_TEXT - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// virtkit's error for a status received from a daemon.
pub fn status_from(s: &tonic::Status) -> Error {
    use tonic::Code;
    let named = s.metadata().get(crate::ERROR_KIND_METADATA).and_then(|v| v.to_str().ok()?.parse::<ErrorKind>().ok());
    // Without the entry the status is not the daemon's answer but the
    // transport's (or a peer that is not virtkitd).
    let kind = named.unwrap_or(match s.code() {
        Code::Unavailable | Code::Cancelled | Code::Aborted | Code::Unknown => ErrorKind::Disconnected,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::Unimplemented => ErrorKind::Unsupported,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    });
    if kind == ErrorKind::InvalidDocument {
        let details: Option<v1::ErrorDetails> = prost::Message::decode(s.details()).ok();
        let errs = details.map(|d| {
            d.document_errors
                .into_iter()
                .map(|e| {
                    let pos = (e.line > 0).then_some(virtkit_model::TextPos { line: e.line, column: e.column });
                    virtkit_model::Error::received(pos, e.path, e.message)
                })
                .collect::<Vec<_>>()
        });
        if let Some(errs) = errs.and_then(virtkit_model::Errors::from_vec) {
            // The daemon's message names what was refused (a document, or
            // a part of one for net-update).
            return match named {
                Some(_) if !s.message().is_empty() => Error::invalid_document_as(s.message(), errs),
                _ => Error::invalid_document(errs),
            };
        }
    }
    let message = if s.message().is_empty() { format!("{:?}", s.code()) } else { s.message().to_owned() };
    match (named, kind) {
        (Some(_), _) => Error::new(kind, message),
        (None, ErrorKind::Disconnected) => Error::new(kind, format!("lost the connection to virtkitd: {message}")),
        (None, _) => Error::new(kind, format!("virtkitd: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_goes_and_comes_back_the_same() {
        let mut a = t::DomainInfo::new(Uuid::new_v4(), "a");
        a.state = DomainState::Paused;
        a.reason = StateReason::User;
        a.id = Some(3);
        a.persistent = true;
        a.generation = 7;
        a.memory = 1 << 30;
        a.vcpus = 2;
        let mut stats = t::DomainStats::default();
        stats.cpu_time_ns = 5;
        a.stats = Some(stats);
        let list = t::DomainList::new(42, vec![a, t::DomainInfo::new(Uuid::new_v4(), "b")]);
        let back = list_from(list_to(list.clone())).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn host_info_goes_and_comes_back_the_same() {
        let mut h = t::HostInfo::new("h", "x86_64", 4, 8 << 30);
        h.cpu_mhz = 2400;
        h.cpu_model = "Test CPU".into();
        assert_eq!(host_from(host_to(&h)), h);
    }

    #[test]
    fn warnings_are_bounded() {
        let many: Vec<String> = (0..250).map(|i| format!("problem {i} {}", "x".repeat(i * 3))).collect();
        let out = warnings_to(many);
        assert_eq!(out.len(), MAX_WARNINGS);
        assert!(out.iter().all(|w| w.len() <= MAX_ERROR_TEXT + '…'.len_utf8()));
        assert_eq!(out.last().unwrap(), "and 151 more (see the daemon's log)");
        assert_eq!(warnings_to(vec!["a".into()]), ["a"]);
    }

    #[test]
    fn a_reason_from_a_newer_peer_is_unknown_but_a_state_is_an_error() {
        let mut wire = info_to(t::DomainInfo::new(Uuid::new_v4(), "a"));
        wire.reason = 9999;
        assert_eq!(info_from(wire.clone()).unwrap().reason, StateReason::Unknown);
        wire.state = 9999;
        let e = info_from(wire).unwrap_err();
        assert!(e.to_string().contains("'9999'"), "{e}");
    }

    #[test]
    fn every_engine_word_has_its_wire_value() {
        for s in DomainState::ALL {
            assert_eq!(state_from(state_to(*s)).unwrap(), *s, "{s}");
        }
        for r in StateReason::ALL {
            assert_ne!(reasons().to(*r), 0, "{r}");
            assert_eq!(reason_from(reasons().to(*r)), *r);
        }
        for k in EventKind::ALL {
            assert_eq!(kinds().from(kinds().to(*k)), Some(*k), "{k}");
        }
        for d in EventDetail::ALL {
            assert_eq!(details().from(details().to(*d)), Some(*d), "{d}");
        }
        for r in t::ResourceState::ALL {
            assert_eq!(resource_states().from(resource_states().to(*r)), Some(*r), "{r}");
        }
        for o in t::ObjectKind::ALL {
            assert_eq!(objects().from(objects().to(*o)), Some(*o), "{o}");
        }
        assert_eq!(v1::DomainState::ShuttingDown.as_str_name(), wire_name("DOMAIN_STATE", "shutting-down"));
    }

    #[test]
    fn an_event_goes_and_comes_back_the_same() {
        let e = t::Event::new(
            9,
            Uuid::new_v4(),
            "a".to_owned(),
            EventKind::Stopped,
            EventDetail::Destroyed,
            State::new(DomainState::Shutoff, StateReason::Destroyed),
        );
        assert_eq!(event_from(event_to(&e)).unwrap(), e);
        let s = t::Event::of(t::ObjectKind::Secret, Uuid::new_v4(), "s", EventKind::Changed, EventDetail::ValueChanged)
            .with_revision(3)
            .with_state(t::ObjectState::Resource(t::ResourceState::Defined));
        assert_eq!(event_from(event_to(&s)).unwrap(), s);
    }

    #[test]
    fn errors_keep_their_kind_and_document_problems() {
        for kind in [ErrorKind::NotFound, ErrorKind::Conflict, ErrorKind::RevisionGone, ErrorKind::PermissionDenied] {
            let back = status_from(&status_to(&Error::new(kind, "x happened")));
            assert_eq!((back.kind(), back.to_string()), (kind, "x happened".to_owned()));
        }
        let doc = virtkit_model::domain::Domain::from_xml("<domain type='test'><nmae/></domain>").unwrap_err();
        let back = status_from(&status_to(&Error::invalid_document(doc)));
        assert_eq!(back.kind(), ErrorKind::InvalidDocument);
        let errs = back.document_errors().unwrap();
        assert!(errs.len() >= 2, "{back}");
        let typo = errs.iter().find(|e| e.path == "/domain/nmae").expect("the typo");
        assert_eq!(typo.pos.map(|p| (p.line, p.column)), Some((1, 21)));
        // A refused part of a document keeps the words that name it.
        let part = Error::invalid_part("invalid <host> for network 'default'", errs.clone());
        let back = status_from(&status_to(&part));
        assert_eq!((back.kind(), back.to_string()), (ErrorKind::InvalidDocument, part.to_string()));
        assert_eq!(back.document_errors().map(|e| e.len()), Some(errs.len()));
        // A status from the transport, not the daemon: disconnected, and said so.
        let lost = status_from(&tonic::Status::unavailable("connection refused"));
        assert_eq!(lost.kind(), ErrorKind::Disconnected);
        assert!(lost.to_string().contains("virtkitd"), "{lost}");
    }
}
