//! Sleeps for `select!` loops that ask the runtime for one wakeup per
//! deadline. madsim's `Sleep` adds a timer entry every time it is polled
//! while pending, and each entry wakes the task when it falls due: a sleep
//! beside a busy branch (a server's tick beside its inbox, a client's
//! silence limit beside its replies) filled the timer heap with stale
//! entries and spurious wakeups — a tenth of a seed's cost. Under tokio
//! polling less is harmless: the same task's waker stays registered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A resettable sleep that registers a timer only when none is due at or
/// before its deadline.
pub struct Deadline {
    sleep: Pin<Box<Sleep>>,
    /// When the timer we last registered falls due, and whom it wakes.
    armed: Option<(Instant, Waker)>,
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
        let armed = match &self.armed {
            Some((_, w)) if !w.will_wake(cx.waker()) => false,
            Some((a, _)) if *a == deadline => true,
            Some((a, _)) => *a < deadline && *a > Instant::now(),
            None => false,
        };
        if armed {
            return Poll::Pending;
        }
        self.armed = Some((deadline, cx.waker().clone()));
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

#[cfg(all(test, madsim))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    #[derive(Default)]
    struct Wakes(AtomicUsize);
    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Poll `f` `n` times with a counting waker, let 1 s pass, and say how
    /// many wakeups came.
    async fn wakes_after_polls<F: Future + Unpin>(f: &mut F, n: usize) -> usize {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        for _ in 0..n {
            assert!(Pin::new(&mut *f).poll(&mut cx).is_pending());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        wakes.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_deadline_polled_often_wakes_once_where_a_sleep_wakes_per_poll() {
        madsim::runtime::Runtime::new().block_on(async {
            let mut sleep = Box::pin(tokio::time::sleep(Duration::from_millis(100)));
            assert_eq!(wakes_after_polls(&mut sleep, 50).await, 50);
            let mut d = Deadline::after(Duration::from_millis(100));
            assert_eq!(wakes_after_polls(&mut d, 50).await, 1);
            assert!(d.sleep.is_elapsed());
        });
    }

    #[test]
    fn a_reset_deadline_fires_at_its_new_time() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = Instant::now();
            let mut d = Deadline::after(Duration::from_millis(100));
            let wakes = Arc::new(Wakes::default());
            let waker = Waker::from(wakes.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut d).poll(&mut cx).is_pending());
            // Later: the first timer wakes us early, and we ask for another.
            d.reset(start + Duration::from_millis(300));
            (&mut d).await;
            let near = |ms: u64| {
                start.elapsed().abs_diff(Duration::from_millis(ms)) < Duration::from_millis(5)
            };
            assert!(near(300), "{:?}", start.elapsed());
            // Earlier than a timer already asked for: a new one.
            d.reset(start + Duration::from_millis(900));
            assert!(Pin::new(&mut d).poll(&mut cx).is_pending());
            d.reset(start + Duration::from_millis(400));
            (&mut d).await;
            assert!(near(400), "{:?}", start.elapsed());
        });
    }

    #[test]
    fn a_ticker_ticks_at_once_then_every_period() {
        madsim::runtime::Runtime::new().block_on(async {
            let start = Instant::now();
            let mut t = Ticker::new(Duration::from_millis(50));
            let mut at = Vec::new();
            for _ in 0..4 {
                t.tick().await;
                at.push(start.elapsed());
            }
            // madsim lets a little time pass as tasks run; ticks are due
            // on the period, whatever that.
            assert!(at[0] < Duration::from_millis(5), "{at:?}");
            for w in at.windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    gap.abs_diff(Duration::from_millis(50)) < Duration::from_millis(5),
                    "{at:?}"
                );
            }
        });
    }
}
