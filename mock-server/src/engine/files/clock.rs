//! The clock's moves and the settings the files part keeps (timing, streams): each change
//! applies the lifecycle steps it makes due, and is stored with the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{remove_file_quietly, ClockReading, Files, StartSettings};
use crate::clock::LATEST_MS;
use crate::config::{Config, StreamConfig, Timing};
use crate::error::Error;

impl Files {
    /// Moves the clock forward and applies what falls due. Refused past [`LATEST_MS`].
    pub async fn advance(&self, by: Duration) -> Result<ClockReading, Error> {
        if by > self.clock.room() {
            return Err(Error::Invalid(format!(
                "the clock cannot move past {} (it is {}): advance by less",
                crate::clock::iso8601_millis(LATEST_MS),
                crate::clock::iso8601_millis(self.clock.now_millis())
            )));
        }
        self.clock.advance(by);
        self.settle().await;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Freezes the clock at `epoch_ms` and applies what falls due. Refused past [`LATEST_MS`].
    pub async fn set_time(&self, epoch_ms: u64) -> Result<ClockReading, Error> {
        if epoch_ms > LATEST_MS as u64 {
            return Err(Error::Invalid(format!(
                "epoch_ms must be at most {LATEST_MS} ({})",
                crate::clock::iso8601_millis(LATEST_MS)
            )));
        }
        self.clock.set(UNIX_EPOCH + Duration::from_millis(epoch_ms));
        self.settle().await;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Switches the timing profile for files that land from now on.
    pub async fn set_timing(&self, timing: Timing) -> Result<ClockReading, Error> {
        self.shelf.lock().timing = timing;
        self.save_settings().await?;
        Ok(self.clock_reading())
    }

    /// Replaces every stream configuration, once it is checked.
    pub async fn set_streams(&self, streams: Vec<StreamConfig>) -> Result<(), Error> {
        Config {
            streams: streams.clone(),
            ..Config::default()
        }
        .validate()?;
        self.shelf.lock().streams = streams;
        self.save_settings().await
    }

    /// Writes the clock, the timing profile and the streams (with any lifecycle steps applied
    /// since the last change).
    pub async fn save_settings(&self) -> Result<(), Error> {
        let staged = self.stage(&mut self.shelf.lock(), true);
        self.acknowledged(staged).await
    }

    /// The timing, streams and clock in force now.
    pub fn current_settings(&self) -> StartSettings {
        let shelf = self.shelf.lock();
        StartSettings {
            timing: shelf.timing,
            streams: shelf.streams.clone(),
            clock: self.clock.parts(),
        }
    }

    /// Forgets every file and object, puts `settings` back if given, and sets the clock to
    /// `at` if given; the object files are deleted once the change is acknowledged.
    pub async fn clear(
        &self,
        settings: Option<&StartSettings>,
        at: Option<SystemTime>,
    ) -> Result<(), Error> {
        let (paths, staged) = {
            let mut shelf = self.shelf.lock();
            if let Some(start) = settings {
                shelf.timing = start.timing;
                shelf.streams = start.streams.clone();
                self.clock.restore(start.clock.0, start.clock.1);
            }
            if let Some(at) = at {
                self.clock.set(at);
            }
            let paths = shelf.store.clear();
            (paths, self.stage(&mut shelf, true))
        };
        self.acknowledged(staged).await?;
        for path in paths {
            remove_file_quietly(&path).await;
        }
        Ok(())
    }
}
