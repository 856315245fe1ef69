// rnnx fused CPU recurrence: one layer, one direction, the whole sequence in one call.
//
// The input projection gi = W_ih x (+ biases, layer-normalised if asked) is computed outside,
// for all steps at once. Here, per step: one small product with the packed W_hh (small_gemm.h)
// and one pass of fused elementwise math (cell_math.h); the backward pass runs the loop in
// reverse and leaves the weight gradient dW_hh to one GEMM over the whole sequence.
//
// Layout: rows of all steps stacked time-major, (N, F); batch_sizes[t] rows at step t; state
// buffers are (B, H) and a step touches only its first batch_sizes[t] rows, so finished
// sequences keep their final state and sequences that have not started keep their h0.
//
// Threads: batch rows never interact (a row's step reads only that row's previous state), so
// each thread takes one block of rows and runs the whole sequence for it, with no
// synchronisation between steps. Blocks are balanced by how many steps their rows are active.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "arguments.h"
#include "cell_math.h"
#include "small_gemm.h"

namespace {

using namespace rnnx;

// Below this many multiply-adds per thread and sequence, waking a second thread costs more than
// it saves.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;

// Row blocks [bounds[i], bounds[i + 1]), one per thread. A row's work is the number of steps it
// is active times `row_cost`; packed rows are sorted longest first, so equal row counts would
// give the first thread the most work.
std::vector<int64_t> row_blocks(const std::vector<int64_t>& sizes, int64_t B, int64_t row_cost) {
  std::vector<int64_t> active(B, 0);  // steps each row is active
  for (int64_t b : sizes)
    for (int64_t r = 0; r < b; ++r) ++active[r];
  int64_t total = 0;
  for (int64_t a : active) total += a;
  const int64_t by_work = std::max<int64_t>(1, total * row_cost / kMinWorkPerThread);
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>({at::get_num_threads(), B, by_work}));
  std::vector<int64_t> bounds{0};
  int64_t done = 0, r = 0;
  for (int64_t i = 1; i < blocks; ++i) {
    while (r < B && done * blocks < total * i) done += active[r++];
    bounds.push_back(r);
  }
  bounds.push_back(B);
  return bounds;
}

// body(r0, r1, block) for each row block, one block per thread.
template <typename F>
void for_each_block(const std::vector<int64_t>& bounds, const F& body) {
  const int64_t blocks = static_cast<int64_t>(bounds.size()) - 1;
  at::parallel_for(0, blocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) body(bounds[i], bounds[i + 1], i);
  });
}

template <typename T>
T* data_or_null(const torch::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr<T>() : nullptr; }

template <typename T>
T* data_or_null(const OptionalTensor& t) { return t.has_value() ? data_or_null<T>(*t) : nullptr; }

std::vector<int64_t> step_offsets(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> offsets(sizes.size() + 1, 0);
  for (size_t t = 0; t < sizes.size(); ++t) offsets[t + 1] = offsets[t] + sizes[t];
  return offsets;
}

