// rnnx fused CPU recurrence: one layer, one direction, the whole sequence in one call.
//
// The input projection gi = W_ih x (+ biases, layer-normalised if asked) is computed outside,
// for all steps at once. Here, per step: one GEMM for the recurrent product and one pass of
// fused elementwise math; the backward pass runs the loop in reverse and leaves the weight
// gradient dW_hh to one GEMM over the whole sequence. Equations: see rnnx/cells/*.py.
//
// Layout: rows of all steps stacked time-major, (N, F); batch_sizes[t] rows at step t; state
// buffers are (B, H) and a step touches only its first batch_sizes[t] rows, so finished
// sequences keep their final state and sequences that have not started keep their h0.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
}

namespace {

enum Kind : int64_t { LSTM = 0, GRU = 1, RNN_TANH = 2, RNN_RELU = 3, INDRNN_RELU = 4, INDRNN_TANH = 5 };

// Row-major C(m x n) = A(m x k) * op(B) + beta * C, where op(B) = B^T for B stored (n x k)
// ("nt") or B for B stored (k x n) ("nn"). Expressed through column-major BLAS.
template <typename T>
void gemm(bool b_transposed, int m, int n, int k, const T* a, const T* b, T beta, T* c) {
  if (m == 0 || n == 0) return;
  const T one = 1;
  const char* tb = b_transposed ? "T" : "N";
  const int ldb = b_transposed ? k : n;
  // C^T (n x m) = op(B)^T (n x k) * A^T (k x m)
  if constexpr (std::is_same_v<T, float>) {
    sgemm_(tb, "N", &n, &m, &k, &one, b, &ldb, a, &k, &beta, c, &n);
  } else {
    dgemm_(tb, "N", &n, &m, &k, &one, b, &ldb, a, &k, &beta, c, &n);
  }
}

// exp for float without libm calls, so the loops below vectorise (Cephes-style range
// reduction and a degree-6 polynomial; about 1 ulp). Doubles use std::exp. Clamps are written
// as selects, which GCC vectorises (with -fno-math-errno -fno-trapping-math) where fmin does not.
inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float fx = std::floor(x * 1.44269504088896341f + 0.5f);
  x = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  const float x2 = x * x;
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * x2 + x + 1.0f;
  int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

template <typename T>
inline T exp_(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_approx(x);
  else return std::exp(x);
}
template <typename T>
inline T sigmoid_(T x) { return T(1) / (T(1) + exp_(-x)); }
template <typename T>
inline T tanh_(T x) {
  if constexpr (std::is_same_v<T, float>) {
    const float e = exp_approx(-2.0f * std::fabs(x));
    return std::copysign((1.0f - e) / (1.0f + e), x);
  } else {
    return std::tanh(x);
  }
}

// Sums written as 16 independent lanes accumulated in double: GCC vectorises them without
// reassociating (so no -ffast-math); layer-norm statistics need the precision, as rstd
// amplifies their rounding.
constexpr int kLanes = 16;

template <typename F>
double lane_sum(int n, F term) {
  double acc[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(term(j + l));
  double total = 0;
  for (int l = 0; l < kLanes; ++l) total += acc[l];
  for (; j < n; ++j) total += static_cast<double>(term(j));
  return total;
}

// Layer norm over n features: y = gain * (x - mean) * rstd + bias; keeps xhat and rstd.
// xhat may be x itself (normalised in place), so neither is __restrict__.
template <typename T>
void ln_forward(const T* x, int n, const T* __restrict__ gain, const T* __restrict__ bias, T* __restrict__ y,
                T* xhat, T* __restrict__ rstd_out) {
  const double mean = lane_sum(n, [&](int j) { return static_cast<double>(x[j]); }) / n;
  const double var = lane_sum(n, [&](int j) { return (x[j] - mean) * (x[j] - mean); }) / n;
  const double rstd = 1.0 / std::sqrt(var + 1e-5);
  for (int j = 0; j < n; ++j) {
    xhat[j] = static_cast<T>((x[j] - mean) * rstd);
    y[j] = gain[j] * xhat[j] + bias[j];
  }
  *rstd_out = static_cast<T>(rstd);
}

// dx from dy for the layer norm above (the gain and bias gradients are summed outside).
template <typename T>
void ln_backward(const T* __restrict__ dy, const T* __restrict__ xhat, T rstd, const T* __restrict__ gain, int n,
                 T* __restrict__ dx) {
  const T mean_g = static_cast<T>(lane_sum(n, [&](int j) { return static_cast<double>(dy[j]) * gain[j]; }) / n);
  const T mean_gx =
      static_cast<T>(lane_sum(n, [&](int j) { return static_cast<double>(dy[j]) * gain[j] * xhat[j]; }) / n);
  for (int j = 0; j < n; ++j) dx[j] = rstd * (dy[j] * gain[j] - mean_g - xhat[j] * mean_gx);
}

// Elementwise bodies, with __restrict__ arguments so that GCC can vectorise them. `pre` is
// one row of the pre-activations (gi + recurrent part), gate blocks of H each.

// LSTM: i, f, g from pre (and peepholes on c_prev); c' = f c + i g.
template <typename T, bool PEEP>
void lstm_cell_fwd(int64_t H, const T* __restrict__ pre, const T* __restrict__ cp, const T* __restrict__ pp,
                   T* __restrict__ a, T* __restrict__ cc) {
  for (int64_t j = 0; j < H; ++j) {
    T i = pre[j], f = pre[H + j];
    if constexpr (PEEP) {
      i += pp[j] * cp[j];
      f += pp[H + j] * cp[j];
    }
    const T si = sigmoid_(i), sf = sigmoid_(f), tg = tanh_(pre[2 * H + j]);
    a[j] = si;
    a[H + j] = sf;
    a[2 * H + j] = tg;
    cc[j] = sf * cp[j] + si * tg;
  }
}

// LSTM: o from pre (and the peephole on c'); h = o tanh(cell_out).
template <typename T, bool PEEP>
void lstm_out_fwd(int64_t H, const T* __restrict__ pre_o, const T* __restrict__ cc, const T* __restrict__ cell_out,
                  const T* __restrict__ pp_o, T* __restrict__ a_o, T* __restrict__ tc, T* __restrict__ h) {
  for (int64_t j = 0; j < H; ++j) {
    T og = pre_o[j];
    if constexpr (PEEP) og += pp_o[j] * cc[j];
    const T so = sigmoid_(og), t = tanh_(cell_out[j]);
    a_o[j] = so;
    tc[j] = t;
    h[j] = so * t;
  }
}

template <typename T>
void gru_fwd(int64_t H, const T* __restrict__ gin, const T* __restrict__ gh, const T* __restrict__ hold,
             T* __restrict__ a, T* __restrict__ ghn, T* __restrict__ h) {
  for (int64_t j = 0; j < H; ++j) {
    const T rg = sigmoid_(gin[j] + gh[j]);
    const T z = sigmoid_(gin[H + j] + gh[H + j]);
    const T n = tanh_(gin[2 * H + j] + rg * gh[2 * H + j]);
    a[j] = rg;
    a[H + j] = z;
    a[2 * H + j] = n;
    ghn[j] = gh[2 * H + j];
    h[j] = (T(1) - z) * n + z * hold[j];
  }
}

// LSTM backward through h = o tanh(cell_out): d(o_pre) and d(cell_out) (or straight into dc).
template <typename T, bool PEEP, bool CELL_LN>
void lstm_out_bwd(int64_t H, const T* __restrict__ dh, const T* __restrict__ a_o, const T* __restrict__ tc,
                  const T* __restrict__ cc, const T* __restrict__ pp_o, T* __restrict__ dg_o, T* __restrict__ dco,
                  T* __restrict__ dcc, T* __restrict__ dpp_o) {
  for (int64_t j = 0; j < H; ++j) {
    const T og = a_o[j];
    const T d_o = dh[j] * tc[j] * og * (T(1) - og);
    dg_o[j] = d_o;
    const T d_t = dh[j] * og * (T(1) - tc[j] * tc[j]);
    T d_c = dcc[j];
    if constexpr (CELL_LN) dco[j] = d_t;
    else d_c += d_t;
    if constexpr (PEEP) {
      d_c += d_o * pp_o[j];
      dpp_o[j] += d_o * cc[j];
    }
    dcc[j] = d_c;
  }
}

// LSTM backward through c' = f c + i g: gate gradients and dc_prev (added to dc_state).
template <typename T, bool PEEP>
void lstm_cell_bwd(int64_t H, const T* __restrict__ dcc, const T* __restrict__ a, const T* __restrict__ cp,
                   const T* __restrict__ pp, T* __restrict__ dg, T* __restrict__ dc_state, T* __restrict__ dpp) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = a[j], f = a[H + j], g = a[2 * H + j];
    const T di = dcc[j] * g * i * (T(1) - i);
    const T df = dcc[j] * cp[j] * f * (T(1) - f);
    dg[j] = di;
    dg[H + j] = df;
    dg[2 * H + j] = dcc[j] * i * (T(1) - g * g);
    T dprev = dcc[j] * f;
    if constexpr (PEEP) {
      dprev += di * pp[j] + df * pp[H + j];
      dpp[j] += di * cp[j];
      dpp[H + j] += df * cp[j];
    }
    dc_state[j] += dprev;
  }
}

