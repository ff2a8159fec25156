#!/bin/sh
# `terraform fmt -check` on infra/, part of `npm run lint`. Offline-safe (fmt needs no
# providers). Where terraform is not installed, say so loudly and go on: the structure
# tests (functions/test/integration/terraform.test.ts) still parse every file.
if command -v terraform >/dev/null 2>&1; then
  # fmt needs no CLI config; where the configured one does not exist, terraform would warn
  # on every run, so give it an empty one.
  if [ ! -f "${TF_CLI_CONFIG_FILE:-$HOME/.terraformrc}" ]; then export TF_CLI_CONFIG_FILE=/dev/null; fi
  exec terraform fmt -check -recursive -diff infra
fi
echo "!!! terraform not found: skipped 'terraform fmt -check -recursive infra' (install terraform to run it)"
