//! The database's clock, as this process estimates it. Lease times are written by one
//! process and compared by the others, so they are all taken on one clock: the database
//! server's, read from the `localTime` its `hello` answer carries. Each process keeps the
//! offset between its own clock and the server's (measured at the midpoint of the round
//! trip, so it is off by at most half of it), and a broker whose clock drifts or was set
//! wrong neither steals leases nor lets its own lapse early (ADR 0006).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mongodb::bson::doc;
use mongodb::Database;

/// A sample whose round trip took longer than this says too little about the offset, and
/// is not taken (the previous offset stays).
const MAX_ROUND_TRIP: Duration = Duration::from_secs(1);

/// The offset of the database's clock from this process's, in milliseconds.
#[derive(Debug, Default)]
pub(crate) struct DatabaseClock {
    offset_ms: AtomicI64,
    /// Added to this process's clock: a test's stand-in for a clock set wrong.
    #[cfg(test)]
    local_skew_ms: i64,
}

impl DatabaseClock {
    /// This process's own clock.
    fn local(&self) -> DateTime<Utc> {
        #[cfg(test)]
        {
            Utc::now() + chrono::Duration::milliseconds(self.local_skew_ms)
        }
        #[cfg(not(test))]
        {
            Utc::now()
        }
    }

    /// The database's time now, as far as this process can tell.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.local() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Takes the offset from one round trip: sent and received on this process's clock,
    /// `server` the database's time in between. Returns whether the sample was taken.
    pub(crate) fn observe(
        &self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        server: DateTime<Utc>,
    ) -> bool {
        let round_trip = received - sent;
        if round_trip < chrono::Duration::zero()
            || round_trip > chrono::Duration::from_std(MAX_ROUND_TRIP).unwrap_or_default()
        {
            return false;
        }
        let midpoint = sent + round_trip / 2;
        let offset = (server - midpoint).num_milliseconds();
        self.offset_ms.store(offset, Ordering::Relaxed);
        true
    }

    /// Asks the server for its time (`hello`, the command drivers monitor servers with) and
    /// takes the offset from the answer. An answer without `localTime` changes nothing.
    pub(crate) async fn sample(&self, db: &Database) -> mongodb::error::Result<()> {
        let sent = self.local();
        let answer = db.run_command(doc! {"hello": 1}).await?;
        let received = self.local();
        if let Ok(server) = answer.get_datetime("localTime") {
            if let Some(server) = DateTime::from_timestamp_millis(server.timestamp_millis()) {
                self.observe(sent, received, server);
            }
        }
        Ok(())
    }

    /// A clock this many milliseconds ahead of the true time (behind when negative), as a
    /// process whose clock was set wrong has.
    #[cfg(test)]
    pub(crate) fn skewed(local_skew_ms: i64) -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            local_skew_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap_or_default()
    }

    #[test]
    fn the_offset_is_taken_at_the_midpoint_of_the_round_trip() {
        let clock = DatabaseClock::default();
        // Sent at 0 and answered at 100 on this clock; the server read 30,050 in between.
        assert!(clock.observe(at(0), at(100), at(30_050)));
        assert_eq!(clock.offset_ms.load(Ordering::Relaxed), 30_000);
    }

    #[test]
    fn slow_or_backwards_round_trips_leave_the_offset_alone() {
        let clock = DatabaseClock::default();
        assert!(clock.observe(at(0), at(10), at(505)));
        assert!(!clock.observe(at(0), at(5_000), at(90_000)));
        assert!(!clock.observe(at(10), at(0), at(90_000)));
        assert_eq!(clock.offset_ms.load(Ordering::Relaxed), 500);
    }

    #[test]
    fn two_clocks_set_apart_agree_once_both_have_observed_the_server() {
        let ahead = DatabaseClock::skewed(40_000);
        let behind = DatabaseClock::skewed(-25_000);
        let server = Utc::now();
        for clock in [&ahead, &behind] {
            let sent = clock.local();
            assert!(clock.observe(sent, sent, server));
        }
        let gap = (ahead.now() - behind.now()).num_milliseconds().abs();
        assert!(gap < 50, "{gap} ms apart");
    }
}