// The forward, on arguments check_forward_arguments accepted: RNNX_FORWARD_RESULTS.
template <typename T>
std::vector<torch::Tensor> forward_impl(const ForwardArgs& args, const ZoneoutDraw& draw_h, const ZoneoutDraw& draw_c) {
  const auto& sizes = args.sizes;
  const bool reverse = args.reverse, layer_norm = args.layer_norm;
  const double p_h = args.p_h, p_c = args.p_c;
  // H: the cell's width; P: the width of h (the projection's, with proj_size; else H).
  const bool lstm = args.kind == LSTM, gru = args.kind == GRU, ind = args.kind >= INDRNN_RELU;
  const bool relu = args.kind == RNN_RELU || args.kind == INDRNN_RELU, proj = given(args.w_hr);
  const int64_t N = args.gi.size(0), B = args.h0.size(0), P = args.h0.size(1), H = lstm ? args.c0->size(1) : P;
  const int64_t G = gates_of(args.kind), GH = G * H;
  auto opts = args.gi.options();
  auto out = torch::empty({N, P}, opts);
  auto h = args.h0.clone();
  auto c = lstm ? args.c0->clone() : torch::empty({0}, opts);
  // Whole-sequence buffers (N rows) only for what the backward pass reads, and only when a
  // backward pass will run (save); otherwise one step's scratch (B rows). First-touching
  // buffers of N rows costs milliseconds at large sizes.
  const bool S = args.save;
  const int64_t SN = S ? N : B;
  const bool keep_hprev = S && gru, keep_hh = S && layer_norm;
  auto h_in = torch::empty({SN, P}, opts);  // h entering W_hh (after recurrent dropout)
  auto h_prev = torch::empty({keep_hprev ? N : B, P}, opts);  // state before the step
  auto acts = torch::empty({SN, lstm || gru ? GH : H}, opts);  // gate activations / candidate h
  auto hh = torch::empty({keep_hh ? N : B, GH}, opts);  // W_hh h, or its layer-norm xhat
  auto hh_rstd = torch::empty({layer_norm ? SN : 0}, opts);
  auto c_prev = torch::empty({lstm ? SN : 0, H}, opts);
  auto c_cand = torch::empty({lstm ? SN : 0, H}, opts);
  auto tanh_c = torch::empty({lstm ? SN : 0, H}, opts);
  auto c_hat = torch::empty({lstm && layer_norm ? SN : 0, H}, opts);
  auto c_rstd = torch::empty({lstm && layer_norm ? SN : 0}, opts);
  auto gh_n = torch::empty({gru ? SN : 0, H}, opts);  // GRU: W_hn h + b_hn (after LN), used by r
  auto h_full = torch::empty({proj ? SN : 0, H}, opts);  // LSTM with proj_size: o * tanh(c), before W_hr

  const T* gi_p = args.gi.data_ptr<T>();
  const T* w = args.w_hh.data_ptr<T>();
  const T* bh = data_or_null<T>(args.b_hh);
  const T* lnw = data_or_null<T>(args.ln_hh_w);
  const T* lnb = data_or_null<T>(args.ln_hh_b);
  const T* lcw = data_or_null<T>(args.ln_c_w);
  const T* lcb = data_or_null<T>(args.ln_c_b);
  const T* pp = data_or_null<T>(args.peep);
  const T* mk = data_or_null<T>(args.mask);
  T* out_p = out.data_ptr<T>();
  T* h_p = h.data_ptr<T>();
  T* c_p = data_or_null<T>(c);
  T* hin_p = h_in.data_ptr<T>();
  T* hprev_p = h_prev.data_ptr<T>();
  T* act_p = acts.data_ptr<T>();
  T* hh_p = hh.data_ptr<T>();
  T* hh_rstd_p = data_or_null<T>(hh_rstd);
  T* cprev_p = data_or_null<T>(c_prev);
  T* ccand_p = data_or_null<T>(c_cand);
  T* tanhc_p = data_or_null<T>(tanh_c);
  T* chat_p = data_or_null<T>(c_hat);
  T* crstd_p = data_or_null<T>(c_rstd);
  T* ghn_p = data_or_null<T>(gh_n);
  T* hfull_p = data_or_null<T>(h_full);

  // h (1 x P) times W_hh^T (P x GH), and o * tanh(c) (1 x H) times W_hr^T (H x P), packed once
  // for all steps. IndRNN's W_hh is a vector.
  const PackedMatrix<T> w_packed = ind ? PackedMatrix<T>() : PackedMatrix<T>(w, P, GH, /*transposed=*/true);
  const PackedMatrix<T> w_hr_packed = proj ? PackedMatrix<T>(args.w_hr->data_ptr<T>(), H, P, true) : PackedMatrix<T>();
  const auto offsets = step_offsets(sizes);
  const int64_t steps = static_cast<int64_t>(sizes.size());
  for_each_block(row_blocks(sizes, B, ind ? H : GH * P + (proj ? H * P : 0)), [&](int64_t r0, int64_t r1, int64_t) {
    std::vector<T> raw(GH), cand_c(H), cell_ln(H);
    std::vector<T> cand_h((r1 - r0) * P);  // each block row's candidate h, before zoneout
    std::vector<uint16_t> lanes(std::max(H, P) + 8);
    std::unique_ptr<bool[]> keep_h(new bool[P]), keep_c(new bool[H]);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      const int64_t off = offsets[t], end = std::min(r1, sizes[t]);
      if (end <= r0) continue;  // none of this block's rows is active at this step
      T* hin = hin_p + (S ? off : 0) * P;
      for (int64_t r = r0; r < end; ++r)
        for (int64_t j = 0; j < P; ++j) {
          const T v = h_p[r * P + j];
          hprev_p[((keep_hprev ? off : 0) + r) * P + j] = v;
          hin[r * P + j] = mk ? v * mk[r * P + j] : v;
        }
      T* hh_t = hh_p + (keep_hh ? off : 0) * GH;
      if (ind) {
        for (int64_t r = r0; r < end; ++r)
          for (int64_t j = 0; j < H; ++j) hh_t[r * H + j] = w[j] * hin[r * H + j];
      } else {
        w_packed.multiply(end - r0, hin + r0 * P, P, hh_t + r0 * GH, GH);
      }
      for (int64_t r = r0; r < end; ++r) {
        const int64_t row = off + r;
        T* ch = cand_h.data() + (r - r0) * P;  // candidate h (or, with proj_size, h_full's row)
        const int64_t srow = S ? row : r;  // this row in the saved buffers
        T* hr = hh_t + r * GH;  // raw recurrent product of this row
        const T* g_in = gi_p + row * GH;
        // The recurrent part of the pre-activations, into raw[]: LN_hh(hh) or hh (+ b_hh for GRU).
        if (layer_norm) ln_forward<T>(hr, GH, lnw, lnb, raw.data(), hr, hh_rstd_p + srow);  // hr becomes xhat
        else std::memcpy(raw.data(), hr, sizeof(T) * GH);
        if (gru && bh)
          for (int64_t j = 0; j < GH; ++j) raw[j] += bh[j];
        if (!gru)  // LSTM / Elman / IndRNN: the pre-activation is gi + recurrent part
          for (int64_t j = 0; j < GH; ++j) raw[j] += g_in[j];
        T* a = act_p + srow * (lstm || gru ? GH : H);
        const T* hold = hprev_p + (keep_hprev ? row : r) * P;
        if (lstm) {
          T* cp = cprev_p + srow * H;
          T* cc = ccand_p + srow * H;
          T* tc = tanhc_p + srow * H;
          std::memcpy(cp, c_p + r * H, sizeof(T) * H);
          if (pp) lstm_cell_fwd<T, true>(H, raw.data(), cp, pp, a, cc);
          else lstm_cell_fwd<T, false>(H, raw.data(), cp, pp, a, cc);
          const T* cell_out = cc;
          if (layer_norm) {
            ln_forward<T>(cc, H, lcw, lcb, cell_ln.data(), chat_p + srow * H, crstd_p + srow);
            cell_out = cell_ln.data();
          }
          const T* pp_o = pp ? pp + 2 * H : nullptr;
          T* hf = proj ? hfull_p + srow * H : ch;
          if (pp) lstm_out_fwd<T, true>(H, raw.data() + 3 * H, cc, cell_out, pp_o, a + 3 * H, tc, hf);
          else lstm_out_fwd<T, false>(H, raw.data() + 3 * H, cc, cell_out, pp_o, a + 3 * H, tc, hf);
          std::memcpy(cand_c.data(), cc, sizeof(T) * H);
          if (draw_c.active) zoneout_keep(draw_c, r, t, H, lanes.data(), keep_c.get());
          zoneout_fwd<T>(H, draw_c.active ? keep_c.get() : nullptr, T(p_c), cp, cand_c.data(), c_p + r * H, nullptr);
        } else if (gru) {
          gru_fwd<T>(H, g_in, raw.data(), hold, a, ghn_p + srow * H, ch);
        } else {
          const T* pre = raw.data();
          if (relu)
            for (int64_t j = 0; j < H; ++j) ch[j] = pre[j] > T(0) ? pre[j] : T(0);
          else
            for (int64_t j = 0; j < H; ++j) ch[j] = tanh_(pre[j]);
          std::memcpy(a, ch, sizeof(T) * H);
        }
      }
      // proj_size (LSTM): the candidate h of the block's rows is W_hr h_full, one product.
      if (proj) w_hr_packed.multiply(end - r0, hfull_p + ((S ? off : 0) + r0) * H, H, cand_h.data(), P);
      // Zoneout: keep the previous value where the training mask says so; in evaluation blend
      // with weight p. Kept and replaced units are copied exactly, never computed.
      for (int64_t r = r0; r < end; ++r) {
        const int64_t row = off + r;
        const T* hold = hprev_p + (keep_hprev ? row : r) * P;
        if (draw_h.active) zoneout_keep(draw_h, r, t, P, lanes.data(), keep_h.get());
        zoneout_fwd<T>(P, draw_h.active ? keep_h.get() : nullptr, T(p_h), hold, cand_h.data() + (r - r0) * P,
                       h_p + r * P, out_p + row * P);
      }
    }
  });
