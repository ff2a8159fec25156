# The Cloud Monitoring dashboard of the classifier, from the log-based metrics
# (monitoring.tf) and the dead-letter subscription (pubsub.tf). The layout is a JSON
# template so that it can be read (and structure-tested) as the JSON the API takes.
resource "google_monitoring_dashboard" "classifier" {
  dashboard_json = templatefile("${path.module}/dashboards/classifier.json.tftpl", {
    num_inferences           = google_logging_metric.num_inferences.name
    inference_latency        = google_logging_metric.inference_latency.name
    failed_inferences        = google_logging_metric.failed_inferences.name
    model_load_latency       = google_logging_metric.model_load_latency.name
    dead_letter_subscription = google_pubsub_subscription.dead_letter_pull.name
  })
  depends_on = [google_project_service.apis]
}
