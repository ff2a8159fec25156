# Image paths reach classifyImage through a push subscription that this stack owns, not an
# Eventarc Pub/Sub trigger. Why: the subscription Eventarc creates is managed by Eventarc,
# so it cannot carry our dead-letter policy or retry backoff. A message that keeps failing
# (500) is retried with exponential backoff and, after max_delivery_attempts, parked on the
# dead-letter topic instead of being redelivered for the 7-day retention period.
# The local stack (npm start) wires the same push subscription to the same function.
resource "google_pubsub_topic" "images" {
  name       = local.topic
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  name = "${local.topic}-dead-letter"
}

resource "google_pubsub_subscription" "classify_push" {
  name  = "${local.topic}-classify-push"
  topic = google_pubsub_topic.images.id

  # The first message after a model roll waits for the model load.
  ack_deadline_seconds = local.spec.pubsub.ack_deadline_seconds

  push_config {
    # functions-framework reads the topic from this path when it converts the push body
    # into a CloudEvent.
    push_endpoint = "${google_cloudfunctions2_function.classify_image.service_config[0].uri}/projects/${var.project_id}/topics/${local.topic}"
    oidc_token {
      service_account_email = google_service_account.trigger.email
      audience              = google_cloudfunctions2_function.classify_image.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = local.spec.pubsub.minimum_backoff
    maximum_backoff = local.spec.pubsub.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = coalesce(var.max_delivery_attempts, local.spec.pubsub.max_delivery_attempts)
  }

  expiration_policy {
    ttl = "" # never expires
  }
}

# Kept so that dead letters can be inspected and republished.
resource "google_pubsub_subscription" "dead_letter_pull" {
  name                       = "${local.topic}-dead-letter-pull"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = local.spec.pubsub.dead_letter_retention
  expiration_policy {
    ttl = ""
  }
}