#define RNNX_RESULT(name) name,
  return {RNNX_FORWARD_RESULTS(RNNX_RESULT)};
#undef RNNX_RESULT
}

// Gradients of per-feature parameters, summed over rows: each is empty when the cell lacks it.
struct FeatureSums {
  std::vector<double> ln_hh_weight, ln_hh_bias, ln_cell_weight, ln_cell_bias, bias_hh;
  FeatureSums(int64_t ln_hh, int64_t ln_cell, int64_t b_hh)
      : ln_hh_weight(ln_hh), ln_hh_bias(ln_hh), ln_cell_weight(ln_cell), ln_cell_bias(ln_cell), bias_hh(b_hh) {}
};

// Layer-norm gain and bias gradients of one row: gain += dy * xhat, bias += dy.
template <typename T>
void accumulate_gain_bias(int64_t n, const T* __restrict__ dy, const T* __restrict__ xhat, double* __restrict__ gain,
                          double* __restrict__ bias) {
  for (int64_t j = 0; j < n; ++j) {
    gain[j] += static_cast<double>(dy[j]) * xhat[j];
    bias[j] += dy[j];
  }
}

// The backward, on arguments check_backward_arguments accepted: RNNX_BACKWARD_RESULTS.
template <typename T>
std::vector<torch::Tensor> backward_impl(const BackwardArgs& args, const ZoneoutDraw& draw_h,
                                         const ZoneoutDraw& draw_c) {
  const auto& sizes = args.sizes;
  const auto& saved = args.saved;
  const bool reverse = args.reverse, layer_norm = args.layer_norm;
  const double p_h = args.p_h, p_c = args.p_c;
  const auto& h_in = saved[Saved::h_in];
  const auto& h_prev = saved[Saved::h_prev];
  const auto& acts = saved[Saved::acts];
  const auto& hh = saved[Saved::hh];
  const auto& h_full = saved[Saved::h_full];
  const bool lstm = args.kind == LSTM, gru = args.kind == GRU, ind = args.kind >= INDRNN_RELU;
  const bool relu = args.kind == RNN_RELU || args.kind == INDRNN_RELU, proj = given(args.w_hr);
  const int64_t N = h_in.size(0), P = h_in.size(1), H = lstm ? saved[Saved::c_prev].size(1) : P, B = args.d_hn.size(0);
  const int64_t G = gates_of(args.kind), GH = G * H;
  auto opts = h_in.options();
  auto d_gi = torch::empty({N, GH}, opts);
  // Gradient of the raw recurrent product W_hh h. Without LN_hh and outside the GRU (whose
  // recurrent part enters the gates on its own), it is the pre-activation gradient d_gi itself.
  const bool own_d_hh = gru || layer_norm;
  auto d_hh = own_d_hh ? torch::empty({N, GH}, opts) : d_gi;
  auto d_peep = torch::zeros({lstm && args.peephole ? 3 : 0, H}, opts);
  // The running gradients of h and c, from the last step's to the first's: d_h0 and d_c0 at the end.
  auto d_h0 = args.d_hn.clone();
  auto d_c0 = lstm ? args.d_cn->clone() : torch::empty({0}, opts);
  std::vector<T> dhin(static_cast<size_t>(B) * P);
  auto d_hproj = torch::empty({proj ? N : 0, P}, opts);  // gradient of W_hr h_full, for dW_hr

  const T* w = args.w_hh.data_ptr<T>();
  const T* lnw = data_or_null<T>(args.ln_hh_w);
  const T* lcw = data_or_null<T>(args.ln_c_w);
  const T* pp = data_or_null<T>(args.peep);
  const T* mk = data_or_null<T>(args.mask);
  const T* dout = args.d_out.data_ptr<T>();
  const T* hprev_p = h_prev.data_ptr<T>();
  const T* act_p = acts.data_ptr<T>();
  const T* hh_p = hh.data_ptr<T>();
  const T* hh_rstd_p = data_or_null<T>(saved[Saved::hh_rstd]);
  const T* cprev_p = data_or_null<T>(saved[Saved::c_prev]);
  const T* ccand_p = data_or_null<T>(saved[Saved::c_cand]);
  const T* tanhc_p = data_or_null<T>(saved[Saved::tanh_c]);
  const T* chat_p = data_or_null<T>(saved[Saved::c_hat]);
  const T* crstd_p = data_or_null<T>(saved[Saved::c_rstd]);
  const T* ghn_p = data_or_null<T>(saved[Saved::gh_n]);
  T* dgi_p = d_gi.data_ptr<T>();
  T* dhh_p = d_hh.data_ptr<T>();
  T* dh_p = d_h0.data_ptr<T>();
  T* dc_p = data_or_null<T>(d_c0);
  T* dhproj_p = data_or_null<T>(d_hproj);

  // d(raw) (1 x GH) times W_hh (GH x P), and d(h) (1 x P) times W_hr (P x H), packed once.
  const PackedMatrix<T> w_packed = ind ? PackedMatrix<T>() : PackedMatrix<T>(w, GH, P, /*transposed=*/false);
  const PackedMatrix<T> w_hr_packed = proj ? PackedMatrix<T>(args.w_hr->data_ptr<T>(), P, H, false) : PackedMatrix<T>();
  const auto offsets = step_offsets(sizes);
  const int64_t steps = static_cast<int64_t>(sizes.size());
  const auto bounds = row_blocks(sizes, B, ind ? H : GH * P + (proj ? H * P : 0));
  // Each block sums its own share of the per-feature parameter gradients (peephole, layer-norm
  // gains and biases, GRU's b_hh); the shares are added at the end. Sums over many rows run in
  // double.
  const int64_t blocks = static_cast<int64_t>(bounds.size()) - 1;
  std::vector<std::vector<T>> dpp_blocks(blocks, std::vector<T>(pp ? 3 * H : 0, T(0)));
  std::vector<FeatureSums> sums(blocks, FeatureSums(layer_norm ? GH : 0, lstm && layer_norm ? H : 0, gru ? GH : 0));
  for_each_block(bounds, [&](int64_t r0, int64_t r1, int64_t block) {
    std::vector<T> dcc(H), dx(GH), dco(lstm && layer_norm ? H : 0), dgh(gru ? GH : 0);
    // Per block row: the gradient of the candidate h (P), and with proj_size of h_full (H).
    std::vector<T> d_cand(proj ? 0 : (r1 - r0) * P), d_full(proj ? (r1 - r0) * H : 0);
    std::vector<uint16_t> lanes(std::max(H, P) + 8);
    std::unique_ptr<bool[]> keep(new bool[std::max(H, P)]);
    T* dpp = pp ? dpp_blocks[block].data() : nullptr;
    FeatureSums& sum = sums[block];
    for (int64_t s = steps - 1; s >= 0; --s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      const int64_t off = offsets[t], end = std::min(r1, sizes[t]);
      if (end <= r0) continue;
      // Split dh between the kept previous value and the candidate (zoneout).
      for (int64_t r = r0; r < end; ++r) {
        const int64_t row = off + r;
        T* dhc = proj ? dhproj_p + row * P : d_cand.data() + (r - r0) * P;
        for (int64_t j = 0; j < P; ++j) dhc[j] = dh_p[r * P + j] + dout[row * P + j];
        if (draw_h.active) zoneout_keep(draw_h, r, t, P, lanes.data(), keep.get());
        zoneout_bwd<T>(P, draw_h.active ? keep.get() : nullptr, T(p_h), dhc, dh_p + r * P);
      }
      // proj_size: back through h = W_hr h_full, one product for the block's rows.
      if (proj) w_hr_packed.multiply(end - r0, dhproj_p + (off + r0) * P, P, d_full.data(), H);
      for (int64_t r = r0; r < end; ++r) {
        const int64_t row = off + r;
        T* dg = dgi_p + row * GH;
        const T* dhc = proj ? d_full.data() + (r - r0) * H : d_cand.data() + (r - r0) * P;
        if (lstm) {
          const T* a = act_p + row * GH;
          const T* cp = cprev_p + row * H;
          const T* cc = ccand_p + row * H;
          const T* tc = tanhc_p + row * H;
          std::memcpy(dcc.data(), dc_p + r * H, sizeof(T) * H);  // split dc as dh above
          if (draw_c.active) zoneout_keep(draw_c, r, t, H, lanes.data(), keep.get());
          zoneout_bwd<T>(H, draw_c.active ? keep.get() : nullptr, T(p_c), dcc.data(), dc_p + r * H);
          const T* pp_o = pp ? pp + 2 * H : nullptr;
          T* dpp_o = dpp ? dpp + 2 * H : nullptr;
          T* dg_o = dg + 3 * H;
          const T* a_o = a + 3 * H;
          if (pp && layer_norm) lstm_out_bwd<T, true, true>(H, dhc, a_o, tc, cc, pp_o, dg_o, dco.data(), dcc.data(), dpp_o);
          else if (pp) lstm_out_bwd<T, true, false>(H, dhc, a_o, tc, cc, pp_o, dg_o, dco.data(), dcc.data(), dpp_o);
          else if (layer_norm) lstm_out_bwd<T, false, true>(H, dhc, a_o, tc, cc, pp_o, dg_o, dco.data(), dcc.data(), dpp_o);
          else lstm_out_bwd<T, false, false>(H, dhc, a_o, tc, cc, pp_o, dg_o, dco.data(), dcc.data(), dpp_o);
          if (layer_norm) {
            const T* c_hat = chat_p + row * H;
            accumulate_gain_bias(H, dco.data(), c_hat, sum.ln_cell_weight.data(), sum.ln_cell_bias.data());
            ln_backward<T>(dco.data(), c_hat, crstd_p[row], lcw, H, dx.data());
            for (int64_t j = 0; j < H; ++j) dcc[j] += dx[j];
          }
          if (pp) lstm_cell_bwd<T, true>(H, dcc.data(), a, cp, pp, dg, dc_p + r * H, dpp);
          else lstm_cell_bwd<T, false>(H, dcc.data(), a, cp, pp, dg, dc_p + r * H, dpp);
        } else if (gru) {
          const T* a = act_p + row * GH;
          const T* hold = hprev_p + row * H;
          gru_bwd<T>(H, dhc, a, ghn_p + row * H, hold, dg, dgh.data(), dh_p + r * H);
          for (int64_t j = 0; j < GH; ++j) sum.bias_hh[j] += dgh[j];
        } else {
          const T* a = act_p + row * H;
          for (int64_t j = 0; j < H; ++j) dg[j] = relu ? (a[j] > T(0) ? dhc[j] : T(0)) : dhc[j] * (T(1) - a[j] * a[j]);
        }
        // d(recurrent pre-activation) -> d(raw product W_hh h), through LN_hh if any.
        const T* d_pre = gru ? dgh.data() : dg;
        T* dr = dhh_p + row * GH;
        if (layer_norm) {
          const T* xhat = hh_p + row * GH;
          accumulate_gain_bias(GH, d_pre, xhat, sum.ln_hh_weight.data(), sum.ln_hh_bias.data());
          ln_backward<T>(d_pre, xhat, hh_rstd_p[row], lnw, GH, dr);
        } else if (own_d_hh) {
          std::memcpy(dr, d_pre, sizeof(T) * GH);
        }
      }
      // dh_in = d_raw W_hh (or u * d_raw for IndRNN), then through the recurrent dropout mask.
      if (ind) {
        for (int64_t r = r0; r < end; ++r)
          for (int64_t j = 0; j < H; ++j) dhin[r * H + j] = dhh_p[(off + r) * H + j] * w[j];
      } else {
        w_packed.multiply(end - r0, dhh_p + (off + r0) * GH, GH, dhin.data() + r0 * P, P);
      }
      for (int64_t r = r0; r < end; ++r)
        for (int64_t j = 0; j < P; ++j) dh_p[r * P + j] += mk ? dhin[r * P + j] * mk[r * P + j] : dhin[r * P + j];
    }
  });
  if (pp) {
    T* total = d_peep.data_ptr<T>();
    for (const auto& part : dpp_blocks)
      for (int64_t j = 0; j < 3 * H; ++j) total[j] += part[j];
  }
  const auto total = [&](std::vector<double> FeatureSums::*field) {
    const int64_t n = static_cast<int64_t>((sums[0].*field).size());
    auto t = torch::zeros({n}, opts.dtype(torch::kFloat64));
    double* p = t.data_ptr<double>();
    for (const auto& part : sums)
      for (int64_t j = 0; j < n; ++j) p[j] += (part.*field)[j];
    return t.to(opts.dtype());
  };
  // Weight gradients over the whole sequence at once.
  const torch::Tensor d_w_hh = ind ? (d_hh * h_in).sum(0) : d_hh.t().mm(h_in);
  const torch::Tensor d_w_hr = proj ? d_hproj.t().mm(h_full) : torch::empty({0}, opts);
  const torch::Tensor d_b_hh = total(&FeatureSums::bias_hh);
  const torch::Tensor d_ln_hh_w = total(&FeatureSums::ln_hh_weight), d_ln_hh_b = total(&FeatureSums::ln_hh_bias);
  const torch::Tensor d_ln_c_w = total(&FeatureSums::ln_cell_weight), d_ln_c_b = total(&FeatureSums::ln_cell_bias);
#define RNNX_RESULT(name) name,
  return {RNNX_BACKWARD_RESULTS(RNNX_RESULT)};
#undef RNNX_RESULT
}