template <typename T>
void gru_bwd(int64_t H, const T* __restrict__ dh, const T* __restrict__ a, const T* __restrict__ ghn,
             const T* __restrict__ hold, T* __restrict__ dg, T* __restrict__ dgh, T* __restrict__ dh_state) {
  for (int64_t j = 0; j < H; ++j) {
    const T rg = a[j], z = a[H + j], n = a[2 * H + j];
    const T dn = dh[j] * (T(1) - z) * (T(1) - n * n);
    const T dz = dh[j] * (hold[j] - n) * z * (T(1) - z);
    const T dr = dn * ghn[j] * rg * (T(1) - rg);
    dh_state[j] += dh[j] * z;
    dg[j] = dr;
    dg[H + j] = dz;
    dg[2 * H + j] = dn;
    dgh[j] = dr;
    dgh[H + j] = dz;
    dgh[2 * H + j] = dn * rg;
  }
}

struct Options {
  int64_t kind;
  bool reverse;
  bool layer_norm;
  bool peephole;
  bool save = true;  // keep what the backward pass needs
};

int64_t gates_of(int64_t kind) { return kind == LSTM ? 4 : kind == GRU ? 3 : 1; }

// Rows per parallel task: enough gate elements that splitting beats the cost of a fork.
int64_t rows_per_task(int64_t gate_width) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(gate_width, 1)); }

