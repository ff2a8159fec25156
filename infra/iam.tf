# Least privilege: one runtime account per function, one account for the triggers, and
# only resource-scoped roles except where Google offers no narrower scope (Firestore access
# and Eventarc event receipt are project-level roles; neither is a primitive role).

resource "google_service_account" "record_model" {
  account_id   = local.spec.accounts.record.id
  display_name = local.spec.accounts.record.display_name
}

resource "google_service_account" "classify_image" {
  account_id   = local.spec.accounts.classify.id
  display_name = local.spec.accounts.classify.display_name
}

resource "google_service_account" "trigger" {
  account_id   = local.spec.accounts.trigger.id
  display_name = local.spec.accounts.trigger.display_name
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  runtime_users = {
    record_model   = google_service_account.record_model.member
    classify_image = google_service_account.classify_image.member
  }
}

# --- Storage: read-only, on exactly the buckets each function reads ---------------------
resource "google_storage_bucket_iam_member" "record_model_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.record_model.member
}

resource "google_storage_bucket_iam_member" "classify_image_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.classify_image.member
}

resource "google_storage_bucket_iam_member" "classify_image_reads_images" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.classify_image.member
}

# --- Firestore: read/write documents (no admin, no index or database changes) -----------
resource "google_project_iam_member" "firestore_user" {
  for_each = local.runtime_users
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = each.value
}

# --- Triggers -----------------------------------------------------------------------------
resource "google_project_iam_member" "trigger_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger.member
}

# Cloud Storage publishes finalize events to Eventarc's topic with its service agent.
data "google_storage_project_service_account" "gcs_agent" {}

resource "google_project_iam_member" "gcs_agent_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs_agent.member
}

# Only the trigger account may invoke the functions (they are not publicly invocable).
resource "google_cloud_run_service_iam_member" "trigger_invokes_record_model" {
  location = google_cloudfunctions2_function.record_model.location
  service  = google_cloudfunctions2_function.record_model.name # its Cloud Run service has the same name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "trigger_invokes_classify_image" {
  location = google_cloudfunctions2_function.classify_image.location
  service  = google_cloudfunctions2_function.classify_image.name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

# Pub/Sub signs the push requests' OIDC tokens as the trigger account, and moves messages
# to the dead-letter topic: it needs exactly these three grants.
resource "google_service_account_iam_member" "pubsub_signs_as_trigger" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscriber" {
  subscription = google_pubsub_subscription.classify_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
