// Small dense products for the recurrent step: C (m x n) = A (m x k) * B, for the few batch rows
// one thread owns, with B (the recurrent weight) packed once per call.
//
// Why not BLAS: the per-step product is small (m is a thread's share of the batch, k and n are H
// or a few H), and called T times per layer. MKL, which PyTorch links, runs such products on
// this CPU at 60-150 GFLOP/s and packs B again on every call; this kernel keeps B packed, runs
// at about 1.5x that, and is called from inside the one parallel region of a whole sequence, so
// a step costs no thread fork and join (see docs/performance.md for the measurements).
//
// Layout: B is cut into panels of kPanel columns; a panel stores, for each of the k rows of B,
// its kPanel values contiguously, zero-padded past n. The kernel holds a tile of kTileRows rows
// by kPanel columns of C in vector registers and adds one rank-1 update per k.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace rnnx {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
constexpr int kTileRows = 8;  // 16 accumulators of the 32 vector registers
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
constexpr int kTileRows = 4;  // 8 accumulators of the 16 vector registers
#else
constexpr int kVectorBytes = 16;
constexpr int kTileRows = 4;
#endif

// A vector of T in the widest registers the build targets; GCC's vector extensions, so that one
// source serves AVX-512, AVX2 and SSE builds, float and double.
template <typename T>
struct VectorOf {
  typedef T type __attribute__((vector_size(kVectorBytes)));
};

template <typename T>
class PackedMatrix {
 public:
  using V = typename VectorOf<T>::type;
  static constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));
  static constexpr int kPanel = 2 * kLanes;  // columns per panel: two vectors

  PackedMatrix() = default;

  // Pack B (k x n). `transposed`: the memory holds B^T, row-major (n x k), as nn.Linear keeps
  // weights; otherwise B itself, row-major (k x n).
  PackedMatrix(const T* b, int64_t k, int64_t n, bool transposed)
      : k_(k), n_(n), panels_((n + kPanel - 1) / kPanel), data_(static_cast<size_t>(panels_ * k * kPanel), T(0)) {
    for (int64_t p = 0; p < panels_; ++p) {
      const int64_t cols = std::min<int64_t>(kPanel, n - p * kPanel);
      T* panel = data_.data() + p * k * kPanel;
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < cols; ++j)
          panel[kk * kPanel + j] = transposed ? b[(p * kPanel + j) * k + kk] : b[kk * n + p * kPanel + j];
    }
  }

  int64_t rows() const { return k_; }
  int64_t cols() const { return n_; }

  // C (m x n, row stride ldc) = A (m x k, row stride lda) * B.
  void multiply(int64_t m, const T* a, int64_t lda, T* c, int64_t ldc) const {
    for (int64_t p = 0; p < panels_; ++p) {
      const T* panel = data_.data() + p * k_ * kPanel;
      const int64_t col = p * kPanel, cols = std::min<int64_t>(kPanel, n_ - col);
      int64_t r = 0;
      for (; r + kTileRows <= m; r += kTileRows) tile<kTileRows>(a + r * lda, lda, panel, c + r * ldc + col, ldc, cols);
      if (r < m) tail(m - r, a + r * lda, lda, panel, c + r * ldc + col, ldc, cols);
    }
  }

 private:
  template <int R>
  void tile(const T* a, int64_t lda, const T* panel, T* c, int64_t ldc, int64_t cols) const {
    V acc0[R], acc1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = V{};
    for (int64_t kk = 0; kk < k_; ++kk) {
      V b0, b1;
      std::memcpy(&b0, panel + kk * kPanel, sizeof(V));
      std::memcpy(&b1, panel + kk * kPanel + kLanes, sizeof(V));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const T x = a[r * lda + kk];
        acc0[r] += x * b0;
        acc1[r] += x * b1;
      }
    }
    if (cols == kPanel) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        std::memcpy(c + r * ldc, &acc0[r], sizeof(V));
        std::memcpy(c + r * ldc + kLanes, &acc1[r], sizeof(V));
      }
    } else {  // the last, partial panel
      T row[kPanel];
      for (int r = 0; r < R; ++r) {
        std::memcpy(row, &acc0[r], sizeof(V));
        std::memcpy(row + kLanes, &acc1[r], sizeof(V));
        std::memcpy(c + r * ldc, row, sizeof(T) * cols);
      }
    }
  }

  // The last m % kTileRows rows, with a tile of exactly that height.
  template <int R = kTileRows - 1>
  void tail(int64_t m, const T* a, int64_t lda, const T* panel, T* c, int64_t ldc, int64_t cols) const {
    if constexpr (R > 0) {
      if (m == R) tile<R>(a, lda, panel, c, ldc, cols);
      else tail<R - 1>(m, a, lda, panel, c, ldc, cols);
    }
  }

  int64_t k_ = 0, n_ = 0, panels_ = 0;
  std::vector<T> data_;
};

}  // namespace rnnx
