/* The public header compiles alone as strict C99 with -pedantic (and, from
 * test-headers.cpp, as C++), and its ABI types keep their promised shapes. */
#include <smart/smart.h>
#include <smart/smart.h> /* include guard */

_Static_assert(sizeof(smart_ssize) == sizeof(ptrdiff_t), "smart_ssize is ptrdiff_t");
_Static_assert(sizeof(smart_tstamp) == 8, "smart_tstamp is 64-bit");
_Static_assert(SMART_EINVAL == -1 && SMART_ENOMEM == -2, "error values are fixed");

int main(void) { return smart_version_num() == SMART_VERSION_NUM ? 0 : 1; }
