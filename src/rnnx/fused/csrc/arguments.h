// The arguments of the fused kernel's entry points (fused_rnn.cpp): declared once, and checked.
//
// Declared: each entry point's arguments and results are one list below, in the order of their
// Python declaration (rnnx/fused/arguments.py; tests/test_fused_arguments.py checks that they
// agree). A list of arguments makes a struct's fields (ForwardArgs, BackwardArgs), which the
// binding fills from the Python call (define_entry_point: one typed parameter per field, named
// as the field) and the checks and the loops read; a list of results names the returned tensors.
//
// Checked: every tensor and scalar is checked before any memory is touched, whatever Python
// passed. The loops read raw pointers with sizes derived from a few arguments (sizes, h0, c0), so
// each other tensor must have exactly the shape the loops assume: a wrong one would be read out
// of bounds, not refused.
//
// Sizes, as in fused_rnn.cpp: N = sum(sizes) rows, B = sizes[0] sequences, P the width of h,
// H the cell's width (P, except for an LSTM with w_hr), G gate blocks (4 LSTM, 3 GRU, else 1).
#pragma once

#include <torch/extension.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace rnnx {

namespace py = pybind11;
using OptionalTensor = c10::optional<torch::Tensor>;

// The configuration both passes take, X(type, name): ScanConfig, with SAVE (the forward's
// X(bool, save), or nothing) in its place; BackwardConfig is the same but save.
#define RNNX_SCAN_CONFIG(X, SAVE)  \
  X(int64_t, kind)                 \
  X(bool, reverse)                 \
  X(bool, layer_norm)              \
  X(bool, peephole)                \
  SAVE                             \
  X(std::vector<int64_t>, sizes)   \
  X(std::vector<int64_t>, draws)   \
  X(double, p_h)                   \
  X(double, p_c)

// The forward's arguments, X(type, name): ScanTensors, then ScanConfig.
#define RNNX_FORWARD_ARGUMENTS(X)    \
  X(torch::Tensor, gi)               \
  X(torch::Tensor, h0)               \
  X(OptionalTensor, c0)              \
  X(torch::Tensor, w_hh)             \
  X(OptionalTensor, b_hh)            \
  X(OptionalTensor, ln_hh_w)         \
  X(OptionalTensor, ln_hh_b)         \
  X(OptionalTensor, ln_c_w)          \
  X(OptionalTensor, ln_c_b)          \
  X(OptionalTensor, peep)            \
  X(OptionalTensor, mask)            \
  X(OptionalTensor, w_hr)            \
  RNNX_SCAN_CONFIG(X, X(bool, save))

// The backward's arguments, X(type, name): BackwardTensors, then BackwardConfig.
#define RNNX_BACKWARD_ARGUMENTS(X)       \
  X(torch::Tensor, d_out)                \
  X(torch::Tensor, d_hn)                 \
  X(OptionalTensor, d_cn)                \
  X(std::vector<torch::Tensor>, saved)   \
  X(torch::Tensor, w_hh)                 \
  X(OptionalTensor, ln_hh_w)             \
  X(OptionalTensor, ln_c_w)              \
  X(OptionalTensor, peep)                \
  X(OptionalTensor, mask)                \
  X(OptionalTensor, w_hr)                \
  RNNX_SCAN_CONFIG(X, /* no save */)

// The forward's results, X(name): ScanResult, then the buffers its backward reads (SavedBuffers,
// the backward's `saved`).
#define RNNX_SCAN_RESULT(X) X(out) X(h) X(c)
#define RNNX_SAVED_BUFFERS(X) \
  X(h_in) X(h_prev) X(acts) X(hh) X(hh_rstd) X(c_prev) X(c_cand) X(tanh_c) X(c_hat) X(c_rstd) X(gh_n) X(h_full)
#define RNNX_FORWARD_RESULTS(X) RNNX_SCAN_RESULT(X) RNNX_SAVED_BUFFERS(X)

