// CPU matmul throughput, printed as JSON lines:
//   read_bandwidth  streaming read over 1 GiB with all threads (the ceiling)
//   gemv            n_tokens = 1 (decode): GB/s of weight bytes and % of the ceiling
//   gemv_in_cache   the same on a matrix that stays in L2: the kernel's own speed
//   gemm            n_tokens = 512 (prefill): ms per call and GFLOP/s
// GEMV rotates through enough copies of the matrix to exceed the caches, as a
// model's layers do, so the weights really come from DRAM. Times are the best
// of repeated passes (robust against other load on the machine).
// Usage: bench_matmul [--quick] [--types Q4_K,Q8_0] [--threads N] [--no-gemm] [--standard]
// Weights of types with a packed layout are packed as the engine does, unless
// --standard (the layout as stored in GGUF).
// LOWBIT_ISA=scalar|avx2|avx512|avx512vnni|avx512amx picks the kernel level.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/ggml_type.h"
#include "core/half.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/bandwidth.h"
#include "cpu/matmul.h"

using namespace lowbit;

namespace {

// Matrices are packed as the engine packs a model's weights, unless --standard.
bool g_pack = true;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Random quant bytes with small fp16 scales at each format's scale offsets.
std::vector<uint8_t> random_matrix(GgmlType t, int64_t n_in, int64_t n_out) {
  std::vector<uint8_t> m(row_bytes(t, n_in) * size_t(n_out));
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= m.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&m[i], &v, 8);
  }
  const uint16_t small = float_to_fp16(0.01f);
  auto set16 = [&](size_t off) { std::memcpy(&m[off], &small, 2); };
  if (t == GgmlType::F16 || t == GgmlType::BF16) {
    const uint16_t h = t == GgmlType::F16 ? float_to_fp16(0.01f) : float_to_bf16(0.01f);
    for (size_t i = 0; i + 2 <= m.size(); i += 2) std::memcpy(&m[i], &h, 2);
    return m;
  }
  if (t == GgmlType::F32) {
    const float f = 0.01f;
    for (size_t i = 0; i + 4 <= m.size(); i += 4) std::memcpy(&m[i], &f, 4);
    return m;
  }
  std::vector<size_t> offs;
  switch (t) {
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: offs = {0, 2}; break;
    case GgmlType::Q2_K: offs = {80, 82}; break;
    case GgmlType::Q3_K: offs = {108}; break;
    case GgmlType::Q6_K: offs = {208}; break;
    default: offs = {0};
  }
  const size_t bpb = type_traits(t).bytes_per_block;
  for (size_t b = 0; b < m.size() / bpb; ++b)
    for (size_t o : offs) set16(b * bpb + o);
  return m;
}

void bench_gemv(GgmlType t, int64_t n_in, int64_t n_out, double bw, bool quick) {
  const std::vector<uint8_t> proto = random_matrix(t, n_in, n_out);
  const size_t bytes = proto.size();
  const size_t target = quick ? (size_t(256) << 20) : (size_t(1) << 30);
  const size_t copies = std::max<size_t>(2, target / bytes);
  std::vector<std::vector<uint8_t>> mats(copies, proto);
  // One descriptor per copy, kept: packing records the layout and the ISA
  // level whose kernels read it.
  std::vector<cpu::WeightMatrix> weights;
  for (auto& m : mats) {
    weights.push_back({t, n_in, n_out, m.data(), row_bytes(t, n_in)});
    if (g_pack) cpu::pack_for_matmul(weights.back(), m.data());
  }
  const bool packed = weights.front().layout == cpu::WeightLayout::Packed;
  std::vector<float> x(static_cast<size_t>(n_in)), y(static_cast<size_t>(n_out));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  auto run = [&](size_t i) { cpu::matmul(weights[i % copies], x.data(), 1, y.data()); };
  for (size_t i = 0; i < copies; ++i) run(i);  // warm up (page faults, thread team)
  // Best single call (each on a matrix not touched since the rotation came
  // round, so from DRAM): other processes only ever slow a call down, so the
  // fastest one is what the kernels and the memory can do. The median is
  // printed too.
  const double min_time = quick ? 0.3 : 1.0;
  std::vector<double> times;
  const double start = now_seconds();
  size_t calls = 0;
  while (now_seconds() - start < min_time || times.size() < copies) {
    const double t0 = now_seconds();
    run(calls++);
    times.push_back(now_seconds() - t0);
  }
  std::sort(times.begin(), times.end());
  const double per_call = times.front(), median = times[times.size() / 2];
  const double gbps = double(bytes) / per_call / 1e9;
  std::printf(
      "{\"bench\":\"gemv\",\"type\":\"%s\",\"n_out\":%lld,\"n_in\":%lld,\"isa\":\"%s\",\"layout\":\"%s\",\"threads\":%d,"
      "\"us_per_call\":%.1f,\"us_median\":%.1f,\"weight_gbps\":%.2f,\"pct_of_read_bw\":%.1f}\n",
      type_name(t).c_str(), (long long)n_out, (long long)n_in, isa_name(active_isa()), packed ? "packed" : "standard",
      thread_count(), per_call * 1e6,
      median * 1e6, gbps, 100.0 * gbps / bw);
  std::fflush(stdout);
}

