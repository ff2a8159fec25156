#!/bin/sh
# `terraform fmt -check` on infra/, part of `npm run lint`. Offline-safe (fmt needs no
# providers). Where terraform is not installed, say so loudly and go on: the structure
# tests (functions/test/integration/terraform.test.ts) still parse every file.
if command -v terraform >/dev/null 2>&1; then
  # An empty CLI config: fmt needs none, and without one terraform warns on every run.
  TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-/dev/null}" exec terraform fmt -check -recursive -diff infra
fi
echo "!!! terraform not found: skipped 'terraform fmt -check -recursive infra' (install terraform to run it)"
