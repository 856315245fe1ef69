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
//
// Fewer rows than kTileRows (a batch of 1 to 3 per thread on AVX2, the tail of larger blocks) are
// tiled across several panels at once instead, so the tile still holds 2 * kTileRows
// accumulators: each accumulator is a chain of k dependent FMAs, and with only the two of a
// one-row, one-panel tile the FMA latency (4-5 cycles), not its throughput, bounds the product
// (a fifth of the peak at m = 1).
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
    const int64_t full = m - m % kTileRows;
    for (int64_t p = 0; p < panels_; ++p)  // full tiles, panel by panel (each panel stays in L1)
      for (int64_t r = 0; r < full; r += kTileRows) tile<kTileRows, 1>(a + r * lda, lda, p, c + r * ldc, ldc);
    if (full < m) tail(m - full, a + full * lda, lda, c + full * ldc, ldc);
  }

 private:
  // Panels tiled together for a tile of R rows: enough for 2 * kTileRows accumulators.
  template <int R>
  static constexpr int kGroup = std::max(1, kTileRows / R);

  // C's R rows times panels [p, p + NP): one tile of R x NP * kPanel accumulators.
  template <int R, int NP>
  void tile(const T* a, int64_t lda, int64_t p, T* c, int64_t ldc) const {
    V acc[NP][2][R];
#pragma GCC unroll 16
    for (int q = 0; q < NP; ++q)
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[q][0][r] = acc[q][1][r] = V{};
    const T* panel = data_.data() + p * k_ * kPanel;
    const int64_t stride = k_ * kPanel;  // from one panel to the next
    for (int64_t kk = 0; kk < k_; ++kk) {
      T x[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) x[r] = a[r * lda + kk];
#pragma GCC unroll 16
      for (int q = 0; q < NP; ++q) {
        V b0, b1;
        std::memcpy(&b0, panel + q * stride + kk * kPanel, sizeof(V));
        std::memcpy(&b1, panel + q * stride + kk * kPanel + kLanes, sizeof(V));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          acc[q][0][r] += x[r] * b0;
          acc[q][1][r] += x[r] * b1;
        }
      }
    }
#pragma GCC unroll 16
    for (int q = 0; q < NP; ++q) {
      const int64_t col = (p + q) * kPanel, cols = std::min<int64_t>(kPanel, n_ - col);
      if (cols == kPanel) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          std::memcpy(c + r * ldc + col, &acc[q][0][r], sizeof(V));
          std::memcpy(c + r * ldc + col + kLanes, &acc[q][1][r], sizeof(V));
        }
      } else {  // the last, partial panel
        T row[kPanel];
        for (int r = 0; r < R; ++r) {
          std::memcpy(row, &acc[q][0][r], sizeof(V));
          std::memcpy(row + kLanes, &acc[q][1][r], sizeof(V));
          std::memcpy(c + r * ldc + col, row, sizeof(T) * cols);
        }
      }
    }
  }

  // The last m % kTileRows rows, with tiles of exactly that height, kGroup<R> panels wide where
  // that many panels are left.
  template <int R = kTileRows - 1>
  void tail(int64_t m, const T* a, int64_t lda, T* c, int64_t ldc) const {
    if constexpr (R > 0) {
      if (m != R) return tail<R - 1>(m, a, lda, c, ldc);
      constexpr int NP = kGroup<R>;
      int64_t p = 0;
      for (; p + NP <= panels_; p += NP) tile<R, NP>(a, lda, p, c, ldc);
      for (; p < panels_; ++p) tile<R, 1>(a, lda, p, c, ldc);
    }
  }

  int64_t k_ = 0, n_ = 0, panels_ = 0;
  std::vector<T> data_;
};

}  // namespace rnnx
