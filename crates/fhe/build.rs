//! Builds the CUDA backend's own kernel (`cuda/gather_add.cu`) with nvcc, only with the
//! `cuda` feature. `DOCS_RS=1` skips it, as it skips tfhe-cuda-backend's CUDA build:
//! `scripts/cuda-build.sh check` type-checks the backend on machines without nvcc.

fn main() {
    println!("cargo::rerun-if-changed=cuda/gather_add.cu");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    #[cfg(feature = "cuda")]
    if std::env::var("DOCS_RS").as_deref() != Ok("1") {
        // Machine code for data-centre and consumer GPUs since Ampere (A100 sm_80,
        // RTX 30 sm_86, RTX 40/L40 sm_89, H100/H200 sm_90), plus PTX for later ones.
        let mut build = cc::Build::new();
        build.cuda(true).flag("-O3");
        for arch in ["80", "86", "89", "90"] {
            build.flag(format!("-gencode=arch=compute_{arch},code=sm_{arch}"));
        }
        build
            .flag("-gencode=arch=compute_90,code=compute_90")
            .file("cuda/gather_add.cu")
            .compile("brainlock_gather_add");
        println!("cargo::rustc-link-lib=cudart");
    }
}
