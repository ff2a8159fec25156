# Both functions from one source archive named by its content hash: any code change gives
# a new object name, so Terraform redeploys; an unchanged tree deploys nothing.
locals {
  model_file_pattern = coalesce(var.model_file_pattern, "gs://${var.models_bucket_name}/models/**/*.{h5,keras}")

  function_env = merge(local.spec.environment, {
    MODEL_FILE_PATTERN = local.model_file_pattern
    IMAGE_BUCKETS      = google_storage_bucket.images.name
  }, var.extra_env)
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${path.module}/.terraform/classifier-source.zip"

  # The same set as .gcloudignore: sources, lockfile and tsconfig (gcp-build compiles).
  excludes = [
    ".git", ".local", ".terraform", "node_modules", "dist", "bench", "infra", ".ci", "scripts", "functions/test",
  ]
}

resource "google_storage_bucket_object" "source" {
  name   = "classifier-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "record_model" {
  name        = local.record.name
  location    = var.region
  description = "Records the newest Keras .h5 in the models bucket as models/current (the side input)."

  build_config {
    runtime     = local.spec.runtime
    entry_point = local.record.entry_point
    # npm ci's environment in the build: see build_environment in deploy.json.
    environment_variables = local.spec.build_environment
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    # The promotion gate loads the model: one event at a time keeps memory bounded.
    available_memory                 = local.record.memory
    available_cpu                    = local.record.cpu
    max_instance_request_concurrency = local.record.concurrency
    min_instance_count               = local.record.min_instances
    max_instance_count               = local.record.max_instances
    timeout_seconds                  = local.record.timeout_seconds
    environment_variables            = local.function_env
    service_account_email            = google_service_account.record_model.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
  }

  event_trigger {
    trigger_region        = lower(var.bucket_location)
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.models.name
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.trigger_event_receiver,
    google_project_iam_member.gcs_agent_publisher,
  ]
}

resource "google_cloudfunctions2_function" "classify_image" {
  name        = local.classify.name
  location    = var.region
  description = "Classifies the image named by each Pub/Sub message with the model in models/current."

  build_config {
    runtime     = local.spec.runtime
    entry_point = local.classify.entry_point
    # npm ci's environment in the build: see build_environment in deploy.json.
    environment_variables = local.spec.build_environment
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  # No event_trigger: driven by the push subscription in pubsub.tf (which has the
  # dead-letter policy an Eventarc trigger's subscription cannot have).
  service_config {
    available_memory                 = coalesce(var.classify_memory, local.classify.memory)
    available_cpu                    = coalesce(var.classify_cpu, local.classify.cpu)
    max_instance_request_concurrency = coalesce(var.classify_concurrency, local.classify.concurrency)
    min_instance_count               = coalesce(var.min_instances, local.classify.min_instances)
    max_instance_count               = coalesce(var.max_instances, local.classify.max_instances)
    timeout_seconds                  = local.classify.timeout_seconds
    environment_variables            = local.function_env
    service_account_email            = google_service_account.classify_image.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
  }

  depends_on = [google_project_service.apis]
}
