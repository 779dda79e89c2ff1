//! The crate's rayon pool: sized to the machine, resizable with
//! `set_num_threads`. Kernels use ordinary rayon iterators; callers run them
//! inside `run` so they land on this pool rather than rayon's global one.
use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn machine_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn build(threads: usize) -> Arc<ThreadPool> {
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sfumato-ops-{i}"))
        .build()
        .expect("cannot start the image-ops thread pool");
    Arc::new(pool)
}

fn current() -> Arc<ThreadPool> {
    if let Some(pool) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return pool.clone();
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| build(machine_threads())).clone()
}

/// Replaces the pool with one of `threads` threads (0 = one per CPU).
/// Work already running finishes on the old pool.
pub fn set_num_threads(threads: usize) {
    let threads = if threads == 0 { machine_threads() } else { threads };
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(build(threads));
}

/// Number of threads the pool runs.
pub fn num_threads() -> usize {
    current().current_num_threads()
}

/// Runs `work` on the pool.
pub fn run<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    current().install(work)
}

/// Output bytes from which the copy-like kernels (invert, channels, crop) split
/// their work over the pool; below it they run on the calling thread, since
/// handing the work to the pool costs more than the copy.
pub const PARALLEL_MIN_BYTES: usize = 1 << 21;

/// Whether a copy-like kernel writing `bytes` should run on the pool.
pub fn worth_parallel(bytes: usize) -> bool {
    bytes >= PARALLEL_MIN_BYTES
}
