// STUB: replaced by the CLI owner.
int main() { return 2; }
