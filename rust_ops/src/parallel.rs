//! The crate's rayon pool: sized to the machine, resizable with
//! `set_num_threads`. Kernels of a millisecond or more use ordinary rayon
//! iterators, and callers run them inside `run` so they land on this pool
//! rather than rayon's global one; shorter kernels split their work with
//! `share_tasks`, which starts on the calling thread.
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
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

/// Output bytes from which the copy-like kernels (invert, channels) share
/// their work with the pool; below it they run on the calling thread alone,
/// since even asking a pool thread to help costs more than the copy.
pub const PARALLEL_MIN_BYTES: usize = 1 << 21;

/// Whether a copy-like kernel writing `bytes` should share it with the pool.
pub fn worth_parallel(bytes: usize) -> bool {
    bytes >= PARALLEL_MIN_BYTES
}

/// Runs `task(i)` for every `i < tasks`, starting at once on the calling
/// thread while the pool's other threads are asked to help: each takes the
/// next task as it arrives. A short kernel (well under a millisecond) this way
/// never waits for a sleeping pool thread to wake: if none comes in time the
/// caller has done every task alone, and a helper that arrives late finds
/// the job gone. `run` instead hands the whole job to the pool and puts the
/// caller to sleep, two wake-ups that can cost as much as the work.
pub fn share_tasks(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let pool = current();
    // The caller counts as one of the pool's threads: more would share cores.
    let helpers = (pool.current_num_threads() - 1).min(tasks.saturating_sub(1));
    if helpers == 0 {
        (0..tasks).for_each(task);
        return;
    }
    // SAFETY: only the lifetime is erased. Helpers call the task only after
    // winning `WAITING → RUNNING`, and `Finish` (dropped before this function
    // returns or unwinds) cancels every helper still waiting and waits for the
    // running ones, so no call outlives the borrow.
    let task: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(task) };
    let shared = Arc::new(SharedTasks {
        next: AtomicUsize::new(0),
        tasks,
        task,
        helpers: (0..helpers).map(|_| AtomicU8::new(WAITING)).collect(),
        panicked: AtomicBool::new(false),
    });
    let finish = Finish(&shared);
    for helper in 0..helpers {
        let shared = shared.clone();
        pool.spawn(move || shared.help(helper));
    }
    shared.work();
    drop(finish);
    if shared.panicked.load(Ordering::Acquire) {
        panic!("an image-ops task panicked on a pool thread");
    }
}

/// `share_tasks` over `data` cut into chunks of `chunk` elements (the last
/// may be shorter): `work(index, chunk)` for each.
pub fn share_chunks_mut<T: Send>(data: &mut [T], chunk: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let chunk = chunk.max(1);
    let len = data.len();
    let base = SendPtr(data.as_mut_ptr());
    share_tasks(len.div_ceil(chunk), &|i| {
        let start = i * chunk;
        // SAFETY: `share_tasks` hands out every index once, so the chunks are
        // disjoint parts of `data`, which is borrowed mutably until it returns.
        let part = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), chunk.min(len - start)) };
        work(i, part);
    });
}

/// A pointer to data split between threads by index (see `share_chunks_mut`).
struct SendPtr<T>(*mut T);
// SAFETY: the pointee is `Send` and each thread touches its own indices.
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;
const CANCELLED: u8 = 3;

struct SharedTasks {
    next: AtomicUsize,
    tasks: usize,
    /// Valid while the caller is in `share_tasks` (see the SAFETY note there).
    task: &'static (dyn Fn(usize) + Sync),
    /// One state per helper: WAITING until it starts or the caller cancels it.
    helpers: Box<[AtomicU8]>,
    panicked: AtomicBool,
}

impl SharedTasks {
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.tasks {
                return;
            }
            (self.task)(i);
        }
    }

    fn help(&self, helper: usize) {
        let state = &self.helpers[helper];
        if state.compare_exchange(WAITING, RUNNING, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return; // the caller finished without us
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work())).is_err() {
            self.panicked.store(true, Ordering::Release);
            self.next.store(self.tasks, Ordering::Relaxed);
        }
        state.store(FINISHED, Ordering::Release);
    }
}

/// Ends a `share_tasks` call, also when the caller's own task panics: no
/// new tasks start, helpers that never started are cancelled, running ones
/// are waited for (each is within one task of done).
struct Finish<'a>(&'a SharedTasks);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        shared.next.fetch_max(shared.tasks, Ordering::Relaxed);
        for state in shared.helpers.iter() {
            if state.compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                continue;
            }
            let mut spins = 0u32;
            while state.load(Ordering::Acquire) != FINISHED {
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        for tasks in [0usize, 1, 2, 3, 17, 1000] {
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            share_tasks(tasks, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "{tasks} tasks");
        }
    }

    #[test]
    fn chunks_cover_the_data_once() {
        let mut data = vec![0u32; 1003];
        share_chunks_mut(&mut data, 10, |i, chunk| {
            for (j, v) in chunk.iter_mut().enumerate() {
                *v += (i * 10 + j) as u32;
            }
        });
        assert!(data.iter().enumerate().all(|(i, &v)| v == i as u32));
    }

    #[test]
    fn callers_on_many_threads_each_get_their_own_tasks() {
        std::thread::scope(|scope| {
            for caller in 0..6u32 {
                scope.spawn(move || {
                    for round in 0..50u32 {
                        let mut data = vec![0u32; 4099];
                        share_chunks_mut(&mut data, 97, |i, chunk| {
                            for (j, v) in chunk.iter_mut().enumerate() {
                                *v = caller * 1_000_000 + round * 10_000 + (i * 97 + j) as u32;
                            }
                        });
                        let want = (0..4099u32).map(|k| caller * 1_000_000 + round * 10_000 + k);
                        assert!(data.iter().copied().eq(want), "caller {caller} round {round}");
                    }
                });
            }
        });
    }

    #[test]
    fn helpers_share_slow_tasks() {
        // Tasks long enough for a pool thread to wake and take some.
        let threads: Vec<AtomicUsize> = (0..2).map(|_| AtomicUsize::new(0)).collect();
        let caller = std::thread::current().id();
        share_tasks(40, &|_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            threads[usize::from(std::thread::current().id() != caller)].fetch_add(1, Ordering::Relaxed);
        });
        let (own, helped) = (threads[0].load(Ordering::Relaxed), threads[1].load(Ordering::Relaxed));
        assert_eq!(own + helped, 40);
        assert!(own > 0);
        if num_threads() > 1 {
            assert!(helped > 0, "no pool thread helped in 80 ms");
        } else {
            assert_eq!(helped, 0);
        }
    }

    #[test]
    fn a_panic_in_any_task_reaches_the_caller() {
        for bad in [0usize, 39] {
            let result = std::panic::catch_unwind(|| {
                share_tasks(40, &|i| {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    assert_ne!(i, bad, "task {i} fails");
                })
            });
            assert!(result.is_err(), "task {bad}");
        }
    }
}
