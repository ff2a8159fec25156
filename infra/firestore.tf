# The side input (models/current and its history) and the predictions.
resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.region
  type        = "FIRESTORE_NATIVE"

  # Deleting the database would delete every prediction: never as a side effect of destroy.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}
