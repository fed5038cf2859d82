"""time-tracking: projects each contract's status history from `contracts.events` and judges submitted
time against it (`time.entries.submitted` and an HTTP API), publishing verdicts on `time.entries`."""
