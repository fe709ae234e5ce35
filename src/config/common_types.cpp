#include "config/common_types.hpp"

namespace moesim::config {

std::string to_string(Dtype dtype) {
  switch (dtype) {
    case Dtype::FP32: return "fp32";
    case Dtype::FP16: return "fp16";
    case Dtype::BF16: return "bf16";
    case Dtype::INT8: return "int8";
  }
  return "?";
}

std::optional<Dtype> parse_dtype(const std::string& text) {
  for (Dtype dtype : kAllDtypes) {
    if (to_string(dtype) == text) return dtype;
  }
  return std::nullopt;
}

std::vector<std::string> dtype_names() {
  std::vector<std::string> names;
  for (Dtype dtype : kAllDtypes) names.push_back(to_string(dtype));
  return names;
}

double bytes_per_element(Dtype dtype) {
  switch (dtype) {
    case Dtype::FP32: return 4.0;
    case Dtype::FP16:
    case Dtype::BF16: return 2.0;
    case Dtype::INT8: return 1.0;
  }
  return 2.0;
}

std::string to_string(OpClass op_class) {
  switch (op_class) {
    case OpClass::Matmul: return "matmul";
    case OpClass::GroupedMatmul: return "grouped_matmul";
    case OpClass::Attention: return "attention";
    case OpClass::Vector: return "vector";
    case OpClass::FusedAttention: return "fused_attention";
    case OpClass::FusedGroupedMatmul: return "fused_grouped_matmul";
  }
  return "?";
}

std::optional<OpClass> parse_op_class(const std::string& text) {
  for (OpClass op_class : kAllOpClasses) {
    if (to_string(op_class) == text) return op_class;
  }
  for (OpClass op_class : kOptionalOpClasses) {
    if (to_string(op_class) == text) return op_class;
  }
  return std::nullopt;
}

}  // namespace moesim::config
