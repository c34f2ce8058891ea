//! ISO-8601 durations (`PnYnMnWnDTnHnMnS`) and calendar-correct addition.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use agentwerke_types::Timestamp;

use super::TimerError;

const MILLIS_PER_DAY: i64 = 86_400_000;
/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// An ISO-8601 duration. Seconds (possibly fractional) are kept as
/// milliseconds; finer fractions are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IsoDuration {
    /// `nY`.
    pub years: u32,
    /// `nM` before `T`.
    pub months: u32,
    /// `nW`.
    pub weeks: u32,
    /// `nD`.
    pub days: u32,
    /// `nH`.
    pub hours: u32,
    /// `nM` after `T`.
    pub minutes: u32,
    /// `nS`, as milliseconds.
    pub millis: u64,
}

impl IsoDuration {
    /// Parses `P1Y2M3W4DT5H6M7.5S` and any subset of it. Negative durations
    /// and an empty `P`/`PT` are refused.
    pub fn parse(text: &str) -> Result<IsoDuration, TimerError> {
        let fail = |reason: &str| TimerError::Duration {
            expression: text.to_owned(),
            reason: reason.to_owned(),
        };
        let body = text
            .strip_prefix('P')
            .ok_or_else(|| fail("it must start with P, e.g. PT30M or P1D"))?;
        let (date_part, time_part) = match body.split_once('T') {
            Some((_, "")) => return Err(fail("nothing follows T")),
            Some((d, t)) => (d, Some(t)),
            None => (body, None),
        };
        let mut out = IsoDuration::default();
        let mut any = false;
        for (number, designator) in components(date_part).map_err(|r| fail(&r))? {
            any = true;
            let slot = match designator {
                'Y' => &mut out.years,
                'M' => &mut out.months,
                'W' => &mut out.weeks,
                'D' => &mut out.days,
                other => return Err(fail(&format!("`{other}` is not a date designator"))),
            };
            *slot = whole(number).ok_or_else(|| fail("date parts must be whole numbers"))?;
        }
        if let Some(time_part) = time_part {
            for (number, designator) in components(time_part).map_err(|r| fail(&r))? {
                any = true;
                match designator {
                    'H' => out.hours = whole(number).ok_or_else(|| fail("bad hours"))?,
                    'M' => out.minutes = whole(number).ok_or_else(|| fail("bad minutes"))?,
                    'S' => {
                        out.millis = seconds_to_millis(number).ok_or_else(|| fail("bad seconds"))?
                    }
                    other => return Err(fail(&format!("`{other}` is not a time designator"))),
                }
            }
        }
        if !any {
            return Err(fail("it has no parts"));
        }
        Ok(out)
    }

    /// True when every part is zero.
    pub fn is_zero(&self) -> bool {
        *self == IsoDuration::default()
    }

    /// `t` moved forward by this duration. Years and months move the calendar
    /// date (in UTC), clamping the day to the month's length (Jan 31 + P1M is
    /// Feb 28 or 29); weeks, days and time parts are fixed lengths. Saturates
    /// at the ends of the representable range.
    pub fn add_to(&self, t: Timestamp) -> Timestamp {
        let mut millis = t.as_millis();
        let total_months = i64::from(self.years) * 12 + i64::from(self.months);
        if total_months > 0 {
            millis = match add_months(millis, total_months) {
                Some(m) => m,
                None => return Timestamp(i64::MAX),
            };
        }
        let days = i64::from(self.weeks) * 7 + i64::from(self.days);
        let fixed = days
            .saturating_mul(MILLIS_PER_DAY)
            .saturating_add(i64::from(self.hours) * 3_600_000)
            .saturating_add(i64::from(self.minutes) * 60_000)
            .saturating_add(i64::try_from(self.millis).unwrap_or(i64::MAX));
        Timestamp(millis.saturating_add(fixed))
    }
}

/// Splits `3W4D` into `[("3", 'W'), ("4", 'D')]`.
fn components(text: &str) -> Result<Vec<(&str, char)>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            continue;
        }
        let number = &text[start..i];
        if number.is_empty() {
            return Err(format!("`{c}` has no number before it"));
        }
        if out.iter().any(|(_, d)| *d == c) {
            return Err(format!("`{c}` appears twice"));
        }
        out.push((number, c));
        start = i + c.len_utf8();
    }
    if start != text.len() {
        return Err("it ends with a number and no designator".to_owned());
    }
    Ok(out)
}

fn whole(number: &str) -> Option<u32> {
    if number.bytes().all(|b| b.is_ascii_digit()) {
        number.parse().ok()
    } else {
        None
    }
}

fn seconds_to_millis(number: &str) -> Option<u64> {
    let number = number.replace(',', ".");
    let (int, frac) = number.split_once('.').unwrap_or((&number, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (number.contains('.') && frac.is_empty()) {
        return None;
    }
    let secs: u64 = int.parse().ok()?;
    let mut ms_digits: String = frac.chars().take(3).collect();
    while ms_digits.len() < 3 {
        ms_digits.push('0');
    }
    let ms: u64 = ms_digits.parse().ok()?;
    secs.checked_mul(1000)?.checked_add(ms)
}

/// Moves `millis` by `months` calendar months in UTC, or `None` past year 9999.
fn add_months(millis: i64, months: i64) -> Option<i64> {
    let day_number = millis.div_euclid(MILLIS_PER_DAY);
    let in_day = millis.rem_euclid(MILLIS_PER_DAY);
    let julian = i32::try_from(day_number + UNIX_EPOCH_JULIAN_DAY).ok()?;
    let date = Date::from_julian_day(julian).ok()?;
    let month0 = i64::from(u8::from(date.month())) - 1 + months;
    let year = i64::from(date.year()) + month0.div_euclid(12);
    let year = i32::try_from(year).ok()?;
    let month = Month::try_from(u8::try_from(month0.rem_euclid(12) + 1).ok()?).ok()?;
    let day = date.day().min(month.length(year));
    let moved = Date::from_calendar_date(year, month, day).ok()?;
    let days = i64::from(moved.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
    days.checked_mul(MILLIS_PER_DAY)?.checked_add(in_day)
}
