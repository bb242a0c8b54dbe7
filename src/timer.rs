//! Sleeps for `select!` loops that ask the runtime for one wakeup per
//! deadline. madsim's `Sleep` adds a timer entry every time it is polled
//! while pending, and each entry wakes the task when it falls due: a sleep
//! beside a busy branch (a server's tick beside its inbox, a client's
//! silence limit beside its replies) filled the timer heap with stale
//! entries and spurious wakeups — a tenth of a seed's cost. Under tokio
//! polling less is harmless: the same task's waker stays registered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A resettable sleep that registers a timer only when none is due at or
/// before its deadline.
pub struct Deadline {
    sleep: Pin<Box<Sleep>>,
    /// When the timer we last registered falls due.
    armed: Option<Instant>,
}

impl Deadline {
    pub fn at(when: Instant) -> Deadline {
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(when)),
            armed: None,
        }
    }

    pub fn after(d: Duration) -> Deadline {
        Deadline::at(Instant::now() + d)
    }

    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    pub fn reset(&mut self, when: Instant) {
        self.sleep.as_mut().reset(when);
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sleep.is_elapsed() {
            return Poll::Ready(());
        }
        let deadline = self.deadline();
        // A timer due at or before the deadline (and still ahead) will wake
        // us: no need for another. One due at the deadline is ahead, as the
        // deadline is.
        let armed = match self.armed {
            Some(a) if a == deadline => true,
            Some(a) => a < deadline && a > Instant::now(),
            None => false,
        };
        if armed {
            return Poll::Pending;
        }
        self.armed = Some(deadline);
        self.sleep.as_mut().poll(cx)
    }
}

/// A periodic tick: the first at once, then every `period` after the
/// previous one was due (tokio's `interval` with `MissedTickBehavior::Burst`).
pub struct Ticker {
    next: Deadline,
    period: Duration,
}

impl Ticker {
    pub fn new(period: Duration) -> Ticker {
        Ticker {
            next: Deadline::at(Instant::now()),
            period,
        }
    }

    /// Completes when the next tick is due.
    pub async fn tick(&mut self) {
        (&mut self.next).await;
        let next = self.next.deadline() + self.period;
        self.next.reset(next);
    }
}