// Zoneout (Krueger et al. 2017) on one row of H units: out = keep ? prev : cand in training
// (keep is the bool mask), out = cand + p * (prev - cand) in evaluation (keep is null). A second
// destination (the emitted output) is optional.
template <typename T>
inline void zoneout_fwd(int64_t H, const bool* __restrict__ keep, T p, const T* __restrict__ prev,
                        const T* __restrict__ cand, T* __restrict__ dst, T* __restrict__ dst2) {
  if (keep) {
    for (int64_t j = 0; j < H; ++j) dst[j] = keep[j] ? prev[j] : cand[j];
  } else if (p == T(0)) {
    std::memcpy(dst, cand, sizeof(T) * H);
  } else {
    for (int64_t j = 0; j < H; ++j) dst[j] = cand[j] + p * (prev[j] - cand[j]);
  }
  if (dst2) std::memcpy(dst2, dst, sizeof(T) * H);
}

// Its backward: split the incoming gradient g (in place, becomes the candidate's share) and write
// the previous state's share to d_prev.
template <typename T>
inline void zoneout_bwd(int64_t H, const bool* __restrict__ keep, T p, T* __restrict__ g, T* __restrict__ d_prev) {
  if (keep) {
    for (int64_t j = 0; j < H; ++j) {
      const T total = g[j];
      d_prev[j] = keep[j] ? total : T(0);
      g[j] = keep[j] ? T(0) : total;
    }
  } else {
    for (int64_t j = 0; j < H; ++j) {
      const T total = g[j];
      d_prev[j] = p * total;
      g[j] = (T(1) - p) * total;
    }
  }
}

const void* ptr_or_null(const torch::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr() : nullptr; }

