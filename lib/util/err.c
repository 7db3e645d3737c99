/* Error strings and names, generated from the one table in smart.h. */
#include "smart/smart.h"

SMART_API const char *smart_strerror(int err) {
  switch (err) {
  case SMART_OK:
    return "success";
#define SMART__ERRSTR(name, val, msg) \
  case SMART_##name:                  \
    return msg;
    SMART_ERRNO_MAP(SMART__ERRSTR)
#undef SMART__ERRSTR
  default:
    return "unknown error";
  }
}

SMART_API const char *smart_err_name(int err) {
  switch (err) {
  case SMART_OK:
    return "SMART_OK";
#define SMART__ERRNAME(name, val, msg) \
  case SMART_##name:                   \
    return "SMART_" #name;
    SMART_ERRNO_MAP(SMART__ERRNAME)
#undef SMART__ERRNAME
  default:
    return "SMART_UNKNOWN";
  }
}
