//! Requests of many tasks served in batches by whichever task holds the
//! writer's lock ("flat combining").
//!
//! After a write commits, its writer patches the in-memory snapshots (the
//! coverage index, the read model). A patch copies the part of the snapshot
//! it changes, so under a burst of writes, patching one write at a time
//! costs a copy and a database read per write while the other writers queue
//! on the lock. With a [`Combiner`], each writer queues its request and
//! waits for the lock; the first to get it takes *every* queued request and
//! applies them as one patch (one read, one copy, one swap); the writers
//! whose requests it took find them done when they get the lock, and return
//! at once.
//!
//! The queue is bounded by the writers in flight: each request is queued by
//! a task that then waits for the lock, and every holder of the lock empties
//! the queue.

use std::sync::Mutex;

/// A queued request's place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// The requests taken by one holder of the lock.
#[derive(Debug)]
pub struct Batch<T> {
    /// The last ticket the batch serves.
    pub through: Ticket,
    /// The requests, in the order they were queued.
    pub items: Vec<T>,
}

#[derive(Debug)]
struct Queue<T> {
    issued: u64,
    done: u64,
    items: Vec<T>,
}

/// A queue of requests that the holder of some lock serves in batches; see
/// the module documentation. The lock is the caller's: hold it from
/// [`Combiner::is_done`] to [`Combiner::finish`].
#[derive(Debug)]
pub struct Combiner<T> {
    queue: Mutex<Queue<T>>,
}

impl<T> Default for Combiner<T> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                issued: 0,
                done: 0,
                items: Vec::new(),
            }),
        }
    }
}

impl<T> Combiner<T> {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue<T>> {
        // A panic while the queue was held leaves it consistent (every
        // operation is a push, a take or a store): go on with it.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `item`; its ticket tells later whether a batch served it.
    pub fn push(&self, item: T) -> Ticket {
        let mut q = self.queue();
        q.issued += 1;
        q.items.push(item);
        Ticket(q.issued)
    }

    /// True when a finished batch served `ticket`.
    pub fn is_done(&self, ticket: Ticket) -> bool {
        self.queue().done >= ticket.0
    }

    /// Every queued request, to serve as one batch.
    pub fn take(&self) -> Batch<T> {
        let mut q = self.queue();
        Batch {
            through: Ticket(q.issued),
            items: std::mem::take(&mut q.items),
        }
    }

    /// Marks every ticket up to `through` served (whether its batch worked
    /// or not: a failed batch is retried by the change listener).
    pub fn finish(&self, through: Ticket) {
        let mut q = self.queue();
        q.done = q.done.max(through.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_serves_every_request_queued_before_it_was_taken() {
        let c = Combiner::default();
        let a = c.push(1);
        let b = c.push(2);
        assert!(!c.is_done(a) && !c.is_done(b));
        let batch = c.take();
        assert_eq!(batch.items, vec![1, 2]);
        let late = c.push(3);
        c.finish(batch.through);
        assert!(c.is_done(a) && c.is_done(b));
        assert!(!c.is_done(late), "queued after the take");
        let next = c.take();
        assert_eq!(next.items, vec![3]);
        c.finish(next.through);
        assert!(c.is_done(late));
        assert_eq!(c.take().items, Vec::<i32>::new());
    }
}