// The backward's results, X(name): ScanGradients, the gradient of each forward tensor but the mask.
#define RNNX_BACKWARD_RESULTS(X) \
  X(d_gi) X(d_h0) X(d_c0) X(d_w_hh) X(d_b_hh) X(d_ln_hh_w) X(d_ln_hh_b) X(d_ln_c_w) X(d_ln_c_b) X(d_peep) X(d_w_hr)

#define RNNX_FIELD(type, name) type name{};
struct ForwardArgs {
  RNNX_FORWARD_ARGUMENTS(RNNX_FIELD)
};
struct BackwardArgs {
  RNNX_BACKWARD_ARGUMENTS(RNNX_FIELD)
};
#undef RNNX_FIELD

// The position of each saved buffer in `saved`: saved[Saved::h_in], ...; Saved::count of them.
struct Saved {
#define RNNX_ENUMERATOR(name) name,
  enum : size_t { RNNX_SAVED_BUFFERS(RNNX_ENUMERATOR) count };
#undef RNNX_ENUMERATOR
};
constexpr size_t kSavedBuffers = Saved::count;

// One value of type T per saved buffer, by the buffer's name.
template <typename T>
struct PerSaved {
#define RNNX_PER_SAVED(name) T name{};
  RNNX_SAVED_BUFFERS(RNNX_PER_SAVED)
#undef RNNX_PER_SAVED
};

// A C++ type as the operator's schema spells it (after SymInt -> int).
template <typename T> struct SchemaType;
template <> struct SchemaType<torch::Tensor> { static constexpr const char* spelling = "Tensor"; };
template <> struct SchemaType<OptionalTensor> { static constexpr const char* spelling = "Tensor?"; };
template <> struct SchemaType<std::vector<torch::Tensor>> { static constexpr const char* spelling = "Tensor[]"; };
template <> struct SchemaType<int64_t> { static constexpr const char* spelling = "int"; };
template <> struct SchemaType<std::vector<int64_t>> { static constexpr const char* spelling = "int[]"; };
template <> struct SchemaType<bool> { static constexpr const char* spelling = "bool"; };
template <> struct SchemaType<double> { static constexpr const char* spelling = "float"; };

// (name, schema type) of each field of a list of arguments; the names of a list of results.
using Fields = std::vector<std::pair<std::string, std::string>>;
#define RNNX_FIELD_ENTRY(type, name) {#name, SchemaType<type>::spelling},
#define RNNX_NAME(name) #name,
inline Fields forward_fields() { return {RNNX_FORWARD_ARGUMENTS(RNNX_FIELD_ENTRY)}; }
inline Fields backward_fields() { return {RNNX_BACKWARD_ARGUMENTS(RNNX_FIELD_ENTRY)}; }
inline std::vector<std::string> forward_results() { return {RNNX_FORWARD_RESULTS(RNNX_NAME)}; }
inline std::vector<std::string> backward_results() { return {RNNX_BACKWARD_RESULTS(RNNX_NAME)}; }
#undef RNNX_FIELD_ENTRY
#undef RNNX_NAME

// An entry point as Python calls it: one typed parameter per field of Args (so pybind11 converts
// and refuses arguments as for any typed signature), named as the field (by position or
// keyword), each moved into the Args that `run` takes.
template <typename T>
struct MemberType;
template <typename C, typename T>
struct MemberType<T C::*> {
  using type = T;
};

template <typename Args, typename Members, size_t... I>
auto entry_point(std::vector<torch::Tensor> (*run)(const Args&), Members members, std::index_sequence<I...>) {
  return [run, members](typename MemberType<std::tuple_element_t<I, Members>>::type... values) {
    Args args;
    ((args.*std::get<I>(members) = std::move(values)), ...);
    return run(args);
  };
}

template <typename Args, typename Members, size_t N, size_t... I>
void define_entry_point(py::module_& m, const char* name, std::vector<torch::Tensor> (*run)(const Args&),
                        Members members, const std::array<const char*, N>& names, const char* doc,
                        std::index_sequence<I...> fields) {
  static_assert(N == sizeof...(I), "one name per field");
  m.def(name, entry_point(run, members, fields), doc, py::arg(names[I])...);
}

