/*
 * paths — the installed data directory compiled into the binary (see paths.h).
 *
 * Owns: pb_paths_datadir and pb_paths_products_dir. The Makefile compiles this file twice: once
 * without PB_DATADIR for the build tree, once per install prefix with it.
 * Must not: compute anything at run time (the defaults table points at these arrays).
 */
#include "paths.h"

#ifdef PB_DATADIR
const char pb_paths_datadir[] = PB_DATADIR;
const char pb_paths_products_dir[] = PB_DATADIR "/examples";
#else
const char pb_paths_datadir[] = "";
const char pb_paths_products_dir[] = "schemas/examples";
#endif
