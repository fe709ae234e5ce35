// Parameter, FLOP, KV and weight arithmetic of a ModelConfig (conventions: docs/schema-model.md).
#include "model/model_stats.hpp"

#include <cstdio>
#include <stdexcept>

namespace moesim::model {

using config::AttentionKind;
using config::FfnActivation;

namespace {

double sum_params(const std::vector<MatmulShape>& shapes) {
  double total = 0.0;
  for (const auto& shape : shapes) total += shape.params();
  return total;
}

double sum_flops(const std::vector<MatmulShape>& shapes, double tokens) {
  double total = 0.0;
  for (const auto& shape : shapes) total += shape.flops(tokens);
  return total;
}

// Routed-expert parameters of one MoE layer: all of them, or the top_k a token uses.
double routed_params_per_layer(const ModelConfig& model, bool active) {
  if (!model.moe) return 0.0;
  const double experts = active ? model.moe->top_k : model.moe->num_routed_experts;
  return experts * expert_params(model);
}

double shared_params_per_layer(const ModelConfig& model) {
  return model.moe ? model.moe->num_shared_experts * shared_expert_params(model) : 0.0;
}

double mtp_projection_params(const ModelConfig& model) {
  return 2.0 * model.hidden * model.hidden;
}
double mtp_norm_params(const ModelConfig& model) {
  return 2.0 * model.hidden;
}

}  // namespace

std::vector<MatmulShape> attention_matmuls(const ModelConfig& model) {
  const auto& a = model.attention;
  const double hidden = model.hidden;
  if (a.kind == AttentionKind::MLA) {
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    std::vector<MatmulShape> shapes;
    if (a.q_lora_rank > 0) {
      shapes.push_back({"q_a_proj", hidden, double(a.q_lora_rank)});
      shapes.push_back({"q_b_proj", double(a.q_lora_rank), a.num_heads * qk});
    } else {
      shapes.push_back({"q_proj", hidden, a.num_heads * qk});
    }
    shapes.push_back({"kv_a_proj", hidden, double(a.kv_lora_rank + a.qk_rope_head_dim)});
    shapes.push_back({"kv_b_proj", double(a.kv_lora_rank), double(a.num_heads) * (a.qk_nope_head_dim + a.v_head_dim)});
    shapes.push_back({"o_proj", double(a.num_heads) * a.v_head_dim, hidden});
    return shapes;
  }
  const double q_width = double(a.num_heads) * a.head_dim;
  const double kv_width = double(a.num_kv_heads) * a.head_dim;
  return {{"q_proj", hidden, q_width},
          {"k_proj", hidden, kv_width},
          {"v_proj", hidden, kv_width},
          {"o_proj", q_width, hidden}};
}

double attention_inner_norm_params(const ModelConfig& model) {
  const auto& a = model.attention;
  return a.kind == AttentionKind::MLA ? double(a.q_lora_rank) + a.kv_lora_rank : 0.0;
}

double attention_params_per_layer(const ModelConfig& model) {
  return sum_params(attention_matmuls(model)) + attention_inner_norm_params(model);
}

int qk_head_dim(const ModelConfig& model) {
  const auto& a = model.attention;
  return a.kind == AttentionKind::MLA ? a.qk_nope_head_dim + a.qk_rope_head_dim : a.head_dim;
}

int v_head_dim(const ModelConfig& model) {
  const auto& a = model.attention;
  return a.kind == AttentionKind::MLA ? a.v_head_dim : a.head_dim;
}

double attention_core_flops(const ModelConfig& model, double context_tokens) {
  return 2.0 * model.attention.num_heads * (double(qk_head_dim(model)) + v_head_dim(model)) * context_tokens;
}

std::vector<MatmulShape> ffn_matmuls(const ModelConfig& model, int intermediate) {
  const double hidden = model.hidden;
  const double width = intermediate;
  if (model.activation == FfnActivation::GELU) return {{"up_proj", hidden, width}, {"down_proj", width, hidden}};
  return {{"gate_proj", hidden, width}, {"up_proj", hidden, width}, {"down_proj", width, hidden}};
}

double ffn_params(const ModelConfig& model, int intermediate) {
  return sum_params(ffn_matmuls(model, intermediate));
}
double dense_ffn_params(const ModelConfig& model) {
  return ffn_params(model, model.dense_intermediate);
}
double expert_params(const ModelConfig& model) {
  return model.moe ? ffn_params(model, model.moe->expert_intermediate) : 0.0;
}
double shared_expert_params(const ModelConfig& model) {
  return model.moe && model.moe->num_shared_experts > 0 ? ffn_params(model, model.moe->shared_expert_intermediate)
                                                        : 0.0;
}
MatmulShape router_matmul(const ModelConfig& model) {
  if (!model.moe) return {"router", 0.0, 0.0};
  return {"router", double(model.hidden), double(model.moe->num_routed_experts)};
}
double layer_norm_params(const ModelConfig& model) {
  return 2.0 * model.hidden;
}

bool is_moe_layer(const ModelConfig& model, int layer) {
  return model.moe.has_value() && layer >= model.num_dense_layers && layer < model.num_layers;
}
int num_moe_layers(const ModelConfig& model) {
  return model.moe ? model.num_layers - model.num_dense_layers : 0;
}

double transformer_layer_params(const ModelConfig& model, bool moe_layer, bool active) {
  const double common = attention_params_per_layer(model) + layer_norm_params(model);
  if (!moe_layer) return common + dense_ffn_params(model);
  return common + routed_params_per_layer(model, active) + shared_params_per_layer(model) +
         router_matmul(model).params();
}

double mtp_module_params(const ModelConfig& model, bool active) {
  return mtp_norm_params(model) + mtp_projection_params(model) +
         transformer_layer_params(model, model.moe.has_value(), active);
}

ParamBreakdown param_breakdown(const ModelConfig& model) {
  ParamBreakdown p;
  const double layers = model.num_layers;
  const double moe_layers = num_moe_layers(model);
  const double dense_layers = layers - moe_layers;
  p.embedding = double(model.vocab) * model.hidden;
  p.head = model.tied_embeddings ? 0.0 : double(model.vocab) * model.hidden;
  p.attention = layers * attention_params_per_layer(model);
  p.norms = layers * layer_norm_params(model) + model.hidden;  // + final norm
  p.dense_ffn = dense_layers * dense_ffn_params(model);
  p.routed_experts = moe_layers * routed_params_per_layer(model, false);
  p.shared_experts = moe_layers * shared_params_per_layer(model);
  p.router = moe_layers * router_matmul(model).params();
  p.mtp = model.mtp_layers * mtp_module_params(model, false);
  p.total = p.embedding + p.head + p.attention + p.norms + p.dense_ffn + p.routed_experts + p.shared_experts + p.router;
  const double routed_active = moe_layers * routed_params_per_layer(model, true);
  p.active = p.total - p.routed_experts + routed_active;
  p.total_with_mtp = p.total + p.mtp;
  p.active_with_mtp = p.active + model.mtp_layers * mtp_module_params(model, true);
  return p;
}

FlopBreakdown flops_breakdown(const ModelConfig& model, int seq_len, bool include_mtp) {
  FlopBreakdown f;
  const double moe_layers = num_moe_layers(model);
  const double dense_layers = model.num_layers - moe_layers;
  const double attention_proj_per_layer = sum_flops(attention_matmuls(model), 1.0);
  const double routed_per_layer = model.moe ? model.moe->top_k * 2.0 * expert_params(model) : 0.0;
  const double shared_per_layer = 2.0 * shared_params_per_layer(model);
  const double router_per_layer = router_matmul(model).flops(1.0);
  const double dense_per_layer = 2.0 * dense_ffn_params(model);
  const double head = 2.0 * model.hidden * double(model.vocab);
  const double core_per_layer = attention_core_flops(model, seq_len / 2.0);  // mean causal context

  f.attention_proj = model.num_layers * attention_proj_per_layer;
  f.dense_ffn = dense_layers * dense_per_layer;
  f.routed_experts = moe_layers * routed_per_layer;
  f.shared_experts = moe_layers * shared_per_layer;
  f.router = moe_layers * router_per_layer;
  f.lm_head = head;
  f.attention_core = model.num_layers * core_per_layer;
  if (include_mtp && model.mtp_layers > 0) {
    const double ffn = model.moe ? routed_per_layer + shared_per_layer + router_per_layer : dense_per_layer;
    const double module = 2.0 * mtp_projection_params(model) + attention_proj_per_layer + ffn + head;
    f.mtp_matmul = model.mtp_layers * module;
    f.attention_core += model.mtp_layers * core_per_layer;
  }
  f.matmul = f.attention_proj + f.dense_ffn + f.routed_experts + f.shared_experts + f.router + f.lm_head + f.mtp_matmul;
  f.total = f.matmul + f.attention_core;
  return f;
}

double flops_per_token_forward(const ModelConfig& model, int seq_len) {
  return flops_breakdown(model, seq_len, true).total;
}

double kv_elements_per_token_per_layer(const ModelConfig& model) {
  const auto& a = model.attention;
  if (a.kind == AttentionKind::MLA) return double(a.kv_lora_rank) + a.qk_rope_head_dim;
  return 2.0 * a.num_kv_heads * a.head_dim;
}

double kv_bytes_per_token(const ModelConfig& model, Dtype dtype, bool include_mtp) {
  const double layers = model.num_layers + (include_mtp ? model.mtp_layers : 0);
  return layers * kv_elements_per_token_per_layer(model) * config::bytes_per_element(dtype);
}

double weight_bytes(const ModelConfig& model, Dtype dtype, bool include_mtp) {
  const auto p = param_breakdown(model);
  return (include_mtp ? p.total_with_mtp : p.total) * config::bytes_per_element(dtype);
}

namespace {

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

// 71988188160 -> "71.988 B"; 785285120 -> "785.285 M".
std::string count_text(double count) {
  if (count >= 1e9) return format("%.3f B", count / 1e9);
  if (count >= 1e6) return format("%.3f M", count / 1e6);
  if (count >= 1e3) return format("%.3f K", count / 1e3);
  return format("%.0f", count);
}

std::string bytes_text(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024) return format("%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  if (bytes >= 1024.0 * 1024) return format("%.2f MiB", bytes / (1024.0 * 1024));
  if (bytes >= 1024.0) return format("%.2f KiB", bytes / 1024.0);
  return format("%.0f B", bytes);
}

void row(std::string& out, const std::string& label, const std::string& value, const std::string& note = "") {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "  %-34s %16s", label.c_str(), value.c_str());
  out += buffer;
  out += note.empty() ? "\n" : "  " + note + "\n";
}

std::string attention_text(const ModelConfig& model) {
  const auto& a = model.attention;
  std::string text = to_string(a.kind) + ", " + std::to_string(a.num_heads) + " heads";
  if (a.kind == AttentionKind::MLA) {
    return text + ", q_lora " + std::to_string(a.q_lora_rank) + ", kv_lora " + std::to_string(a.kv_lora_rank) +
           ", qk " + std::to_string(a.qk_nope_head_dim) + "+" + std::to_string(a.qk_rope_head_dim) + " (rope), v " +
           std::to_string(a.v_head_dim);
  }
  return text + ", " + std::to_string(a.num_kv_heads) + " KV heads x " + std::to_string(a.head_dim);
}

std::string moe_text(const ModelConfig& model) {
  if (!model.moe) return "none (dense)";
  const auto& m = *model.moe;
  std::string text = std::to_string(m.num_routed_experts) + " routed x " + std::to_string(m.expert_intermediate) +
                     ", top-" + std::to_string(m.top_k) + " (" + to_string(m.routing);
  if (m.routing == config::RoutingKind::MoGE) {
    text += ": " + std::to_string(m.num_groups) + " groups x top-" + std::to_string(m.top_k_per_group);
  }
  text += "), " + std::to_string(m.num_shared_experts) + " shared";
  if (m.num_shared_experts > 0) text += " x " + std::to_string(m.shared_expert_intermediate);
  return text;
}

}  // namespace

