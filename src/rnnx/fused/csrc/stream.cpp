// One time step of a whole stack of recurrent layers, for streaming inference: rnnx.Stream.
//
// A Stack holds each layer's weights packed once (transposed, biases folded; see
// rnnx/fused/stream.py, which builds them from the module's parameters) and the state tensors
// (h: (L, B, P), c: (L, B, H)), which it shares with Python. step(x) advances every layer by one
// step in place and returns the last layer's new h; sequence(x) runs a whole (T, B, I) sequence
// from the state (batch inference at small batch sizes, where one step is a few microseconds). No autograd: the stream takes this path only
// where no gradient is needed. Equations: rnnx/cells/*.py; the elementwise bodies are the fused
// kernel's (cell_math.h).
//
// Every tensor is checked here again (TORCH_CHECK), whatever Python checked: sizes, dtype,
// device, layout and contiguity, so that no call can read out of bounds.

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cell_math.h"
#include "small_gemm.h"  // kVectorBytes

namespace rnnx {
namespace {

enum Kind : int64_t { kLSTM = 0, kGRU = 1, kRNNTanh = 2, kRNNRelu = 3, kIndRNNRelu = 4, kIndRNNTanh = 5 };

// The tensors of one layer, in the order rnnx/fused/stream.py packs them; an empty tensor
// (numel 0) stands for one the layer does not have.
enum Slot : size_t {
  kWihT = 0,   // (I, G*H): W_ih transposed
  kWhhT,       // (P, G*H): W_hh transposed; IndRNN: u (H,)
  kGiBias,     // (G*H,): added to W_ih x (after LN_ih when layer-normed), or empty
  kLnIh,       // (G*H,): LN_ih's gain, or empty (no layer norm)
  kGhBias,     // (G*H,): added to W_hh h (after LN_hh), or empty
  kLnHh,       // (G*H,): LN_hh's gain, or empty
  kLnCellW,    // (H,): LN_cell's gain (LSTM with layer norm), or empty
  kLnCellB,    // (H,)
  kPeep,       // (3, H): peepholes i, f, o (LSTM), or empty
  kWhrT,       // (H, P): the projection W_hr transposed (LSTM with proj_size), or empty
  kSlots
};

bool has(const torch::Tensor& t) { return t.defined() && t.numel() > 0; }

struct Layer {
  std::vector<torch::Tensor> t;
  int64_t in = 0, hidden = 0, out = 0, gates = 0;
  double p_h = 0, p_c = 0;  // zoneout in evaluation: s = s~ + p (s_prev - s~)
};

int64_t chunks(int64_t kind) { return kind == kLSTM ? 4 : kind == kGRU ? 3 : 1; }

void check_vector(const torch::Tensor& t, int64_t n, torch::ScalarType dtype, const char* what, int64_t layer) {
  if (!has(t)) return;
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n, "rnnx stream: layer ", layer, " ", what, " must have shape (", n,
              "); got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == dtype, "rnnx stream: layer ", layer, " ", what, " has dtype ", t.scalar_type());
  TORCH_CHECK(t.device().is_cpu() && t.layout() == torch::kStrided && t.is_contiguous(), "rnnx stream: layer ",
              layer, " ", what, " must be a contiguous CPU tensor");
}

void check_matrix(const torch::Tensor& t, int64_t rows, int64_t cols, torch::ScalarType dtype, const char* what,
                  int64_t layer) {
  TORCH_CHECK(has(t), "rnnx stream: layer ", layer, " needs ", what);
  TORCH_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == cols, "rnnx stream: layer ", layer, " ", what,
              " must have shape (", rows, ", ", cols, "); got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == dtype, "rnnx stream: layer ", layer, " ", what, " has dtype ", t.scalar_type());
  TORCH_CHECK(t.device().is_cpu() && t.layout() == torch::kStrided && t.is_contiguous(), "rnnx stream: layer ",
              layer, " ", what, " must be a contiguous CPU tensor");
}

// y[r, :] (+)= x[r, :] @ wt for rows r < B: wt (K, N) row-major, y (B, N). One row, or a few
// rows of small weights, run as axpy loops over wt's rows (vectorised over N); the rest goes
// to the BLAS.
template <typename T>
void matmul_rows(const T* __restrict__ x, int64_t B, int64_t K, const torch::Tensor& wt, T* __restrict__ y,
                 bool accumulate) {
  const int64_t N = wt.size(1);
  constexpr int64_t kSharedBytes = 1 << 20;
  const bool large = K * N * static_cast<int64_t>(sizeof(T)) >= kSharedBytes;
  if (B > 4 || (B > 1 && large)) {  // the loops below read wt once per row: the BLAS blocks rows
    auto xt = torch::from_blob(const_cast<T*>(x), {B, K}, wt.options());
    auto yt = torch::from_blob(y, {B, N}, wt.options());
    if (accumulate) yt.addmm_(xt, wt);
    else at::mm_out(yt, xt, wt);
    return;
  }
  // Columns in blocks of kBlock accumulated in registers over every k (one pass over wt, no
  // load or store of y per k); the last, partial block in memory. Weights too large for one
  // core's cache are shared out by column blocks over torch's threads (memory-bound: two
  // cores read twice as fast).
  // 8 of the build's vector registers (512 bits on AVX-512, 256 on AVX2, 128 on SSE): half the
  // register file or less, so the accumulators never spill, whatever the instruction set.
  constexpr int64_t kBlock = kVectorBytes / static_cast<int64_t>(sizeof(T)) * 8;
  const T* w = wt.data_ptr<T>();
  const int64_t full = N / kBlock;
  const auto columns = [&](int64_t b0, int64_t b1) {
    for (int64_t r = 0; r < B; ++r) {
      T* __restrict__ yr = y + r * N;
      const T* __restrict__ xr = x + r * K;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t n0 = blk * kBlock;
        T acc[kBlock];
        for (int64_t n = 0; n < kBlock; ++n) acc[n] = accumulate ? yr[n0 + n] : T(0);
        for (int64_t k = 0; k < K; ++k) {
          const T a = xr[k];
          const T* __restrict__ wk = w + k * N + n0;
          for (int64_t n = 0; n < kBlock; ++n) acc[n] += a * wk[n];
        }
        for (int64_t n = 0; n < kBlock; ++n) yr[n0 + n] = acc[n];
      }
    }
  };
  if (large && full > 1) at::parallel_for(0, full, 1, columns);
  else columns(0, full);
  const int64_t n0 = full * kBlock;
  if (n0 < N) {
    for (int64_t r = 0; r < B; ++r) {
      T* __restrict__ yr = y + r * N;
      const T* __restrict__ xr = x + r * K;
      if (!accumulate) std::fill(yr + n0, yr + N, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T a = xr[k];
        const T* __restrict__ wk = w + k * N;
        for (int64_t n = n0; n < N; ++n) yr[n] += a * wk[n];
      }
    }
  }
}

class Stack {
 public:
  // sources: the module's parameters the packed weights were made from; a step on a stack whose
  // sources changed since (an in-place update bumps the version; `.data =` moves the storage)
  // computes nothing and returns None, so that the caller packs again.
  Stack(int64_t kind, std::vector<std::vector<torch::Tensor>> layers, std::vector<double> p_h,
        std::vector<double> p_c, torch::Tensor h, torch::Tensor c, std::vector<torch::Tensor> sources)
      : kind_(kind), h_(std::move(h)), c_(std::move(c)), sources_(std::move(sources)) {
    for (const auto& t : sources_) {
      TORCH_CHECK(t.defined(), "rnnx stream: an undefined source parameter");
      versions_.push_back(t._version());
      pointers_.push_back(t.data_ptr());
    }
    TORCH_CHECK(kind >= kLSTM && kind <= kIndRNNTanh, "rnnx stream: unknown kind ", kind);
    TORCH_CHECK(!layers.empty(), "rnnx stream: no layers");
    TORCH_CHECK(p_h.size() == layers.size() && p_c.size() == layers.size(), "rnnx stream: one zoneout p per layer");
    TORCH_CHECK(h_.dim() == 3 && h_.size(0) == static_cast<int64_t>(layers.size()) && h_.is_contiguous() &&
                    h_.device().is_cpu(),
                "rnnx stream: h must be a contiguous CPU tensor (L, B, P)");
    dtype_ = h_.scalar_type();
    TORCH_CHECK(dtype_ == torch::kFloat32 || dtype_ == torch::kFloat64, "rnnx stream: float32 or float64; got ",
                dtype_);
    batch_ = h_.size(1);
    TORCH_CHECK(batch_ >= 1, "rnnx stream: batch must be at least 1");
    const bool lstm = kind == kLSTM;
    const int64_t G = chunks(kind);
    int64_t previous_out = -1;
    for (size_t l = 0; l < layers.size(); ++l) {
      auto& tensors = layers[l];
      const auto li = static_cast<int64_t>(l);
      TORCH_CHECK(tensors.size() == kSlots, "rnnx stream: layer ", li, " needs ", static_cast<int64_t>(kSlots),
                  " tensors; got ", static_cast<int64_t>(tensors.size()));
      Layer layer;
      layer.t = tensors;
      const auto& wih = tensors[kWihT];
      TORCH_CHECK(has(wih) && wih.dim() == 2, "rnnx stream: layer ", li, " needs W_ih transposed (I, G*H)");
      layer.in = wih.size(0);
      layer.gates = wih.size(1);
      TORCH_CHECK(layer.gates % G == 0 && layer.gates > 0, "rnnx stream: layer ", li, " has ", layer.gates,
                  " gate features, not a multiple of ", G);
      layer.hidden = layer.gates / G;
      layer.out = has(tensors[kWhrT]) ? tensors[kWhrT].size(1) : layer.hidden;
      TORCH_CHECK(previous_out < 0 || layer.in == previous_out, "rnnx stream: layer ", li, " takes ", layer.in,
                  " features but the layer below gives ", previous_out);
      previous_out = layer.out;
      check_matrix(wih, layer.in, layer.gates, dtype_, "W_ih^T", li);
      if (kind >= kIndRNNRelu) check_vector(tensors[kWhhT], layer.hidden, dtype_, "u", li);
      else check_matrix(tensors[kWhhT], layer.out, layer.gates, dtype_, "W_hh^T", li);
      TORCH_CHECK(kind < kIndRNNRelu || has(tensors[kWhhT]), "rnnx stream: layer ", li, " needs u");
      check_vector(tensors[kGiBias], layer.gates, dtype_, "input bias", li);
      check_vector(tensors[kLnIh], layer.gates, dtype_, "LN_ih gain", li);
      check_vector(tensors[kGhBias], layer.gates, dtype_, "recurrent bias", li);
      check_vector(tensors[kLnHh], layer.gates, dtype_, "LN_hh gain", li);
      check_vector(tensors[kLnCellW], layer.hidden, dtype_, "LN_cell gain", li);
      check_vector(tensors[kLnCellB], layer.hidden, dtype_, "LN_cell shift", li);
      TORCH_CHECK(has(tensors[kLnCellW]) == has(tensors[kLnCellB]), "rnnx stream: LN_cell needs gain and shift");
      TORCH_CHECK(!has(tensors[kLnIh]) || has(tensors[kGiBias]), "rnnx stream: LN_ih needs its shift");
      TORCH_CHECK(!has(tensors[kLnHh]) || has(tensors[kGhBias]), "rnnx stream: LN_hh needs its shift");
      TORCH_CHECK(has(tensors[kLnIh]) == has(tensors[kLnHh]), "rnnx stream: both products are layer-normed or neither");
      TORCH_CHECK(lstm || !(has(tensors[kLnCellW]) || has(tensors[kPeep]) || has(tensors[kWhrT])),
                  "rnnx stream: only LSTM has LN_cell, peepholes and a projection");
      if (has(tensors[kPeep])) check_matrix(tensors[kPeep], 3, layer.hidden, dtype_, "peepholes", li);
      if (has(tensors[kWhrT])) check_matrix(tensors[kWhrT], layer.hidden, layer.out, dtype_, "W_hr^T", li);
      TORCH_CHECK(h_.size(2) >= layer.out, "rnnx stream: h is narrower than layer ", li, "'s output");
      TORCH_CHECK(p_h[l] >= 0 && p_h[l] < 1 && p_c[l] >= 0 && p_c[l] < 1, "rnnx stream: zoneout p in [0, 1)");
      layer.p_h = p_h[l];
      layer.p_c = p_c[l];
      layers_.push_back(std::move(layer));
    }
    out_ = layers_.back().out;
    for (const auto& layer : layers_)
      TORCH_CHECK(h_.size(2) == layer.out, "rnnx stream: every layer's h must be ", h_.size(2), " wide");
    if (lstm) {
      TORCH_CHECK(c_.dim() == 3 && c_.size(0) == h_.size(0) && c_.size(1) == batch_ &&
                      c_.size(2) == layers_[0].hidden && c_.is_contiguous() && c_.device().is_cpu() &&
                      c_.scalar_type() == dtype_,
                  "rnnx stream: c must be a contiguous CPU tensor (L, B, H) of h's dtype");
    }
    int64_t widest = 0;
    for (const auto& layer : layers_) widest = std::max(widest, layer.gates);
    const auto options = h_.options();
    gi_ = torch::empty({batch_, widest}, options);
    gh_ = torch::empty({batch_, widest}, options);
    act_ = torch::empty({widest}, options);
    // rstd (1), the LN x-hat (widest), then cell_row's candidate buffers (5 H, and P <= H)
    scratch_ = torch::empty({1 + widest + 5 * widest}, options);
  }

