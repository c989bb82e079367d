//! `<clock>`: how the guest's clock relates to the host's, and its timers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;
use crate::xml::{XmlValue, truncate};

xml_enum! {
    pub enum ClockOffset {
        Utc = "utc",
        Localtime = "localtime",
        Timezone = "timezone",
        Variable = "variable",
        Absolute = "absolute",
    }
}

xml_enum! {
    pub enum ClockBasis {
        Utc = "utc",
        Localtime = "localtime",
    }
}

xml_enum! {
    pub enum TimerName {
        Platform = "platform",
        Rtc = "rtc",
        Tsc = "tsc",
        Hpet = "hpet",
        Pit = "pit",
        Armvtimer = "armvtimer",
        Kvmclock = "kvmclock",
        Hypervclock = "hypervclock",
    }
}

xml_enum! {
    pub enum TimerTrack {
        Boot = "boot",
        Guest = "guest",
        Wall = "wall",
        Realtime = "realtime",
    }
}

xml_enum! {
    pub enum TickPolicy {
        Delay = "delay",
        Catchup = "catchup",
        Merge = "merge",
        Discard = "discard",
    }
}

xml_enum! {
    pub enum TimerMode {
        Auto = "auto",
        Native = "native",
        Emulate = "emulate",
        Paravirt = "paravirt",
        Smpsafe = "smpsafe",
    }
}

/// Seconds added to the clock's basis, or `reset` (start from the basis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClockAdjustment {
    Reset,
    Seconds(i64),
}

impl XmlValue for ClockAdjustment {
    fn parse_xml(s: &str) -> std::result::Result<Self, String> {
        if s == "reset" {
            return Ok(ClockAdjustment::Reset);
        }
        s.trim()
            .parse()
            .map(ClockAdjustment::Seconds)
            .map_err(|_| format!("'{}' is not a number of seconds or 'reset'", truncate(s)))
    }
    fn to_xml(&self) -> Cow<'_, str> {
        match self {
            ClockAdjustment::Reset => Cow::Borrowed("reset"),
            ClockAdjustment::Seconds(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// The `<clock>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Clock {
    pub offset: ClockOffset,
    /// With offset `timezone`: the zone (`Europe/Paris`).
    pub timezone: Option<String>,
    /// With offset `utc`, `localtime` or `variable`.
    pub adjustment: Option<ClockAdjustment>,
    /// With offset `variable`.
    pub basis: Option<ClockBasis>,
    /// With offset `absolute`: seconds since the epoch.
    pub start: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<Timer>,
}

/// A `<timer>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Timer {
    pub name: TimerName,
    pub present: Option<bool>,
    pub tickpolicy: Option<TickPolicy>,
    pub track: Option<TimerTrack>,
    /// `tsc` only: Hz.
    pub frequency: Option<u64>,
    /// `tsc` only.
    pub mode: Option<TimerMode>,
    /// With tickpolicy `catchup`.
    pub catchup: Option<Catchup>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Catchup {
    pub threshold: Option<u32>,
    pub slew: Option<u32>,
    pub limit: Option<u32>,
}

impl Clock {
    pub fn new(offset: ClockOffset) -> Self {
        Clock { offset, timezone: None, adjustment: None, basis: None, start: None, timers: Vec::new() }
    }

    pub fn with_timer(mut self, timer: Timer) -> Self {
        self.timers.push(timer);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Clock> {
        Ok(Clock {
            offset: el.req_attr("offset")?,
            timezone: el.attr("timezone")?,
            adjustment: el.attr("adjustment")?,
            basis: el.attr("basis")?,
            start: el.attr("start")?,
            timers: el.children("timer", |t| {
                Ok(Timer {
                    name: t.req_attr("name")?,
                    present: t.yes_no("present")?,
                    tickpolicy: t.attr("tickpolicy")?,
                    track: t.attr("track")?,
                    frequency: t.attr("frequency")?,
                    mode: t.attr("mode")?,
                    catchup: t.child("catchup", |c| {
                        Ok(Catchup { threshold: c.attr("threshold")?, slew: c.attr("slew")?, limit: c.attr("limit")? })
                    })?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("clock");
        w.attr("offset", self.offset.as_str());
        w.attr_opt("timezone", self.timezone.as_ref());
        w.attr_opt("adjustment", self.adjustment.as_ref());
        w.attr_opt("basis", self.basis.as_ref());
        w.attr_opt("start", self.start.as_ref());
        for t in &self.timers {
            w.start("timer");
            w.attr("name", t.name.as_str());
            w.attr_opt("track", t.track.as_ref());
            w.attr_opt("tickpolicy", t.tickpolicy.as_ref());
            w.attr_opt("frequency", t.frequency.as_ref());
            w.attr_opt("mode", t.mode.as_ref());
            w.yes_no("present", t.present);
            if let Some(c) = &t.catchup {
                w.start("catchup");
                w.attr_opt("threshold", c.threshold.as_ref());
                w.attr_opt("slew", c.slew.as_ref());
                w.attr_opt("limit", c.limit.as_ref());
                w.end();
            }
            w.end();
        }
        w.end();
    }
}

impl Timer {
    pub fn new(name: TimerName) -> Self {
        Timer { name, present: None, tickpolicy: None, track: None, frequency: None, mode: None, catchup: None }
    }
}
