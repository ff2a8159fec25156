# The one deploy definition, shared with scripts/deploy.ts (gcloud): runtime, APIs,
# accounts, function sizes, environment and the Pub/Sub wiring. Variables with a null
# default override single values of it.
locals {
  spec     = jsondecode(file("${path.module}/deploy.json"))
  record   = local.spec.functions.record
  classify = local.spec.functions.classify
  topic    = coalesce(var.topic_name, local.spec.pubsub.topic)
}