nlohmann::json describe_json(const ModelConfig& model, int seq_len) {
  if (seq_len < 1) throw std::invalid_argument("describe: seq_len must be >= 1, got " + std::to_string(seq_len));
  const auto p = param_breakdown(model);
  const auto f = flops_breakdown(model, seq_len, true);
  nlohmann::json weights = nlohmann::json::object();
  for (Dtype dtype : config::kAllDtypes) weights[config::to_string(dtype)] = weight_bytes(model, dtype);
  return {
      {"name", model.name},
      {"file", model.file},
      {"seq_len", seq_len},
      {"params_total", p.total},
      {"params_active", p.active},
      {"params_total_with_mtp", p.total_with_mtp},
      {"params_active_with_mtp", p.active_with_mtp},
      {"params_by_component",
       {{"embedding", p.embedding},
        {"attention", p.attention},
        {"dense_ffn", p.dense_ffn},
        {"routed_experts", p.routed_experts},
        {"shared_experts", p.shared_experts},
        {"router", p.router},
        {"norms", p.norms},
        {"head", p.head},
        {"mtp", p.mtp}}},
      {"flops_per_token_forward", f.total},
      {"flops_breakdown",
       {{"attention_proj", f.attention_proj},
        {"dense_ffn", f.dense_ffn},
        {"routed_experts", f.routed_experts},
        {"shared_experts", f.shared_experts},
        {"router", f.router},
        {"lm_head", f.lm_head},
        {"mtp_matmul", f.mtp_matmul},
        {"matmul", f.matmul},
        {"attention_core", f.attention_core},
        {"total", f.total}}},
      {"kv_bytes_per_token", kv_bytes_per_token(model, Dtype::BF16)},
      {"weight_bytes", weights},
      {"architecture",
       {{"num_layers", model.num_layers},
        {"num_dense_layers", model.num_dense_layers},
        {"num_moe_layers", num_moe_layers(model)},
        {"mtp_layers", model.mtp_layers},
        {"hidden_size", model.hidden},
        {"vocab_size", model.vocab},
        {"attention", to_string(model.attention.kind)},
        {"ffn_activation", to_string(model.activation)}}},
  };
}

