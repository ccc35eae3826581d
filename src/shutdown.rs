//! Shutdown as data flow: dropping the [`Trigger`] wakes every [`Signal`]; every task holds a
//! [`Guard`], and [`Drain::wait`] returns when all guards are gone. [`Signal::until`] and
//! [`every`] are the two shapes a task waits in: for one thing or the shutdown, and for the next
//! tick of a periodic job or the shutdown.

use std::future::Future;
use std::time::Duration;

use futures_lite::StreamExt;

/// Held by `serve`; dropping it (or calling [`Trigger::fire`]) starts the shutdown.
pub struct Trigger(#[allow(dead_code)] async_channel::Sender<()>); // held for its Drop

/// Cloned into every task that must stop when shutdown starts.
#[derive(Clone)]
pub struct Signal(async_channel::Receiver<()>);

/// Cloned into every task that must finish before the process exits.
#[derive(Clone)]
pub struct Guard(#[allow(dead_code)] async_channel::Sender<()>);

/// Waits for every [`Guard`] to be dropped.
pub struct Drain {
    guard: Option<Guard>,
    done: async_channel::Receiver<()>,
}

pub fn channel() -> (Trigger, Signal) {
    let (tx, rx) = async_channel::bounded(1);
    (Trigger(tx), Signal(rx))
}

impl Trigger {
    pub fn fire(self) {
        drop(self);
    }
}

impl Signal {
    /// Resolves once shutdown has started.
    pub async fn fired(&self) {
        let _ = self.0.recv().await;
    }

    pub fn has_fired(&self) -> bool {
        self.0.is_closed()
    }

    /// `fut`'s output, or `None` if shutdown starts first.
    pub async fn until<T>(&self, fut: impl Future<Output = T>) -> Option<T> {
        futures_lite::future::or(async { Some(fut.await) }, async {
            self.fired().await;
            None
        })
        .await
    }
}

/// Ticks every `interval` (the first a whole interval from now) until shutdown starts.
pub fn every(interval: Duration, stop: Signal) -> Every {
    Every { timer: smol::Timer::interval(interval), stop }
}

/// See [`every`]: one timer for the loop's life, not one per tick.
pub struct Every {
    timer: smol::Timer,
    stop: Signal,
}

impl Every {
    /// True at the next tick; false once shutdown has started.
    pub async fn tick(&mut self) -> bool {
        let Every { timer, stop } = self;
        stop.until(timer.next()).await.is_some()
    }
}

impl Drain {
    pub fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Drain { guard: Some(Guard(tx)), done: rx }
    }

    pub fn guard(&self) -> Guard {
        self.guard.clone().expect("guards are only handed out before wait() takes the last one")
    }

    /// Returns true if every guard was dropped within `deadline`.
    pub async fn wait(mut self, deadline: Duration) -> bool {
        self.guard = None;
        let done = async {
            let _ = self.done.recv().await;
            true
        };
        futures_lite::future::or(done, async {
            smol::Timer::after(deadline).await;
            false
        })
        .await
    }
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_wakes_signals_and_drain_waits_for_guards() {
        smol::block_on(async {
            let (trigger, signal) = channel();
            let drain = Drain::new();
            let guard = drain.guard();
            let s2 = signal.clone();
            let task = smol::spawn(async move {
                s2.fired().await;
                drop(guard);
            });
            assert!(!signal.has_fired());
            trigger.fire();
            assert!(drain.wait(Duration::from_secs(5)).await);
            task.await;
            assert!(signal.has_fired());
        });
    }

    #[test]
    fn every_ticks_until_the_shutdown_and_until_gives_up_then() {
        smol::block_on(async {
            let (trigger, signal) = channel();
            let mut ticks = every(Duration::from_millis(5), signal.clone());
            assert!(ticks.tick().await);
            assert!(ticks.tick().await);
            assert_eq!(signal.until(async { 7 }).await, Some(7));
            trigger.fire();
            assert!(!ticks.tick().await);
            assert_eq!(signal.until(std::future::pending::<()>()).await, None);
        });
    }

    #[test]
    fn drain_gives_up_at_the_deadline() {
        smol::block_on(async {
            let drain = Drain::new();
            let _stuck = drain.guard();
            assert!(!drain.wait(Duration::from_millis(20)).await);
        });
    }
}