template <typename T>
std::vector<torch::Tensor> forward_impl(const Options& o, const torch::Tensor& gi, const std::vector<int64_t>& sizes,
                                        const torch::Tensor& h0, const torch::Tensor& c0, const torch::Tensor& w_hh,
                                        const torch::Tensor& b_hh, const torch::Tensor& ln_hh_w,
                                        const torch::Tensor& ln_hh_b, const torch::Tensor& ln_c_w,
                                        const torch::Tensor& ln_c_b, const torch::Tensor& peep,
                                        const torch::Tensor& mask, const torch::Tensor& keep_h,
                                        const torch::Tensor& keep_c, double p_h, double p_c) {
  const int64_t N = gi.size(0), B = h0.size(0), H = h0.size(1), G = gates_of(o.kind), GH = G * H;
  const bool lstm = o.kind == LSTM, gru = o.kind == GRU, ind = o.kind >= INDRNN_RELU;
  const bool relu = o.kind == RNN_RELU || o.kind == INDRNN_RELU;
  auto opts = gi.options();
  auto out = torch::empty({N, H}, opts);
  auto h = h0.clone();
  auto c = lstm ? c0.clone() : torch::empty({0}, opts);
  // Whole-sequence buffers (N rows) only for what the backward pass reads, and only when a
  // backward pass will run (o.save); otherwise one step's scratch (B rows). First-touching
  // buffers of N rows costs milliseconds at large sizes.
  const bool S = o.save;
  const int64_t SN = S ? N : B;
  const bool keep_hprev = S && gru, keep_hh = S && o.layer_norm;
  auto h_in = torch::empty({SN, H}, opts);  // h entering W_hh (after recurrent dropout)
  auto h_prev = torch::empty({keep_hprev ? N : B, H}, opts);  // state before the step
  auto acts = torch::empty({SN, lstm || gru ? GH : H}, opts);  // gate activations / candidate h
  auto hh = torch::empty({keep_hh ? N : B, GH}, opts);  // W_hh h, or its layer-norm xhat
  auto hh_rstd = torch::empty({o.layer_norm ? SN : 0}, opts);
  auto c_prev = torch::empty({lstm ? SN : 0, H}, opts);
  auto c_cand = torch::empty({lstm ? SN : 0, H}, opts);
  auto tanh_c = torch::empty({lstm ? SN : 0, H}, opts);
  auto c_hat = torch::empty({lstm && o.layer_norm ? SN : 0, H}, opts);
  auto c_rstd = torch::empty({lstm && o.layer_norm ? SN : 0}, opts);
  auto gh_n = torch::empty({gru ? SN : 0, H}, opts);  // GRU: W_hn h + b_hn (after LN), used by r

  const T* gi_p = gi.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  const T* bh = static_cast<const T*>(ptr_or_null(b_hh));
  const T* lnw = static_cast<const T*>(ptr_or_null(ln_hh_w));
  const T* lnb = static_cast<const T*>(ptr_or_null(ln_hh_b));
  const T* lcw = static_cast<const T*>(ptr_or_null(ln_c_w));
  const T* lcb = static_cast<const T*>(ptr_or_null(ln_c_b));
  const T* pp = static_cast<const T*>(ptr_or_null(peep));
  const T* mk = static_cast<const T*>(ptr_or_null(mask));
  // Zoneout keep-masks arrive as bool (1 byte per element): no float copy to make or read.
  const bool* kh = static_cast<const bool*>(ptr_or_null(keep_h));
  const bool* kc = static_cast<const bool*>(ptr_or_null(keep_c));
  T* out_p = out.data_ptr<T>();
  T* h_p = h.data_ptr<T>();
  T* c_p = lstm ? c.data_ptr<T>() : nullptr;
  T* hin_p = h_in.data_ptr<T>();
  T* hprev_p = h_prev.data_ptr<T>();
  T* act_p = acts.data_ptr<T>();
  T* hh_p = hh.data_ptr<T>();

  std::vector<int64_t> offsets(sizes.size() + 1, 0);
  for (size_t t = 0; t < sizes.size(); ++t) offsets[t + 1] = offsets[t] + sizes[t];
  const int64_t steps = static_cast<int64_t>(sizes.size());
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = o.reverse ? steps - 1 - s : s;
    const int64_t b = sizes[t], off = offsets[t];
    T* hin = hin_p + (S ? off : 0) * H;
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < H; ++j) {
        const T v = h_p[r * H + j];
        hprev_p[((keep_hprev ? off : 0) + r) * H + j] = v;
        hin[r * H + j] = mk ? v * mk[r * H + j] : v;
      }
    T* hh_t = hh_p + (keep_hh ? off : 0) * GH;
    if (ind) {
      for (int64_t r = 0; r < b; ++r)
        for (int64_t j = 0; j < H; ++j) hh_t[r * H + j] = w[j] * hin[r * H + j];
    } else {
      gemm<T>(true, b, GH, H, hin, w, T(0), hh_t);
    }
    // Rows of a step are independent: split them over threads when there is enough work.
    at::parallel_for(0, b, rows_per_task(GH), [&](int64_t r0, int64_t r1) {
    std::vector<T> raw(GH), cand_h(H), cand_c(H), cell_ln(H);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t row = off + r;
      const int64_t srow = S ? row : r;  // this row in the saved buffers
      T* hr = hh_t + r * GH;  // raw recurrent product of this row
      const T* g_in = gi_p + row * GH;
      // The recurrent part of the pre-activations, into raw[]: LN_hh(hh) or hh (+ b_hh for GRU).
      if (o.layer_norm) {
        std::vector<T>& y = raw;
        T rstd;
        ln_forward<T>(hr, GH, lnw, lnb, y.data(), hr, &rstd);  // hr now holds xhat
        hh_rstd.data_ptr<T>()[srow] = rstd;
      } else {
        std::memcpy(raw.data(), hr, sizeof(T) * GH);
      }
      if (gru && bh)
        for (int64_t j = 0; j < GH; ++j) raw[j] += bh[j];
      if (!gru)  // LSTM / Elman / IndRNN: the pre-activation is gi + recurrent part
        for (int64_t j = 0; j < GH; ++j) raw[j] += g_in[j];
      T* a = act_p + srow * (lstm || gru ? GH : H);
      const T* hold = hprev_p + (keep_hprev ? row : r) * H;
      if (lstm) {
        T* cp = c_prev.data_ptr<T>() + srow * H;
        T* cc = c_cand.data_ptr<T>() + srow * H;
        T* tc = tanh_c.data_ptr<T>() + srow * H;
        std::memcpy(cp, c_p + r * H, sizeof(T) * H);
        if (pp) lstm_cell_fwd<T, true>(H, raw.data(), cp, pp, a, cc);
        else lstm_cell_fwd<T, false>(H, raw.data(), cp, pp, a, cc);
        const T* cell_out = cc;
        if (o.layer_norm) {
          T* ch = c_hat.data_ptr<T>() + srow * H;
          ln_forward<T>(cc, H, lcw, lcb, cell_ln.data(), ch, c_rstd.data_ptr<T>() + srow);
          cell_out = cell_ln.data();
        }
        const T* pp_o = pp ? pp + 2 * H : nullptr;
        if (pp) lstm_out_fwd<T, true>(H, raw.data() + 3 * H, cc, cell_out, pp_o, a + 3 * H, tc, cand_h.data());
        else lstm_out_fwd<T, false>(H, raw.data() + 3 * H, cc, cell_out, pp_o, a + 3 * H, tc, cand_h.data());
        std::memcpy(cand_c.data(), cc, sizeof(T) * H);
      } else if (gru) {
        gru_fwd<T>(H, g_in, raw.data(), hold, a, gh_n.data_ptr<T>() + srow * H, cand_h.data());
      } else {
        const T* pre = raw.data();
        T* ch = cand_h.data();
        if (relu)
          for (int64_t j = 0; j < H; ++j) ch[j] = pre[j] > T(0) ? pre[j] : T(0);
        else
          for (int64_t j = 0; j < H; ++j) ch[j] = tanh_(pre[j]);
        std::memcpy(a, ch, sizeof(T) * H);
      }
      // Zoneout: keep the previous value where the training mask says so; in evaluation blend
      // with weight p. Kept and replaced units are copied exactly, never computed.
      zoneout_fwd<T>(H, kh ? kh + row * H : nullptr, T(p_h), hold, cand_h.data(), h_p + r * H, out_p + row * H);
      if (lstm) {
        const T* cp = c_prev.data_ptr<T>() + srow * H;
        zoneout_fwd<T>(H, kc ? kc + row * H : nullptr, T(p_c), cp, cand_c.data(), c_p + r * H, nullptr);
      }
    }
    });
  }
  return {out, h, c, h_in, h_prev, acts, hh, hh_rstd, c_prev, c_cand, tanh_c, c_hat, c_rstd, gh_n};
}

