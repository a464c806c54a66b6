#!/usr/bin/env bash
# Library boundaries and header hygiene (STYLE.md), as TAP.
exec "$(dirname "$0")/../lint.sh" --tap
