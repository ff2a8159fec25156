# The services the classifier uses. disable_on_destroy = false: destroying this stack must
# not switch off an API that something else in the project relies on.
locals {
  apis = toset(local.spec.apis) # infra/deploy.json
}

resource "google_project_service" "apis" {
  for_each           = local.apis
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
