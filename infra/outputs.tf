output "models_bucket" {
  description = "Upload Keras .h5 files here (under models/) to roll the model."
  value       = google_storage_bucket.models.url
}

output "images_bucket" {
  description = "Put images here; publish their gs:// paths to the topic."
  value       = google_storage_bucket.images.url
}

output "topic" {
  description = "Publish image paths (UTF-8 gs://bucket/x.jpg) to this topic."
  value       = google_pubsub_topic.images.id
}

output "dead_letter_subscription" {
  description = "Messages that failed max_delivery_attempts times; pull to inspect or republish."
  value       = google_pubsub_subscription.dead_letter_pull.id
}

output "record_model_function" {
  description = "recordModel (GCS finalize on the models bucket)."
  value       = google_cloudfunctions2_function.record_model.id
}

output "classify_image_url" {
  description = "classifyImage's internal URL (invocable only by the trigger account)."
  value       = google_cloudfunctions2_function.classify_image.service_config[0].uri
}

output "runtime_service_accounts" {
  description = "Runtime identities of the two functions."
  value = {
    record_model   = google_service_account.record_model.email
    classify_image = google_service_account.classify_image.email
  }
}

output "source_object" {
  description = "Source archive deployed, named by its content hash."
  value       = google_storage_bucket_object.source.name
}

output "dashboard_url" {
  description = "The classifier's Cloud Monitoring dashboard."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.classifier.id), 3)}?project=${var.project_id}"
}
