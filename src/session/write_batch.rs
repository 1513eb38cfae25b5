//! Frames that become due for many WebSockets while a worker is busy go out in one write per
//! socket.
//!
//! A WebSocket output does not wake its connection when a broadcast's frames are queued (what
//! answers the client itself goes at once). It is put on this thread's list of due outputs, and one task per worker thread, the flusher, wakes them all when
//! a whole pass of the worker's run queue went by without a new frame (or after [`MAX_PASSES`]
//! passes, so a worker that never goes quiet still writes). What a client publishes while the
//! worker is still delivering its previous publishes then reaches every member in the same write.
//! There is no timer: at low load a pass is a handful of tasks and the frame leaves at once.
//!
//! Outputs on a thread without a flusher (a unit test, say) wake their connection directly.

use std::cell::RefCell;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Most passes of the run queue a due frame waits for the worker to go quiet.
const MAX_PASSES: u32 = 4;

/// What a due output offers the flusher: a way to wake its connection.
pub(super) trait Due: Send + Sync {
    /// Wakes the connection so that it writes what is queued.
    fn release(&self);
}

#[derive(Default)]
struct Queue {
    /// Outputs with frames waiting for the flush.
    due: Vec<Arc<dyn Due>>,
    /// The last flush's list, kept for its allocation.
    spare: Vec<Arc<dyn Due>>,
    /// Frames queued on this thread so far; the flusher compares it between its passes.
    queued: u64,
    /// `queued` at the flusher's last pass.
    seen: u64,
    /// Passes since the first output became due.
    passes: u32,
    /// The flusher, while nothing is due.
    flusher: Option<Waker>,
}

thread_local! {
    static QUEUE: RefCell<Option<Queue>> = const { RefCell::new(None) };
}

/// Starts this thread's flusher, once. Must run inside the worker's event loop (a request
/// handler does).
pub(super) fn start() {
    let started = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_some() {
            return false;
        }
        *q = Some(Queue::default());
        true
    });
    if started {
        actix_web::rt::spawn(Flusher);
    }
}

/// Puts `output` on this thread's due list. False when the thread has no flusher: the caller
/// wakes its connection itself.
pub(super) fn due(output: Arc<dyn Due>) -> bool {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let Some(q) = q.as_mut() else {
            return false;
        };
        q.queued += 1;
        q.due.push(output);
        if q.due.len() == 1 {
            if let Some(flusher) = q.flusher.take() {
                flusher.wake();
            }
        }
        true
    })
}

/// Counts a frame queued on an output that is already due (it delays the flush by a pass).
pub(super) fn queued() {
    QUEUE.with(|q| {
        if let Some(q) = q.borrow_mut().as_mut() {
            q.queued += 1;
        }
    });
}

/// The task that releases due outputs once the worker goes quiet.
struct Flusher;

impl Future for Flusher {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let released = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            let q = q.as_mut()?;
            if q.due.is_empty() {
                q.passes = 0;
                q.flusher = Some(cx.waker().clone());
                return None;
            }
            if q.queued != q.seen && q.passes < MAX_PASSES {
                // Frames were queued during the last pass: the worker is busy, and what it
                // does next may be for the same connections. One more pass.
                q.seen = q.queued;
                q.passes += 1;
                cx.waker().wake_by_ref();
                return None;
            }
            q.seen = q.queued;
            q.passes = 0;
            q.flusher = Some(cx.waker().clone());
            let spare = mem::take(&mut q.spare);
            Some(mem::replace(&mut q.due, spare))
        });
        if let Some(mut released) = released {
            // Outside the borrow: releasing takes each output's lock, never this queue's.
            for output in released.drain(..) {
                output.release();
            }
            QUEUE.with(|q| {
                if let Some(q) = q.borrow_mut().as_mut() {
                    q.spare = released;
                }
            });
        }
        Poll::Pending
    }
}

impl Drop for Flusher {
    /// The worker's event loop is ending: whatever is due is released now, and outputs made
    /// after this wake their connections themselves.
    fn drop(&mut self) {
        let queue = QUEUE.try_with(|q| q.borrow_mut().take()).ok().flatten();
        for output in queue.into_iter().flat_map(|q| q.due) {
            output.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counted(AtomicUsize);

    impl Due for Counted {
        fn release(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Counted {
        fn released(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Lets every task already scheduled run once (the task goes to the back of the queue).
    async fn one_turn() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }

    #[actix_web::test]
    async fn due_outputs_wait_while_the_worker_is_busy_and_leave_once_it_is_quiet() {
        // A task of the worker's run queue, as sessions are (the test's own future is not).
        actix_web::rt::spawn(busy_then_quiet()).await.unwrap();
    }

    async fn busy_then_quiet() {
        start();
        let busy = Arc::new(Counted::default());
        assert!(due(busy.clone()));
        // Frames keep coming: held for MAX_PASSES passes, then released anyway.
        for _ in 0..MAX_PASSES {
            queued();
            one_turn().await;
            assert_eq!(busy.released(), 0, "held while frames keep coming");
        }
        one_turn().await;
        assert_eq!(busy.released(), 1);
        // Quiet: one pass to see that nothing else comes, then released.
        let quiet = Arc::new(Counted::default());
        assert!(due(quiet.clone()));
        one_turn().await;
        assert_eq!(quiet.released(), 0);
        one_turn().await;
        assert_eq!(quiet.released(), 1);
        assert_eq!(busy.released(), 1, "released once");
    }

    #[test]
    fn without_a_flusher_nothing_is_taken() {
        assert!(!due(Arc::new(Counted::default())));
    }
}