template <typename T>
std::vector<torch::Tensor> backward_impl(const Options& o, const std::vector<int64_t>& sizes,
                                         const torch::Tensor& d_out, const torch::Tensor& d_hn,
                                         const torch::Tensor& d_cn, const std::vector<torch::Tensor>& saved,
                                         const torch::Tensor& w_hh, const torch::Tensor& ln_hh_w,
                                         const torch::Tensor& ln_c_w, const torch::Tensor& peep,
                                         const torch::Tensor& mask, const torch::Tensor& keep_h,
                                         const torch::Tensor& keep_c, double p_h, double p_c) {
  const auto& h_in = saved[0];
  const auto& h_prev = saved[1];
  const auto& acts = saved[2];
  const auto& hh = saved[3];
  const auto& hh_rstd = saved[4];
  const auto& c_prev = saved[5];
  const auto& c_cand = saved[6];
  const auto& tanh_c = saved[7];
  const auto& c_hat = saved[8];
  const auto& c_rstd = saved[9];
  const auto& gh_n = saved[10];
  const int64_t N = h_in.size(0), H = h_in.size(1), B = d_hn.size(0), G = gates_of(o.kind), GH = G * H;
  const bool lstm = o.kind == LSTM, gru = o.kind == GRU, ind = o.kind >= INDRNN_RELU;
  const bool relu = o.kind == RNN_RELU || o.kind == INDRNN_RELU;
  auto opts = h_in.options();
  auto d_gi = torch::empty({N, GH}, opts);
  auto d_hh = torch::empty({N, GH}, opts);  // gradient of the raw recurrent product W_hh h
  auto d_gh = gru || o.layer_norm ? torch::empty({N, GH}, opts) : torch::empty({0}, opts);  // of LN_hh out / gh
  auto d_cell = lstm && o.layer_norm ? torch::empty({N, H}, opts) : torch::empty({0}, opts);  // of LN_cell out
  auto d_peep = torch::zeros({lstm && o.peephole ? 3 : 0, H}, opts);
  auto dh = d_hn.clone();
  auto dc = lstm ? d_cn.clone() : torch::empty({0}, opts);
  std::vector<T> dhin(static_cast<size_t>(B) * H);

  const T* w = w_hh.data_ptr<T>();
  const T* lnw = static_cast<const T*>(ptr_or_null(ln_hh_w));
  const T* lcw = static_cast<const T*>(ptr_or_null(ln_c_w));
  const T* pp = static_cast<const T*>(ptr_or_null(peep));
  const T* mk = static_cast<const T*>(ptr_or_null(mask));
  // Zoneout keep-masks arrive as bool (1 byte per element): no float copy to make or read.
  const bool* kh = static_cast<const bool*>(ptr_or_null(keep_h));
  const bool* kc = static_cast<const bool*>(ptr_or_null(keep_c));
  const T* dout = d_out.data_ptr<T>();
  const T* hin_p = h_in.data_ptr<T>();
  const T* hprev_p = h_prev.data_ptr<T>();
  const T* act_p = acts.data_ptr<T>();
  const T* hh_p = hh.data_ptr<T>();
  T* dgi_p = d_gi.data_ptr<T>();
  T* dhh_p = d_hh.data_ptr<T>();
  T* dh_p = dh.data_ptr<T>();
  T* dc_p = lstm ? dc.data_ptr<T>() : nullptr;
  T* dpp = lstm && o.peephole ? d_peep.data_ptr<T>() : nullptr;

  std::vector<int64_t> offsets(sizes.size() + 1, 0);
  for (size_t t = 0; t < sizes.size(); ++t) offsets[t + 1] = offsets[t] + sizes[t];
  const int64_t steps = static_cast<int64_t>(sizes.size());
  for (int64_t s = steps - 1; s >= 0; --s) {
    const int64_t t = o.reverse ? steps - 1 - s : s;
    const int64_t b = sizes[t], off = offsets[t];
    // Rows are independent except for the peephole gradient, which they all accumulate.
    at::parallel_for(0, b, o.peephole ? b : rows_per_task(GH), [&](int64_t r0, int64_t r1) {
    std::vector<T> dhc(H), dcc(H), dx(GH);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t row = off + r;
      const T* hold = hprev_p + row * H;
      T* dg = dgi_p + row * GH;
      // Split dh (and dc) between the kept previous value and the candidate (zoneout).
      for (int64_t j = 0; j < H; ++j) dhc[j] = dh_p[r * H + j] + dout[row * H + j];
      zoneout_bwd<T>(H, kh ? kh + row * H : nullptr, T(p_h), dhc.data(), dh_p + r * H);
      if (lstm) {
        const T* a = act_p + row * GH;
        const T* cp = c_prev.data_ptr<T>() + row * H;
        const T* cc = c_cand.data_ptr<T>() + row * H;
        const T* tc = tanh_c.data_ptr<T>() + row * H;
        std::memcpy(dcc.data(), dc_p + r * H, sizeof(T) * H);
        zoneout_bwd<T>(H, kc ? kc + row * H : nullptr, T(p_c), dcc.data(), dc_p + r * H);
        T* dco = o.layer_norm ? d_cell.data_ptr<T>() + row * H : nullptr;
        const T* pp_o = pp ? pp + 2 * H : nullptr;
        T* dpp_o = dpp ? dpp + 2 * H : nullptr;
        T* dg_o = dg + 3 * H;
        const T* a_o = a + 3 * H;
        if (pp && o.layer_norm) lstm_out_bwd<T, true, true>(H, dhc.data(), a_o, tc, cc, pp_o, dg_o, dco, dcc.data(), dpp_o);
        else if (pp) lstm_out_bwd<T, true, false>(H, dhc.data(), a_o, tc, cc, pp_o, dg_o, dco, dcc.data(), dpp_o);
        else if (o.layer_norm) lstm_out_bwd<T, false, true>(H, dhc.data(), a_o, tc, cc, pp_o, dg_o, dco, dcc.data(), dpp_o);
        else lstm_out_bwd<T, false, false>(H, dhc.data(), a_o, tc, cc, pp_o, dg_o, dco, dcc.data(), dpp_o);
        if (o.layer_norm) {
          ln_backward<T>(dco, c_hat.data_ptr<T>() + row * H, c_rstd.data_ptr<T>()[row], lcw, H, dx.data());
          for (int64_t j = 0; j < H; ++j) dcc[j] += dx[j];
        }
        if (pp) lstm_cell_bwd<T, true>(H, dcc.data(), a, cp, pp, dg, dc_p + r * H, dpp);
        else lstm_cell_bwd<T, false>(H, dcc.data(), a, cp, pp, dg, dc_p + r * H, dpp);
      } else if (gru) {
        const T* a = act_p + row * GH;
        const T* ghn = gh_n.data_ptr<T>() + row * H;  // W_hn h + b_hn (after LN)
        gru_bwd<T>(H, dhc.data(), a, ghn, hold, dg, d_gh.data_ptr<T>() + row * GH, dh_p + r * H);
      } else {
        const T* a = act_p + row * H;
        for (int64_t j = 0; j < H; ++j) dg[j] = relu ? (a[j] > T(0) ? dhc[j] : T(0)) : dhc[j] * (T(1) - a[j] * a[j]);
      }
      // d(recurrent pre-activation) -> d(raw product W_hh h), through LN_hh if any.
      const T* d_pre = gru ? d_gh.data_ptr<T>() + row * GH : dg;
      T* dr = dhh_p + row * GH;
      if (o.layer_norm) {
        if (!gru) std::memcpy(d_gh.data_ptr<T>() + row * GH, d_pre, sizeof(T) * GH);
        ln_backward<T>(d_pre, hh_p + row * GH, hh_rstd.data_ptr<T>()[row], lnw, GH, dr);
      } else {
        std::memcpy(dr, d_pre, sizeof(T) * GH);
      }
    }
    });
    // dh_in = d_raw @ W_hh (or u * d_raw for IndRNN), then through the recurrent dropout mask.
    T* dhin_t = dhin.data();
    if (ind) {
      for (int64_t r = 0; r < b; ++r)
        for (int64_t j = 0; j < H; ++j) dhin_t[r * H + j] = dhh_p[(off + r) * H + j] * w[j];
    } else {
      gemm<T>(false, b, H, GH, dhh_p + off * GH, w, T(0), dhin_t);
    }
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < H; ++j) dh_p[r * H + j] += mk ? dhin_t[r * H + j] * mk[r * H + j] : dhin_t[r * H + j];
  }
  // Weight gradients over the whole sequence at once.
  torch::Tensor d_w = ind ? (d_hh * h_in).sum(0) : d_hh.t().mm(h_in);
  return {d_gi, dh, dc, d_w, d_hh, d_gh, d_cell, d_peep};
}

