#include "smart/smart.h"

SMART_API const char *smart_version(void) { return SMART_VERSION_STR; }

SMART_API uint32_t smart_version_num(void) { return SMART_VERSION_NUM; }