// Each list's fields as member pointers and names, in order.
#define RNNX_FORWARD_MEMBER(type, name) &ForwardArgs::name,
#define RNNX_BACKWARD_MEMBER(type, name) &BackwardArgs::name,
#define RNNX_ARGUMENT_NAME(type, name) #name,
inline constexpr auto kForwardMembers = std::tuple{RNNX_FORWARD_ARGUMENTS(RNNX_FORWARD_MEMBER)};
inline constexpr auto kBackwardMembers = std::tuple{RNNX_BACKWARD_ARGUMENTS(RNNX_BACKWARD_MEMBER)};
inline constexpr auto kForwardNames = std::array{RNNX_FORWARD_ARGUMENTS(RNNX_ARGUMENT_NAME)};
inline constexpr auto kBackwardNames = std::array{RNNX_BACKWARD_ARGUMENTS(RNNX_ARGUMENT_NAME)};
#undef RNNX_FORWARD_MEMBER
#undef RNNX_BACKWARD_MEMBER
#undef RNNX_ARGUMENT_NAME

inline bool given(const OptionalTensor& t) { return t.has_value() && t->defined(); }

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
inline void check_optional(const char* fn, const char* name, const OptionalTensor& t, bool wanted,
                           c10::ScalarType dtype, const std::vector<int64_t>& shape, const char* condition) {
  const bool present = given(t);
  TORCH_CHECK(present == wanted, fn, ": ", name, wanted ? " is required when " : " must be None unless ", condition);
  if (present) check_dense(fn, name, *t, dtype, shape);
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
inline void cell_width(const char* fn, Dims& d, const char* c_name, const OptionalTensor& c_like,
                       const OptionalTensor& w_hr) {
  const bool has_c = given(c_like);
  TORCH_CHECK(has_c == d.lstm, fn, ": ", c_name, d.lstm ? " is required for kind LSTM" : " must be None unless kind is LSTM");
  d.H = d.lstm ? width_of(fn, c_name, *c_like, d.B) : d.P;
  d.proj = given(w_hr);
  TORCH_CHECK(!d.proj || d.lstm, fn, ": w_hr (proj_size) needs kind LSTM (0)");
  TORCH_CHECK(d.proj || d.H == d.P, fn, ": without w_hr, h and ", c_name, " must have the same width; got ", d.P,
              " and ", d.H);
  d.GH = d.G * d.H;
}

// The weights both passes read (ForwardArgs and BackwardArgs name them alike): w_hh, the
// layer-norm gains, the peepholes, the recurrent dropout mask and the projection.
template <typename Args>
void check_weights(const char* fn, const Dims& d, c10::ScalarType dtype, const Args& a) {
  check_dense(fn, "w_hh", a.w_hh, dtype, d.ind ? std::vector<int64_t>{d.H} : std::vector<int64_t>{d.GH, d.P});
  check_optional(fn, "ln_hh_w", a.ln_hh_w, a.layer_norm, dtype, {d.GH}, "layer_norm is set");
  check_optional(fn, "ln_c_w", a.ln_c_w, a.layer_norm && d.lstm, dtype, {d.H},
                 "layer_norm is set and kind is LSTM");
  check_optional(fn, "peep", a.peep, a.peephole, dtype, {3, d.H}, "peephole is set");
  if (given(a.mask)) check_dense(fn, "mask", *a.mask, dtype, {d.B, d.P});
  if (d.proj) check_dense(fn, "w_hr", *a.w_hr, dtype, {d.P, d.H});
}

inline Dims check_forward_arguments(const ForwardArgs& a) {
  const char* fn = "rnnx fused forward";
  Dims d = check_configuration(fn, a.kind, a.peephole, a.sizes);
  check_probabilities(fn, a.p_h, a.p_c);
  const auto dtype = check_gates_dtype(fn, "gi", a.gi);
  d.P = width_of(fn, "h0", a.h0, d.B);
  cell_width(fn, d, "c0", a.c0, a.w_hr);
  check_dense(fn, "gi", a.gi, dtype, {d.N, d.GH});
  check_dense(fn, "h0", a.h0, dtype, {d.B, d.P});
  if (d.lstm) check_dense(fn, "c0", *a.c0, dtype, {d.B, d.H});
  const bool has_b_hh = given(a.b_hh);
  TORCH_CHECK(!has_b_hh || d.gru, fn, ": b_hh must be None unless kind is GRU (1)");
  if (has_b_hh) check_dense(fn, "b_hh", *a.b_hh, dtype, {d.GH});
  check_weights(fn, d, dtype, a);
  check_optional(fn, "ln_hh_b", a.ln_hh_b, a.layer_norm, dtype, {d.GH}, "layer_norm is set");
  check_optional(fn, "ln_c_b", a.ln_c_b, a.layer_norm && d.lstm, dtype, {d.H},
                 "layer_norm is set and kind is LSTM");
  return d;
}

// The backward reads the forward's saved buffers (RNNX_SAVED_BUFFERS, as saved with save=true)
// at the rows the loops index: each must have the shape the forward gave it.
inline Dims check_backward_arguments(const BackwardArgs& a) {
  const char* fn = "rnnx fused backward";
  Dims d = check_configuration(fn, a.kind, a.peephole, a.sizes);
  check_probabilities(fn, a.p_h, a.p_c);
  const auto dtype = check_gates_dtype(fn, "d_out", a.d_out);
  d.P = width_of(fn, "d_hn", a.d_hn, d.B);
  cell_width(fn, d, "d_cn", a.d_cn, a.w_hr);
  check_dense(fn, "d_out", a.d_out, dtype, {d.N, d.P});
  check_dense(fn, "d_hn", a.d_hn, dtype, {d.B, d.P});
  if (d.lstm) check_dense(fn, "d_cn", *a.d_cn, dtype, {d.B, d.H});
  check_weights(fn, d, dtype, a);
  TORCH_CHECK(a.saved.size() == kSavedBuffers, fn, ": saved must hold the forward's ", kSavedBuffers,
              " buffers (its outputs after out, h, c); got ", a.saved.size());
  const int64_t N = d.N, H = d.H, lstm_rows = d.lstm ? N : 0, cell_ln_rows = d.lstm && a.layer_norm ? N : 0;
  PerSaved<std::vector<int64_t>> shape;
  shape.h_in = {N, d.P};
  shape.h_prev = {d.gru ? N : d.B, d.P};
  shape.acts = {N, d.lstm || d.gru ? d.GH : H};
  shape.hh = {a.layer_norm ? N : d.B, d.GH};
  shape.hh_rstd = {a.layer_norm ? N : 0};
  shape.c_prev = {lstm_rows, H};
  shape.c_cand = {lstm_rows, H};
  shape.tanh_c = {lstm_rows, H};
  shape.c_hat = {cell_ln_rows, H};
  shape.c_rstd = {cell_ln_rows};
  shape.gh_n = {d.gru ? N : 0, H};
  shape.h_full = {d.proj ? N : 0, H};
  // "saved[0] (h_in)", ...: the buffer's place and name.
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
#define RNNX_SAVED_NAME(name) all.push_back("saved[" + std::to_string(Saved::name) + "] (" #name ")");
    RNNX_SAVED_BUFFERS(RNNX_SAVED_NAME)
#undef RNNX_SAVED_NAME
    return all;
  }();
#define RNNX_CHECK_SAVED(name) \
  check_dense(fn, names[Saved::name].c_str(), a.saved[Saved::name], dtype, shape.name);
  RNNX_SAVED_BUFFERS(RNNX_CHECK_SAVED)
#undef RNNX_CHECK_SAVED
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