torch::Tensor opt(const c10::optional<torch::Tensor>& t) { return t.has_value() ? t->contiguous() : torch::Tensor(); }

std::vector<torch::Tensor> forward(int64_t kind, bool reverse, bool layer_norm, bool peephole, bool save,
                                   torch::Tensor gi,
                                   std::vector<int64_t> batch_sizes, torch::Tensor h0, c10::optional<torch::Tensor> c0,
                                   torch::Tensor w_hh, c10::optional<torch::Tensor> b_hh,
                                   c10::optional<torch::Tensor> ln_hh_w, c10::optional<torch::Tensor> ln_hh_b,
                                   c10::optional<torch::Tensor> ln_c_w, c10::optional<torch::Tensor> ln_c_b,
                                   c10::optional<torch::Tensor> peep, c10::optional<torch::Tensor> mask,
                                   c10::optional<torch::Tensor> keep_h, c10::optional<torch::Tensor> keep_c, double p_h,
                                   double p_c) {
  const Options o{kind, reverse, layer_norm, peephole, save};
  gi = gi.contiguous();
  h0 = h0.contiguous();
  w_hh = w_hh.contiguous();
  return AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "rnnx_fused_forward", [&] {
    return forward_impl<scalar_t>(o, gi, batch_sizes, h0, opt(c0), w_hh, opt(b_hh), opt(ln_hh_w), opt(ln_hh_b),
                                  opt(ln_c_w), opt(ln_c_b), opt(peep), opt(mask), opt(keep_h), opt(keep_c), p_h, p_c);
  });
}

