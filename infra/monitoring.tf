# Log-based metrics for the per-model counters of the structured log lines (Beam's
# RunInference metrics): every line carries `logging.googleapis.com/labels` model_name, so
# each metric is broken down by model. See README "Metrics".
locals {
  classify_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"classify-image\""
  record_logs   = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"record-model\""

  model_label = {
    key         = "model_name"
    value_type  = "STRING"
    description = "Stem of the model file, e.g. mobilenet_v2"
  }
}

resource "google_logging_metric" "num_inferences" {
  name        = "classifier/num_inferences"
  description = "Images classified, by model."
  filter      = "${local.classify_logs} AND jsonPayload.outcome=\"predicted\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key         = local.model_label.key
      value_type  = local.model_label.value_type
      description = local.model_label.description
    }
    labels {
      key         = "arm"
      value_type  = "STRING"
      description = "Which arm of a rollout answered (stable or candidate); empty outside rollouts."
    }
  }
  label_extractors = {
    model_name = "EXTRACT(labels.model_name)"
    arm        = "EXTRACT(jsonPayload.arm)"
  }
}

resource "google_logging_metric" "failed_inferences" {
  name        = "classifier/failed_inferences"
  description = "Messages recorded as failed (bad message, missing or undecodable image), by model and kind."
  filter      = "${local.classify_logs} AND jsonPayload.outcome=\"failed\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key         = local.model_label.key
      value_type  = local.model_label.value_type
      description = local.model_label.description
    }
    labels {
      key         = "error_kind"
      value_type  = "STRING"
      description = "Failure kind: bad_message, not_allowed, not_found, too_large, decode, …"
    }
  }
  label_extractors = {
    model_name = "EXTRACT(labels.model_name)"
    error_kind = "EXTRACT(jsonPayload.error_kind)"
  }
}

resource "google_logging_metric" "inference_latency" {
  name        = "classifier/inference_latency_ms"
  description = "Model time per image (predict only), by model."
  filter      = "${local.classify_logs} AND jsonPayload.outcome=\"predicted\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key         = local.model_label.key
      value_type  = local.model_label.value_type
      description = local.model_label.description
    }
  }
  value_extractor  = "EXTRACT(jsonPayload.inference_latency_ms)"
  label_extractors = { model_name = "EXTRACT(labels.model_name)" }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 1.4
      scale              = 1
    }
  }
}

resource "google_logging_metric" "model_load_latency" {
  name        = "classifier/load_model_latency_ms"
  description = "Time to load a newly recorded model into an instance, by model."
  filter      = "${local.classify_logs} AND jsonPayload.load_model_latency_ms>0"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key         = local.model_label.key
      value_type  = local.model_label.value_type
      description = local.model_label.description
    }
  }
  value_extractor  = "EXTRACT(jsonPayload.load_model_latency_ms)"
  label_extractors = { model_name = "EXTRACT(labels.model_name)" }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.5
      scale              = 10
    }
  }
}

resource "google_logging_metric" "models_recorded" {
  name        = "classifier/models_recorded"
  description = "recordModel outcomes (promoted, rejected, stale, duplicate, ignored)."
  filter      = "${local.record_logs} AND jsonPayload.outcome:*"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "outcome"
      value_type = "STRING"
    }
  }
  label_extractors = { outcome = "EXTRACT(jsonPayload.outcome)" }
}

resource "google_logging_metric" "retries" {
  name        = "classifier/retries"
  description = "classifyImage deliveries answered 500 for a transient problem (Pub/Sub delivers them again)."
  filter      = "${local.classify_logs} AND jsonPayload.outcome=\"retry\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}
