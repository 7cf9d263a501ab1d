// The CUDA backend refuses kernels that no GPU has run yet (src/backends/cuda/unverified_kernels.h), unless the gpu
// tests ask for them. Needs no GPU: the refusal is decided before any device call.
#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/cuda/unverified_kernels.h"

namespace kiln::backends::cuda {
namespace {

class UnverifiedKernels : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("KILN_UNVERIFIED_CUDA_KERNELS"); }
  void TearDown() override { unsetenv("KILN_UNVERIFIED_CUDA_KERNELS"); }
};

TEST_F(UnverifiedKernels, AreRefusedWithAReasonUnlessAskedFor) {
  const Status refused = refuseUnverifiedKind(ir::OpKind::kFusedAttention);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.message().find("have not been checked on a GPU"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("KILN_UNVERIFIED_CUDA_KERNELS=1"), std::string::npos) << refused.message();

  setenv("KILN_UNVERIFIED_CUDA_KERNELS", "1", 1);
  EXPECT_TRUE(refuseUnverifiedKind(ir::OpKind::kFusedAttention).isOk());
}

TEST_F(UnverifiedKernels, VerifiedKindsAreNeverRefused) {
  for (ir::OpKind op : {ir::OpKind::kConv, ir::OpKind::kMatMul, ir::OpKind::kSoftmax, ir::OpKind::kTopK,
                      ir::OpKind::kNonZero, ir::OpKind::kQuantizeLinear})
    EXPECT_TRUE(refuseUnverifiedKind(op).isOk()) << ir::opKindName(op);
}

}  // namespace
}  // namespace kiln::backends::cuda