std::vector<torch::Tensor> backward(int64_t kind, bool reverse, bool layer_norm, bool peephole,
                                    std::vector<int64_t> batch_sizes, torch::Tensor d_out, torch::Tensor d_hn,
                                    c10::optional<torch::Tensor> d_cn, std::vector<torch::Tensor> saved,
                                    torch::Tensor w_hh, c10::optional<torch::Tensor> ln_hh_w,
                                    c10::optional<torch::Tensor> ln_c_w, c10::optional<torch::Tensor> peep,
                                    c10::optional<torch::Tensor> mask, c10::optional<torch::Tensor> keep_h,
                                    c10::optional<torch::Tensor> keep_c, double p_h, double p_c) {
  const Options o{kind, reverse, layer_norm, peephole};
  d_out = d_out.contiguous();
  d_hn = d_hn.contiguous();
  w_hh = w_hh.contiguous();
  return AT_DISPATCH_FLOATING_TYPES(d_out.scalar_type(), "rnnx_fused_backward", [&] {
    return backward_impl<scalar_t>(o, batch_sizes, d_out, d_hn, opt(d_cn), saved, w_hh, opt(ln_hh_w), opt(ln_c_w),
                                   opt(peep), opt(mask), opt(keep_h), opt(keep_c), p_h, p_c);
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnx fused CPU recurrence (one layer, one direction, whole sequence)";
  m.def("forward", &forward);
  m.def("backward", &backward);
}