  torch::Tensor step(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 2 && x.size(0) == batch_ && x.size(1) == layers_[0].in, "rnnx stream: x must be (",
                batch_, ", ", layers_[0].in, "); got ", x.sizes());
    TORCH_CHECK(x.scalar_type() == dtype_ && x.device().is_cpu() && x.layout() == torch::kStrided,
                "rnnx stream: x must be a CPU ", dtype_, " tensor");
    for (size_t k = 0; k < sources_.size(); ++k)
      if (sources_[k]._version() != versions_[k] || sources_[k].data_ptr() != pointers_[k]) return {};
    const auto input = x.contiguous();
    auto out = torch::empty({batch_, out_}, h_.options());
    if (dtype_ == torch::kFloat32) run<float>(input, out);
    else run<double>(input, out);
    return out;
  }

  // The whole sequence x (T, B, I) from the current state: the last layer's h at every step
  // (T, B, P), the state left at the last step. None if the sources changed (as step).
  torch::Tensor sequence(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 3 && x.size(0) >= 1 && x.size(1) == batch_ && x.size(2) == layers_[0].in,
                "rnnx stream: x must be (T >= 1, ", batch_, ", ", layers_[0].in, "); got ", x.sizes());
    TORCH_CHECK(x.scalar_type() == dtype_ && x.device().is_cpu() && x.layout() == torch::kStrided,
                "rnnx stream: x must be a CPU ", dtype_, " tensor");
    for (size_t k = 0; k < sources_.size(); ++k)
      if (sources_[k]._version() != versions_[k] || sources_[k].data_ptr() != pointers_[k]) return {};
    const auto input = x.contiguous();
    auto out = torch::empty({x.size(0), batch_, out_}, h_.options());
    if (dtype_ == torch::kFloat32) run_sequence<float>(input, out);
    else run_sequence<double>(input, out);
    return out;
  }

  torch::Tensor h() const { return h_; }
  torch::Tensor c() const { return c_; }

 private:
  template <typename T>
  void run(const torch::Tensor& x, torch::Tensor& out) {
    const T* in = x.data_ptr<T>();
    int64_t in_width = layers_[0].in;
    for (size_t l = 0; l < layers_.size(); ++l) {
      T* gi = gi_.data_ptr<T>();
      matmul_rows<T>(in, batch_, in_width, layers_[l].t[kWihT], gi, false);
      T* h = advance<T>(l, gi);
      in = h;
      in_width = layers_[l].out;
    }
    std::memcpy(out.data_ptr<T>(), in, sizeof(T) * batch_ * out_);
  }

  // Layer by layer over the whole sequence: each layer's input product is one GEMM over all
  // T*B rows (the step keeps only the recurrent one), then the steps run in order.
  template <typename T>
  void run_sequence(const torch::Tensor& x, torch::Tensor& out) {
    const int64_t steps = x.size(0), B = batch_;
    torch::Tensor input = x;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      auto gi_all = at::mm(input.view({steps * B, L.in}), L.t[kWihT]);  // (T*B, G*H)
      auto below = l + 1 == layers_.size() ? out : torch::empty({steps, B, L.out}, h_.options());
      T* gi = gi_all.data_ptr<T>();
      T* y = below.data_ptr<T>();
      for (int64_t s = 0; s < steps; ++s) {
        const T* h = advance<T>(l, gi + s * B * L.gates);
        std::memcpy(y + s * B * L.out, h, sizeof(T) * B * L.out);
      }
      input = below;
    }
  }

  // Layer l's step from its input product gi (B, G*H), overwritten: the recurrent product, the
  // biases and layer norms, then each row's cell. Returns the layer's h (B, P), updated in place.
  template <typename T>
  T* advance(size_t l, T* gi) {
    const Layer& L = layers_[l];
    const auto& t = L.t;
    const int64_t H = L.hidden, P = L.out, GH = L.gates, B = batch_;
    T* h = h_.data_ptr<T>() + static_cast<int64_t>(l) * B * P;
    T* c = kind_ == kLSTM ? c_.data_ptr<T>() + static_cast<int64_t>(l) * B * H : nullptr;
    T* gh = gh_.data_ptr<T>();
    const bool ln_ih = has(t[kLnIh]), ln_hh = has(t[kLnHh]), gi_bias = has(t[kGiBias]), gh_bias = has(t[kGhBias]);
    const bool ind = kind_ >= kIndRNNRelu;
    // Both products into one buffer where nothing sits between them (no layer norm, no GRU).
    const bool merged = !ln_ih && !ln_hh && kind_ != kGRU && !ind;
    if (!ind) matmul_rows<T>(h, B, P, t[kWhhT], merged ? gi : gh, merged);
    T* rstd = scratch_.data_ptr<T>();
    T* xhat = rstd + 1;
    for (int64_t r = 0; r < B; ++r) {
      T* gr = gi + r * GH;
      T* ghr = gh + r * GH;
      if (ln_ih) ln_forward<T>(gr, static_cast<int>(GH), t[kLnIh].data_ptr<T>(), t[kGiBias].data_ptr<T>(), gr, xhat, rstd);
      else if (gi_bias) add(gr, t[kGiBias].data_ptr<T>(), GH);
      if (merged || ind) continue;
      if (ln_hh) ln_forward<T>(ghr, static_cast<int>(GH), t[kLnHh].data_ptr<T>(), t[kGhBias].data_ptr<T>(), ghr, xhat, rstd);
      else if (gh_bias) add(ghr, t[kGhBias].data_ptr<T>(), GH);
      if (kind_ != kGRU) add(gr, ghr, GH);  // LSTM and RNN sum the two products; GRU keeps them apart
    }
    for (int64_t r = 0; r < B; ++r) cell_row<T>(L, gi + r * GH, gh + r * GH, h + r * P, c ? c + r * H : nullptr);
    return h;
  }

  template <typename T>
  static void add(T* __restrict__ y, const T* __restrict__ b, int64_t n) {
    for (int64_t j = 0; j < n; ++j) y[j] += b[j];
  }

  // One row: the new state from the pre-activations (gi holds the sum for LSTM and RNN; GRU's
  // recurrent part is gh), zoneout blended in evaluation.
  // flatten: every call inside is inlined, so that the activations (exp_approx) vectorise with
  // the loops around them; GCC's heuristics left them as calls in this large function.
  template <typename T>
  __attribute__((flatten)) void cell_row(const Layer& L, const T* gi, const T* gh, T* h, T* c) {
    const auto& t = L.t;
    const int64_t H = L.hidden, P = L.out;
    T* a = act_.data_ptr<T>();                  // gate activations (G*H)
    T* fresh = scratch_.data_ptr<T>() + 1 + L.gates;  // the candidate state: h (H), c (H), tanh (H), LN (H)
    T* hh = fresh;
    T* cc = fresh + H;
    T* tc = fresh + 2 * H;
    T* normed = fresh + 3 * H;
    const T ph = static_cast<T>(L.p_h), pc = static_cast<T>(L.p_c);
    if (kind_ == kLSTM) {
      const bool peep = has(t[kPeep]);
      const T* pp = peep ? t[kPeep].data_ptr<T>() : nullptr;
      if (peep) lstm_cell_fwd<T, true>(H, gi, c, pp, a, cc);
      else lstm_cell_fwd<T, false>(H, gi, c, pp, a, cc);
      const T* cell_out = cc;
      if (has(t[kLnCellW])) {
        T* rstd = scratch_.data_ptr<T>();
        ln_forward<T>(cc, static_cast<int>(H), t[kLnCellW].data_ptr<T>(), t[kLnCellB].data_ptr<T>(), normed,
                      fresh + 4 * H, rstd);
        cell_out = normed;
      }
      if (peep) lstm_out_fwd<T, true>(H, gi + 3 * H, cc, cell_out, pp + 2 * H, a + 3 * H, tc, hh);
      else lstm_out_fwd<T, false>(H, gi + 3 * H, cc, cell_out, pp, a + 3 * H, tc, hh);
      for (int64_t j = 0; j < H; ++j) c[j] = cc[j] + pc * (c[j] - cc[j]);
      if (has(t[kWhrT])) {  // h = W_hr h~, into tc (free now)
        T* projected = tc;
        std::fill(projected, projected + P, T(0));
        const T* w = t[kWhrT].data_ptr<T>();
        for (int64_t k = 0; k < H; ++k) {
          const T v = hh[k];
          const T* __restrict__ wk = w + k * P;
          for (int64_t n = 0; n < P; ++n) projected[n] += v * wk[n];
        }
        hh = projected;
      }
      for (int64_t j = 0; j < P; ++j) h[j] = hh[j] + ph * (h[j] - hh[j]);
      return;
    }
    if (kind_ == kGRU) {
      gru_fwd<T>(H, gi, gh, h, a, tc, hh);
    } else if (kind_ >= kIndRNNRelu) {
      const T* u = t[kWhhT].data_ptr<T>();
      for (int64_t j = 0; j < H; ++j) hh[j] = gi[j] + u[j] * h[j];
    } else {
      for (int64_t j = 0; j < H; ++j) hh[j] = gi[j];
    }
    if (kind_ != kGRU) {
      const bool relu = kind_ == kRNNRelu || kind_ == kIndRNNRelu;
      for (int64_t j = 0; j < H; ++j) hh[j] = relu ? (hh[j] > T(0) ? hh[j] : T(0)) : tanh_(hh[j]);
    }
    for (int64_t j = 0; j < H; ++j) h[j] = hh[j] + ph * (h[j] - hh[j]);
  }

  int64_t kind_;
  std::vector<Layer> layers_;
  torch::Tensor h_, c_, gi_, gh_, act_, scratch_;
  std::vector<torch::Tensor> sources_;
  std::vector<int64_t> versions_;
  std::vector<void*> pointers_;
  torch::ScalarType dtype_ = torch::kFloat32;
  int64_t batch_ = 0, out_ = 0;
};

}  // namespace
}  // namespace rnnx

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<rnnx::Stack>(m, "Stack")
      .def(pybind11::init<int64_t, std::vector<std::vector<torch::Tensor>>, std::vector<double>,
                          std::vector<double>, torch::Tensor, torch::Tensor, std::vector<torch::Tensor>>())
      .def("step", &rnnx::Stack::step)
      .def("sequence", &rnnx::Stack::sequence)
      .def_property_readonly("h", &rnnx::Stack::h)
      .def_property_readonly("c", &rnnx::Stack::c);
}
