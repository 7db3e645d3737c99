// The public header is usable from C++ (extern "C", no C-only constructs).
#include <smart/smart.h>

static_assert(SMART_OK == 0, "SMART_OK is zero");

int main() { return smart_strerror(SMART_EINVAL)[0] != '\0' ? 0 : 1; }
