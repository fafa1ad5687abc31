// Shorthands for building a Step, shared by the mechanism implementations.
// Internal to the SASL library; the session only reads Step's fields.
#pragma once

#include <string>
#include <utility>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

inline Step challenge(std::string data) {
  return {StepStatus::challenge, std::move(data), {}};
}
inline Step success(std::string data = {}) {
  return {StepStatus::success, std::move(data), {}};
}
inline Step failure(std::string reason) {
  return {StepStatus::failure, {}, std::move(reason)};
}

// What every mechanism answers once its exchange is over.
inline Step exchange_over() {
  return failure("client data after the exchange ended");
}

}  // namespace postern::auth::sasl
