//! This process's resident memory, measured from `/proc` rather than assumed, for the
//! tests that bound it (a miner under concurrent uploads, a validator facing miners
//! that stream forever). Run such a test in a binary of its own, so that no other
//! test's allocations are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes this process holds in RAM now (`/proc/self/statm`, 4 KiB pages).
pub fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * 4096
}

/// Samples [`resident_bytes`] every 5 ms on a thread of its own and keeps the peak.
pub struct RssSampler {
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling.
    pub fn start() -> Self {
        let peak = Arc::new(AtomicUsize::new(resident_bytes()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(resident_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self { peak, stop, thread }
    }

    /// Stops sampling; returns the peak seen since [`RssSampler::start`].
    pub fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .expect("the sampler thread does not panic");
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_allocation_shows_in_the_peak() {
        let sampler = RssSampler::start();
        let before = resident_bytes();
        let block = vec![1u8; 64 << 20];
        std::thread::sleep(Duration::from_millis(50));
        let peak = sampler.finish();
        assert!(peak >= before + (48 << 20), "peak {peak}, before {before}");
        drop(block);
    }
}
