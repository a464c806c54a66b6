/*
 * paths — where the broker finds its installed files, fixed when the binary is linked.
 *
 * A binary in the build tree (build/<variant>/portbroker) looks for the example products under
 * the working directory (schemas/examples), the way `make run` and the tests start it. The binary
 * `make install` puts in $PREFIX/bin is linked with paths.c compiled with
 * -DPB_DATADIR="$PREFIX/share/portbroker" (the final location, without DESTDIR), so the installed
 * `portbroker serve` finds the installed examples from any directory.
 * Must not: hold anything but these constants.
 */
#ifndef PB_PATHS_H
#define PB_PATHS_H

/* The data directory ("$PREFIX/share/portbroker"), or "" in a build-tree binary. */
extern const char pb_paths_datadir[];

/* The default of products.dir: PB_DATADIR "/examples", or "schemas/examples" (relative to the
 * working directory) in a build-tree binary. */
extern const char pb_paths_products_dir[];

#endif
