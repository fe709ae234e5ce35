#pragma once
// Runs a command body and turns every user-caused error into one clear stderr line per issue and exit 2.
#include <functional>
#include <string>

namespace moesim::app {

// ConfigError -> each issue on its own line, exit 2; std::invalid_argument -> exit 2;
// any other std::exception -> "internal error", exit 1.
int guarded(const std::function<int()>& body);

void print_error(const std::string& message);

}  // namespace moesim::app
