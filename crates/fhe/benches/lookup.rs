//! The two halves of a lookup that read a whole key, each on one worker's chunk of 32
//! lookups, against tfhe-rs doing the same chunk one ciphertext at a time, measured in
//! the same run: the keyswitch (keyswitching key) and the blind rotation (bootstrapping
//! key).
//!
//! `cargo bench -p brainlock-fhe --bench lookup` (add `-- keyswitch` or `-- n2048` to
//! filter).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use brainlock_fhe::Profile;
use brainlock_fhe::bench::{BlindRotationBench, KeyswitchBench};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Lookups a worker handles together (the engine's chunk).
const CHUNK: usize = 32;

/// Times `batched` against `tfhe_rs` for every profile in `ids`, in a group per profile.
fn compare<B>(
    c: &mut Criterion,
    stage: &str,
    ids: &[&str],
    new: fn(&'static Profile, usize) -> B,
    batched: fn(&mut B) -> &[u64],
    tfhe_rs: fn(&mut B) -> &[u64],
) {
    for id in ids {
        let profile = Profile::by_id(id).expect("a known profile");
        let mut group = c.benchmark_group(format!("{stage}/{id}/{CHUNK}"));
        group.sample_size(10);
        // Built on first use: a filtered-out profile generates no key.
        let mut bench = None;
        for (name, run) in [("batched", batched), ("tfhe-rs", tfhe_rs)] {
            group.bench_function(name, |b| {
                let bench = bench.get_or_insert_with(|| new(profile, CHUNK));
                b.iter(|| black_box(run(bench)[0]))
            });
        }
        group.finish();
    }
}

fn lookup(c: &mut Criterion) {
    compare(
        c,
        "keyswitch",
        &["n2048-gauss", "n8192-tuniform"],
        KeyswitchBench::new,
        KeyswitchBench::batched,
        KeyswitchBench::one_at_a_time,
    );
    compare(
        c,
        "blind_rotation",
        &["n2048-gauss", "n4096-gauss", "n8192-tuniform"],
        BlindRotationBench::new,
        BlindRotationBench::batched,
        BlindRotationBench::one_at_a_time,
    );
}

criterion_group!(benches, lookup);
criterion_main!(benches);
