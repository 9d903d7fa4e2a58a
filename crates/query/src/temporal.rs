//! The temporal value types of clause 4.6.3 (DateTime, Date, Time) as they appear in query
//! literals and in stored values, parsed without allocating.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};

/// A DateTime (`YYYY-MM-DDThh:mm:ss[.ffffff]Z`; a comma before the fraction and RFC 3339
/// offsets are accepted too) as an instant.
pub(crate) fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    // Cheap shape test first: stored strings are mostly not date-times.
    if b.len() < 20 || b.get(4) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // ISO 8601 prefers a comma before the fraction; clause 4.6.3 allows it in requests.
    if b.get(19) == Some(&b',') {
        let mut buf = [0u8; 64];
        let dst = buf.get_mut(..b.len())?;
        dst.copy_from_slice(b);
        *dst.get_mut(19)? = b'.';
        let text = std::str::from_utf8(dst).ok()?;
        return DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    None
}

/// A Date (`YYYY-MM-DD`).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A Time (`hh:mm:ss[.ffffff]Z`, the `Z` optional since all times are UTC).
pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let b = s.as_bytes();
    if b.len() < 8 || b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    if !b
        .iter()
        .take(8)
        .enumerate()
        .all(|(i, c)| i == 2 || i == 5 || c.is_ascii_digit())
    {
        return None;
    }
    let fraction = b.get(8..).unwrap_or(&[]);
    let fraction_ok = fraction.is_empty()
        || (fraction.len() >= 2
            && matches!(fraction.first(), Some(b'.' | b','))
            && fraction.iter().skip(1).all(u8::is_ascii_digit));
    if !fraction_ok {
        return None;
    }
    let whole = NaiveTime::parse_from_str(s.get(..8)?, "%H:%M:%S").ok()?;
    if fraction.is_empty() {
        return Some(whole);
    }
    let digits = s.get(9..)?;
    let nanos = digits
        .bytes()
        .take(9)
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    whole.with_nanosecond(nanos)
}
