/*
 * assets — files served from the binary: the /dashboard page, its script, style and icon, and
 * the OpenAPI document (/v1/openapi.json).
 *
 * The sources are broker/dashboard.{html,js,css,svg} and docs/openapi.json; the Makefile turns them
 * into build/gen/assets.c (xxd -i), so the page is edited as a file and served without touching the
 * disk at run time. Each array ends with a NUL that _len does not count. Must not: hold anything
 * but static bytes.
 */
#ifndef PB_ASSETS_H
#define PB_ASSETS_H

#include <stddef.h>

extern const unsigned char pb_asset_dashboard_html[];
extern const size_t pb_asset_dashboard_html_len;
extern const unsigned char pb_asset_dashboard_js[];
extern const size_t pb_asset_dashboard_js_len;
extern const unsigned char pb_asset_dashboard_css[];
extern const size_t pb_asset_dashboard_css_len;
extern const unsigned char pb_asset_dashboard_svg[];
extern const size_t pb_asset_dashboard_svg_len;
extern const unsigned char pb_asset_openapi_json[];
extern const size_t pb_asset_openapi_json_len;

#endif
