//! The lookup loop's keyswitch, one worker's batch of 32 ciphertexts, against tfhe-rs's
//! per-ciphertext keyswitch on the same batch, measured in the same run:
//! `cargo bench -p brainlock-fhe --bench keyswitch` (add `-- n2048` for one profile).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use brainlock_fhe::Profile;
use brainlock_fhe::bench::KeyswitchBench;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Ciphertexts a worker keyswitches together (the engine's chunk).
const BATCH: usize = 32;

fn keyswitch(c: &mut Criterion) {
    for id in ["n2048-gauss", "n8192-tuniform"] {
        let profile = Profile::by_id(id).expect("a known profile");
        let mut group = c.benchmark_group(format!("keyswitch/{id}/{BATCH}"));
        group.sample_size(10);
        // Built on first use: a filtered-out profile generates no key.
        let mut bench = None;
        let mut run = |b: &mut criterion::Bencher, batched: bool| {
            let bench = bench.get_or_insert_with(|| KeyswitchBench::new(profile, BATCH));
            b.iter(|| {
                let outputs = if batched {
                    bench.batched()
                } else {
                    bench.one_at_a_time()
                };
                black_box(outputs[0])
            })
        };
        group.bench_function("batched", |b| run(b, true));
        group.bench_function("tfhe-rs", |b| run(b, false));
        group.finish();
    }
}

criterion_group!(benches, keyswitch);
criterion_main!(benches);