// Zoneout draws as Python passes them (rnnx.fused.function.kernel_draws): (key_h, threshold_h,
// key_c, threshold_c), a negative threshold meaning no training mask for that state; when a mask
// is drawn, followed by the global sample index of each of the `batch` rows.
// The masks are read for rows r < sizes[t] <= batch (check_*_arguments ensure it).
std::pair<ZoneoutDraw, ZoneoutDraw> zoneout_draws(const std::vector<int64_t>& d, const torch::Tensor& state) {
  const int64_t batch = state.dim() > 0 ? state.size(0) : 0;
  TORCH_CHECK(d.size() >= 4, "zoneout draws: expected (key_h, threshold_h, key_c, threshold_c, samples...); got ",
              d.size(), " values");
  const bool any = d[1] >= 0 || d[3] >= 0;
  TORCH_CHECK(d.size() == (any ? 4 + static_cast<size_t>(batch) : 4), "zoneout draws: expected ",
              any ? 4 + batch : 4, " values (4, then one global sample index per batch row when a mask is drawn); got ",
              d.size());
  for (size_t i = 4; i < d.size(); ++i)
    TORCH_CHECK(d[i] >= 0, "zoneout draws: sample indices must be >= 0; got ", d[i], " for row ", i - 4);
  const auto one = [&](int64_t key, int64_t threshold) {
    if (threshold < 0) return ZoneoutDraw{};
    TORCH_CHECK(threshold <= 65536, "zoneout draws: a threshold is at most 65536; got ", threshold);
    ZoneoutDraw draw{static_cast<uint64_t>(key), static_cast<uint32_t>(threshold), true, {}};
    draw.sample_keys.reserve(batch);
    for (size_t i = 4; i < d.size(); ++i) draw.sample_keys.push_back(mix(draw.key, static_cast<uint64_t>(d[i])));
    return draw;
  };
  return {one(d[0], d[1]), one(d[2], d[3])};
}