std::string describe_text(const ModelConfig& model, int seq_len) {
  if (seq_len < 1) throw std::invalid_argument("describe: seq_len must be >= 1, got " + std::to_string(seq_len));
  const auto p = param_breakdown(model);
  const auto f = flops_breakdown(model, seq_len, true);
  std::string out = model.name + "  (" + model.file + ")\n";
  out += "  " + std::to_string(model.num_layers) + " layers (" +
         std::to_string(model.num_layers - num_moe_layers(model)) + " dense, " + std::to_string(num_moe_layers(model)) +
         " MoE) + " + std::to_string(model.mtp_layers) + " MTP, hidden " + std::to_string(model.hidden) + ", vocab " +
         std::to_string(model.vocab) + (model.tied_embeddings ? " (tied)" : " (untied)") + ", " +
         to_string(model.activation) + "\n";
  out += "  attention: " + attention_text(model) + "\n";
  out += "  experts:   " + moe_text(model) + "\n\nParameters\n";
  const auto share = [&](double value) { return format("%6.2f %%", 100.0 * value / p.total); };
  row(out, "embedding", count_text(p.embedding), share(p.embedding));
  row(out, "attention (incl. MLA inner norms)", count_text(p.attention), share(p.attention));
  row(out, "dense FFN", count_text(p.dense_ffn), share(p.dense_ffn));
  row(out, "routed experts", count_text(p.routed_experts), share(p.routed_experts));
  row(out, "shared experts", count_text(p.shared_experts), share(p.shared_experts));
  row(out, "router", count_text(p.router), share(p.router));
  row(out, "norms", count_text(p.norms), share(p.norms));
  row(out, "LM head", count_text(p.head), model.tied_embeddings ? "(tied to embedding)" : share(p.head));
  row(out, "total", count_text(p.total));
  row(out, "active per token", count_text(p.active), "(embedding and head counted)");
  row(out, "MTP modules (not in total)", count_text(p.mtp));
  row(out, "total with MTP", count_text(p.total_with_mtp));
  out += "\nForward FLOPs per token (seq_len " + std::to_string(seq_len) + ", 2 per MAC, causal mean context)\n";
  const auto gflop = [](double flops) { return format("%.3f GFLOP", flops / 1e9); };
  row(out, "attention projections", gflop(f.attention_proj));
  row(out, "dense FFN", gflop(f.dense_ffn));
  row(out, "routed experts (top-k)", gflop(f.routed_experts));
  row(out, "shared experts", gflop(f.shared_experts));
  row(out, "router", gflop(f.router));
  row(out, "LM head", gflop(f.lm_head));
  row(out, "MTP modules", gflop(f.mtp_matmul));
  row(out, "attention core (QK^T, AV)", gflop(f.attention_core));
  row(out, "total", gflop(f.total));
  out += "\nMemory\n";
  row(out, "KV cache per token (bf16)", bytes_text(kv_bytes_per_token(model, Dtype::BF16)),
      "(" + std::to_string(model.num_layers) + " layers, MTP excluded)");
  for (Dtype dtype : config::kAllDtypes) {
    row(out, "weights " + config::to_string(dtype), bytes_text(weight_bytes(model, dtype)), "(total, MTP excluded)");
  }
  return out;
}

}  // namespace moesim::model
