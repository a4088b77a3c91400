//! When a landed file moves to PROCESSING and when it ends, for each timing profile.
//!
//! The fake keeps no timers: a landed file gets a plan of clock instants, and the store applies
//! every step whose instant has passed whenever it is next read (see `Store::catch_up`).

use crate::config::Timing;

/// Unit21 ingests in batches about every 15 minutes.
pub const BATCH_INTERVAL_MS: i64 = 15 * 60 * 1000;
/// In `realistic`, processing takes a minute plus a second per MB.
const REALISTIC_BASE_MS: i64 = 60_000;
const REALISTIC_MS_PER_MB: i64 = 1000;

/// The instants (ms since the epoch) at which a file starts and finishes processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// QUEUED → PROCESSING.
    pub start_ms: i64,
    /// PROCESSING → FINISHED or FAILED.
    pub end_ms: i64,
}

/// The plan for a file that landed at `landed_ms` with `size` bytes; `None` under `manual`.
pub fn plan(timing: Timing, landed_ms: i64, size: u64) -> Option<Plan> {
    match timing {
        Timing::Instant => Some(Plan {
            start_ms: landed_ms,
            end_ms: landed_ms,
        }),
        Timing::Fast => Some(Plan {
            start_ms: landed_ms + 1000,
            end_ms: landed_ms + 2000,
        }),
        Timing::Realistic => {
            // The next batch boundary strictly after landing.
            let start_ms = (landed_ms.div_euclid(BATCH_INTERVAL_MS) + 1) * BATCH_INTERVAL_MS;
            let mb = (size / 1_000_000) as i64;
            Some(Plan {
                start_ms,
                end_ms: start_ms + REALISTIC_BASE_MS + mb * REALISTIC_MS_PER_MB,
            })
        }
        Timing::Manual => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::instant(Timing::Instant, 5_500, 0, Some((5_500, 5_500)))]
    #[case::fast(Timing::Fast, 5_500, 0, Some((6_500, 7_500)))]
    #[case::realistic_waits_for_the_next_batch(Timing::Realistic, 1_000, 0, Some((900_000, 960_000)))]
    #[case::realistic_on_a_boundary_waits_a_whole_batch(Timing::Realistic, 900_000, 0, Some((1_800_000, 1_860_000)))]
    #[case::realistic_scales_with_size(Timing::Realistic, 0, 300_000_000, Some((900_000, 1_260_000)))]
    #[case::manual(Timing::Manual, 5_500, 0, None)]
    fn plans(
        #[case] timing: Timing,
        #[case] landed: i64,
        #[case] size: u64,
        #[case] expected: Option<(i64, i64)>,
    ) {
        assert_eq!(
            plan(timing, landed, size).map(|p| (p.start_ms, p.end_ms)),
            expected
        );
    }
}
