#include "app/errors.hpp"

#include <iostream>
#include <stdexcept>
#include <string>

#include "app/commands.hpp"
#include "config/config_error.hpp"

namespace moesim::app {

void print_error(const std::string& message) { std::cerr << "moesim: error: " << message << '\n'; }

int guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const config::ConfigError& error) {
    for (const auto& issue : error.issues()) print_error(issue.to_string());
    return kExitBadInput;
  } catch (const std::invalid_argument& error) {
    print_error(error.what());
    return kExitBadInput;
  } catch (const std::exception& error) {
    print_error(std::string("internal error: ") + error.what());
    return kExitInternal;
  }
}

}  // namespace moesim::app
