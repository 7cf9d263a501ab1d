# STUB: replaced by the test-models owner.
