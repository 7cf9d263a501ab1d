// Times work enqueued on a stream: CUDA events for CUDA engines (GPU time), the host clock for CPU engines.
#pragma once

#include <memory>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::cli {

class StreamTimer {
 public:
  virtual ~StreamTimer() = default;
  /// Marks the start on `stream`.
  virtual Status start(void* stream) = 0;
  /// Marks the end, waits for the stream, returns the milliseconds between the marks.
  virtual Expected<double> stopMs(void* stream) = 0;
  static Expected<std::unique_ptr<StreamTimer>> create(DeviceKind device);
};

}  // namespace kiln::cli
