# Alert policies: a message parked on the dead-letter topic, too many failed images, and a
# classifier that has stopped answering while images are still being published. Each
# notifies var.notification_channels (none by default: the incidents still open in the
# console).

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "classifier: dead-letter subscription not empty"
  combiner     = "OR"
  conditions {
    display_name = "undelivered dead letters > 0"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter_pull.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  documentation {
    content   = "Messages failed every delivery (max_delivery_attempts = ${google_pubsub_subscription.classify_push.dead_letter_policy[0].max_delivery_attempts}) and were parked. Inspect them with `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter_pull.name}` and the classifyImage logs (outcome=retry)."
    mime_type = "text/markdown"
  }
  notification_channels = var.notification_channels
}

resource "google_monitoring_alert_policy" "failure_ratio" {
  display_name = "classifier: failed images over ${var.failure_ratio_threshold * 100}%"
  combiner     = "OR"
  conditions {
    display_name = "failed / predicted > ${var.failure_ratio_threshold}"
    condition_threshold {
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.failed_inferences.name}\" AND resource.type=\"cloud_run_revision\""
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.num_inferences.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.failure_ratio_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  documentation {
    content   = "More than ${var.failure_ratio_threshold * 100}% of images failed over 5 minutes. The dashboard's failures-by-kind chart says why (bad_message, not_found, decode, …)."
    mime_type = "text/markdown"
  }
  notification_channels = var.notification_channels
}

resource "google_monitoring_alert_policy" "silent" {
  display_name = "classifier: no predictions while images are published"
  combiner     = "AND"
  conditions {
    display_name = "images published to the topic"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/topic/send_message_operation_count\" AND resource.type=\"pubsub_topic\" AND resource.label.topic_id=\"${google_pubsub_topic.images.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "600s"
        per_series_aligner = "ALIGN_DELTA"
      }
    }
  }
  conditions {
    display_name = "no predictions for 10 minutes"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.num_inferences.name}\" AND resource.type=\"cloud_run_revision\""
      duration = "600s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  documentation {
    content   = "Images are being published but classifyImage wrote no prediction for 10 minutes: check for `no model has been recorded yet` (upload a model matching MODEL_FILE_PATTERN), the push subscription's 403s (trigger account lacks run.invoker), and the dead letters."
    mime_type = "text/markdown"
  }
  notification_channels = var.notification_channels
}
