#include <gtest/gtest.h>
#include "ir/op_kind.h"
TEST(OpKind, NamesRoundTrip) {
  for (int i = 0; i < kiln::ir::opKindCount(); ++i) {
    auto k = static_cast<kiln::ir::OpKind>(i);
    auto back = kiln::ir::opKindFromName(kiln::ir::opKindName(k));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(static_cast<int>(*back), i);
  }
  EXPECT_FALSE(kiln::ir::opKindFromName("NoSuchOp").has_value());
}
