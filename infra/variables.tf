variable "project_id" {
  description = "Google Cloud project that hosts the classifier."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the functions, the source bucket and the Eventarc trigger."
  type        = string
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like us-central1 or europe-west1."
  }
}

variable "models_bucket_name" {
  description = "Bucket that receives the Keras .h5 files (versioned; its finalize events trigger recordModel)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.models_bucket_name))
    error_message = "models_bucket_name must be a valid bucket name."
  }
}

variable "images_bucket_name" {
  description = "Bucket holding the images that classifyImage reads (its IMAGE_BUCKETS)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.images_bucket_name))
    error_message = "images_bucket_name must be a valid bucket name."
  }
}

variable "bucket_location" {
  description = "Location of the models and images buckets (a region keeps reads local to the functions)."
  type        = string
  default     = "US-CENTRAL1"
}

variable "model_file_pattern" {
  description = "MODEL_FILE_PATTERN: glob over the models bucket; null means gs://<models bucket>/models/**/*.{h5,keras}."
  type        = string
  default     = null
  validation {
    condition     = var.model_file_pattern == null || can(regex("^gs://[^/*?]+/.+", var.model_file_pattern))
    error_message = "model_file_pattern must look like gs://bucket/path/*.h5."
  }
}

variable "topic_name" {
  description = "Pub/Sub topic that carries image paths to classifyImage (null: infra/deploy.json)."
  type        = string
  default     = null
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before it goes to the dead-letter topic (null: infra/deploy.json)."
  type        = number
  default     = null
  validation {
    condition     = var.max_delivery_attempts == null ? true : var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "classify_memory" {
  description = "Memory of a classifyImage instance: two models are resident during a swap (null: infra/deploy.json)."
  type        = string
  default     = null
  validation {
    condition     = var.classify_memory == null ? true : can(regex("^[0-9]+(Mi|Gi)$", var.classify_memory))
    error_message = "classify_memory must look like 512Mi or 2Gi."
  }
}

variable "classify_cpu" {
  description = "vCPUs of a classifyImage instance (the worker pool or tfjs-node uses all of them) (null: infra/deploy.json)."
  type        = string
  default     = null
  validation {
    condition     = var.classify_cpu == null ? true : contains(["1", "2", "4", "6", "8"], var.classify_cpu)
    error_message = "classify_cpu must be 1, 2, 4, 6 or 8."
  }
}

variable "classify_concurrency" {
  description = "Concurrent requests per classifyImage instance (null: infra/deploy.json)."
  type        = number
  default     = null
  validation {
    condition     = var.classify_concurrency == null ? true : var.classify_concurrency >= 1 && var.classify_concurrency <= 1000
    error_message = "classify_concurrency must be between 1 and 1000."
  }
}

variable "min_instances" {
  description = "classifyImage instances kept warm (0 scales to zero; cold start is measured by npm run bench; null: infra/deploy.json)."
  type        = number
  default     = null
  validation {
    condition     = var.min_instances == null ? true : var.min_instances >= 0
    error_message = "min_instances cannot be negative."
  }
}

variable "max_instances" {
  description = "Upper bound of classifyImage instances (null: infra/deploy.json)."
  type        = number
  default     = null
  validation {
    condition     = var.max_instances == null ? true : var.max_instances >= 1
    error_message = "max_instances must be at least 1."
  }
}

variable "extra_env" {
  description = "More configuration for both functions (see README: TOP_K, DEFAULT_INPUT_SCALE, ...)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.extra_env) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "extra_env keys must be environment variable names."
  }
}

variable "source_dir" {
  description = "Repository root to package as the functions' source."
  type        = string
  default     = ".."
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel IDs the alert policies notify (projects/P/notificationChannels/N)."
  type        = list(string)
  default     = []
}

variable "failure_ratio_threshold" {
  description = "Alert when failed images exceed this share of predictions over 5 minutes."
  type        = number
  default     = 0.05
  validation {
    condition     = var.failure_ratio_threshold > 0 && var.failure_ratio_threshold < 1
    error_message = "failure_ratio_threshold must be between 0 and 1."
  }
}
