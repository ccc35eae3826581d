//! The frames the hub task has queued for one connection, in order, with their byte count.
//!
//! One small shared struct per connection instead of a channel: an async channel with its three
//! event lists and a 31-slot block kept after the first message cost about 2 KiB per idle
//! connection. Here the queue's storage is freed whenever it drains.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::proto::signal::CloseCode;

/// What the hub task sends one connection, in order.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Text(String),
    Close(CloseCode),
}

/// What the connection task takes next.
#[derive(Debug, PartialEq)]
pub enum Next {
    Frame(Frame),
    /// Too many bytes were waiting: close with 4007, ahead of the queued frames.
    SlowReader,
    /// The hub task is gone (server shutdown): close with 1001.
    HubGone,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Frame>,
    /// Bytes of text queued and not yet written.
    queued: usize,
    slow_reader: bool,
    hub_gone: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
pub struct Outbox(Mutex<State>);

/// The hub task's end. Dropping it tells the connection the hub is gone.
pub struct OutboxSender(Arc<Outbox>);

/// The refusal of a text that would take the queue past its byte limit.
#[derive(Debug, PartialEq)]
pub struct SlowReader;

impl Outbox {
    /// A new queue: the connection task's end, and the hub task's.
    pub fn new() -> (Arc<Outbox>, OutboxSender) {
        let outbox = Arc::new(Outbox::default());
        (outbox.clone(), OutboxSender(outbox))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next frame, or why there is none to come; pending while the queue is empty.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut s = self.state();
        if s.slow_reader {
            return Poll::Ready(Next::SlowReader);
        }
        if let Some(frame) = s.frames.pop_front() {
            if s.frames.is_empty() {
                s.frames = VecDeque::new();
            }
            return Poll::Ready(Next::Frame(frame));
        }
        if s.hub_gone {
            return Poll::Ready(Next::HubGone);
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    pub async fn next(&self) -> Next {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The connection task wrote a text of `len` bytes.
    pub fn written(&self, len: usize) {
        let mut s = self.state();
        s.queued = s.queued.saturating_sub(len);
    }
}

impl OutboxSender {
    /// Queues a text unless that takes the queue past `max_bytes`; then the connection closes
    /// with 4007 and its queue is dropped.
    pub fn send_text(&self, text: String, max_bytes: usize) -> Result<(), SlowReader> {
        let mut s = self.0.state();
        if s.queued + text.len() > max_bytes {
            s.slow_reader = true;
            s.frames = VecDeque::new();
            wake(s);
            return Err(SlowReader);
        }
        s.queued += text.len();
        s.frames.push_back(Frame::Text(text));
        wake(s);
        Ok(())
    }

    pub fn send_close(&self, code: CloseCode) {
        let mut s = self.0.state();
        s.frames.push_back(Frame::Close(code));
        wake(s);
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.hub_gone = true;
        wake(s);
    }
}

fn wake(mut s: MutexGuard<'_, State>) {
    let waker = s.waker.take();
    drop(s);
    if let Some(w) = waker {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_now(outbox: &Outbox) -> Option<Next> {
        let mut cx = Context::from_waker(Waker::noop());
        match outbox.poll_next(&mut cx) {
            Poll::Ready(n) => Some(n),
            Poll::Pending => None,
        }
    }

    #[test]
    fn frames_come_out_in_order_and_the_storage_is_freed_when_drained() {
        let (outbox, tx) = Outbox::new();
        tx.send_text("a".into(), 100).unwrap();
        tx.send_close(CloseCode::Revoked);
        assert_eq!(next_now(&outbox), Some(Next::Frame(Frame::Text("a".into()))));
        assert_eq!(next_now(&outbox), Some(Next::Frame(Frame::Close(CloseCode::Revoked))));
        assert_eq!(next_now(&outbox), None);
        assert_eq!(outbox.state().frames.capacity(), 0);
    }

    #[test]
    fn the_byte_limit_counts_unwritten_text_and_trips_the_slow_reader_close() {
        let (outbox, tx) = Outbox::new();
        tx.send_text("x".repeat(60), 100).unwrap();
        let _ = next_now(&outbox);
        // Taken but not yet written: still counted.
        assert_eq!(tx.send_text("y".repeat(60), 100), Err(SlowReader));
        assert_eq!(next_now(&outbox), Some(Next::SlowReader));

        let (outbox, tx) = Outbox::new();
        tx.send_text("x".repeat(60), 100).unwrap();
        let _ = next_now(&outbox);
        outbox.written(60);
        tx.send_text("y".repeat(60), 100).unwrap();
    }

    #[test]
    fn the_hub_going_away_is_seen_after_the_queued_frames() {
        let (outbox, tx) = Outbox::new();
        tx.send_text("last".into(), 100).unwrap();
        drop(tx);
        assert_eq!(next_now(&outbox), Some(Next::Frame(Frame::Text("last".into()))));
        assert_eq!(next_now(&outbox), Some(Next::HubGone));
    }

    #[test]
    fn a_send_wakes_the_waiting_connection_task() {
        let (outbox, tx) = Outbox::new();
        let got = smol::block_on(async {
            let waiter = smol::spawn({
                let outbox = outbox.clone();
                async move { outbox.next().await }
            });
            smol::Timer::after(std::time::Duration::from_millis(20)).await;
            tx.send_text("hi".into(), 100).unwrap();
            waiter.await
        });
        assert_eq!(got, Next::Frame(Frame::Text("hi".into())));
    }
}
