//! Olson time zones → what Cisco phones call them.
//!
//! Java phones want the Windows-style names CUCM uses in `<timeZone>`
//! (`GMT Standard/Daylight Time`; the names are those in wazo's Cisco
//! plugin map, reference §6.1). 79x0 SIP loads want an abbreviation in
//! `time_zone` (`EST`, reference §2.4) plus `dst_*` keys. Only zones whose
//! rules are well known are listed; anything else falls back to
//! [`FALLBACK`] (UTC, no daylight saving), so the clock is at worst off by
//! the zone's offset instead of the phone rejecting the config.

/// When daylight saving starts and stops, as 79x0 `dst_*` keys say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DstRule {
    pub start_month: &'static str,
    /// `1`..`4`, or `8` for the last week of the month (79x0 SIP admin
    /// guide convention; unverified on hardware).
    pub start_week: &'static str,
    pub start_time: &'static str,
    pub stop_month: &'static str,
    pub stop_week: &'static str,
    pub stop_time: &'static str,
}

/// How one Olson zone is written for each config format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CiscoZone {
    /// `<timeZone>` text for XML configs.
    pub xml: &'static str,
    /// `time_zone` for 79x0 SIP text configs.
    pub abbreviation: &'static str,
    pub dst: Option<DstRule>,
}

// US/Canada since 2007: second Sunday of March to first Sunday of November, 02:00 local.
const NORTH_AMERICA: DstRule = DstRule {
    start_month: "Mar",
    start_week: "2",
    start_time: "02:00",
    stop_month: "Nov",
    stop_week: "1",
    stop_time: "02:00",
};

// EU: last Sunday of March to last Sunday of October, 01:00 UTC (local times below).
const fn eu(start_time: &'static str, stop_time: &'static str) -> Option<DstRule> {
    Some(DstRule {
        start_month: "Mar",
        start_week: "8",
        start_time,
        stop_month: "Oct",
        stop_week: "8",
        stop_time,
    })
}

const fn zone(xml: &'static str, abbreviation: &'static str, dst: Option<DstRule>) -> CiscoZone {
    CiscoZone {
        xml,
        abbreviation,
        dst,
    }
}

/// Used for UTC and for any zone not in the table.
pub(crate) const FALLBACK: CiscoZone = zone("Greenwich Standard Time", "GMT", None);

const UK: CiscoZone = zone("GMT Standard/Daylight Time", "GMT", eu("01:00", "02:00"));
const CET: CiscoZone = zone(
    "Central Europe Standard/Daylight Time",
    "CET",
    eu("02:00", "03:00"),
);
const EET: CiscoZone = zone(
    "E. Europe Standard/Daylight Time",
    "EET",
    eu("03:00", "04:00"),
);
const EASTERN: CiscoZone = zone("Eastern Standard/Daylight Time", "EST", Some(NORTH_AMERICA));
const CENTRAL: CiscoZone = zone("Central Standard/Daylight Time", "CST", Some(NORTH_AMERICA));
const MOUNTAIN: CiscoZone = zone(
    "Mountain Standard/Daylight Time",
    "MST",
    Some(NORTH_AMERICA),
);
const PACIFIC: CiscoZone = zone("Pacific Standard/Daylight Time", "PST", Some(NORTH_AMERICA));
const ALASKA: CiscoZone = zone(
    "Alaskan Standard/Daylight Time",
    "AKST",
    Some(NORTH_AMERICA),
);
const ATLANTIC: CiscoZone = zone(
    "Atlantic Standard/Daylight Time",
    "AST",
    Some(NORTH_AMERICA),
);

#[rustfmt::skip]
static ZONES: &[(&str, CiscoZone)] = &[
    ("UTC", FALLBACK), ("Etc/UTC", FALLBACK), ("Etc/GMT", FALLBACK), ("GMT", FALLBACK),
    ("Europe/London", UK), ("Europe/Dublin", UK), ("Europe/Lisbon", UK),
    ("Europe/Paris", CET), ("Europe/Berlin", CET), ("Europe/Amsterdam", CET),
    ("Europe/Brussels", CET), ("Europe/Madrid", CET), ("Europe/Rome", CET),
    ("Europe/Vienna", CET), ("Europe/Zurich", CET), ("Europe/Stockholm", CET),
    ("Europe/Oslo", CET), ("Europe/Copenhagen", CET), ("Europe/Warsaw", CET),
    ("Europe/Prague", CET), ("Europe/Budapest", CET), ("Europe/Luxembourg", CET),
    ("Europe/Athens", EET), ("Europe/Helsinki", EET), ("Europe/Kyiv", EET),
    ("Europe/Kiev", EET), ("Europe/Bucharest", EET), ("Europe/Sofia", EET),
    ("Europe/Riga", EET), ("Europe/Tallinn", EET), ("Europe/Vilnius", EET),
    ("America/New_York", EASTERN), ("America/Detroit", EASTERN), ("America/Toronto", EASTERN),
    ("US/Eastern", EASTERN),
    ("America/Chicago", CENTRAL), ("America/Winnipeg", CENTRAL), ("US/Central", CENTRAL),
    ("America/Denver", MOUNTAIN), ("America/Edmonton", MOUNTAIN), ("US/Mountain", MOUNTAIN),
    ("America/Phoenix", zone("US Mountain Standard Time", "MST", None)),
    ("America/Los_Angeles", PACIFIC), ("America/Vancouver", PACIFIC), ("US/Pacific", PACIFIC),
    ("America/Anchorage", ALASKA), ("US/Alaska", ALASKA),
    ("America/Halifax", ATLANTIC), ("Canada/Atlantic", ATLANTIC),
    ("Asia/Tokyo", zone("Tokyo Standard Time", "JST", None)),
];

/// The zone's Cisco names, or `None` when phoneboot does not know it.
pub(crate) fn lookup(olson: &str) -> Option<&'static CiscoZone> {
    let olson = olson.trim();
    ZONES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(olson))
        .map(|(_, z)| z)
}

/// The zone's Cisco names, or [`FALLBACK`].
pub(crate) fn cisco_zone(olson: &str) -> &'static CiscoZone {
    lookup(olson).unwrap_or(&FALLBACK)
}
