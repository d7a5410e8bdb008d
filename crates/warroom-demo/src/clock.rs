//! Simulated time: wall time scaled by `--speed`, or stepped by hand in tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The demo incident's epoch: simulated second 0.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

#[derive(Debug, Clone)]
pub enum DemoClock {
    Wall {
        started: Instant,
        speed: f64,
        /// Wall time at the start, so the demo shows today's times.
        epoch: SystemTime,
    },
    Manual(Arc<Mutex<f64>>),
}

impl DemoClock {
    pub fn wall(speed: f64) -> DemoClock {
        let now = SystemTime::now();
        // Whole seconds, like the fixed epoch, so identities compare exactly.
        let whole = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()))
            .unwrap_or_else(|_| epoch());
        DemoClock::Wall {
            started: Instant::now(),
            speed: speed.max(0.01),
            epoch: whole,
        }
    }

    pub fn manual() -> DemoClock {
        DemoClock::Manual(Arc::new(Mutex::new(0.0)))
    }

    /// Seconds of simulated time since the incident started.
    pub fn now(&self) -> f64 {
        match self {
            DemoClock::Wall { started, speed, .. } => started.elapsed().as_secs_f64() * speed,
            DemoClock::Manual(t) => t.lock().map(|t| *t).unwrap_or(0.0),
        }
    }

    /// The wall time of simulated second 0: now for a wall clock, fixed for a manual one
    /// (so tests and snapshots are reproducible).
    pub fn epoch(&self) -> SystemTime {
        match self {
            DemoClock::Wall { epoch, .. } => *epoch,
            DemoClock::Manual(_) => epoch(),
        }
    }

    /// Move a manual clock forward (no effect on a wall clock).
    pub fn advance(&self, secs: f64) {
        if let DemoClock::Manual(t) = self
            && let Ok(mut t) = t.lock()
        {
            *t += secs;
        }
    }
}
