#include "backends/backend.h"
#include "kiln/builder.h"

namespace kiln {

int BuilderConfig::addProfile(OptimizationProfile profile) {
  profiles.push_back(std::move(profile));
  return static_cast<int>(profiles.size()) - 1;
}
void BuilderConfig::allow(Precision p) { precisionMask_ |= 1u << static_cast<int>(p); }
void BuilderConfig::disallow(Precision p) {
  if (p != Precision::kFP32) precisionMask_ &= ~(1u << static_cast<int>(p));
}
bool BuilderConfig::allows(Precision p) const { return (precisionMask_ >> static_cast<int>(p)) & 1u; }

DeviceKind defaultDevice() {
  static const DeviceKind kind = backends::createBackend(DeviceKind::kCuda).hasValue() ? DeviceKind::kCuda : DeviceKind::kCpu;
  return kind;
}

}  // namespace kiln
