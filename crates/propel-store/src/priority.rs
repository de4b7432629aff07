//! Background threads that share the serving core: a higher nice value, so that a
//! request being served goes first and a background burst comes in short slices
//! instead of holding the core for milliseconds.

/// Gives the calling thread (only it) nice value `nice`. Linux only; elsewhere the
/// thread keeps the process's priority.
#[cfg(target_os = "linux")]
pub(crate) fn lower(nice: i32) {
    // SAFETY: gettid and setpriority only read their arguments; on Linux a thread id
    // with PRIO_PROCESS sets that thread's nice value alone.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if rc != 0 {
        tracing::warn!(nice, "could not lower a background thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lower(_nice: i32) {}
