//! Engine streams as response bodies.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::Stream;

/// A response body from an engine stream. s3s wants `Sync` streams; the engine's are
/// `Send` only, so a mutex (never contended: one poller) makes them `Sync`.
pub struct SyncStream<S>(Mutex<S>);

impl<S> SyncStream<S> {
    /// Wrap `s`.
    pub fn new(s: S) -> Self {
        Self(Mutex::new(s))
    }
}

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let inner = self.get_mut().0.get_mut().expect("stream lock");
        Pin::new(inner).poll_next(cx)
    }
}
