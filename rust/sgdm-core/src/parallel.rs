//! The worker pool that large fused updates are split across.
//!
//! One process-wide rayon pool, rebuilt when the thread count changes. Its size defaults to
//! `SGDM_NUM_THREADS` if set, else the number of available cores.

use std::sync::{Arc, RwLock};

use rayon::ThreadPool;

use crate::error::SgdmError;

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// The largest thread count accepted. rayon silently clamps larger requests to 65535 and then
/// tries to spawn that many threads, which can exhaust the process; more workers than this
/// never helps a memory-bound update.
pub const MAX_THREADS: usize = 1024;

fn default_threads() -> usize {
    std::env::var("SGDM_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_THREADS)
}

fn build(threads: usize) -> Result<Arc<ThreadPool>, SgdmError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sgdm-worker-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| SgdmError::ThreadPool(e.to_string()))
}

/// The shared pool, built on first use.
pub fn pool() -> Result<Arc<ThreadPool>, SgdmError> {
    if let Ok(guard) = POOL.read() {
        if let Some(pool) = guard.as_ref() {
            return Ok(Arc::clone(pool));
        }
    }
    let mut guard = POOL.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = guard.as_ref() {
        return Ok(Arc::clone(pool));
    }
    let pool = build(default_threads())?;
    *guard = Some(Arc::clone(&pool));
    Ok(pool)
}

/// Number of threads large updates use.
pub fn num_threads() -> Result<usize, SgdmError> {
    Ok(pool()?.current_num_threads())
}

/// Rebuild the pool with `threads` workers (1 to [`MAX_THREADS`]). Updates already running
/// keep their pool.
pub fn set_num_threads(threads: usize) -> Result<(), SgdmError> {
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(SgdmError::invalid(
            "threads",
            threads,
            &format!("an integer in [1, {MAX_THREADS}]"),
        ));
    }
    let pool = build(threads)?;
    let mut guard = POOL.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = Some(pool);
    Ok(())
}

/// Tests that change the global pool hold this lock so they do not race each other.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_rejected() {
        assert!(matches!(
            set_num_threads(0),
            Err(SgdmError::InvalidValue { .. })
        ));
    }

    #[test]
    fn absurd_thread_counts_are_rejected_before_spawning() {
        for n in [MAX_THREADS + 1, 1 << 31, usize::MAX] {
            assert!(matches!(set_num_threads(n), Err(SgdmError::InvalidValue { .. })));
        }
    }

    #[test]
    fn thread_count_round_trips() -> Result<(), SgdmError> {
        let _guard = TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        set_num_threads(3)?;
        assert_eq!(num_threads()?, 3);
        set_num_threads(1)?;
        assert_eq!(num_threads()?, 1);
        Ok(())
    }
}
