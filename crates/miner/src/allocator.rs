//! Making freed client data leave the process.
//!
//! The memory limits count what the miner holds; resident memory follows only if freed
//! buffers go back to the operating system. glibc's malloc raises its mmap threshold each
//! time a large block is freed (up to 32 MiB), so after the first evaluation key the
//! next keys' wire bodies and ciphertext batches come from heap arenas that seldom
//! shrink, and the process keeps tens of megabytes per arena it no longer uses. A fixed
//! threshold keeps every large buffer in its own mapping, unmapped on free.

/// Blocks at least this large are mapped on their own and unmapped when freed.
const MMAP_THRESHOLD_BYTES: i32 = 1 << 20;

/// Fixes glibc's mmap threshold (see the module documentation); a no-op elsewhere. It
/// sets a process-wide allocator option, which is fine: wherever a miner runs, it is
/// what the process is for.
pub(crate) fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; M_MMAP_THRESHOLD with a value
        // under the 32 MiB maximum is accepted (it returns 0 only on a bad value).
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        if accepted == 0 {
            tracing::warn!("glibc refused the mmap threshold: freed memory may stay resident");
        }
    }
}
