//! Futures polled only once they have woken their task.
//!
//! A connection's task waits on its connection, the gateway's shutdown signal and a timer at
//! once, and is woken a few times per request, each time by the connection. Polling the other
//! two on every wake is not free: the shutdown signal takes a lock shared by every connection,
//! the timer re-registers its waker. [`Gated`] polls its future on the first poll and then only
//! after that future has woken the task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Wakes the task and remembers that it did.
#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// `inner`, polled only when it asked to be (see the module documentation).
pub struct Gated<F> {
    inner: F,
    flag: Arc<Flag>,
    waker: Waker,
    /// The task waker last registered, to notice a move to another task.
    registered: Option<Waker>,
}

impl<F: Future + Unpin> Gated<F> {
    pub fn new(inner: F) -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        Self {
            inner,
            flag,
            waker,
            registered: None,
        }
    }
}

impl<F: Future + Unpin> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if !this
            .registered
            .as_ref()
            .is_some_and(|registered| registered.will_wake(cx.waker()))
        {
            this.flag.task.register(cx.waker());
            this.registered = Some(cx.waker().clone());
            // Polled from a new task: the inner future learns the new waker's way.
            this.flag.woken.store(true, Ordering::Release);
        }
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `ready` is set, waking through the waker it was given.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn the_inner_future_is_polled_first_and_then_only_when_it_woke() {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(std::sync::Mutex::new(None));
        let mut gated = Gated::new(Probe {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: waker.clone(),
        });
        let mut gated = Pin::new(&mut gated);
        struct Task;
        impl Wake for Task {
            fn wake(self: Arc<Self>) {}
        }
        let task = Waker::from(Arc::new(Task));
        let mut cx_task = Context::from_waker(&task);
        assert!(gated.as_mut().poll(&mut cx_task).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        for _ in 0..5 {
            assert!(gated.as_mut().poll(&mut cx_task).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not woken: not polled");
        ready.store(true, Ordering::SeqCst);
        waker.lock().unwrap().take().unwrap().wake();
        assert!(gated.as_mut().poll(&mut cx_task).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_gated_timer_still_fires() {
        let start = tokio::time::Instant::now();
        Gated::new(Box::pin(tokio::time::sleep(
            std::time::Duration::from_millis(30),
        )))
        .await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
    }
}
