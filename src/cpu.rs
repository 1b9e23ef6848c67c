//! The bounded pool for CPU-heavy work: geometry validation of large
//! writes, fibre generalisation, gap grids, analyses, footprints, batch
//! points and import readers run here, never on the async runtime's worker
//! threads, so `/healthz` and the light endpoints keep answering while they
//! run.
//!
//! The pool is tokio's blocking pool behind a semaphore with one permit per
//! core ([`workers`]): at most that many heavy jobs run at once, the others
//! wait (asynchronously, costing nothing) for a permit. Each job gets a
//! [`Cancel`] that it checks between steps of its work; when the request's
//! future is dropped — the client went away, or the timeout middleware
//! ([`crate::http::limits`]) gave up — the flag is raised and the job stops
//! at its next check, releasing its permit. Work that cannot be interrupted
//! (one call into a library) still ends; it is bounded by the input limits.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Semaphore;

/// The heavy jobs that may run at once: the machine's cores (at least 1).
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(workers())));

/// Jobs started since the process began (for tests and metrics).
static STARTED: AtomicU64 = AtomicU64::new(0);
/// Jobs that saw their cancellation flag raised.
static CANCELLED: AtomicU64 = AtomicU64::new(0);

/// The cancellation flag of one job: raised when the future awaiting the
/// job is dropped.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// A job stopped because its request was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the computation was cancelled: its request ended")]
pub struct Cancelled;

impl Cancel {
    /// A flag that is never raised (for callers outside a request: the
    /// command line, tests).
    pub fn never() -> Self {
        Self::default()
    }

    /// True once the job's request is gone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the job's request is gone: call it between
    /// steps of the work and return the error.
    ///
    /// # Errors
    /// [`Cancelled`] when the flag is raised.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            CANCELLED.fetch_add(1, Ordering::Relaxed);
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Why a job gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The job panicked (the panic is logged by tokio; the process lives).
    #[error("a computation failed: {0}")]
    Panicked(#[source] tokio::task::JoinError),
    /// The pool is closed (never, in practice).
    #[error("the computation pool is closed")]
    Closed,
    /// A background job's thread did not start or its job panicked.
    #[error("a background computation failed")]
    Background,
}

/// Raises the flag when the awaiting future is dropped before the job ends.
struct RaiseOnDrop {
    cancel: Cancel,
    done: bool,
}

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if !self.done {
            self.cancel.raise();
        }
    }
}

/// Runs `job` on the bounded pool and waits for its answer; see the module
/// documentation. `job` should check its [`Cancel`] every few milliseconds
/// of work.
///
/// # Errors
/// [`CpuError::Panicked`] when the job panicked.
pub async fn run<T, F>(job: F) -> Result<T, CpuError>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> T + Send + 'static,
{
    run_wide(1, move |c, _| job(c)).await
}

/// [`run`] for a job that uses up to `threads` threads itself: it takes that
/// many permits (at most [`workers`]) and is told how many it got.
///
/// # Errors
/// As [`run`].
pub async fn run_wide<T, F>(threads: usize, job: F) -> Result<T, CpuError>
where
    T: Send + 'static,
    F: FnOnce(&Cancel, usize) -> T + Send + 'static,
{
    let threads = threads.clamp(1, workers());
    let n = u32::try_from(threads).unwrap_or(1);
    let permit = PERMITS
        .clone()
        .acquire_many_owned(n)
        .await
        .map_err(|_| CpuError::Closed)?;
    let mut guard = RaiseOnDrop {
        cancel: Cancel::default(),
        done: false,
    };
    let cancel = guard.cancel.clone();
    STARTED.fetch_add(1, Ordering::Relaxed);
    let handle = tokio::task::spawn_blocking(move || {
        // The permit is held by the job, not by the awaiting future: a
        // cancelled job keeps its slot until it has really stopped.
        let _permit = permit;
        job(&cancel, threads)
    });
    let out = handle.await.map_err(CpuError::Panicked);
    guard.done = true;
    out
}

/// Nice value of [`run_background`]'s threads (Linux: 0 is the default,
/// 19 the lowest priority).
pub const BACKGROUND_NICE: i32 = 10;

/// Runs `job` on a thread of its own at a lower scheduling priority
/// ([`BACKGROUND_NICE`]; where the system refuses, at the normal one) and
/// waits for its answer: upkeep that should take idle CPU and yield to
/// requests (the settle grids after a load). It holds no permit of the
/// pool, so requests' jobs never wait for it; the scheduler gives them
/// about ten times its share of a busy core. Its [`Cancel`] is raised when
/// the awaiting future is dropped, as with [`run`].
///
/// # Errors
/// [`CpuError::Background`] when the job
/// panicked or its thread could not start.
pub async fn run_background<T, F>(name: &str, job: F) -> Result<T, CpuError>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> T + Send + 'static,
{
    let mut guard = RaiseOnDrop {
        cancel: Cancel::default(),
        done: false,
    };
    let cancel = guard.cancel.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // Per thread on Linux; best effort elsewhere.
            let _ = rustix::process::setpriority_process(None, BACKGROUND_NICE);
            let _ = tx.send(job(&cancel));
        })
        .map_err(|_| CpuError::Background)?;
    let out = rx.await.map_err(|_| CpuError::Background)?;
    guard.done = true;
    Ok(out)
}

/// Jobs started and jobs that stopped on their cancellation flag, since the
/// process began.
pub fn counters() -> (u64, u64) {
    (
        STARTED.load(Ordering::Relaxed),
        CANCELLED.load(Ordering::Relaxed),
    )
}

/// Permits free right now (all of [`workers`] when the pool is idle).
pub fn idle() -> usize {
    PERMITS.available_permits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_job_answers_and_frees_its_permit() {
        assert_eq!(run(|_| 6 * 7).await.unwrap(), 42);
        let got = run_wide(64, |_, threads| threads).await.unwrap();
        assert_eq!(got, workers());
    }

    #[tokio::test]
    async fn dropping_the_waiting_future_stops_the_job_at_its_next_check() {
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = run(move |cancel| {
            loop {
                if cancel.check().is_err() {
                    tx.send(()).unwrap();
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // The job loops until its request is dropped.
        let timed_out = tokio::time::timeout(Duration::from_millis(50), fut).await;
        assert!(timed_out.is_err());
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the job saw the flag");
    }

    #[tokio::test]
    async fn a_background_job_runs_on_its_own_thread_at_a_lower_priority() {
        let mine = rustix::process::getpriority_process(None).ok();
        let (nice, name) = run_background("test-background", move |_| {
            (
                rustix::process::getpriority_process(None).ok(),
                std::thread::current().name().map(str::to_owned),
            )
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("test-background"));
        if cfg!(target_os = "linux") {
            assert_eq!(nice, Some(BACKGROUND_NICE.max(mine.unwrap_or(0))));
            // The caller's thread keeps its own priority.
            assert_eq!(rustix::process::getpriority_process(None).ok(), mine);
        }
        let r = run_background("test-panic", |_| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(CpuError::Background)));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_crash() {
        let r = run(|_| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(CpuError::Panicked(_))));
    }
}
