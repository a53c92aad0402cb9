/* libbz2 has no pkg-config file on Debian: the modulemap links "bz2" by name. */
#include <bzlib.h>
