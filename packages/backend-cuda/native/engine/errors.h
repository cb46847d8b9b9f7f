// The one exception the engine throws for bad input; the binding turns it into a JS Error.
#pragma once
#include <stdexcept>
#include <string>

namespace soo {

struct EngineError : std::runtime_error {
  explicit EngineError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace soo
