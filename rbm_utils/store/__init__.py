"""The versioned store: submissions, change log, approvals, ingest, frozen snapshots."""
