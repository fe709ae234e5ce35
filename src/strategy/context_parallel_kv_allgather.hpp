#pragma once
// context_parallel "kv_allgather" (the default): each CP rank gathers the K and V of the whole sequence before its
// attention core and reduce-scatters dK, dV in the backward (Llama 3, arXiv 2407.21783 section 3.3.2; MindSpeed
// kvallgather_cp_algo).

namespace moesim::strategy {

inline constexpr const char* kKvAllGatherName = "kv_allgather";
inline constexpr const char* kKvAllGatherDescription =
    "CP by K/V AllGather: every rank gathers the whole sequence's K and V, dK/dV reduce-scattered back "
    "(Llama 3 arXiv 2407.21783 section 3.3.2; MindSpeed kvallgather_cp_algo)";

}  // namespace moesim::strategy
