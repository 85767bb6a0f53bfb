// The linear part of a layer on the device: each output's accumulator as the sum of
// its terms' input ciphertexts times their clear weights (wrapping mod 2^64), body
// shifted by the output's lookup offset. One thread per (output, coefficient): threads
// of a block read consecutive coefficients of the same input ciphertext, so loads
// coalesce. The host mirror is `LayerBatch::gather_add` (src/batch.rs).

#include <cstdint>
#include <cuda_runtime.h>

__global__ void gather_add_kernel(uint64_t *out, const uint64_t *inputs,
                                  const uint32_t *term_starts,
                                  const uint32_t *term_inputs,
                                  const uint64_t *term_weights,
                                  const uint64_t *body_offsets, uint32_t first,
                                  uint32_t count, uint32_t lwe_size) {
  const uint32_t i = blockIdx.y;
  const uint32_t k = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count || k >= lwe_size) {
    return;
  }
  const uint32_t o = first + i;
  uint64_t sum = 0;
  for (uint32_t t = term_starts[o]; t < term_starts[o + 1]; ++t) {
    sum += inputs[(uint64_t)term_inputs[t] * lwe_size + k] * term_weights[t];
  }
  if (k == lwe_size - 1) {
    sum += body_offsets[o];
  }
  out[(uint64_t)i * lwe_size + k] = sum;
}

// Outputs `first .. first + count` into `out` (count x lwe_size words), on `stream`.
// `count` is at most 65,535 (the grid's y limit): the caller chunks layers.
extern "C" int brainlock_gather_add_64(void *stream, uint64_t *out,
                                       const uint64_t *inputs,
                                       const uint32_t *term_starts,
                                       const uint32_t *term_inputs,
                                       const uint64_t *term_weights,
                                       const uint64_t *body_offsets,
                                       uint32_t first, uint32_t count,
                                       uint32_t lwe_size) {
  const uint32_t threads = 256;
  const dim3 grid((lwe_size + threads - 1) / threads, count);
  gather_add_kernel<<<grid, threads, 0, (cudaStream_t)stream>>>(
      out, inputs, term_starts, term_inputs, term_weights, body_offsets, first,
      count, lwe_size);
  return (int)cudaGetLastError();
}
