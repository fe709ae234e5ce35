// `moesim describe` (model statistics) and `moesim describe-topology`.
#include <iostream>

#include "app/commands.hpp"
#include "app/errors.hpp"
#include "config/model_config.hpp"
#include "config/topology_config.hpp"
#include "config/topology_summary.hpp"
#include "model/model_stats.hpp"

namespace moesim::app {

int describe_model_command(const DescribeOptions& options) {
  return guarded([&] {
    const auto model = config::load_model(options.file);
    if (options.json) {
      std::cout << model::describe_json(model, options.seq_len).dump(2) << '\n';
    } else {
      std::cout << model::describe_text(model, options.seq_len);
    }
    return kExitOk;
  });
}

int describe_topology_command(const DescribeOptions& options) {
  return guarded([&] {
    const auto topology = config::load_topology(options.file);
    if (options.json) {
      std::cout << config::topology_summary_json(topology).dump(2) << '\n';
    } else {
      std::cout << config::topology_summary_text(topology);
    }
    return kExitOk;
  });
}

}  // namespace moesim::app