// The same GEMV on a matrix small enough to stay in L2 (4096 x 128, at most
// 2 MiB even for F32): what the kernel computes per second when memory is not
// the limit. Below the DRAM figure's bandwidth, a kernel is compute-bound.
void bench_gemv_in_cache(GgmlType t, bool quick) {
  const int64_t n_in = 4096, n_out = 128;
  std::vector<uint8_t> m = random_matrix(t, n_in, n_out);
  std::vector<float> x(static_cast<size_t>(n_in), 0.5f), y(static_cast<size_t>(n_out));
  cpu::WeightMatrix w{t, n_in, n_out, m.data(), row_bytes(t, n_in)};
  if (g_pack) cpu::pack_for_matmul(w, m.data());
  cpu::matmul(w, x.data(), 1, y.data());
  std::vector<double> times;
  const double start = now_seconds();
  while (now_seconds() - start < (quick ? 0.2 : 0.5) || times.size() < 100) {
    const double t0 = now_seconds();
    cpu::matmul(w, x.data(), 1, y.data());
    times.push_back(now_seconds() - t0);
  }
  std::sort(times.begin(), times.end());
  std::printf(
      "{\"bench\":\"gemv_in_cache\",\"type\":\"%s\",\"n_out\":%lld,\"n_in\":%lld,\"isa\":\"%s\",\"layout\":\"%s\","
      "\"threads\":%d,"
      "\"weight_gbps_best\":%.2f,\"weight_gbps_median\":%.2f}\n",
      type_name(t).c_str(), (long long)n_out, (long long)n_in, isa_name(active_isa()),
      w.layout == cpu::WeightLayout::Packed ? "packed" : "standard", thread_count(), double(m.size()) / times.front() / 1e9, double(m.size()) / times[times.size() / 2] / 1e9);
  std::fflush(stdout);
}

void bench_gemm(GgmlType t, int64_t n_in, int64_t n_out, int64_t n_tok, bool quick) {
  std::vector<uint8_t> m = random_matrix(t, n_in, n_out);
  std::vector<float> x(size_t(n_in * n_tok)), y(size_t(n_out * n_tok));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  cpu::WeightMatrix w{t, n_in, n_out, m.data(), row_bytes(t, n_in)};
  if (g_pack) cpu::pack_for_matmul(w, m.data());
  cpu::matmul(w, x.data(), n_tok, y.data());  // warm up
  int calls = 0;
  double per_call = 1e30;  // best call (see bench_gemv)
  const double start = now_seconds();
  while (now_seconds() - start < (quick ? 0.3 : 1.0) || calls < 3) {
    const double t0 = now_seconds();
    cpu::matmul(w, x.data(), n_tok, y.data());
    per_call = std::min(per_call, now_seconds() - t0);
    ++calls;
  }
  std::printf(
      "{\"bench\":\"gemm\",\"type\":\"%s\",\"n_out\":%lld,\"n_in\":%lld,\"n_tokens\":%lld,\"isa\":\"%s\","
      "\"threads\":%d,\"ms_per_call\":%.2f,\"gflops\":%.1f}\n",
      type_name(t).c_str(), (long long)n_out, (long long)n_in, (long long)n_tok, isa_name(active_isa()), thread_count(),
      per_call * 1e3, 2.0 * double(n_in) * double(n_out) * double(n_tok) / per_call / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, gemm = true;
  std::vector<GgmlType> types = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,  GgmlType::Q8_0,
                                 GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                 GgmlType::Q6_K, GgmlType::IQ4_XS, GgmlType::F16, GgmlType::BF16, GgmlType::F32};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--no-gemm") gemm = false;
    else if (a == "--standard") g_pack = false;
    else if (a == "--threads" && i + 1 < argc) set_thread_count(std::atoi(argv[++i]));
    else if (a == "--types" && i + 1 < argc) {
      types.clear();
      std::string list = argv[++i];
      size_t p = 0;
      while (p <= list.size()) {
        const size_t q = std::min(list.find(',', p), list.size());
        if (auto t = type_from_name(list.substr(p, q - p))) types.push_back(*t);
        else {
          std::fprintf(stderr, "unknown type %s\n", list.substr(p, q - p).c_str());
          return 2;
        }
        p = q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--no-gemm] [--standard] [--threads N] [--types Q4_K,Q8_0]\n", argv[0]);
      return 2;
    }
  }
  const double bw = cpu::measure_read_bandwidth_gbps(size_t(1) << 30, thread_count(), quick ? 3 : 5);
  std::printf("{\"bench\":\"read_bandwidth\",\"threads\":%d,\"gbps\":%.2f}\n", thread_count(), bw);
  for (GgmlType t : types) bench_gemv(t, 4096, 4096, bw, quick);
  for (GgmlType t : types) bench_gemv_in_cache(t, quick);
  for (GgmlType t : types)
    if (t == GgmlType::Q4_K || t == GgmlType::Q8_0 || t == GgmlType::Q6_K) bench_gemv(t, 4096, 11008, bw, quick);
  if (gemm)
    for (GgmlType t : types) bench_gemm(t, 4096, 4096, 512, quick);
  return 0;
}
