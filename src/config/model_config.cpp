// Strict loader for models/*.json (schema: docs/schema-model.md). Every problem is collected with its JSON
// pointer and thrown together as one ConfigError; cross-field checks run only on values that read cleanly,
// so one mistake is reported once.
#include "config/model_config.hpp"

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "config/json_reader.hpp"

namespace moesim::config {

using nlohmann::json;

std::string to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::MHA:
      return "mha";
    case AttentionKind::GQA:
      return "gqa";
    case AttentionKind::MLA:
      return "mla";
  }
  return "?";
}

std::string to_string(FfnActivation activation) {
  switch (activation) {
    case FfnActivation::SwiGLU:
      return "swiglu";
    case FfnActivation::GELU:
      return "gelu";
  }
  return "?";
}

std::string to_string(RoutingKind routing) {
  switch (routing) {
    case RoutingKind::TopK:
      return "topk";
    case RoutingKind::MoGE:
      return "moge";
  }
  return "?";
}

namespace {

std::string kind_of(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number (" + value.dump() + ")";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

// Reads an integer that must fit in `int`. The generic reader words range errors as "a number"; model sizes are
// counts, so the message here says "an integer". `why` is appended to "missing required key" when non-empty.
std::optional<int> read_int(ObjectReader& reader, const std::string& key, Range range, bool required,
                            const std::string& why = "") {
  if (!reader.valid()) return std::nullopt;
  const json* value = reader.raw(key);
  if (value == nullptr) {
    if (required) reader.issues().error(reader.child(key), "missing required key" + why);
    return std::nullopt;
  }
  const std::string expected = range == Range::NonNegative ? "an integer >= 0" : "an integer > 0";
  if (!value->is_number_integer()) {
    reader.issues().error(reader.child(key), "expected " + expected + ", got " + kind_of(*value));
    return std::nullopt;
  }
  constexpr std::int64_t kMax = std::numeric_limits<int>::max();
  if (value->is_number_unsigned() ? value->get<std::uint64_t>() > static_cast<std::uint64_t>(kMax)
                                  : value->get<std::int64_t>() > kMax) {
    reader.issues().error(reader.child(key),
                          "expected an integer <= " + std::to_string(kMax) + ", got " + value->dump());
    return std::nullopt;
  }
  const auto number = value->get<std::int64_t>();
  if (number < 0 || (number == 0 && range != Range::NonNegative)) {
    reader.issues().error(reader.child(key), "expected " + expected + ", got " + value->dump());
    return std::nullopt;
  }
  return static_cast<int>(number);
}

std::string num(int value) {
  return std::to_string(value);
}

void read_attention(ObjectReader reader, AttentionSpec& spec) {
  if (!reader.valid()) return;
  IssueCollector& issues = reader.issues();
  const std::string type = reader.choice("type", {"mha", "gqa", "mla"});
  const auto heads = read_int(reader, "num_heads", Range::Positive, true);
  spec.num_heads = heads.value_or(0);
  if (type == "gqa" || type == "mha") {
    spec.kind = type == "gqa" ? AttentionKind::GQA : AttentionKind::MHA;
    spec.head_dim = read_int(reader, "head_dim", Range::Positive, true).value_or(0);
    const auto kv = read_int(reader, "num_kv_heads", Range::Positive, type == "gqa");
    if (type == "gqa") {
      spec.num_kv_heads = kv.value_or(0);
      if (heads && kv && *heads % *kv != 0) {
        issues.error(reader.child("num_kv_heads"),
                     "num_heads (" + num(*heads) + ") must be divisible by num_kv_heads (" + num(*kv) + ")");
      }
    } else {
      spec.num_kv_heads = spec.num_heads;
      if (heads && kv && *kv != *heads) {
        issues.error(reader.child("num_kv_heads"),
                     "for \"mha\" attention num_kv_heads must be absent or equal to num_heads (" + num(*heads) +
                         "), got " + num(*kv));
      }
    }
  } else if (type == "mla") {
    spec.kind = AttentionKind::MLA;
    const std::string why =
        " (\"mla\" attention needs q_lora_rank, kv_lora_rank, qk_nope_head_dim, "
        "qk_rope_head_dim and v_head_dim)";
    spec.q_lora_rank = read_int(reader, "q_lora_rank", Range::NonNegative, true, why).value_or(0);
    spec.kv_lora_rank = read_int(reader, "kv_lora_rank", Range::Positive, true, why).value_or(0);
    spec.qk_nope_head_dim = read_int(reader, "qk_nope_head_dim", Range::Positive, true, why).value_or(0);
    spec.qk_rope_head_dim = read_int(reader, "qk_rope_head_dim", Range::Positive, true, why).value_or(0);
    spec.v_head_dim = read_int(reader, "v_head_dim", Range::Positive, true, why).value_or(0);
  } else {
    // The type itself is wrong (already reported): accept the other keys rather than report them as unknown.
    for (const char* key : {"num_kv_heads", "head_dim", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
                            "qk_rope_head_dim", "v_head_dim"}) {
      reader.allow(key);
    }
  }
  reader.finish();
}

void read_routing(ObjectReader reader, MoeSpec& spec, std::optional<int> routed, std::optional<int> top_k,
                  const std::string& top_k_pointer) {
  if (!reader.valid()) return;
  IssueCollector& issues = reader.issues();
  const std::string type = reader.choice("type", {"topk", "moge"});
  if (type == "moge") {
    spec.routing = RoutingKind::MoGE;
    const auto groups = read_int(reader, "num_groups", Range::Positive, true, " (required for \"moge\" routing)");
    const auto per_group =
        read_int(reader, "top_k_per_group", Range::Positive, true, " (required for \"moge\" routing)");
    spec.num_groups = groups.value_or(1);
    spec.top_k_per_group = per_group.value_or(0);
    if (routed && groups && *routed % *groups != 0) {
      issues.error(reader.child("num_groups"),
                   "num_routed_experts (" + num(*routed) + ") must be divisible by num_groups (" + num(*groups) + ")");
    } else if (routed && groups && per_group && *per_group > *routed / *groups) {
      issues.error(reader.child("top_k_per_group"), "must be <= experts per group (" + num(*routed) + " / " +
                                                        num(*groups) + " = " + num(*routed / *groups) + "), got " +
                                                        num(*per_group));
    }
    if (top_k && groups && per_group && *top_k != *groups * *per_group) {
      issues.error(top_k_pointer, "for \"moge\" routing top_k must equal num_groups * top_k_per_group (" +
                                      num(*groups) + " * " + num(*per_group) + " = " + num(*groups * *per_group) +
                                      "), got " + num(*top_k));
    }
  } else if (type == "topk") {
    spec.routing = RoutingKind::TopK;
    spec.num_groups = 1;
    spec.top_k_per_group = top_k.value_or(0);
  } else {
    reader.allow("num_groups");
    reader.allow("top_k_per_group");
  }
  reader.finish();
}

MoeSpec read_moe(ObjectReader reader) {
  MoeSpec spec;
  if (!reader.valid()) return spec;
  const auto routed = read_int(reader, "num_routed_experts", Range::Positive, true);
  const auto shared = read_int(reader, "num_shared_experts", Range::NonNegative, true);
  const auto top_k = read_int(reader, "top_k", Range::Positive, true);
  spec.num_routed_experts = routed.value_or(0);
  spec.num_shared_experts = shared.value_or(0);
  spec.top_k = top_k.value_or(0);
  spec.expert_intermediate = read_int(reader, "expert_intermediate_size", Range::Positive, true).value_or(0);
  spec.shared_expert_intermediate = read_int(reader, "shared_expert_intermediate_size", Range::Positive,
                                             shared.value_or(0) > 0, " (required when num_shared_experts > 0)")
                                        .value_or(0);
  if (routed && top_k && *top_k > *routed) {
    reader.issues().error(reader.child("top_k"),
                          "must be <= num_routed_experts (" + num(*routed) + "), got " + num(*top_k));
  }
  read_routing(reader.object("routing"), spec, routed, top_k, reader.child("top_k"));
  reader.finish();
  return spec;
}

void read_model(ObjectReader& root, ModelConfig& model) {
  IssueCollector& issues = root.issues();
  model.name = root.string("name");
  model.description = root.optional_string("description").value_or("");
  model.source = root.string("source");
  model.hidden = read_int(root, "hidden_size", Range::Positive, true).value_or(0);
  const auto layers = read_int(root, "num_layers", Range::Positive, true);
  const auto dense = read_int(root, "num_dense_layers", Range::NonNegative, true);
  const auto dense_width = read_int(root, "dense_intermediate_size", Range::NonNegative, true);
  model.num_layers = layers.value_or(0);
  model.num_dense_layers = dense.value_or(0);
  model.dense_intermediate = dense_width.value_or(0);
  model.vocab = read_int(root, "vocab_size", Range::Positive, true).value_or(0);
  model.tied_embeddings = root.boolean("tied_embeddings");
  const std::string activation = root.choice("ffn_activation", {"swiglu", "gelu"});
  model.activation = activation == "gelu" ? FfnActivation::GELU : FfnActivation::SwiGLU;
  model.max_seq_len = read_int(root, "max_seq_len", Range::Positive, true).value_or(0);
  model.mtp_layers = read_int(root, "mtp_layers", Range::NonNegative, false).value_or(0);
  read_attention(root.object("attention"), model.attention);
  if (auto moe = root.optional_object("moe")) model.moe = read_moe(*moe);
  const bool has_moe = root.has("moe");
  root.finish();

  if (layers && dense && *dense > *layers) {
    issues.error(root.child("num_dense_layers"), "must be <= num_layers (" + num(*layers) + "), got " + num(*dense));
  } else if (layers && dense && !has_moe && *dense != *layers) {
    issues.error(root.child("num_dense_layers"), "a model without \"moe\" must have num_dense_layers == num_layers (" +
                                                     num(*layers) + "), got " + num(*dense));
  } else if (layers && dense && has_moe && *dense == *layers) {
    issues.error(root.child("moe"), "\"moe\" is given but all " + num(*layers) +
                                        " layers are dense (num_dense_layers == num_layers); lower "
                                        "num_dense_layers or remove \"moe\"");
  }
  if (dense && dense_width && *dense > 0 && *dense_width == 0) {
    issues.error(root.child("dense_intermediate_size"),
                 "must be > 0 when the model has dense layers (num_dense_layers = " + num(*dense) + "), got 0");
  }
}

}  // namespace

ModelConfig load_model(const std::string& path) {
  IssueCollector issues(path);
  ModelConfig model;
  model.file = path;
  if (auto document = load_json_file(path, issues)) {
    ObjectReader root(*document, "", issues);
    if (root.valid()) read_model(root, model);
  }
  issues.throw_if_any();
  return model;
}

}  // namespace moesim::config
