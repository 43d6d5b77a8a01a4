//! When to stop: a deadline and a cancel flag, checked cheaply inside every long loop of the
//! verifier (each layer of a bound pass, each chunk of rows of a backward pass, each alpha step,
//! each attack step, each branch-and-bound batch), so a time limit or Ctrl-C is obeyed within a
//! fraction of a second at every stage, not only between batches.
//!
//! A stopped backward pass returns the trivial bound `-inf` (sound, never refutes anything); a
//! stopped `Analysis` returns an error with [`codes::TIMED_OUT`] or [`codes::CANCELLED`], which
//! branch and bound turns into `timeout` / `unknown`. Stopping can only lose answers, never make
//! one wrong.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{codes, BoundsError, Result};

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Deadline,
    Cancelled,
}

/// A deadline and a cancel flag (cheap to clone and to check).
#[derive(Clone, Debug, Default)]
pub struct Stop {
    deadline: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
}

impl Stop {
    /// Never stops.
    pub fn never() -> Stop {
        Stop::default()
    }
    pub fn new(deadline: Option<Instant>, cancel: Option<Arc<AtomicBool>>) -> Stop {
        Stop { deadline, cancel }
    }
    /// Stops `limit` from now, or when `cancel` is set.
    pub fn after(limit: Duration, cancel: Arc<AtomicBool>) -> Stop {
        Stop {
            deadline: Instant::now().checked_add(limit),
            cancel: Some(cancel),
        }
    }
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// Whether (and why) to stop now.
    pub fn reason(&self) -> Option<StopReason> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some(StopReason::Cancelled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(StopReason::Deadline),
            _ => None,
        }
    }
    pub fn stopped(&self) -> bool {
        self.reason().is_some()
    }
    /// `Err` with a coded error naming `stage` when the run must stop.
    pub fn check(&self, stage: &str) -> Result<()> {
        match self.reason() {
            None => Ok(()),
            Some(StopReason::Deadline) => Err(BoundsError::new(
                codes::TIMED_OUT,
                format!("the time limit was reached during {stage}"),
            )),
            Some(StopReason::Cancelled) => Err(BoundsError::new(
                codes::CANCELLED,
                format!("cancelled during {stage}"),
            )),
        }
    }
}

/// Whether an error is a stop (time limit or cancel) rather than a failure.
pub fn is_stop(e: &BoundsError) -> bool {
    e.code == codes::TIMED_OUT || e.code == codes::CANCELLED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_and_cancel_are_reported_with_their_codes() {
        assert!(Stop::never().check("x").is_ok());
        let past = Stop::new(Some(Instant::now()), None);
        assert_eq!(past.check("import").unwrap_err().code, codes::TIMED_OUT);
        let flag = Arc::new(AtomicBool::new(false));
        let s = Stop::after(Duration::from_secs(3600), flag.clone());
        assert!(!s.stopped());
        flag.store(true, Ordering::SeqCst);
        let e = s.check("the first bound pass").unwrap_err();
        assert_eq!(e.code, codes::CANCELLED);
        assert!(e.message.contains("first bound pass"), "{}", e.message);
    }
}
