// Timing loops for benchmarks/small_gemm.py: rnnx's packed small GEMM (W packed once, as the
// fused kernel packs it once per sequence) against the BLAS sgemm inside PyTorch (MKL here),
// which the fused kernel called before it had its own. Both run on the calling thread, in C++,
// so neither pays Python or dispatcher overhead.
#include <torch/extension.h>

#include <chrono>

#include "../src/rnnx/fused/csrc/small_gemm.h"

extern "C" void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
                       const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
                       const int* ldc);

template <typename F>
double seconds_per_call(const F& f, int calls) {
  for (int i = 0; i < calls / 10 + 1; ++i) f();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
}

// C (m x n) = A (m x k) * B, B (k x n) row-major, float32. Returns (rnnx seconds, BLAS seconds).
std::pair<double, double> time_gemm(torch::Tensor a, torch::Tensor b, int calls) {
  const int m = a.size(0), k = a.size(1), n = b.size(1);
  auto c = torch::empty({m, n}, a.options());
  const float* ap = a.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  float* cp = c.data_ptr<float>();
  const rnnx::PackedMatrix<float> packed(bp, k, n, /*transposed=*/false);
  const double ours = seconds_per_call([&] { packed.multiply(m, ap, k, cp, n); }, calls);
  const float one = 1, zero = 0;
  // Row-major C = A B is column-major C^T = B^T A^T.
  const double blas = seconds_per_call([&] { sgemm_("N", "N", &n, &m, &k, &one, bp, &n, ap, &k, &zero, cp, &n); }, calls);
  return {ours, blas};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("time_gemm", &time_gemm); }
