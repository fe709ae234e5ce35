#include "serving/profiled_step_cost.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace moesim::serving {

namespace {

// Index of the attention class in kClassNames (the compute classes come first, in config::kAllOpClasses order).
const std::size_t kAttentionClass = static_cast<std::size_t>(
    std::find(std::begin(config::kAllOpClasses), std::end(config::kAllOpClasses), config::OpClass::Attention) -
    std::begin(config::kAllOpClasses));

// Position of x on an increasing axis: segment index i and weight t of point i+1 (t outside [0, 1] extrapolates
// along the end segment). A one-point axis gives (0, 0).
struct Position {
  std::size_t i = 0;
  double t = 0;
};

Position locate(const std::vector<double>& axis, double x) {
  if (axis.size() < 2) return {};
  std::size_t i = static_cast<std::size_t>(std::upper_bound(axis.begin(), axis.end(), x) - axis.begin());
  i = std::clamp<std::size_t>(i, 1, axis.size() - 1) - 1;
  return {i, (x - axis[i]) / (axis[i + 1] - axis[i])};
}

// a + (b - a) * t, element-wise.
SampleCost lerp(const SampleCost& a, const SampleCost& b, double t) {
  SampleCost out;
  out.time_s = a.time_s + (b.time_s - a.time_s) * t;
  out.class_s.resize(a.class_s.size());
  for (std::size_t k = 0; k < a.class_s.size(); ++k) out.class_s[k] = a.class_s[k] + (b.class_s[k] - a.class_s[k]) * t;
  return out;
}

SampleCost along(const std::vector<double>& axis, const std::vector<SampleCost>& values, double x, bool hold_below) {
  if (values.size() == 1) return values.front();
  Position p = locate(axis, x);
  if (hold_below && p.t < 0) p.t = 0;
  const std::size_t j = std::min(p.i + 1, values.size() - 1);
  return lerp(values[p.i], values[j], p.t);
}

SampleCost add(SampleCost a, const SampleCost& b, double sign = 1.0) {
  a.time_s += sign * b.time_s;
  for (std::size_t k = 0; k < a.class_s.size() && k < b.class_s.size(); ++k) a.class_s[k] += sign * b.class_s[k];
  return a;
}

SampleCost attention_part(const SampleCost& s) {
  SampleCost a;
  a.class_s.assign(s.class_s.size(), 0.0);
  a.time_s = s.attention_s();
  if (kAttentionClass < a.class_s.size()) a.class_s[kAttentionClass] = a.time_s;
  return a;
}

}  // namespace

double SampleCost::attention_s() const {
  return kAttentionClass < class_s.size() ? class_s[kAttentionClass] : 0.0;
}

const std::vector<std::string>& ProfiledStepCost::kClassNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (config::OpClass op_class : config::kAllOpClasses) out.push_back(config::to_string(op_class));
    out.push_back("communication");
    out.push_back("host");
    return out;
  }();
  return names;
}

std::size_t ProfiledStepCost::class_index(const model::Op& op) {
  constexpr std::size_t compute_classes = std::size(config::kAllOpClasses);
  switch (op.kind) {
    case model::OpKind::Compute:
      return static_cast<std::size_t>(
          std::find(std::begin(config::kAllOpClasses), std::end(config::kAllOpClasses), op.compute.op_class) -
          std::begin(config::kAllOpClasses));
    case model::OpKind::Collective:
      return compute_classes;
    case model::OpKind::Delay:
      return compute_classes + 1;
  }
  return compute_classes + 1;
}

ProfiledStepCost::ProfiledStepCost(StepProfile profile) : profile_(std::move(profile)) {
  const auto& p = profile_;
  if (p.decode_batches.empty() || p.decode_kv_lens.empty() ||
      p.decode.size() != p.decode_batches.size() * p.decode_kv_lens.size() || p.prefill.empty() ||
      p.prefill.size() != p.prefill_tokens.size() || p.prefill.size() != p.prefill_attention.size() ||
      p.transfer_tokens.size() != p.transfer_s.size()) {
    throw std::logic_error("ProfiledStepCost: inconsistent profile tables");
  }
  for (const auto& sample : p.prefill) {
    attention_.push_back(attention_part(sample));
    rest_.push_back(add(sample, attention_.back(), -1.0));
  }
}

SampleCost ProfiledStepCost::decode(double batch, double kv_len) const {
  const auto& p = profile_;
  const std::size_t kv_count = p.decode_kv_lens.size();
  auto row = [&](std::size_t b) {  // batch grid point b, interpolated in kv
    if (kv_count == 1) return p.decode[b];
    const Position k = locate(p.decode_kv_lens, kv_len);
    return lerp(p.decode[b * kv_count + k.i], p.decode[b * kv_count + k.i + 1], k.t);
  };
  if (p.decode_batches.size() == 1) return row(0);
  const Position b = locate(p.decode_batches, batch);
  return lerp(row(b.i), row(b.i + 1), b.t);
}

SampleCost ProfiledStepCost::prefill_rest(double tokens) const {
  return along(profile_.prefill_tokens, rest_, tokens, true);
}

SampleCost ProfiledStepCost::prefill_attention(double work) const {
  return along(profile_.prefill_attention, attention_, work, true);
}

StepCost ProfiledStepCost::step(const StepShape& shape) const {
  SampleCost cost;
  if (shape.prefill_tokens <= 0) {
    cost = decode(shape.decode_seqs, shape.mean_decode_kv());
  } else {
    // A mixed step is a prefill step over all its tokens (weights, token-proportional ops, host launches) plus the
    // decode sequences' attention (their KV-cache reads), taken from the decode samples.
    cost = add(prefill_rest(shape.prefill_tokens + shape.decode_seqs), prefill_attention(shape.prefill_attention));
    if (shape.decode_seqs > 0) cost = add(cost, attention_part(decode(shape.decode_seqs, shape.mean_decode_kv())));
  }
  return {cost.time_s, cost.class_s};
}

double ProfiledStepCost::kv_transfer_s(double tokens) const {
  const auto& p = profile_;
  if (p.transfer_s.empty()) throw std::logic_error("ProfiledStepCost: no KV-transfer profile (not a P/D scenario)");
  if (p.transfer_s.size() == 1) return p.transfer_s.front();
  const Position pos = locate(p.transfer_tokens, tokens);
  return p.transfer_s[pos.i] + (p.transfer_s[pos.i + 1] - p.transfer_s[pos.i]) * pos.t;
}

}  // namespace moesim::serving
