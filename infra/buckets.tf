# Models (versioned: an overwritten .h5 stays recoverable, and rollback can reach it),
# images, and the functions' source archives. All uniform access, never public.
resource "google_storage_bucket" "models" {
  name                        = var.models_bucket_name
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 10
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "images" {
  name                        = var.images_bucket_name
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project_id}-classifier-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}
