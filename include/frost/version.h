/* The library's version (CMakeLists.txt's project version must match). */
#ifndef FROST_VERSION_H
#define FROST_VERSION_H

#define FROST_VERSION_MAJOR  0
#define FROST_VERSION_MINOR  1
#define FROST_VERSION_PATCH  0
#define FROST_VERSION_STRING "0.1.0"

#endif
