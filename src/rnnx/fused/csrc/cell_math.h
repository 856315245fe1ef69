// Elementwise math of the fused cells, one batch row at a time: activations, layer norm, and the
// LSTM, GRU and zoneout bodies with their backward passes. Equations: see rnnx/cells/*.py.
//
// Arguments are __restrict__ so that GCC vectorises the loops (-fno-math-errno and
// -fno-trapping-math, never -ffast-math); the activations avoid libm calls for the same reason.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace rnnx {

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
constexpr int kSumLanes = 16;

template <typename F>
double lane_sum(int n, F term) {
  double acc[kSumLanes] = {};
  int j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) acc[l] += static_cast<double>(term(j + l));
  double total = 0;
  for (int l = 0; l < kSumLanes; ++l) total += acc[l];
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

// Zoneout's training keep-mask, computed where it is needed instead of stored: the definition
// is in rnnx/recurrence/regularize.py. With mix(k, v) = splitmix64(k + (v + 1) * gamma), unit j
// of the row of global sample s at time step t reads 16-bit lane j % 4 (lowest bits first) of
// mix(mix(mix(key, s), t), j / 4) as u, and is kept where u < threshold. The mask depends on the
// sample, not on the row it sits in, so a data-parallel shard draws what one process would.
struct ZoneoutDraw {
  uint64_t key = 0;  // the mask stream's key
  uint32_t threshold = 0;  // up to 65536
  bool active = false;  // false: no training mask (evaluation, or no zoneout)
  std::vector<uint64_t> sample_keys;  // per batch row: mix(key, global sample index)
};

inline uint64_t splitmix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline uint64_t mix(uint64_t key, uint64_t value) { return splitmix64(key + (value + 1) * 0x9E3779B97F4A7C15ULL); }

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "zoneout lanes are read as the words' 16-bit halves");

// keep[j], j < n, for batch row r at time step t. `lanes` is scratch of at least n + 4 entries.
inline void zoneout_keep(const ZoneoutDraw& d, int64_t r, int64_t t, int64_t n, uint16_t* __restrict__ lanes,
                         bool* __restrict__ keep) {
  const uint64_t row_key = mix(d.sample_keys[r], static_cast<uint64_t>(t));
  const int64_t words = (n + 3) >> 2;
  for (int64_t w = 0; w < words; ++w) {
    const uint64_t value = mix(row_key, static_cast<uint64_t>(w));
    std::memcpy(lanes + 4 * w, &value, sizeof(value));  // lane l = bits 16l..16l+15 on little-endian
  }
  for (int64_t j = 0; j < n; ++j) keep[j] = lanes[j] < d.threshold;
}

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

}  // namespace rnnx