// The entry points, on the arguments their binding read (arguments.h): every tensor and scalar is
// checked before any is read. Python's wrapper makes the tensors contiguous; this refuses anything
// else.
std::vector<torch::Tensor> forward(const ForwardArgs& args) {
  check_forward_arguments(args);
  const auto [draw_h, draw_c] = zoneout_draws(args.draws, args.h0);
  return AT_DISPATCH_FLOATING_TYPES(args.gi.scalar_type(), "rnnx_fused_forward",
                                    [&] { return forward_impl<scalar_t>(args, draw_h, draw_c); });
}

std::vector<torch::Tensor> backward(const BackwardArgs& args) {
  check_backward_arguments(args);
  const auto [draw_h, draw_c] = zoneout_draws(args.draws, args.d_hn);
  return AT_DISPATCH_FLOATING_TYPES(args.d_out.scalar_type(), "rnnx_fused_backward",
                                    [&] { return backward_impl<scalar_t>(args, draw_h, draw_c); });
}

// C = A B with the packed small GEMM the loops use (B given as B^T when b_transposed), on the
// calling thread: for tests and `benchmarks/small_gemm.py`.
torch::Tensor small_gemm(torch::Tensor a, torch::Tensor b, bool b_transposed) {
  check_gemm_operands(a, b);
  const int64_t k = a.size(1), n = b_transposed ? b.size(0) : b.size(1);
  TORCH_CHECK((b_transposed ? b.size(1) : b.size(0)) == k, "small_gemm: inner sizes differ: a is ", a.sizes(),
              ", b", b_transposed ? "^T" : "", " is ", b.sizes());
  auto c = torch::empty({a.size(0), n}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "rnnx_small_gemm", [&] {
    PackedMatrix<scalar_t>(b.data_ptr<scalar_t>(), k, n, b_transposed)
        .multiply(a.size(0), a.data_ptr<scalar_t>(), k, c.data_ptr<scalar_t>(), n);
  });
  return c;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnx fused CPU recurrence (one layer, one direction, whole sequence)";
  // forward(*ScanTensors, *ScanConfig) -> [*ScanResult, *SavedBuffers] and
  // backward(*BackwardTensors, *BackwardConfig) -> [*ScanGradients] (rnnx/fused/arguments.py), by
  // position or keyword.
  define_entry_point(m, "forward", &forward, kForwardMembers, kForwardNames,
                     "The fused forward: the fields of ScanTensors, then ScanConfig, in; those of ScanResult, "
                     "then SavedBuffers, out (rnnx.fused.arguments).",
                     std::make_index_sequence<kForwardNames.size()>());
  define_entry_point(m, "backward", &backward, kBackwardMembers, kBackwardNames,
                     "The fused backward: the fields of BackwardTensors, then BackwardConfig, in; those of "
                     "ScanGradients out (rnnx.fused.arguments).",
                     std::make_index_sequence<kBackwardNames.size()>());
  m.def("small_gemm", &small_gemm);
  // The declarations, for tests/test_fused_arguments.py: (name, schema type) per argument, and
  // the results' names.
  m.attr("forward_fields") = forward_fields();
  m.attr("backward_fields") = backward_fields();
  m.attr("forward_results") = forward_results();
  m.attr("backward_results") = backward_results();
}
