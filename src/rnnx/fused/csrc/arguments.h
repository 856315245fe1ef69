// Argument checks of the fused kernel's entry points (fused_rnn.cpp): every tensor and scalar is
// checked before any memory is touched, whatever Python passed. The loops read raw pointers
// with sizes derived from a few arguments (sizes, h0, c0), so each other tensor must have
// exactly the shape the loops assume: a wrong one would be read out of bounds, not refused.
//
// Sizes, as in fused_rnn.cpp: N = sum(sizes) rows, B = sizes[0] sequences, P the width of h,
// H the cell's width (P, except for an LSTM with w_hr), G gate blocks (4 LSTM, 3 GRU, else 1).
#pragma once

#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace rnnx {

enum Kind : int64_t { LSTM = 0, GRU = 1, RNN_TANH = 2, RNN_RELU = 3, INDRNN_RELU = 4, INDRNN_TANH = 5 };

inline int64_t gates_of(int64_t kind) { return kind == LSTM ? 4 : kind == GRU ? 3 : 1; }

// The sizes of one call, derived from its arguments and checked against all of them.
struct Dims {
  int64_t N = 0, B = 0, P = 0, H = 0, G = 1, GH = 0;
  bool lstm = false, gru = false, ind = false, proj = false;
};

// A tensor the loops read or write by pointer: defined, dense, on the CPU, of dtype `dtype`,
// of exactly `shape`, contiguous, without a lazy negation or conjugation bit.
inline void check_dense(const char* fn, const char* name, const torch::Tensor& t, c10::ScalarType dtype,
                        const std::vector<int64_t>& shape) {
  TORCH_CHECK(t.defined(), fn, ": ", name, " must be a tensor; got an undefined one");
  TORCH_CHECK(t.layout() == c10::kStrided, fn, ": ", name, " must be a dense (strided) tensor; got layout ",
              t.layout());
  TORCH_CHECK(t.device().is_cpu(), fn, ": ", name, " must be on the CPU; got device ", t.device());
  TORCH_CHECK(t.scalar_type() == dtype, fn, ": ", name, " must have dtype ", dtype, " (that of the gates); got ",
              t.scalar_type());
  TORCH_CHECK(t.sizes() == c10::IntArrayRef(shape), fn, ": ", name, " must have shape ", c10::IntArrayRef(shape),
              "; got ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), fn, ": ", name, " must be contiguous; got strides ", t.strides());
  TORCH_CHECK(!t.is_neg() && !t.is_conj(), fn, ": ", name, " must not be a lazily negated or conjugated view");
}

// The tensor that sets the dtype of a call (gi, or d_out in the backward): float32 or float64.
inline c10::ScalarType check_gates_dtype(const char* fn, const char* name, const torch::Tensor& t) {
  TORCH_CHECK(t.defined(), fn, ": ", name, " must be a tensor; got an undefined one");
  const auto dtype = t.scalar_type();
  TORCH_CHECK(dtype == c10::kFloat || dtype == c10::kDouble, fn, ": ", name,
              " must be float32 or float64; got ", dtype);
  return dtype;
}

// A width read from a tensor before its full check: a defined, dense 2-D tensor with `rows` rows.
inline int64_t width_of(const char* fn, const char* name, const torch::Tensor& t, int64_t rows) {
  TORCH_CHECK(t.defined(), fn, ": ", name, " must be a tensor; got an undefined one");
  TORCH_CHECK(t.layout() == c10::kStrided, fn, ": ", name, " must be a dense (strided) tensor; got layout ",
              t.layout());
  TORCH_CHECK(t.dim() == 2 && t.size(0) == rows, fn, ": ", name, " must be 2-d with ", rows,
              " rows (sizes[0], the batch); got shape ", t.sizes());
  TORCH_CHECK(t.size(1) >= 1, fn, ": ", name, " must have at least one column; got shape ", t.sizes());
  return t.size(1);
}

// An optional tensor: present exactly when `wanted` (when `condition` holds), and then as
// check_dense says.
inline void check_optional(const char* fn, const char* name, const c10::optional<torch::Tensor>& t, bool wanted,
                           c10::ScalarType dtype, const std::vector<int64_t>& shape, const char* condition) {
  const bool given = t.has_value() && t->defined();
  TORCH_CHECK(given == wanted, fn, ": ", name, wanted ? " is required when " : " must be None unless ", condition);
  if (given) check_dense(fn, name, *t, dtype, shape);
}

// kind, peephole, and the rows per step: 1 <= sizes[t], non-increasing; returns (N, B).
inline Dims check_configuration(const char* fn, int64_t kind, bool peephole, const std::vector<int64_t>& sizes) {
  TORCH_CHECK(kind >= LSTM && kind <= INDRNN_TANH, fn, ": kind must be in [0, 5]; got ", kind);
  TORCH_CHECK(!peephole || kind == LSTM, fn, ": peephole needs kind LSTM (0); got kind ", kind);
  TORCH_CHECK(!sizes.empty(), fn, ": sizes (rows per step) must not be empty");
  Dims d;
  for (size_t t = 0; t < sizes.size(); ++t) {
    TORCH_CHECK(sizes[t] >= 1, fn, ": sizes must be positive; got sizes[", t, "] = ", sizes[t]);
    TORCH_CHECK(t == 0 || sizes[t] <= sizes[t - 1], fn, ": sizes must be non-increasing; got sizes[", t - 1,
                "] = ", sizes[t - 1], " then sizes[", t, "] = ", sizes[t]);
    d.N += sizes[t];
  }
  d.B = sizes[0];
  d.lstm = kind == LSTM;
  d.gru = kind == GRU;
  d.ind = kind >= INDRNN_RELU;
  d.G = gates_of(kind);
  return d;
}

// The zoneout scalars: the evaluation probabilities p_h, p_c in [0, 1).
inline void check_probabilities(const char* fn, double p_h, double p_c) {
  TORCH_CHECK(p_h >= 0.0 && p_h < 1.0, fn, ": p_h must be in [0, 1); got ", p_h);
  TORCH_CHECK(p_c >= 0.0 && p_c < 1.0, fn, ": p_c must be in [0, 1); got ", p_c);
}

// H (the cell's width) and whether w_hr projects, from c-like (an LSTM's c0 or d_cn, (B, H)) and
// w_hr; P is h's width.
inline void cell_width(const char* fn, Dims& d, const char* c_name, const c10::optional<torch::Tensor>& c_like,
                       const c10::optional<torch::Tensor>& w_hr) {
  const bool has_c = c_like.has_value() && c_like->defined();
  TORCH_CHECK(has_c == d.lstm, fn, ": ", c_name, d.lstm ? " is required for kind LSTM" : " must be None unless kind is LSTM");
  d.H = d.lstm ? width_of(fn, c_name, *c_like, d.B) : d.P;
  d.proj = w_hr.has_value() && w_hr->defined();
  TORCH_CHECK(!d.proj || d.lstm, fn, ": w_hr (proj_size) needs kind LSTM (0)");
  TORCH_CHECK(d.proj || d.H == d.P, fn, ": without w_hr, h and ", c_name, " must have the same width; got ", d.P,
              " and ", d.H);
  d.GH = d.G * d.H;
}

// The weights both passes read: w_hh, the layer-norm gains, the peepholes, the recurrent dropout
// mask and the projection.
inline void check_weights(const char* fn, const Dims& d, bool layer_norm, bool peephole, c10::ScalarType dtype,
                          const torch::Tensor& w_hh, const c10::optional<torch::Tensor>& ln_hh_w,
                          const c10::optional<torch::Tensor>& ln_c_w, const c10::optional<torch::Tensor>& peep,
                          const c10::optional<torch::Tensor>& mask, const c10::optional<torch::Tensor>& w_hr) {
  check_dense(fn, "w_hh", w_hh, dtype, d.ind ? std::vector<int64_t>{d.H} : std::vector<int64_t>{d.GH, d.P});
  check_optional(fn, "ln_hh_w", ln_hh_w, layer_norm, dtype, {d.GH}, "layer_norm is set");
  check_optional(fn, "ln_c_w", ln_c_w, layer_norm && d.lstm, dtype, {d.H},
                 "layer_norm is set and kind is LSTM");
  check_optional(fn, "peep", peep, peephole, dtype, {3, d.H}, "peephole is set");
  if (mask.has_value() && mask->defined()) check_dense(fn, "mask", *mask, dtype, {d.B, d.P});
  if (d.proj) check_dense(fn, "w_hr", *w_hr, dtype, {d.P, d.H});
}

inline Dims check_forward_arguments(int64_t kind, bool layer_norm, bool peephole, const torch::Tensor& gi,
                                    const std::vector<int64_t>& sizes, const torch::Tensor& h0,
                                    const c10::optional<torch::Tensor>& c0, const torch::Tensor& w_hh,
                                    const c10::optional<torch::Tensor>& b_hh,
                                    const c10::optional<torch::Tensor>& ln_hh_w,
                                    const c10::optional<torch::Tensor>& ln_hh_b,
                                    const c10::optional<torch::Tensor>& ln_c_w,
                                    const c10::optional<torch::Tensor>& ln_c_b,
                                    const c10::optional<torch::Tensor>& peep,
                                    const c10::optional<torch::Tensor>& mask, double p_h, double p_c,
                                    const c10::optional<torch::Tensor>& w_hr) {
  const char* fn = "rnnx fused forward";
  Dims d = check_configuration(fn, kind, peephole, sizes);
  check_probabilities(fn, p_h, p_c);
  const auto dtype = check_gates_dtype(fn, "gi", gi);
  d.P = width_of(fn, "h0", h0, d.B);
  cell_width(fn, d, "c0", c0, w_hr);
  check_dense(fn, "gi", gi, dtype, {d.N, d.GH});
  check_dense(fn, "h0", h0, dtype, {d.B, d.P});
  if (d.lstm) check_dense(fn, "c0", *c0, dtype, {d.B, d.H});
  const bool has_b_hh = b_hh.has_value() && b_hh->defined();
  TORCH_CHECK(!has_b_hh || d.gru, fn, ": b_hh must be None unless kind is GRU (1)");
  if (has_b_hh) check_dense(fn, "b_hh", *b_hh, dtype, {d.GH});
  check_weights(fn, d, layer_norm, peephole, dtype, w_hh, ln_hh_w, ln_c_w, peep, mask, w_hr);
  check_optional(fn, "ln_hh_b", ln_hh_b, layer_norm, dtype, {d.GH}, "layer_norm is set");
  check_optional(fn, "ln_c_b", ln_c_b, layer_norm && d.lstm, dtype, {d.H},
                 "layer_norm is set and kind is LSTM");
  return d;
}

// The backward reads the forward's saved buffers (its outputs 3..14, as saved with save=true) at
// the rows the loops index: each must have the shape the forward gave it.
constexpr size_t kSavedBuffers = 12;

inline Dims check_backward_arguments(int64_t kind, bool layer_norm, bool peephole, const std::vector<int64_t>& sizes,
                                     const torch::Tensor& d_out, const torch::Tensor& d_hn,
                                     const c10::optional<torch::Tensor>& d_cn,
                                     const std::vector<torch::Tensor>& saved, const torch::Tensor& w_hh,
                                     const c10::optional<torch::Tensor>& ln_hh_w,
                                     const c10::optional<torch::Tensor>& ln_c_w,
                                     const c10::optional<torch::Tensor>& peep,
                                     const c10::optional<torch::Tensor>& mask, double p_h, double p_c,
                                     const c10::optional<torch::Tensor>& w_hr) {
  const char* fn = "rnnx fused backward";
  Dims d = check_configuration(fn, kind, peephole, sizes);
  check_probabilities(fn, p_h, p_c);
  const auto dtype = check_gates_dtype(fn, "d_out", d_out);
  d.P = width_of(fn, "d_hn", d_hn, d.B);
  cell_width(fn, d, "d_cn", d_cn, w_hr);
  check_dense(fn, "d_out", d_out, dtype, {d.N, d.P});
  check_dense(fn, "d_hn", d_hn, dtype, {d.B, d.P});
  if (d.lstm) check_dense(fn, "d_cn", *d_cn, dtype, {d.B, d.H});
  check_weights(fn, d, layer_norm, peephole, dtype, w_hh, ln_hh_w, ln_c_w, peep, mask, w_hr);
  TORCH_CHECK(saved.size() == kSavedBuffers, fn, ": saved must hold the forward's ", kSavedBuffers,
              " buffers (its outputs after out, h, c); got ", saved.size());
  const int64_t N = d.N, H = d.H, lstm_rows = d.lstm ? N : 0, cell_ln_rows = d.lstm && layer_norm ? N : 0;
  const std::vector<int64_t> shapes[kSavedBuffers] = {
      {N, d.P},                                // h_in
      {d.gru ? N : d.B, d.P},                  // h_prev
      {N, d.lstm || d.gru ? d.GH : H},         // acts
      {layer_norm ? N : d.B, d.GH},            // hh
      {layer_norm ? N : 0},                    // hh_rstd
      {lstm_rows, H},                          // c_prev
      {lstm_rows, H},                          // c_cand
      {lstm_rows, H},                          // tanh_c
      {cell_ln_rows, H},                       // c_hat
      {cell_ln_rows},                          // c_rstd
      {d.gru ? N : 0, H},                      // gh_n
      {d.proj ? N : 0, H},                     // h_full
  };
  static const char* const names[kSavedBuffers] = {
      "saved[0] (h_in)",   "saved[1] (h_prev)", "saved[2] (acts)",   "saved[3] (hh)",
      "saved[4] (hh_rstd)", "saved[5] (c_prev)", "saved[6] (c_cand)", "saved[7] (tanh_c)",
      "saved[8] (c_hat)",  "saved[9] (c_rstd)", "saved[10] (gh_n)",  "saved[11] (h_full)"};
  for (size_t i = 0; i < kSavedBuffers; ++i) check_dense(fn, names[i], saved[i], dtype, shapes[i]);
  return d;
}

// The small_gemm binding's operands: dense CPU matrices of one floating dtype.
inline void check_gemm_operands(const torch::Tensor& a, const torch::Tensor& b) {
  const char* fn = "small_gemm";
  for (const auto* t : {&a, &b}) {
    const char* name = t == &a ? "a" : "b";
    TORCH_CHECK(t->defined(), fn, ": ", name, " must be a tensor; got an undefined one");
    TORCH_CHECK(t->layout() == c10::kStrided, fn, ": ", name, " must be a dense (strided) tensor; got layout ",
                t->layout());
  }
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.scalar_type() == b.scalar_type(), fn,
              ": two 2-d tensors of one dtype expected; got a of shape ", a.sizes(), " (", a.scalar_type(),
              ") and b of shape ", b.sizes(), " (", b.scalar_type(), ")");
  check_gates_dtype(fn, "a", a);
  for (const auto* t : {&a, &b}) {
    const char* name = t == &a ? "a" : "b";
    TORCH_CHECK(t->device().is_cpu(), fn, ": ", name, " must be on the CPU; got device ", t->device());
    TORCH_CHECK(t->is_contiguous(), fn, ": ", name, " must be contiguous; got strides ", t->strides());
    TORCH_CHECK(!t->is_neg() && !t->is_conj(), fn, ": ", name, " must not be a lazily negated or conjugated view");
  }
}

}  // namespace rnnx
